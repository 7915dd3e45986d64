/**
 * `eniwall daemon`: open the store, load (or create) the state, put it in
 * force on the dataplane (every ENI's TAP, namespace wiring and table), then
 * serve the JSON API until SIGTERM/SIGINT.
 *
 * Start-up after a crash (kill -9) is the same path: the store holds the last
 * committed state, and the dataplane rebuilds everything from it.
 *
 * Shutdown: stop accepting, let queued mutations finish, close the dataplane
 * (its TAPs disappear with their file descriptors). Namespaces named with
 * `--netns` belong to the user's workload: they are left in place (the
 * dataplane driver creates one that is missing; nothing ever deletes them).
 */
import { authorizeOperators, DEFAULT_SOCKET_GROUP, resolveOperatorGroups } from './operators';
import pino, { type Logger } from 'pino';
import { Model } from '../model/model';
import type { Eni, ModelSnapshot, Quotas } from '../model/types';
import { resolveSocket, resolveStateDir } from '../api/paths';
import { Store, type AuditEntry } from '../store/store';
import { openDataplane, type OverlayConfig } from './dataplane';
import { readFileSync } from 'node:fs';
import { acquirePidFile, releasePidFile } from './pidfile';
import { conntrackShmPath, portsFilePath } from './persist';
import { ApiServer, assertNoLiveDaemon } from './server';
import { ControlService } from './service';
import type { IoMode } from '../dataplane/dataplane';
import { DaemonMetrics, MetricsServer, type ListenAddress } from './metrics';
import type { EniStats } from '../api/protocol';
import { DEFAULT_FILE_LIMITS, type FileLimits } from '../flowlog/destinations';
import { FlowLogRuntime } from './flow-logs';
import { RuleHits } from './rule-hits';
import { CredentialStore } from '../ec2/credentials';
import { Ec2Server, ec2Security } from '../ec2';
import { journalLine, notifySystemd, stderrIsJournal } from './systemd';
import { EtcdStore } from '../store/etcd-store';
import { FleetOverlay, FleetView } from '../fleet/fleet';
import { readFleetCache, type FleetCache } from '../fleet/cache';

export interface DaemonOptions {
  stateDir?: string;
  socket?: string;
  workers?: number;
  conntrackMax?: number;
  allowancePerEni?: number;
  captureSlots?: number;
  io?: IoMode;
  /** Absent: on, unless QEMU socket ENIs need it off (engineModes). */
  vnetHdr?: boolean;
  /** TAPs outlive the daemon and are reattached by the next one (see src/dataplane/driver.ts). */
  persistTaps?: boolean;
  quotas?: Partial<Quotas>;
  logLevel?: string;
  /** Serve Prometheus metrics at http://ADDR:PORT/metrics (off when absent). */
  metricsListen?: ListenAddress;
  /** Every flow log's capture window in seconds instead of its MaxAggregationInterval (tests). */
  flowLogWindowSeconds?: number;
  flowLogFileLimits?: Partial<FileLimits>;
  /** Serve the EC2 query API at http://ADDR:PORT/ (off when absent). */
  ec2Listen?: ListenAddress;
  /** Admit unsigned EC2 requests from loopback peers as 'anonymous' (ec2Listen must be loopback). */
  ec2AllowUnsigned?: boolean;
  /** Allowed SigV4 clock skew, seconds (default 900). */
  ec2MaxSkewSeconds?: number;
  /**
   * Overlay (README "Overlay"): a JSON file with this host's underlay address
   * and the remote ENIs (OverlayConfig); re-read on SIGHUP. Implies --io epoll.
   */
  overlayFile?: string;
  /** Group of the 0660 API socket (default eniwall; missing: the socket stays 0600). */
  socketGroup?: string;
  /** Members of this group may call mutations over the socket (default: root only). */
  adminGroup?: string;
  /**
   * Fleet: the desired state in etcd instead of SQLite (src/store/etcd-store.ts).
   * With underlayAddress the overlay is built from the store (src/fleet/fleet.ts; implies --io epoll).
   */
  etcd?: { endpoints: string[]; hostId: string; underlayAddress?: string; confirmMs: number };
}

