/**
 * The control service: the daemon's API methods over the model, the store and
 * the dataplane.
 *
 * Mutations go through one queue, each in four steps: validate and apply to
 * the model (an AwsError leaves it untouched), which reports the ids it
 * created, modified and deleted -> stage those rows and the audit record in
 * one SQLite transaction -> driver.apply() re-wires the ENIs the change names
 * and puts the new table generation in force -> commit and respond. One deep
 * snapshot is taken per mutation, before it, for rollback: if apply fails, the
 * transaction is rolled back and the model rebuilt from that snapshot, so
 * nothing is half-applied; the failure gets its own audit record. The store
 * and the dataplane read the model's live state (Model.view()), not a copy.
 *
 * Reads of the desired state also queue, so they never see a change whose
 * apply is still in flight. Counters, flows and status do not queue.
 */
import type { Logger } from 'pino';
import { Model } from '../model/model';
import { AwsError, ErrorCodes, isAwsError } from '../model/errors';
import type { IpPermission } from '../model/operations';
import type { NetworkAclEntryInput } from '../model/network-acls';
import type { ConnectionTracking, Eni, ModelSnapshot, Tag } from '../model/types';
import type { ChangeSet } from '../model/change';
import { filterRendered, FLOW_LOG_FILTERS, type Filter } from '../model/filters';
import {
  MUTATIONS,
  PROTOCOL_VERSION,
  ProtocolErrorCode,
  isApiMethod,
  type ApiMethod,
  type ApiMethods,
  type EniStats,
  type StatusResult,
} from '../api/protocol';
import { packageVersion } from '../api/version';
import type { AuditEntry, Store } from '../store/store';
import type { PeerCredentials } from './peercred';
import type { RequestContext } from './server';
import type { DataplaneHandle } from './dataplane';
import { runCheck } from './check';
import { runReach } from './reach';
import { CaptureSessions, type CaptureDirection } from './capture';
import * as p from './params';
import { SerialQueue } from './queue';
import type { FlowLogRuntime } from './flow-logs';
import { probeDestination } from '../flowlog/destinations';
import { findings } from '../model/findings';
import type { CredentialStore } from '../ec2/credentials';
import type { RuleHits } from './rule-hits';
import { ConflictError, SERVICE_UNAVAILABLE, type EtcdStore } from '../store/etcd-store';
import { writeFleetCache } from '../fleet/cache';
import { isRemote, localView, type FleetOverlay, type FleetView } from '../fleet/fleet';

type MethodImpl = (params: p.Params, ctx: RequestContext) => unknown;

/**
 * How a front door other than the socket (the EC2 endpoint, src/ec2/) asks
 * for a call: a mutation can be a dry run, can be refused after validation by
 * an authorisation check that sees what it would change, and is audited under
 * the caller's identity and the front door's action name.
 */
export interface CallOptions {
  /** Validate completely, apply nothing, answer DryRunOperation (412 on the EC2 endpoint). */
  dryRun?: boolean;
  /**
   * Called after the model accepted the mutation and before anything is
   * stored: `view` is the state as it would be, `before` as it was, `change`
   * the ids touched. Throwing an AwsError refuses it and nothing is applied.
   */
  authorize?: (view: ModelSnapshot, before: ModelSnapshot, change: ChangeSet) => void;
  /** Overrides of the audit record (action, params, principal, sourceAddress, userAgent). */
  audit?: Partial<AuditEntry>;
}

const START_ATTEMPTS = 6;
const START_RETRY_MS = 250;

export interface ServiceOptions {
  stateDir: string;
  socket: string;
  /** Metrics: a mutation's table generation is in force, `seconds` after its call arrived. */
  onApplied?: (seconds: number) => void;
  /** Flow-log windows and delivery; told of every committed change. */
  flowLogs?: FlowLogRuntime;
  /** The EC2 endpoint's credentials (src/ec2/credentials.ts); the credentials.* methods need it. */
  credentials?: CredentialStore;
  /** Rule hit counters (src/daemon/rule-hits.ts): drained before every table change. */
  ruleHits?: RuleHits;
  /** Fleet mode (etcd store): this host's id, the store, the view of remote ENIs. */
  fleet?: FleetOptions;
}

export interface FleetOptions {
  hostId: string;
  store: EtcdStore;
  view: FleetView;
  /** How long a mutation waits for every live host to confirm (ms). */
  confirmMs: number;
  /** The fleet overlay's bookkeeping (FleetOverlay.state); absent: no --underlay-address. */
  overlay?: FleetOverlay['state'];
  /** The cached revision this daemon started from (etcd did not answer at start). */
  startedFromCache?: string;
}

/** What the service needs of a store: the SQLite Store or the EtcdStore. */
export interface StateStore {
  stageChange(
    change: ChangeSet,
    state: Model,
    audit: AuditEntry,
  ): { commit(): void | Promise<void>; rollback(): void; revision?: string };
  recordAudit(audit: AuditEntry): void;
  auditLog(limit?: number): unknown;
}

