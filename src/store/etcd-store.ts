/**
 * The etcd backend of the desired state (`eniwall daemon --store etcd://...`),
 * for a fleet of daemons sharing one VPC model.
 *
 * Layout (all under /eniwall/):
 *   state                 the whole ModelSnapshot as JSON, one key
 *   audit/<ms>-<host>-<n> one audit record each (mutations in the state's transaction)
 *   hosts/<id>            {hostId, underlayAddress, startedAt}, on the host's lease
 *   hosts/<id>/applied    the state mod revision this host has in force, same lease
 *
 * Every mutation is one etcd transaction: IF mod_revision(state) == the
 * revision the local model was built from THEN put state + put audit. A host
 * that lost the race gets `Conflict` from commit(): the service reloads the
 * latest state and validates once more, so of two racing conflicting
 * mutations the second gets the AWS error it would get sequentially.
 *
 * One key for the whole state keeps the compare-and-swap trivially atomic;
 * its cost is etcd's value limit (1.5 MiB by default, --max-request-bytes),
 * i.e. a few thousand rules. Per-object keys are the next step past that.
 *
 * Every call to etcd is bounded by `timeoutMs`: when etcd is unreachable a
 * mutation fails with ServiceUnavailable and nothing is applied.
 */
import { EventEmitter } from 'node:events';
// Types only at load time: etcd3 and its gRPC stack take ~120 ms to load, which every
// CLI call and every single-host daemon start (a restart's gap) would pay for nothing.
import type { Etcd3, Lease, Watcher } from 'etcd3';
import type { ChangeSet } from '../model/change';
import type { ModelSnapshot } from '../model/types';
import type { AuditRecord } from '../api/protocol';
import { AwsError } from '../model/errors';
import type { AuditEntry, ChangedState } from './store';

export const ETCD_PREFIX = '/eniwall/';
export const STATE_KEY = `${ETCD_PREFIX}state`;
export const AUDIT_PREFIX = `${ETCD_PREFIX}audit/`;
export const HOSTS_PREFIX = `${ETCD_PREFIX}hosts/`;
/** Lease TTL of a host's registration: a host dead this long is shown unreachable. */
export const HOST_TTL_SECONDS = 3;
export const ETCD_TIMEOUT_MS = 1500;

export const SERVICE_UNAVAILABLE = 'ServiceUnavailable';

/** The state moved under us (another host committed first). */
export class ConflictError extends Error {
  constructor() {
    super('the desired state changed on another host');
    this.name = 'ConflictError';
  }
}

export interface EtcdStoreOptions {
  endpoints: string[];
  hostId: string;
  underlayAddress?: string;
  timeoutMs?: number;
  onError?: (err: unknown, what: string) => void;
}

export interface HostInfo {
  hostId: string;
  underlayAddress?: string;
  startedAt: string;
  /** State revision this host has in force (undefined: none reported yet). */
  applied?: string;
}

export interface EtcdStaged {
  commit(): Promise<void>;
  rollback(): void;
  /** After commit: the state's new mod revision. */
  revision?: string;
}

/** `etcd://h:p[,h:p...]` -> grpc endpoints. */
export function parseEtcdUrl(url: string): string[] {
  const m = /^etcd:\/\/(.+)$/.exec(url);
  if (!m?.[1]) throw new Error(`store '${url}': expected etcd://HOST:PORT[,HOST:PORT...]`);
  return m[1].split(',').map((hp) => {
    if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(hp)) {
      throw new Error(`store '${url}': '${hp}' is not HOST:PORT`);
    }
    return `http://${hp}`;
  });
}

function unavailable(what: string, cause: unknown): AwsError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new AwsError(
    SERVICE_UNAVAILABLE,
    `The state store (etcd) is unavailable (${what}: ${detail}); nothing was changed.`,
  );
}

export class EtcdStore extends EventEmitter {
  /** Mod revision of the state the local model was built from ('0': none yet). */
  baseRevision = '0';
  /**
   * etcd answered this daemon at least once (the state loaded and the host
   * registered). False while a daemon started from its local cache waits for
   * etcd: mutations are refused with ServiceUnavailable until then.
   */
  online = false;
  private lease: Lease | undefined;
  private watcher: Watcher | undefined;
  private hostsWatcher: Watcher | undefined;
  private readonly hostMap = new Map<string, HostInfo>();
  private auditCounter = 0;
  private closed = false;
  private appliedRevision = '0';
  readonly timeoutMs: number;

  private constructor(
    readonly client: Etcd3,
    private readonly options: EtcdStoreOptions,
  ) {
    super();
    this.timeoutMs = options.timeoutMs ?? ETCD_TIMEOUT_MS;
  }

  get hostId(): string {
    return this.options.hostId;
  }