export function createLogger(level?: string): Logger {
  return pino(
    {
      level: level ?? process.env['ENIWALL_LOG_LEVEL'] ?? 'warn',
      base: { pid: process.pid },
      // Under systemd with stderr in the journal: `<N>` syslog priorities (src/daemon/systemd.ts).
      ...(stderrIsJournal() ? { hooks: { streamWrite: journalLine } } : {}),
    },
    pino.destination(2),
  );
}

/** Audit records written by the daemon itself carry its own pid. */
function selfAudit(action: string, params: unknown): AuditEntry {
  return {
    time: new Date(),
    uid: process.getuid?.() ?? null,
    pid: process.pid,
    credSource: 'daemon',
    action,
    params,
    ok: true,
  };
}

/** Load the stored state, or create the default one; apply quota flags. */
export function loadModel(
  store: Store,
  quotas: Partial<Quotas>,
): { model: Model; revision: number } {
  const stored = store.load();
  if (!stored) {
    const model = Model.createDefault({ quotas });
    store.save(undefined, model.snapshot(), selfAudit('daemon.init', { quotas }));
    return { model, revision: 1 };
  }
  const model = Model.fromSnapshot(stored.snapshot);
  let revision = stored.revision;
  // A store written before NACLs existed: default NACLs and associations, persisted at once.
  if (model.ensureDefaultNetworkAcls()) {
    const change = model.takeChanges();
    store.stageChange(change, model, selfAudit('daemon.default-network-acls', {})).commit();
    revision++;
  }
  const changed = Object.entries(quotas).some(
    ([key, value]) => value !== undefined && stored.snapshot.quotas[key as keyof Quotas] !== value,
  );
  if (!changed) return { model, revision };
  const before = model.snapshot();
  model.setQuotas(quotas);
  store.save(before, model.snapshot(), selfAudit('daemon.quotas', { quotas }));
  return { model, revision: revision + 1 };
}

/**
 * The I/O mode and offload the engine starts with. Given flags win. Left to
 * the daemon: epoll for the overlay, and when this host's stored ENIs include
 * QEMU socket ENIs (README "QEMU VMs") epoll with offload off, which is what
 * their ports need; otherwise auto and offload on. Flags that contradict a
 * socket ENI make its start-up apply fail with the reason.
 */
export function engineModes(
  options: DaemonOptions,
  enis: readonly Eni[],
  hostId?: string,
): { io: IoMode | undefined; vnetHdr: boolean } {
  // Socket ports (QEMU stream, vhost-user) need epoll without offload.
  const qemu = enis.some(
    (e) =>
      (e.qemuSocket !== undefined || e.vhostUser !== undefined) &&
      (e.hostId === undefined || e.hostId === hostId),
  );
  return {
    io: options.io ?? (options.overlayFile !== undefined || qemu ? 'epoll' : undefined),
    vnetHdr: options.vnetHdr ?? !qemu,
  };
}