export class ControlService {
  private readonly queue = new SerialQueue();
  private readonly startedAt = Date.now();
  private generation = 0n;
  private revision: number;
  private readonly captures: CaptureSessions;

  constructor(
    private model: Model,
    private readonly store: StateStore | Store,
    private readonly dataplane: DataplaneHandle,
    private readonly log: Logger,
    private readonly options: ServiceOptions,
    revision: number,
  ) {
    this.revision = revision;
    this.captures = new CaptureSessions(dataplane, () => {
      const view = this.model.view();
      const owners = new Map<number, string>();
      for (const eni of view.enis) {
        const port = this.dataplane.portOf(eni.id);
        if (port !== undefined) owners.set(port, eni.id);
      }
      return { owners, naclIds: (view.networkAcls ?? []).map((a) => a.id) };
    });
  }

  /**
   * Put the stored state in force (start-up, also after a crash). Retried for
   * a few seconds: after kill -9 the kernel may still be releasing the dead
   * daemon's TAPs (same names) when the new one starts.
   */
  async start(attempts = START_ATTEMPTS): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.generation = await this.dataplane.apply(this.dpView());
        this.options.flowLogs?.configure(this.model.view());
        if (this.options.fleet) this.fleetApplied(this.options.fleet.store.baseRevision);
        return;
      } catch (err) {
        if (attempt >= attempts) throw err;
        this.log.warn({ err, attempt }, 'start-up apply failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, START_RETRY_MS * attempt));
      }
    }
  }

  /** Let queued mutations finish; the server has stopped accepting. */
  async drain(): Promise<void> {
    this.captures.stopAll();
    await this.queue.drain();
  }

  readonly handle = async (
    method: string,
    params: unknown,
    ctx: RequestContext,
    options: CallOptions = {},
  ): Promise<unknown> => {
    if (!isApiMethod(method, this.methods)) {
      throw new AwsError(ProtocolErrorCode.UnknownMethod, `Unknown method '${method}'`);
    }
    const impl = this.methods[method];
    if (MUTATIONS.has(method)) {
      return this.mutate(method, params, await ctx.credentials(), impl, options);
    }
    if (UNQUEUED_READS.has(method)) return impl(p.asParams(params), ctx);
    return this.queue.run(() => impl(p.asParams(params), ctx));
  };

  /** Whether `method` changes state (the EC2 endpoint audits reads itself). */
  static isMutation(method: string): boolean {
    return (MUTATIONS as ReadonlySet<string>).has(method);
  }

  /**
   * An audit record for a call that reached no mutation (an EC2 read, or a
   * refused request). Queued: while a mutation waits for the dataplane its
   * change is staged (an open transaction), and the store takes no other write.
   */
  recordCall(entry: AuditEntry): Promise<void> {
    return this.queue.run(() => this.store.recordAudit(entry));
  }

  private mutate(
    action: ApiMethod,
    rawParams: unknown,
    caller: PeerCredentials,
    impl: MethodImpl,
    options: CallOptions = {},
  ): Promise<unknown> {
    const called = process.hrtime.bigint();
    let committed: string | undefined;
    const run = this.queue.run(async () => {
      // A fleet daemon started from its cache, etcd not answered yet: nothing to commit to.
      if (this.options.fleet !== undefined && !this.options.fleet.store.online) {
        throw new AwsError(
          SERVICE_UNAVAILABLE,
          'The state store (etcd) has not answered since this daemon started from its local cache; nothing was changed.',
        );
      }
      for (let attempt = 1; ; attempt++) {
        const audit = (ok: boolean, extra: Partial<AuditEntry>): AuditEntry => ({
          time: new Date(),
          ...caller,
          action,
          params: rawParams,
          ok,
          ...options.audit,
          ...extra,
        });
        const before = this.model.snapshot();
        let result: unknown;
        try {
          result = impl(p.asParams(rawParams), NO_CONNECTION);
        } catch (err) {
          this.model.takeChanges(); // an AwsError recorded nothing; a bug is rolled back below
          this.restoreIfChanged(before, err);
          this.store.recordAudit(audit(false, failure(err)));
          throw err;
        }
        const change = this.model.takeChanges();
        this.stampOwner(action, change);
        if (options.authorize !== undefined || options.dryRun === true) {
          try {
            options.authorize?.(this.model.view(), before, change);
            if (options.dryRun === true) {
              throw new AwsError(
                ErrorCodes.dryRunOperation,
                'Request would have succeeded, but DryRun flag is set.',
              );
            }
          } catch (err) {
            // Validated but refused (or a dry run): the model goes back to where it was.
            this.model = Model.fromSnapshot(before, { adopt: true });
            this.store.recordAudit(audit(false, failure(err)));
            throw err;
          }
        }
        let staged: ReturnType<StateStore['stageChange']>;
        try {
          staged = this.store.stageChange(
            change,
            this.model,
            audit(true, { result: summarize(result) }),
          );
        } catch (err) {
          // Nothing reached the store (its transaction rolled back): the model must not keep it either.
          this.model = Model.fromSnapshot(before, { adopt: true });
          this.log.error({ err, action }, 'could not stage the change; rolled back');
          throw err;
        }
        // What the table in force admitted so far is named against the rules it
        // was compiled from, before the new one replaces it.
        this.options.ruleHits?.collect(before);
        try {
          this.generation = await this.dataplane.apply(this.dpView(), change);
        } catch (cause) {
          staged.rollback();
          this.model = Model.fromSnapshot(before, { adopt: true });
          const err = dataplaneError(cause);
          this.log.warn({ err: cause, action }, 'dataplane apply failed; change rolled back');
          this.store.recordAudit(audit(false, failure(err)));
          await this.reapply(this.model.view());
          throw err;
        }
        try {
          await staged.commit();
        } catch (err) {
          // Fleet: etcd refused (another host won the race) or is unreachable. Nothing is stored.
          this.model = Model.fromSnapshot(before, { adopt: true });
          await this.reapply(this.dpView());
          if (err instanceof ConflictError && attempt === 1 && (await this.reloadFleet())) continue;
          this.log.warn({ err, action }, 'could not commit the change to the store');
          const e = isAwsError(err) ? err : dataplaneError(err);
          this.store.recordAudit(audit(false, failure(e)));
          throw e;
        }
        this.options.onApplied?.(Number(process.hrtime.bigint() - called) / 1e9);
        this.revision++;
        this.options.flowLogs?.configure(this.model.view());
        if (this.options.fleet && staged.revision !== undefined) {
          committed = staged.revision;
          this.fleetApplied(committed);
        }
        return result;
      }
    });
    const fleet = this.options.fleet;
    if (fleet === undefined) return run;
    return run.then(async (result) => {
      if (committed === undefined) return result;
      const late = await fleet.store.waitApplied(committed, fleet.confirmMs);
      if (late.length > 0) {
        this.log.warn(
          { action, revision: committed, hosts: late },
          'hosts did not confirm the change',
        );
        this.unconfirmed = { revision: committed, hosts: late };
      }
      return result;
    });
  }

  /** The last mutation some live host did not confirm within the bound (fleet.status shows it). */
  private unconfirmed: { revision: string; hosts: string[] } | undefined;

  /** The snapshot the dataplane gets: in a fleet, other hosts' ENIs without their TAPs. */
  private dpView(): ModelSnapshot {
    const view = this.model.view();
    return this.options.fleet ? localView(view, this.options.fleet.hostId) : view;
  }

  /** Fleet: an ENI created or attached here is owned by this host. */
  private stampOwner(action: string, change: ChangeSet): void {
    const fleet = this.options.fleet;
    if (fleet === undefined) return;
    const ids = new Set(change.enis.created);
    if (action === 'eni.attach') for (const id of change.enis.modified) ids.add(id);
    if (ids.size === 0) return;
    for (const eni of this.model.view().enis) if (ids.has(eni.id)) eni.hostId = fleet.hostId;
  }

  /** Fleet: the model from the store's latest state (after a lost race); false if unreachable. */
  private async reloadFleet(): Promise<boolean> {
    const fleet = this.options.fleet;
    if (fleet === undefined) return false;
    try {
      const latest = await fleet.store.load();
      if (latest === undefined) return false;
      this.model = Model.fromSnapshot(latest.snapshot);
      fleet.store.baseRevision = latest.revision;
      await this.reapply(this.dpView());
      this.fleetApplied(latest.revision);
      return true;
    } catch (err) {
      this.log.warn({ err }, 'could not reload the fleet state');
      return false;
    }
  }

  /** Fleet: another host committed `revision`; put it in force here (queued with mutations). */
  applyRemote(snapshot: ModelSnapshot, revision: string): Promise<void> {
    const fleet = this.options.fleet;
    if (fleet === undefined) return Promise.resolve();
    return this.queue.run(async () => {
      if (BigInt(revision) <= BigInt(fleet.store.baseRevision)) return;
      const previous = this.model;
      try {
        this.model = Model.fromSnapshot(snapshot);
        this.generation = await this.dataplane.apply(this.dpView());
      } catch (err) {
        this.log.error(
          { err, revision },
          'could not apply a change from another host; keeping the previous state',
        );
        this.model = previous;
        await this.reapply(this.dpView());
        return;
      }
      fleet.store.baseRevision = revision;
      this.revision++;
      this.options.flowLogs?.configure(this.model.view());
      this.fleetApplied(revision);
    });
  }

  /**
   * Fleet: `revision` is in force here. Reported to etcd (the applied key),
   * the view told, and the state written to the local cache (src/fleet/cache.ts)
   * that a start with etcd down falls back on.
   */
  private fleetApplied(revision: string): void {
    const fleet = this.options.fleet;
    if (fleet === undefined) return;
    fleet.store.setApplied(revision);
    fleet.view.update(this.model.view());
    try {
      writeFleetCache(this.options.stateDir, {
        hostId: fleet.hostId,
        revision,
        snapshot: this.model.view(),
        underlays: fleet.view.knownUnderlays(),
      });
    } catch (err) {
      this.log.error({ err, revision }, 'could not write the fleet cache');
    }
  }

  /** Fleet: every other host's ENI says whether its host is live (`eni describe` HOST column). */
  private withHostReachability(enis: Eni[]): (Eni & { hostReachable?: boolean })[] {
    const fleet = this.options.fleet;
    if (fleet === undefined) return enis;
    const live = new Set(fleet.store.hosts().map((h) => h.hostId));
    return enis.map((e) =>
      isRemote(e, fleet.hostId) ? { ...e, hostReachable: live.has(e.hostId ?? '') } : e,
    );
  }

  /** Fleet: live hosts, their applied revision, remote ENIs and the last unconfirmed change. */
  fleetStatus(): unknown {
    const fleet = this.options.fleet;
    if (fleet === undefined) return { fleet: false };
    return {
      fleet: true,
      hostId: fleet.hostId,
      revision: fleet.store.baseRevision,
      etcd: { online: fleet.store.online, startedFromCache: fleet.startedFromCache ?? null },
      hosts: fleet.store.hosts(),
      remoteEnis: fleet.view.remoteEnis(),
      overlay: fleet.overlay ?? null,
      unconfirmed: this.unconfirmed ?? null,
    };
  }

  /** After a failed apply: bring ports and tables back to the committed state (a full apply). */
  private async reapply(snapshot: ModelSnapshot): Promise<void> {
    try {
      this.generation = await this.dataplane.apply(snapshot);
    } catch (err) {
      this.log.error({ err }, 'could not re-apply the committed state after a failed apply');
    }
  }

  /** The model promises all-or-nothing; a non-AWS error (a bug) may break that. */
  private restoreIfChanged(before: ModelSnapshot, err: unknown): void {
    if (isAwsError(err)) return;
    this.log.error({ err }, 'model threw a non-AWS error; restoring the previous state');
    this.model = Model.fromSnapshot(before, { adopt: true });
  }

  private status(): StatusResult {
    const engine = this.dataplane.engine();
    return {
      version: packageVersion(),
      protocol: PROTOCOL_VERSION,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      stateDir: this.options.stateDir,
      socket: this.options.socket,
      revision: this.revision,
      ...(this.options.fleet ? { fleet: this.fleetStatus() } : {}),
      generation: this.generation.toString(),
      accountId: this.model.accountId,
      region: this.model.region,
      dataplane: {
        io: engine.io,
        workers: engine.workers,
        offload: engine.vnetHdr,
        portsOpen: engine.portsOpen,
        ...(this.dataplane.overlayStatus?.() ? { overlay: this.dataplane.overlayStatus() } : {}),
      },
      counts: this.model.counts(),
    };
  }

  /** Every ENI's counters, unqueued like `stats` (the metrics scrape). */
  /**
   * Rule hit drain (src/daemon/rule-hits.ts), on the service's queue: never
   * between a change's model edit and its table going in force.
   */
  collectRuleHits(): Promise<void> {
    return this.queue.run(() => this.options.ruleHits?.collect(this.model.view()));
  }

  eniStats(): EniStats[] {
    return this.model.listEnis().map((eni) => this.dataplane.stats(eni));
  }

  private enisFor(eniId: string | undefined): Eni[] {
    return this.model.listEnis(eniId === undefined ? undefined : [eniId]);
  }

  private readonly methods: { [M in ApiMethod]: MethodImpl } = {
    status: () => this.status(),
    'vpc.create': (q) =>
      this.model.createVpc({
        cidr: p.str(q, 'cidr'),
        ipv6Cidr: p.optStr(q, 'ipv6Cidr'),
        name: p.optStr(q, 'name'),
        tags: p.optObjectArray<Tag>(q, 'tags'),
        amazonProvidedIpv6CidrBlock: p.optBool(q, 'amazonProvidedIpv6CidrBlock'),
      }),
    'vpc.describe': (q) => this.model.listVpcs(p.optStrArray(q, 'ids')),
    'subnet.create': (q) =>
      this.model.createSubnet({
        vpcId: p.str(q, 'vpcId'),
        cidr: p.str(q, 'cidr'),
        ipv6Cidr: p.optStr(q, 'ipv6Cidr'),
        name: p.optStr(q, 'name'),
        tags: p.optObjectArray<Tag>(q, 'tags'),
        availabilityZone: p.optStr(q, 'availabilityZone'),
      }),
    'subnet.describe': (q) => this.model.listSubnets(p.optStrArray(q, 'ids')),
    'sg.create': (q) =>
      this.model.createSecurityGroup({
        name: p.str(q, 'name'),
        description: p.str(q, 'description'),
        vpcId: p.optStr(q, 'vpcId'),
        tags: p.optObjectArray<Tag>(q, 'tags'),
      }),
    'sg.delete': (q) => {
      const group = this.model.resolveGroup(p.str(q, 'group'), p.optStr(q, 'vpcId'));
      this.model.deleteSecurityGroup(group.id, group.vpcId);
      return { groupId: group.id };
    },
    'sg.describe': (q) =>
      this.model.describeSecurityGroups(p.optStrArray(q, 'groups'), filtersOf(q)),
    'sg.rules': (q) => {
      const out = this.model.describeSecurityGroupRules(
        p.optStrArray(q, 'groups'),
        p.optStrArray(q, 'ruleIds'),
        filtersOf(q),
      );
      // eniwall's own field (the EC2 endpoint answers without it): connections admitted.
      const hits = this.options.ruleHits;
      if (hits !== undefined) {
        hits.collect(this.model.view());
        for (const r of out.SecurityGroupRules) {
          const h = hits.rule(String(r['SecurityGroupRuleId']));
          r['EniwallHits'] = {
            Connections: h.connections,
            LastHit: h.lastMs === null ? null : new Date(h.lastMs).toISOString(),
            Since: new Date(hits.sinceMs).toISOString(),
          };
        }
      }
      return out;
    },
    'sg.authorize': (q) =>
      this.model.authorize(
        this.groupId(q),
        p.direction(q),
        p.optObjectArray<IpPermission>(q, 'permissions') ?? [],
      ),
    'sg.revoke': (q) =>
      this.model.revoke(this.groupId(q), p.direction(q), {
        ruleIds: p.optStrArray(q, 'ruleIds'),
        permissions: p.optObjectArray<IpPermission>(q, 'permissions'),
      }),
    'sg.authorize-ec2': (q) =>
      this.model.authorizeSecurityGroup(
        this.groupId(q),
        p.direction(q),
        p.optObjectArray<IpPermission>(q, 'permissions') ?? [],
        p.optObjectArray<Tag>(q, 'tags'),
      ),
    'sg.revoke-ec2': (q) =>
      this.model.revokeSecurityGroup(this.groupId(q), p.direction(q), {
        ruleIds: p.optStrArray(q, 'ruleIds'),
        permissions: p.optObjectArray<IpPermission>(q, 'permissions'),
      }),
    'vpc.delete': (q) => this.model.deleteVpc(p.str(q, 'id')),
    'subnet.delete': (q) => this.model.deleteSubnet(p.str(q, 'id')),
    'prefix-list.delete': (q) => this.model.deletePrefixList(p.str(q, 'id')),
    'prefix-list.describe-ec2': (q) =>
      this.model.describeManagedPrefixLists(p.optStrArray(q, 'ids'), filtersOf(q)),
    'prefix-list.entries': (q) => this.model.getManagedPrefixListEntries(p.str(q, 'id')),
    'prefix-list.create': (q) =>
      this.model.createPrefixList({
        name: p.str(q, 'name'),
        maxEntries: p.num(q, 'maxEntries'),
        entries: p.optObjectArray<{ cidr: string; description?: string }>(q, 'entries') ?? [],
        family: p.optStr(q, 'family') as 'ipv4' | 'ipv6' | undefined,
        clientToken: p.optStr(q, 'clientToken'),
        tags: p.optObjectArray<Tag>(q, 'tags'),
      }),
    'prefix-list.modify': (q) =>
      this.model.modifyPrefixList(p.str(q, 'id'), {
        add: p.optObjectArray<{ cidr: string; description?: string }>(q, 'add'),
        remove: p.optStrArray(q, 'remove'),
        currentVersion: p.optNum(q, 'currentVersion'),
        name: p.optStr(q, 'name'),
        maxEntries: p.optNum(q, 'maxEntries'),
      }),
    'prefix-list.describe': (q) => this.model.listPrefixLists(p.optStrArray(q, 'ids')),
    'eni.create': (q) =>
      this.model.createEni({
        tap: p.optStr(q, 'tap'),
        qemuSocket: p.optStr(q, 'qemuSocket'),
        qemuSocketMode: p.optStr(q, 'qemuSocketMode'),
        privateIp: p.optStr(q, 'privateIp'),
        subnetId: p.optStr(q, 'subnetId'),
        secondaryIps: p.optStrArray(q, 'secondaryIps'),
        ipv6Addresses: p.optStrArray(q, 'ipv6Addresses'),
        mac: p.optStr(q, 'mac'),
        groups: p.optStrArray(q, 'groups'),
        netns: p.optStr(q, 'netns'),
        netnsPath: p.optStr(q, 'netnsPath'),
        vhostUser: p.optStr(q, 'vhostUser'),
        ifName: p.optStr(q, 'ifName'),
        sourceDestCheck: p.optBool(q, 'sourceDestCheck'),
        connectionTracking: p.optObject<Partial<ConnectionTracking>>(q, 'connectionTracking'),
        description: p.optStr(q, 'description'),
        tags: p.optObjectArray<Tag>(q, 'tags'),
        clientToken: p.optStr(q, 'clientToken'),
      }),
    'eni.modify': (q) =>
      this.model.modifyEni(p.str(q, 'id'), {
        groups: p.optStrArray(q, 'groups'),
        sourceDestCheck: p.optBool(q, 'sourceDestCheck'),
        connectionTracking: p.optObject<Partial<ConnectionTracking>>(q, 'connectionTracking'),
        description: p.optStr(q, 'description'),
      }),
    'eni.delete': (q) => this.model.deleteEni(p.str(q, 'id')),
    'eni.list': (q) => this.withHostReachability(this.model.listEnis(p.optStrArray(q, 'ids'))),
    'eni.describe': (q) =>
      this.model.describeNetworkInterfaces(p.optStrArray(q, 'ids'), filtersOf(q)),
    flows: (q) => {
      const eniId = p.optStr(q, 'eniId');
      const enis = this.model.listEnis();
      if (eniId !== undefined) this.model.listEnis([eniId]); // InvalidNetworkInterfaceID.NotFound
      return this.dataplane.flows(enis, eniId);
    },
    stats: (q) => this.enisFor(p.optStr(q, 'eniId')).map((eni) => this.dataplane.stats(eni)),
    'capture.start': (q, ctx) => {
      const eniId = p.str(q, 'eniId');
      this.model.listEnis([eniId]); // InvalidNetworkInterfaceID.NotFound / .Malformed
      return this.captures.start(
        eniId,
        captureDirection(q),
        p.optBool(q, 'dropsOnly') ?? false,
        ctx,
      );
    },
    'capture.read': (q) =>
      this.captures.read(p.str(q, 'captureId'), p.optNum(q, 'waitMs') ?? DEFAULT_CAPTURE_WAIT_MS),
    'capture.stop': (q) => this.captures.stop(p.str(q, 'captureId')),
    check: (q) =>
      runCheck(this.model.snapshot(), this.dataplane, {
        eniId: p.str(q, 'eniId'),
        direction: p.direction(q),
        protocol: p.str(q, 'protocol'),
        peer: p.str(q, 'peer'),
        port: p.optNum(q, 'port'),
        sourcePort: p.optNum(q, 'sourcePort'),
        tcpFlags: p.optStr(q, 'tcpFlags'),
        icmpType: p.optNum(q, 'icmpType'),
        icmpCode: p.optNum(q, 'icmpCode'),
      }),
    reach: (q) =>
      runReach(this.model.snapshot(), this.dataplane, {
        from: p.str(q, 'from'),
        to: p.str(q, 'to'),
        protocol: p.str(q, 'protocol'),
        port: p.optNum(q, 'port'),
        source: p.optStr(q, 'source'),
      }),
    import: (q) => {
      if (q['document'] === undefined) throw new AwsError(ErrorCodes.missingParameter, 'document');
      const done = this.model.importDocument(q['document'], { vpcId: p.optStr(q, 'vpcId') });
      return [...done.groups, ...done.networkAcls];
    },
    'nacl.create': (q) =>
      this.model.createNetworkAcl({
        vpcId: p.str(q, 'vpcId'),
        tags: p.optObjectArray<Tag>(q, 'tags'),
        clientToken: p.optStr(q, 'clientToken'),
      }),
    'nacl.delete': (q) => this.model.deleteNetworkAcl(p.str(q, 'id')),
    'nacl.entry-create': (q) => this.model.createNetworkAclEntry(naclEntry(q)),
    'nacl.entry-replace': (q) => this.model.replaceNetworkAclEntry(naclEntry(q)),
    'nacl.entry-delete': (q) =>
      this.model.deleteNetworkAclEntry({
        networkAclId: p.str(q, 'networkAclId'),
        ruleNumber: p.num(q, 'ruleNumber'),
        egress: p.bool(q, 'egress'),
      }),
    'nacl.associate': (q) =>
      this.model.replaceNetworkAclAssociation({
        associationId: p.optStr(q, 'associationId'),
        subnetId: p.optStr(q, 'subnetId'),
        networkAclId: p.str(q, 'networkAclId'),
      }),
    'nacl.describe': (q) =>
      this.model.describeNetworkAcls(
        {
          ids: p.optStrArray(q, 'ids'),
          filters: {
            vpcId: p.optStrArray(q, 'vpcIds'),
            subnetId: p.optStrArray(q, 'subnetIds'),
            isDefault: p.optBool(q, 'isDefault'),
          },
        },
        filtersOf(q),
      ),
    'flow-logs.create': (q) =>
      this.model.createFlowLogs(
        {
          resourceIds: p.optStrArray(q, 'resourceIds') ?? [],
          resourceType: p.optStr(q, 'resourceType') ?? '',
          trafficType: p.optStr(q, 'trafficType'),
          maxAggregationInterval: p.optNum(q, 'maxAggregationInterval'),
          logFormat: p.optStr(q, 'logFormat'),
          logDestinationType: p.optStr(q, 'logDestinationType'),
          logDestination: p.optStr(q, 'logDestination'),
          tags: p.optObjectArray<Tag>(q, 'tags'),
        },
        probeDestination,
      ),
    'flow-logs.delete': (q) => this.model.deleteFlowLogs(p.optStrArray(q, 'ids') ?? []),
    'flow-logs.describe': (q) => {
      const out = this.model.describeFlowLogs({
        ids: p.optStrArray(q, 'ids'),
        filters: {
          resourceId: p.optStrArray(q, 'resourceIds'),
          trafficType: p.optStrArray(q, 'trafficTypes'),
        },
      });
      // The delivery status is the runtime's (see src/daemon/flow-logs.ts).
      for (const fl of out.FlowLogs) {
        const d = this.options.flowLogs?.delivery(String(fl['FlowLogId']));
        if (d === undefined) continue;
        fl['DeliverLogsStatus'] = d.status;
        if (d.errorMessage !== undefined) fl['DeliverLogsErrorMessage'] = d.errorMessage;
      }
      // EC2 filters last, so deliver-log-status sees the live status.
      return { FlowLogs: filterRendered(out.FlowLogs, filtersOf(q), FLOW_LOG_FILTERS) };
    },
    'flow-logs.stats': () => this.options.flowLogs?.deliveries() ?? [],
    audit: (q) => this.store.auditLog(p.optNum(q, 'limit')),
    findings: (q) => {
      const view = this.model.view();
      const windowSeconds = p.optNum(q, 'unusedWindowSeconds');
      const hits = this.options.ruleHits;
      if (windowSeconds === undefined || hits === undefined) return { Findings: findings(view) };
      hits.collect(view);
      return {
        Findings: findings(view, {
          connections: (id) => hits.rule(id).connections,
          sinceMs: hits.sinceMs,
          nowMs: Date.now(),
          windowMs: windowSeconds * 1000,
        }),
      };
    },
    // EC2-shaped operations (issue 11), also reached through the EC2 endpoint (src/ec2/).
    'tags.create': (q) => this.model.createTags(p.optStrArray(q, 'resourceIds') ?? [], q['tags']),
    'tags.delete': (q) => this.model.deleteTags(p.optStrArray(q, 'resourceIds') ?? [], q['tags']),
    'tags.describe': (q) => this.model.describeTags(filtersOf(q)),
    'vpc.describe-ec2': (q) => this.model.describeVpcs(p.optStrArray(q, 'ids'), filtersOf(q)),
    'subnet.describe-ec2': (q) => this.model.describeSubnets(p.optStrArray(q, 'ids'), filtersOf(q)),
    'vpc.attribute': (q) => this.model.describeVpcAttribute(p.str(q, 'id'), p.str(q, 'attribute')),
    'vpc.modify-attribute': (q) =>
      this.model.modifyVpcAttribute(p.str(q, 'id'), p.str(q, 'attribute'), p.bool(q, 'value')),
    'route-tables.describe': (q) =>
      this.model.describeRouteTables(p.optStrArray(q, 'ids'), filtersOf(q)),
    'sg.modify-rules': (q) => {
      this.model.modifySecurityGroupRules(this.groupId(q), q['rules']);
      return { Return: true };
    },
    'sg.update-rule-descriptions': (q) => {
      this.model.updateSecurityGroupRuleDescriptions(this.groupId(q), p.direction(q), {
        permissions: p.optObjectArray<IpPermission>(q, 'permissions'),
        ruleDescriptions: p.optObjectArray<{ ruleId: string; description?: string }>(
          q,
          'ruleDescriptions',
        ),
      });
      return { Return: true };
    },
    'eni.attach': (q) =>
      this.model.attachEni(p.str(q, 'id'), {
        tap: p.optStr(q, 'tap'),
        netns: p.optStr(q, 'netns'),
        qemuSocket: p.optStr(q, 'qemuSocket'),
        vhostUser: p.optStr(q, 'vhostUser'),
        replace: p.optBool(q, 'replace'),
        qemuSocketMode: p.optStr(q, 'qemuSocketMode'),
      }),
    'eni.detach': (q) => this.model.detachEni(p.str(q, 'id')),
    // The file is written here, inside the mutation: a later failure (staging, apply) leaves the
    // credential created — it is no model state, and the caller can list or delete it.
    'credentials.create': (q) => {
      const c = this.credentialStore().create(p.str(q, 'name'), q['policy']);
      return { ...c.info, SecretAccessKey: c.secretAccessKey };
    },
    'credentials.list': () => this.credentialStore().list(),
    'credentials.delete': (q) => this.credentialStore().delete(p.str(q, 'accessKeyId')),
  };

  private credentialStore(): CredentialStore {
    const store = this.options.credentials;
    if (store === undefined) {
      throw new AwsError(ErrorCodes.unsupportedOperation, 'this daemon has no credential store');
    }
    return store;
  }

  private groupId(q: p.Params): string {
    return this.model.resolveGroup(p.str(q, 'group'), p.optStr(q, 'vpcId')).id;
  }
}

