/**
 * The persistent store: the desired state (a ModelSnapshot) and the audit log,
 * in one SQLite database under the state directory.
 *
 * Every change is one transaction holding the state change and its one audit
 * record. A change is staged first (BEGIN IMMEDIATE + writes) and committed
 * only after the dataplane has the new table in force, so a failed apply or a
 * crash in between leaves the previous state on disk. Failed requests get an
 * audit record of their own, with their error code, and no state change.
 *
 * Records of calls that changed nothing (reads, refusals, failures) are
 * buffered and written AUDIT_BATCH_MAX at a time, or AUDIT_BATCH_MS after the
 * first, in one transaction: an fsync per read was most of a read's cost. They
 * take their seq when recorded, and the buffer is written before every
 * mutation's transaction, every auditLog() and close(), so seq order is call
 * order. The price: a crash (or power loss) loses the records of at most the
 * last AUDIT_BATCH_MS; a mutation's record stays in its own transaction.
 *
 * Thread safety: one Store per process, used from the daemon's single mutation
 * queue; better-sqlite3 is synchronous, so a staged change cannot interleave.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { ChangeSet } from '../model/change';
import type { ModelSnapshot, Quotas } from '../model/types';
import type { AuditRecord } from '../api/protocol';
import {
  AUDIT_ADDED_COLUMNS,
  OBJECT_KINDS,
  SCHEMA_SQL,
  SCHEMA_VERSION,
  type ObjectKind,
} from './schema';

export const DB_FILE = 'eniwall.db';

/** What an audit record says; the store adds the sequence number. */
export interface AuditEntry {
  time: Date;
  uid: number | null;
  pid: number | null;
  credSource: string;
  action: string;
  params: unknown;
  ok: boolean;
  result?: unknown;
  errorCode?: string;
  errorMessage?: string;
  /** EC2 endpoint calls: the access key id (or 'anonymous') and the credential's name. */
  principal?: string;
  /** EC2 endpoint calls: the client's address:port, and its User-Agent. */
  sourceAddress?: string;
  userAgent?: string;
}

export interface StoredState {
  snapshot: ModelSnapshot;
  revision: number;
}

/** A change written but not committed: exactly one of commit() / rollback(). */
export interface StagedChange {
  commit(): void;
  rollback(): void;
}

interface AuditRow {
  seq: number;
  time: string;
  uid: number | null;
  pid: number | null;
  cred_source: string;
  action: string;
  params: string;
  ok: number;
  result: string | null;
  error_code: string | null;
  error_message: string | null;
  principal: string | null;
  source_address: string | null;
  user_agent: string | null;
  revision: number | null;
}

type Identified = { id: string };

/** Buffered audit records are written at this many, or this long after the first one. */
export const AUDIT_BATCH_MAX = 256;
export const AUDIT_BATCH_MS = 20;
/** After a failed write, the next try waits this long (a failing disk should not flood the log). */
const AUDIT_RETRY_MS = 1000;
/** Unwritten records kept while writes fail; beyond it new ones are dropped (counted), not queued. */
export const AUDIT_BUFFER_LIMIT = 65_536;

export interface StoreOptions {
  /** A buffered write failed (the records stay buffered), or records were dropped. */
  onAuditError?: (err: unknown, info: { pending: number; dropped: number }) => void;
}

/** What stageChange() reads of the model: the singletons and an object by kind and id. */
export interface ChangedState {
  readonly accountId: string;
  readonly region: string;
  readonly quotas: Quotas;
  get(kind: ObjectKind, id: string): Identified | undefined;
}

export class Store {
  private readonly db: Database.Database;
  private staged = false;
  /** The next row's creation-order number (kept here: MAX(seq) per insert is a table scan). */
  private nextSeq: number;
  /** The next audit record's seq: given when recorded, so a buffered record keeps its place. */
  private nextAuditSeq: number;
  private pendingAudit: AuditRow[] = [];
  private auditTimer: NodeJS.Timeout | undefined;
  /** Records dropped because the buffer was full (writes kept failing). */
  droppedAudit = 0;