export async function runDaemon(options: DaemonOptions): Promise<void> {
  const log = createLogger(options.logLevel);
  const stateDir = resolveStateDir(options.stateDir);
  const socket = resolveSocket(options.socket);
  const quotas = Object.fromEntries(
    Object.entries(options.quotas ?? {}).filter(([, v]) => v !== undefined),
  ) as Partial<Quotas>;

  await assertNoLiveDaemon(socket);
  const pidFile = acquirePidFile(stateDir);
  if (options.etcd) {
    await runFleetDaemon(options, options.etcd, log, stateDir, socket, quotas);
    return;
  }
  const store = Store.open(stateDir, {
    // Buffered audit records (reads, refusals) that could not be written: kept and retried.
    onAuditError: (err, info) => log.error({ err, ...info }, 'could not write audit records'),
  });
  // One instance for the socket's credentials.* methods and the EC2 endpoint's signature checks.
  const credentials = CredentialStore.open(stateDir);
  const { model, revision } = loadModel(store, quotas);
  const modes = engineModes(options, model.listEnis());
  if (options.io === undefined && options.vnetHdr === undefined && !modes.vnetHdr)
    log.info('QEMU socket ENIs in the stored state: dataplane on epoll with offload off');
  const dataplane = await openDataplane({
    onSkipped: (eni, reason) => log.warn({ eni, reason }, 'QEMU socket ENI left without a port'),
    workers: options.workers,
    conntrackMax: options.conntrackMax,
    allowancePerEni: options.allowancePerEni,
    captureSlots: options.captureSlots,
    io: modes.io,
    vnetHdr: modes.vnetHdr,
    persistTaps: options.persistTaps,
    // Persistent TAPs keep their connections only if conntrack survives too:
    // it then lives in shared memory named after the state directory.
    ...(options.persistTaps === true
      ? { conntrackShm: conntrackShmPath(stateDir), portsFile: portsFilePath(stateDir) }
      : {}),
  });
  const readOverlay = (): OverlayConfig =>
    JSON.parse(readFileSync(options.overlayFile as string, 'utf8')) as OverlayConfig;
  if (options.overlayFile !== undefined) {
    try {
      await dataplane.setOverlay(readOverlay());
    } catch (err) {
      await dataplane.close();
      store.close();
      releasePidFile(pidFile);
      throw err;
    }
  }
  const ruleHits = new RuleHits(dataplane, log);
  // The collectors read the service's ENIs at scrape time; the service feeds the apply histogram.
  const metrics: DaemonMetrics | undefined =
    options.metricsListen === undefined
      ? undefined
      : new DaemonMetrics({
          enis: (): EniStats[] => service.eniStats(),
          engine: () => dataplane.engineMetrics(),
          ruleHits: () => ({ ...ruleHits.all(), lost: ruleHits.totals().lost }),
        });
  const flowLogs = new FlowLogRuntime(dataplane, log, {
    windowSeconds: options.flowLogWindowSeconds,
    fileLimits: { ...DEFAULT_FILE_LIMITS, ...options.flowLogFileLimits },
  });
  const service = new ControlService(
    model,
    store,
    dataplane,
    log,
    { stateDir, socket, onApplied: metrics?.observeApply, flowLogs, credentials, ruleHits },
    revision,
  );
  let server: ApiServer | undefined;
  let metricsServer: MetricsServer | undefined;
  let ec2Server: Ec2Server | undefined;
  try {
    await service.start();
    if (metrics && options.metricsListen) {
      metricsServer = await MetricsServer.listen(options.metricsListen, metrics, (err) =>
        log.warn({ err }, 'metrics request failed'),
      );
    }
    const handle = metrics ? metrics.countRequests(service.handle) : service.handle;
    flowLogs.start();
    ruleHits.start(() => service.collectRuleHits());
    server = await listenApi(socket, handle, service, options, log);
    if (options.ec2Listen) {
      ec2Server = await Ec2Server.listen(options.ec2Listen, {
        handle,
        recordCall: (entry) => service.recordCall(entry),
        security: ec2Security(credentials),
        accountId: model.accountId,
        allowUnsigned: options.ec2AllowUnsigned,
        maxSkewSeconds: options.ec2MaxSkewSeconds,
        log,
      });
    }
  } catch (err) {
    ruleHits.stop();
    await server?.close();
    await metricsServer?.close();
    await flowLogs.stop();
    await dataplane.close();
    store.close();
    releasePidFile(pidFile);
    throw err;
  }
  log.info(
    { stateDir, socket, revision, metrics: options.metricsListen, ec2: options.ec2Listen },
    'eniwall daemon ready',
  );
  // The signal handlers go in before READY=1: a supervisor may stop us the
  // moment it reads it, and a SIGTERM before them would kill the process.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'shutting down');
      notifySystemd('STOPPING=1');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // Without an overlay file there is nothing to reload; the default action would end the daemon.
    if (options.overlayFile === undefined) {
      process.on('SIGHUP', () => log.info('SIGHUP: nothing to reload (no --overlay file)'));
    } else {
      process.on('SIGHUP', () => {
        let cfg: OverlayConfig;
        try {
          cfg = readOverlay();
        } catch (err) {
          log.error({ err }, 'overlay file unreadable; the overlay in force stays');
          return;
        }
        dataplane.setOverlay(cfg).then(
          (generation) => log.info({ generation, remotes: cfg.remotes.length }, 'overlay reloaded'),
          (err: unknown) => log.error({ err }, 'overlay rejected; the overlay in force stays'),
        );
      });
    }
  });
  // Type=notify: the socket listens and service.start() has every ENI's port up.
  const ready = notifySystemd(`READY=1\nMAINPID=${process.pid}`);
  if (ready !== 'off' && ready !== 'sent') log.warn({ result: ready }, 'sd_notify READY=1 failed');
  await stopped;
  await ec2Server?.close();
  await server.close();
  await metricsServer?.close();
  ruleHits.stop();
  await service.drain();
  await flowLogs.stop();
  await dataplane.close();
  store.close();
  releasePidFile(pidFile);
  log.flush();
}