/** CreateNetworkAclEntry / ReplaceNetworkAclEntry params: types here, values in the model. */
function naclEntry(q: p.Params): NetworkAclEntryInput {
  const protocol = q['protocol'];
  if (protocol === undefined || protocol === null) {
    throw new AwsError(
      ErrorCodes.missingParameter,
      'The request must contain the parameter protocol',
    );
  }
  if (typeof protocol !== 'string' && typeof protocol !== 'number') {
    throw new AwsError(ErrorCodes.parameterValue, 'Parameter protocol must be a string or number');
  }
  return {
    networkAclId: p.str(q, 'networkAclId'),
    ruleNumber: p.num(q, 'ruleNumber'),
    protocol,
    ruleAction: p.str(q, 'ruleAction'),
    egress: p.bool(q, 'egress'),
    cidrBlock: p.optStr(q, 'cidrBlock'),
    ipv6CidrBlock: p.optStr(q, 'ipv6CidrBlock'),
    portRange: p.optObject<{ from?: number; to?: number }>(q, 'portRange'),
    icmpTypeCode: p.optObject<{ type?: number; code?: number }>(q, 'icmpTypeCode'),
  };
}

/** The EC2 Filters of a describe (shapes checked by the model's filter engine). */
function filtersOf(q: p.Params): Filter[] | undefined {
  return p.optObjectArray<Filter>(q, 'filters');
}