  private constructor(
    readonly file: string,
    private readonly options: StoreOptions = {},
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a committed change survives power loss, not only a process crash.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA_SQL);
    this.migrateAudit();
    const version = this.getMeta('schema_version');
    if (version === undefined) this.setMeta('schema_version', String(SCHEMA_VERSION));
    else if (Number(version) !== SCHEMA_VERSION) {
      throw new Error(`${file}: schema version ${version}, this build reads ${SCHEMA_VERSION}`);
    }
    this.nextSeq = this.maxSeq() + 1;
    this.nextAuditSeq = this.maxAuditSeq() + 1;
  }

  /** A database from before the audit identity columns: add them (old rows read NULL). */
  private migrateAudit(): void {
    const have = new Set(
      (this.db.prepare('PRAGMA table_info(audit)').all() as { name: string }[]).map((c) => c.name),
    );
    for (const [name, type] of AUDIT_ADDED_COLUMNS) {
      if (!have.has(name)) this.db.exec(`ALTER TABLE audit ADD COLUMN ${name} ${type}`);
    }
  }

  /** Open (creating if needed) the database in a state directory (mode 0700). */
  static open(stateDir: string, options?: StoreOptions): Store {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    return new Store(path.join(stateDir, DB_FILE), options);
  }

  /** Writes the buffered audit records first (not while a change is staged: that is a crash). */
  close(): void {
    if (this.db.open) this.flushAudit();
    this.clearAuditTimer();
    this.db.close();
  }

  /** The stored state, or undefined when the database has never been initialised. */
  load(): StoredState | undefined {
    const accountId = this.getMeta('account_id');
    if (accountId === undefined) return undefined;
    const snapshot: ModelSnapshot = {
      accountId,
      region: this.getMeta('region') ?? '',
      // Keys a newer build added (e.g. the NACL quotas) fall back to defaults in Model.fromSnapshot.
      quotas: JSON.parse(this.getMeta('quotas') ?? '{}') as Quotas,
      vpcs: [],
      subnets: [],
      groups: [],
      rules: [],
      prefixLists: [],
      enis: [],
      networkAcls: [],
      flowLogs: [],
      clientTokens: [],
    };
    const rows = this.db.prepare('SELECT kind, body FROM objects ORDER BY seq').all() as {
      kind: string;
      body: string;
    }[];
    for (const row of rows) {
      const list = (snapshot as unknown as Record<string, unknown[] | undefined>)[row.kind];
      if (!Array.isArray(list)) throw new Error(`${this.file}: unknown object kind ${row.kind}`);
      list.push(JSON.parse(row.body));
    }
    return { snapshot, revision: Number(this.getMeta('revision') ?? '0') };
  }

  /**
   * Stage the change from `before` to `after` (the rows that differ) plus its
   * audit record. Nothing else may touch the store until commit/rollback.
   */
  stage(before: ModelSnapshot | undefined, after: ModelSnapshot, audit: AuditEntry): StagedChange {
    return this.transaction(audit, () => this.writeDiff(before, after));
  }

  /**
   * Stage a change the model reported: only the rows it names are written
   * (created/modified: the object's JSON as it is now; deleted: the row
   * removed), plus the quotas when they changed, and its audit record.
   */
  stageChange(change: ChangeSet, state: ChangedState, audit: AuditEntry): StagedChange {
    return this.transaction(audit, () => {
      if (change.quotas) this.setMeta('quotas', JSON.stringify(state.quotas));
      const upsert = this.upsertStatement();
      const remove = this.db.prepare('DELETE FROM objects WHERE kind = ? AND id = ?');
      for (const kind of OBJECT_KINDS) {
        const c = change[kind];
        for (const id of [...c.created, ...c.modified]) {
          const object = state.get(kind, id);
          if (object === undefined) throw new Error(`change names ${kind} ${id}, which is gone`);
          upsert.run(kind, id, this.nextSeq++, JSON.stringify(object));
        }
        for (const id of c.deleted) remove.run(kind, id);
      }
    });
  }

  /** BEGIN IMMEDIATE, `write`, the revision and the audit record; commit or rollback later. */
  private transaction(audit: AuditEntry, write: () => void): StagedChange {
    if (this.staged) throw new Error('a change is already staged');
    // The calls recorded before this one go first (their own transaction: a rollback keeps them).
    this.flushAudit();
    this.db.prepare('BEGIN IMMEDIATE').run();
    this.staged = true;
    const seq = this.nextSeq;
    const auditSeq = this.nextAuditSeq;
    const rollback = (): void => {
      this.finish('ROLLBACK');
      this.nextSeq = seq;
      this.nextAuditSeq = auditSeq;
    };
    try {
      write();
      const revision = Number(this.getMeta('revision') ?? '0') + 1;
      this.setMeta('revision', String(revision));
      this.insertAudit(audit, revision);
    } catch (err) {
      rollback();
      throw err;
    }
    return { commit: () => this.finish('COMMIT'), rollback };
  }

  private upsertStatement(): Database.Statement {
    // A new row takes the next seq; an existing one keeps its own (creation order).
    return this.db.prepare(
      `INSERT INTO objects (kind, id, seq, body) VALUES (?, ?, ?, ?)
       ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body`,
    );
  }

  private maxAuditSeq(): number {
    const row = this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS m FROM audit').get() as {
      m: number;
    };
    return row.m;
  }

  private maxSeq(): number {
    const row = this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS m FROM objects').get() as {
      m: number;
    };
    return row.m;
  }

  /** Stage and commit at once (first start, quota changes at start-up). */
  save(before: ModelSnapshot | undefined, after: ModelSnapshot, audit: AuditEntry): void {
    this.stage(before, after, audit).commit();
  }

  /**
   * An audit record for a request that changed nothing (a read, a refusal, a
   * failure): buffered, written with the others in one transaction (see the top).
   */
  recordAudit(audit: AuditEntry): void {
    if (this.staged) throw new Error('a change is staged');
    if (this.pendingAudit.length >= AUDIT_BUFFER_LIMIT) {
      // Writes have failed for a long while: drop rather than grow without bound or block.
      this.droppedAudit++;
      if (this.droppedAudit === 1 || this.droppedAudit % 1000 === 0) {
        this.reportAuditError(new Error('audit buffer full; records dropped'));
      }
      return;
    }
    this.pendingAudit.push(auditRow(audit, this.nextAuditSeq++, 0));
    if (this.pendingAudit.length >= AUDIT_BATCH_MAX) this.flushAudit();
    else if (this.auditTimer === undefined) this.armAuditTimer(AUDIT_BATCH_MS);
  }

  /**
   * Write the buffered audit records in one transaction. Failures are reported
   * and retried later, never thrown: the records stay buffered, in order.
   * Not while a change is staged (they would share its fate): retried later.
   */
  flushAudit(): void {
    if (this.pendingAudit.length === 0) {
      this.clearAuditTimer();
      return;
    }
    if (this.staged) {
      this.armAuditTimer(AUDIT_BATCH_MS);
      return;
    }
    const rows = this.pendingAudit;
    try {
      const insert = this.insertAuditStatement();
      this.db.transaction(() => {
        for (const row of rows) insert.run(row);
      })();
    } catch (err) {
      this.reportAuditError(err);
      this.armAuditTimer(AUDIT_RETRY_MS);
      return;
    }
    this.pendingAudit = [];
    this.clearAuditTimer();
  }

  /** Records not yet on disk (tests; the crash window). */
  get pendingAuditCount(): number {
    return this.pendingAudit.length;
  }

  private armAuditTimer(ms: number): void {
    this.clearAuditTimer();
    // unref: a buffered record must not keep the process alive (close() writes it).
    this.auditTimer = setTimeout(() => {
      this.auditTimer = undefined;
      if (this.db.open) this.flushAudit();
    }, ms).unref();
  }

  private clearAuditTimer(): void {
    if (this.auditTimer !== undefined) clearTimeout(this.auditTimer);
    this.auditTimer = undefined;
  }

  private reportAuditError(err: unknown): void {
    const info = { pending: this.pendingAudit.length, dropped: this.droppedAudit };
    if (this.options.onAuditError) this.options.onAuditError(err, info);
    else console.error('eniwall store: audit write failed', info, err);
  }

  /** The newest `limit` audit records, oldest first (the buffered ones included). */
  auditLog(limit = 100): AuditRecord[] {
    this.flushAudit();
    const n = Math.max(1, Math.floor(limit));
    const rows = this.db
      .prepare('SELECT * FROM audit ORDER BY seq DESC LIMIT ?')
      .all(n) as AuditRow[];
    rows.reverse();
    // Still buffered (a change is staged, or the write failed): shown in their place.
    const all = this.pendingAudit.length === 0 ? rows : merged(rows, this.pendingAudit).slice(-n);
    return all.map(toAuditRecord);
  }

  private finish(statement: 'COMMIT' | 'ROLLBACK'): void {
    if (!this.staged) throw new Error('no change is staged');
    this.staged = false;
    this.db.prepare(statement).run();
  }

  private writeDiff(before: ModelSnapshot | undefined, after: ModelSnapshot): void {
    if (!before || before.accountId !== after.accountId)
      this.setMeta('account_id', after.accountId);
    if (!before || before.region !== after.region) this.setMeta('region', after.region);
    const quotas = JSON.stringify(after.quotas);
    if (!before || JSON.stringify(before.quotas) !== quotas) this.setMeta('quotas', quotas);

    const upsert = this.upsertStatement();
    const remove = this.db.prepare('DELETE FROM objects WHERE kind = ? AND id = ?');
    for (const kind of OBJECT_KINDS) {
      const old = indexById(before ? listOf(before, kind) : []);
      const seen = new Set<string>();
      for (const object of listOf(after, kind)) {
        seen.add(object.id);
        const body = JSON.stringify(object);
        if (old.get(object.id) !== body) upsert.run(kind, object.id, this.nextSeq++, body);
      }
      for (const id of old.keys()) if (!seen.has(id)) remove.run(kind, id);
    }
  }

  private insertAudit(audit: AuditEntry, revision = 0): void {
    this.insertAuditStatement().run(auditRow(audit, this.nextAuditSeq++, revision));
  }

  private insertAuditStatement(): Database.Statement {
    return this.db.prepare(
      `INSERT INTO audit (seq, time, uid, pid, cred_source, action, params, ok, result,
                          error_code, error_message, principal, source_address, user_agent,
                          revision)
       VALUES (@seq, @time, @uid, @pid, @cred_source, @action, @params, @ok, @result,
               @error_code, @error_message, @principal, @source_address, @user_agent,
               @revision)`,
    );
  }

  private getMeta(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  private setMeta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }
}