/** Fleet mode: the same daemon with the state in etcd, watched for other hosts' changes. */
async function runFleetDaemon(
  options: DaemonOptions,
  etcd: NonNullable<DaemonOptions['etcd']>,
  log: Logger,
  stateDir: string,
  socket: string,
  quotas: Partial<Quotas>,
): Promise<void> {
  await assertNoLiveDaemon(socket);
  const pidFile = acquirePidFile(stateDir);
  const store = EtcdStore.open({
    endpoints: etcd.endpoints,
    hostId: etcd.hostId,
    underlayAddress: etcd.underlayAddress,
    onError: (err, what) => log.warn({ err, what }, 'etcd'),
  });
  const view = new FleetView(etcd.hostId, store, etcd.underlayAddress);
  // The last state this host applied (src/fleet/cache.ts): started from when etcd does not answer.
  const cached = readFleetCache(stateDir, etcd.hostId);
  let fromCache: FleetCache | undefined;
  let model: Model;
  try {
    // etcd may still be electing its leader: a few tries before giving up (or using the cache).
    let stored: Awaited<ReturnType<EtcdStore['load']>>;
    const attempts = 'cache' in cached ? 2 : 8;
    for (let attempt = 1; ; attempt++) {
      try {
        stored = await store.load();
        break;
      } catch (err) {
        if (attempt >= attempts) {
          if (!('cache' in cached)) {
            log.error({ cache: cached.error }, 'etcd unreachable and no usable fleet cache');
            throw err;
          }
          fromCache = cached.cache;
          log.warn(
            { err, revision: fromCache.revision, writtenAt: fromCache.writtenAt },
            'etcd unreachable: starting from the local cache of the last state applied; mutations refused until etcd answers',
          );
          break;
        }
        log.warn({ err, attempt }, 'etcd not reachable yet; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    if (fromCache !== undefined) {
      model = Model.fromSnapshot(fromCache.snapshot);
      store.baseRevision = fromCache.revision;
      view.seedUnderlays(fromCache.underlays);
    } else {
      if (stored === undefined) {
        await store.init(
          Model.createDefault({ quotas }).snapshot(),
          selfAudit('daemon.init', { quotas }),
        );
        stored = await store.load();
      }
      if (stored === undefined) throw new Error('etcd: the state key vanished after init');
      model = Model.fromSnapshot(stored.snapshot);
      store.baseRevision = stored.revision;
      await store.register();
      store.online = true;
    }
  } catch (err) {
    await store.close();
    releasePidFile(pidFile);
    throw err;
  }
  const credentials = CredentialStore.open(stateDir);
  // With an underlay address the fleet builds its overlay, which needs the epoll backend.
  const overlayOn = etcd.underlayAddress !== undefined;
  const dataplane = await openDataplane({
    onSkipped: (eni, reason) => log.warn({ eni, reason }, 'QEMU socket ENI left without a port'),
    workers: options.workers,
    conntrackMax: options.conntrackMax,
    allowancePerEni: options.allowancePerEni,
    captureSlots: options.captureSlots,
    ...engineModes(
      { ...options, overlayFile: undefined, io: options.io ?? (overlayOn ? 'epoll' : undefined) },
      model.snapshot().enis,
      etcd.hostId,
    ),
  });
  const flowLogs = new FlowLogRuntime(dataplane, log, {
    windowSeconds: options.flowLogWindowSeconds,
    fileLimits: { ...DEFAULT_FILE_LIMITS, ...options.flowLogFileLimits },
  });
  const overlay = new FleetOverlay(view, dataplane, log);
  const metrics: DaemonMetrics | undefined =
    options.metricsListen === undefined
      ? undefined
      : new DaemonMetrics({
          enis: (): EniStats[] => service.eniStats(),
          engine: () => dataplane.engineMetrics(),
        });
  const service = new ControlService(
    model,
    store,
    dataplane,
    log,
    {
      stateDir,
      socket,
      flowLogs,
      credentials,
      onApplied: metrics?.observeApply,
      fleet: {
        hostId: etcd.hostId,
        store,
        view,
        confirmMs: etcd.confirmMs,
        overlay: overlayOn ? overlay.state : undefined,
        startedFromCache: fromCache?.revision,
      },
    },
    1,
  );
  const handle = metrics ? metrics.countRequests(service.handle) : service.handle;
  const onState = (snapshot: ModelSnapshot, revision: string): void => {
    void service.applyRemote(snapshot, revision);
  };
  let stopping = false;
  /**
   * Started from the cache: poll etcd until it answers, then register, load
   * the latest state (applied if newer than the cached one), watch from that
   * revision, and only then accept mutations.
   */
  const catchUp = async (): Promise<void> => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        const latest = await store.load();
        await store.register();
        if (latest !== undefined && BigInt(latest.revision) > BigInt(store.baseRevision))
          await service.applyRemote(latest.snapshot, latest.revision);
        await store.watchState(onState, latest?.revision ?? store.baseRevision);
        store.online = true;
        log.warn(
          { revision: store.baseRevision, cached: fromCache?.revision },
          'etcd answered: caught up from the store, mutations accepted',
        );
        return;
      } catch (err) {
        log[attempt === 1 ? 'warn' : 'debug']({ err, attempt }, 'etcd still unreachable');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  let server: ApiServer | undefined;
  let metricsServer: MetricsServer | undefined;
  let ec2Server: Ec2Server | undefined;
  try {
    // The overlay first (underlay port, ENI MTU 1450), from the state loaded; then the
    // ports and table, and from then on every fleet change updates the overlay.
    view.update(model.view());
    await overlay.start();
    await service.start();
    if (metrics && options.metricsListen) {
      metricsServer = await MetricsServer.listen(options.metricsListen, metrics, (err) =>
        log.warn({ err }, 'metrics request failed'),
      );
    }
    if (options.ec2Listen) {
      ec2Server = await Ec2Server.listen(options.ec2Listen, {
        handle,
        recordCall: (entry) => service.recordCall(entry),
        security: ec2Security(credentials),
        accountId: model.accountId,
        allowUnsigned: options.ec2AllowUnsigned,
        maxSkewSeconds: options.ec2MaxSkewSeconds,
        log,
      });
    }
    // Watch from the revision the model was built from: a restart catches up on what it missed.
    // Started from the cache: in the background, once etcd answers (catchUp below).
    if (fromCache === undefined) await store.watchState(onState);
    flowLogs.start();
    server = await listenApi(socket, handle, service, options, log);
  } catch (err) {
    await overlay.stop();
    await ec2Server?.close();
    await server?.close();
    await metricsServer?.close();
    await flowLogs.stop();
    await dataplane.close();
    await store.close();
    releasePidFile(pidFile);
    throw err;
  }
  log.info({ stateDir, socket, hostId: etcd.hostId }, 'eniwall fleet daemon ready');
  const caughtUp = fromCache === undefined ? Promise.resolve() : catchUp();
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  stopping = true;
  await ec2Server?.close();
  await server.close();
  await metricsServer?.close();
  await service.drain();
  await Promise.race([caughtUp, new Promise((r) => setTimeout(r, 2000))]);
  await overlay.stop();
  await flowLogs.stop();
  await dataplane.close();
  await store.close();
  releasePidFile(pidFile);
  log.flush();
  // The etcd client's gRPC channels may keep reconnect timers alive (etcd gone): everything
  // is closed and released by now, so do not let them hold the process.
  setTimeout(() => process.exit(0), 500).unref();
}

/** The API socket, 0660 to the socket group, mutations for root and the admin group (operators.ts). */
function listenApi(
  socket: string,
  handle: ControlService['handle'],
  service: ControlService,
  options: Pick<DaemonOptions, 'socketGroup' | 'adminGroup'>,
  log: Logger,
): Promise<ApiServer> {
  const operators = resolveOperatorGroups(
    options.socketGroup ?? DEFAULT_SOCKET_GROUP,
    options.adminGroup,
    log,
  );
  return ApiServer.listen(
    socket,
    authorizeOperators(handle, operators.policy, (entry) => service.recordCall(entry)),
    log,
    {},
    operators.socketGid,
  );
}