/** Reads that need no consistency with an in-flight change. */
const UNQUEUED_READS: ReadonlySet<keyof ApiMethods> = new Set<keyof ApiMethods>([
  'status',
  'flows',
  'stats',
  'audit',
  'flow-logs.stats',
  'capture.start',
  'capture.read',
  'capture.stop',
]);

const DEFAULT_CAPTURE_WAIT_MS = 250;

/** Mutations never look at their connection. */
const NO_CONNECTION: RequestContext = {
  credentials: () => Promise.reject(new Error('no connection')),
  onClose: () => undefined,
};

function captureDirection(q: p.Params): CaptureDirection {
  const value = p.optStr(q, 'direction') ?? 'both';
  if (value !== 'in' && value !== 'out' && value !== 'both') {
    throw new AwsError(
      ErrorCodes.parameterValue,
      `Invalid capture direction '${value}': in, out or both`,
    );
  }
  return value;
}

/** Apply failures reach the client as DataplaneError unless they already carry an AWS code. */
function dataplaneError(err: unknown): AwsError {
  if (isAwsError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AwsError(ProtocolErrorCode.Dataplane, `the change was not applied: ${message}`);
}

function failure(err: unknown): Partial<AuditEntry> {
  if (isAwsError(err)) return { errorCode: err.code, errorMessage: err.message };
  return {
    errorCode: ProtocolErrorCode.Internal,
    errorMessage: err instanceof Error ? err.message : String(err),
  };
}

/** What the audit log keeps of a result: ids where there are ids (rule ids of EC2-shaped answers). */
function summarize(result: unknown): unknown {
  const idOf = (v: unknown): unknown =>
    v !== null && typeof v === 'object' && 'id' in v ? (v as { id: unknown }).id : v;
  if (Array.isArray(result)) return result.map(idOf);
  if (result !== null && typeof result === 'object') {
    const r = result as Record<string, unknown>;
    // credentials.create: the secret is shown once, to the caller, never kept in the audit log.
    if ('SecretAccessKey' in r) return { accessKeyId: r['AccessKeyId'], name: r['Name'] };
    const rules = r['SecurityGroupRules'] ?? r['RevokedSecurityGroupRules'];
    if (Array.isArray(rules)) {
      return {
        ruleIds: rules.map((x) => (x as Record<string, unknown>)['SecurityGroupRuleId']),
        ...(Array.isArray(r['UnknownIpPermissions']) && r['UnknownIpPermissions'].length > 0
          ? { unknownIpPermissions: r['UnknownIpPermissions'] }
          : {}),
      };
    }
  }
  return idOf(result);
}