function listOf(snapshot: ModelSnapshot, kind: ObjectKind): Identified[] {
  return (snapshot[kind] ?? []) as Identified[];
}

function indexById(objects: Identified[]): Map<string, string> {
  return new Map(objects.map((o) => [o.id, JSON.stringify(o)]));
}

function auditRow(audit: AuditEntry, seq: number, revision: number): AuditRow {
  return {
    seq,
    time: audit.time.toISOString(),
    uid: audit.uid,
    pid: audit.pid,
    cred_source: audit.credSource,
    action: audit.action,
    params: JSON.stringify(audit.params ?? null),
    ok: audit.ok ? 1 : 0,
    result: audit.result === undefined ? null : JSON.stringify(audit.result),
    error_code: audit.errorCode ?? null,
    error_message: audit.errorMessage ?? null,
    principal: audit.principal ?? null,
    source_address: audit.sourceAddress ?? null,
    user_agent: audit.userAgent ?? null,
    revision,
  };
}

/** Stored and buffered rows, each list in seq order: one list in seq order. */
function merged(stored: AuditRow[], pending: AuditRow[]): AuditRow[] {
  return [...stored, ...pending].sort((a, b) => a.seq - b.seq);
}

function toAuditRecord(row: AuditRow): AuditRecord {
  return {
    seq: row.seq,
    time: row.time,
    uid: row.uid,
    pid: row.pid,
    credSource: row.cred_source,
    action: row.action,
    params: JSON.parse(row.params) as unknown,
    ok: row.ok === 1,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    errorCode: row.error_code,
    errorMessage: row.error_message,
    // The EC2 endpoint's identity fields appear only when set (socket calls have none).
    ...(row.principal === null ? {} : { principal: row.principal }),
    ...(row.source_address === null ? {} : { sourceAddress: row.source_address }),
    ...(row.user_agent === null ? {} : { userAgent: row.user_agent }),
    ...(row.revision === null || row.revision === undefined ? {} : { revision: row.revision }),
  };
}
