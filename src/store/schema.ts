/**
 * SQLite schema of the state directory (eniwall.db, WAL mode).
 *
 * Objects are stored one row each, as the model's JSON, keyed by (kind, id):
 * a change rewrites only the rows it touched, and `seq` keeps creation order
 * so a reloaded snapshot lists objects the way the model did. `meta` holds the
 * singletons (account, region, quotas, revision). `audit` is append-only.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
  kind TEXT NOT NULL,     -- a ModelSnapshot array name: vpcs, subnets, groups, ...
  id   TEXT NOT NULL,
  seq  INTEGER NOT NULL,  -- creation order, kept on update
  body TEXT NOT NULL,     -- the object's JSON
  PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS audit (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  time          TEXT NOT NULL,
  uid           INTEGER,
  pid           INTEGER,
  cred_source   TEXT NOT NULL,
  action        TEXT NOT NULL,
  params        TEXT NOT NULL,
  ok            INTEGER NOT NULL,
  result        TEXT,
  error_code    TEXT,
  error_message TEXT,
  principal      TEXT,  -- EC2 endpoint: access key id (or 'anonymous')
  source_address TEXT,  -- EC2 endpoint: client address:port
  user_agent     TEXT
);
`;

/**
 * Columns added after SCHEMA_VERSION 1 shipped, with their types: a database
 * without one gets it by ALTER TABLE ADD COLUMN on open (NULL in old rows).
 * Additive and readable by older builds, so the schema version stays 1.
 */
export const AUDIT_ADDED_COLUMNS: readonly (readonly [string, string])[] = [
  ['principal', 'TEXT'],
  ['source_address', 'TEXT'],
  ['user_agent', 'TEXT'],
  // The revision a committed change made; 0 for a record that changed nothing
  // (a failure, an EC2 read); NULL in rows written before the column existed.
  ['revision', 'INTEGER'],
];

/**
 * The ModelSnapshot arrays stored as rows, in load order. A store written
 * before networkAcls existed simply has no such rows (same schema version):
 * the daemon gives it default NACLs on load (src/daemon/main.ts).
 */
export const OBJECT_KINDS = [
  'vpcs',
  'subnets',
  'prefixLists',
  'groups',
  'rules',
  'enis',
  'networkAcls',
  'flowLogs',
  'clientTokens',
] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];