  static open(options: EtcdStoreOptions): EtcdStore {
    const timeoutMs = options.timeoutMs ?? ETCD_TIMEOUT_MS;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Etcd3: Client } = require('etcd3') as typeof import('etcd3');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { noop } = require('cockatiel') as typeof import('cockatiel');
    const client = new Client({
      hosts: options.endpoints,
      dialTimeout: timeoutMs,
      // No client-side retries, and a gRPC deadline inside our bound: a call we answered
      // ServiceUnavailable for is cancelled, never sent later (it would land unannounced).
      faultHandling: { global: noop },
      defaultCallOptions: (context) =>
        context.isStream ? {} : { deadline: Date.now() + Math.max(100, timeoutMs - 200) },
    });
    return new EtcdStore(client, options);
  }

  private bounded<T>(what: string, work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(unavailable(what, new Error(`no answer within ${this.timeoutMs} ms`))),
        this.timeoutMs,
      );
      work().then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(
            err instanceof ConflictError || err instanceof AwsError ? err : unavailable(what, err),
          );
        },
      );
    });
  }

  /** The stored state and its mod revision, or undefined for an empty store. */
  async load(): Promise<{ snapshot: ModelSnapshot; revision: string } | undefined> {
    const res = await this.bounded('load', () => this.client.get(STATE_KEY).exec());
    const kv = res.kvs[0];
    if (kv === undefined) return undefined;
    return {
      snapshot: JSON.parse(kv.value.toString()) as ModelSnapshot,
      revision: kv.mod_revision,
    };
  }

  /** First daemon of a fleet: write the initial state unless another host already did. */
  async init(snapshot: ModelSnapshot, audit: AuditEntry): Promise<boolean> {
    const res = await this.bounded('init', () =>
      this.client
        .if(STATE_KEY, 'Create', '==', 0)
        .then(
          this.client.put(STATE_KEY).value(JSON.stringify(snapshot)),
          this.client.put(this.auditKey()).value(JSON.stringify(auditRecord(audit))),
        )
        .commit(),
    );
    return res.succeeded;
  }

  /** A mutation: commit() is the compare-and-swap; ConflictError when another host won. */
  stageChange(
    _change: ChangeSet,
    state: ChangedState & { snapshot(): ModelSnapshot },
    audit: AuditEntry,
  ): EtcdStaged {
    const body = JSON.stringify(state.snapshot());
    const staged: EtcdStaged = {
      commit: async () => {
        const base = this.baseRevision;
        const res = await this.bounded('commit', () =>
          this.client
            .if(STATE_KEY, 'Mod', '==', base)
            .then(
              this.client.put(STATE_KEY).value(body),
              this.client.put(this.auditKey()).value(JSON.stringify(auditRecord(audit))),
            )
            .commit(),
        );
        if (!res.succeeded) throw new ConflictError();
        this.baseRevision = res.header.revision;
        staged.revision = res.header.revision;
      },
      rollback: () => undefined,
    };
    return staged;
  }

  private auditKey(): string {
    const n = (this.auditCounter++).toString().padStart(8, '0');
    return `${AUDIT_PREFIX}${Date.now().toString().padStart(15, '0')}-${this.hostId}-${n}`;
  }

  /** A call that changed nothing: written in the background (a lost record is logged). */
  recordAudit(audit: AuditEntry): void {
    if (this.closed) return;
    this.bounded('audit', () =>
      this.client
        .put(this.auditKey())
        .value(JSON.stringify(auditRecord(audit)))
        .exec(),
    ).catch((err: unknown) => this.options.onError?.(err, 'audit'));
  }

  async auditLog(limit = 100): Promise<AuditRecord[]> {
    const all = await this.bounded('audit log', () =>
      this.client.getAll().prefix(AUDIT_PREFIX).sort('Key', 'Descend').limit(limit).strings(),
    );
    const rows = Object.entries(all)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, v], i) => ({ ...(JSON.parse(v) as AuditRecord), seq: i + 1 }));
    return rows;
  }

  /**
   * Watch the state: `onState` for every revision committed after `after`
   * (default: the revision the model was built from).
   */
  async watchState(
    onState: (snapshot: ModelSnapshot, revision: string) => void,
    after: string = this.baseRevision,
  ): Promise<void> {
    this.watcher = await this.client
      .watch()
      .key(STATE_KEY)
      .startRevision(String(BigInt(after) + 1n))
      .create();
    this.watcher.on('put', (kv) => {
      onState(JSON.parse(kv.value.toString()) as ModelSnapshot, kv.mod_revision);
    });
    this.watcher.on('error', (err) => this.options.onError?.(err, 'state watch'));
  }

  /** Register this host on a lease, keep the registration, and watch the others. */
  async register(): Promise<void> {
    const initial = await this.bounded('hosts', () =>
      this.client.getAll().prefix(HOSTS_PREFIX).strings(),
    );
    for (const [k, v] of Object.entries(initial)) this.noteHostKey(k, v);
    // A retried registration (a daemon started from its cache, etcd back) keeps its one watch.
    if (this.hostsWatcher === undefined) await this.watchHosts();
    await this.grantLease();
  }

  private async watchHosts(): Promise<void> {
    this.hostsWatcher = await this.client.watch().prefix(HOSTS_PREFIX).create();
    this.hostsWatcher.on('put', (kv) => {
      this.noteHostKey(kv.key.toString(), kv.value.toString());
    });
    this.hostsWatcher.on('delete', (kv) => {
      const key = kv.key.toString();
      const rest = key.slice(HOSTS_PREFIX.length);
      const id = rest.split('/')[0] ?? '';
      if (!rest.includes('/')) this.hostMap.delete(id);
      this.emit('hosts');
    });
    this.hostsWatcher.on('error', (err) => this.options.onError?.(err, 'hosts watch'));
  }

  private noteHostKey(key: string, value: string): void {
    const rest = key.slice(HOSTS_PREFIX.length);
    const [id, sub] = rest.split('/');
    if (id === undefined || id === '') return;
    if (sub === undefined) {
      const info = JSON.parse(value) as HostInfo;
      this.hostMap.set(id, { ...info, applied: this.hostMap.get(id)?.applied });
    } else if (sub === 'applied') {
      const h = this.hostMap.get(id) ?? { hostId: id, startedAt: '' };
      this.hostMap.set(id, { ...h, applied: value });
    }
    this.emit('hosts');
  }

  private async grantLease(): Promise<void> {
    const lease = this.client.lease(HOST_TTL_SECONDS);
    this.lease = lease;
    lease.on('lost', () => {
      // Only the current lease counts; one re-registration loop at a time.
      if (this.closed || lease !== this.lease || this.reRegistering) return;
      this.options.onError?.(new Error('host lease lost'), 'lease');
      void this.reRegister();
    });
    const info: HostInfo = {
      hostId: this.hostId,
      underlayAddress: this.options.underlayAddress,
      startedAt: new Date().toISOString(),
    };
    await this.bounded('register', async () => {
      await lease.put(`${HOSTS_PREFIX}${this.hostId}`).value(JSON.stringify(info)).exec();
      await lease.put(`${HOSTS_PREFIX}${this.hostId}/applied`).value(this.appliedRevision).exec();
    });
  }

  private reRegistering = false;

  private async reRegister(): Promise<void> {
    this.reRegistering = true;
    try {
      while (!this.closed) {
        try {
          await this.grantLease();
          this.emit('reconnected');
          return;
        } catch {
          this.lease?.release();
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    } finally {
      this.reRegistering = false;
    }
  }

  /** This host has revision `rev` in force. */
  setApplied(rev: string): void {
    this.appliedRevision = rev;
    const lease = this.lease;
    if (lease === undefined || this.closed) return;
    this.bounded('applied', () =>
      lease.put(`${HOSTS_PREFIX}${this.hostId}/applied`).value(rev).exec(),
    ).catch((err: unknown) => this.options.onError?.(err, 'applied'));
  }

  /** Live hosts (registered, lease alive) as last seen by the hosts watch. */
  hosts(): HostInfo[] {
    return [...this.hostMap.values()].filter((h) => h.startedAt !== '');
  }

  /**
   * Wait up to `ms` until every live host reports `rev` (or later) applied;
   * answers the ids of those that did not.
   */
  waitApplied(rev: string, ms: number): Promise<string[]> {
    const target = BigInt(rev);
    const pending = (): string[] =>
      this.hosts()
        .filter((h) => h.applied === undefined || BigInt(h.applied) < target)
        .map((h) => h.hostId);
    return new Promise((resolve) => {
      if (pending().length === 0) {
        resolve([]);
        return;
      }
      const check = (): void => {
        if (pending().length === 0) done();
      };
      const done = (): void => {
        clearTimeout(timer);
        this.off('hosts', check);
        resolve(pending());
      };
      const timer = setTimeout(done, ms);
      this.on('hosts', check);
    });
  }

  /** Bounded: with etcd gone, cancelling the watches and revoking the lease cannot hang shutdown. */
  async close(): Promise<void> {
    this.closed = true;
    const within = (p: Promise<unknown> | undefined): Promise<unknown> =>
      Promise.race([p?.catch(() => undefined), new Promise((r) => setTimeout(r, 300))]);
    await Promise.all([
      within(this.watcher?.cancel()),
      within(this.hostsWatcher?.cancel()),
      within(this.lease?.revoke()),
    ]);
    this.client.close();
  }
}

function auditRecord(a: AuditEntry): AuditRecord {
  return {
    seq: 0,
    time: a.time.toISOString(),
    uid: a.uid,
    pid: a.pid,
    credSource: a.credSource,
    action: a.action,
    params: a.params,
    ok: a.ok,
    result: a.result ?? null,
    errorCode: a.errorCode ?? null,
    errorMessage: a.errorMessage ?? null,
    principal: a.principal,
    sourceAddress: a.sourceAddress,
    userAgent: a.userAgent,
  };
}
