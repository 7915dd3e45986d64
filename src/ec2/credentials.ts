/**
 * The EC2 endpoint's credentials: access key id -> secret, name and policy.
 *
 * Kept in <stateDir>/ec2-credentials.json (mode 0600 in a 0700 directory:
 * root alone reads the secrets), never in the model snapshot, the SQLite
 * store, the audit log or the logs. Loaded once on open and kept in memory:
 * lookup() is on every signed request's path. Every write replaces the file
 * atomically (temporary file 0600, fsync, rename, fsync of the directory), so
 * a crash leaves either the old list or the new one.
 *
 * One CredentialStore per daemon, shared by the socket API (create/list/
 * delete) and the EC2 endpoint (lookup); both run in the daemon's one thread.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CredentialInfo } from '../api/protocol';
import { AwsError, ErrorCodes } from '../model/errors';
import { DEFAULT_POLICY, parsePolicy, type Policy } from './policy';

export const CREDENTIALS_FILE = 'ec2-credentials.json';
/** [U] IAM answers NoSuchEntity for an unknown key; an EC2-style NotFound code fits this API better. */
export const ACCESS_KEY_NOT_FOUND = 'InvalidAccessKeyId.NotFound';

const FILE_VERSION = 1;
/** IAM user-name characters and length. */
const NAME = /^[A-Za-z0-9+=,.@_-]{1,64}$/;
const ACCESS_KEY_ID = /^AKIA[A-Z2-7]{16}$/;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export interface Credential {
  accessKeyId: string;
  secretAccessKey: string;
  name: string;
  createTime: string;
  policy: Policy;
}

interface CredentialsFile {
  version: number;
  credentials: Credential[];
}

/** 'AKIA' + 16 random base32 characters, like AWS's long-term keys. */
function newAccessKeyId(): string {
  // 256 is a multiple of 32: every character is equally likely.
  return 'AKIA' + [...crypto.randomBytes(16)].map((b) => BASE32[b % 32]).join('');
}

/** 40 characters of base64 (30 random bytes), the length and alphabet of AWS secrets. */
function newSecret(): string {
  return crypto.randomBytes(30).toString('base64');
}

export function infoOf(c: Credential): CredentialInfo {
  return {
    AccessKeyId: c.accessKeyId,
    Name: c.name,
    CreateTime: c.createTime,
    Policy: c.policy,
  };
}

export class CredentialStore {
  private readonly byKey = new Map<string, Credential>();

  private constructor(readonly file: string) {}

  /** <stateDir>/ec2-credentials.json (mode 0600; the directory 0700); an absent file is an empty list. */
  static open(stateDir: string): CredentialStore {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const store = new CredentialStore(path.join(stateDir, CREDENTIALS_FILE));
    store.load();
    return store;
  }

  private load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    // Secrets readable by others would be a leak: tighten a file someone chmod-ed.
    if ((fs.statSync(this.file).mode & 0o077) !== 0) fs.chmodSync(this.file, 0o600);
    let doc: CredentialsFile;
    try {
      doc = JSON.parse(text) as CredentialsFile;
    } catch (err) {
      throw new Error(`${this.file}: not JSON (${(err as Error).message})`);
    }
    if (doc.version !== FILE_VERSION || !Array.isArray(doc.credentials)) {
      throw new Error(`${this.file}: not a version ${FILE_VERSION} credentials file`);
    }
    for (const c of doc.credentials) {
      if (!ACCESS_KEY_ID.test(String(c.accessKeyId)) || typeof c.secretAccessKey !== 'string') {
        throw new Error(`${this.file}: a credential without a valid access key id or secret`);
      }
      this.byKey.set(c.accessKeyId, { ...c, policy: parsePolicy(c.policy) });
    }
  }

  /** Names are unique: InvalidParameterValue on a duplicate or bad name, or a bad policy. */
  create(name: string, policy?: unknown): Credential & { info: CredentialInfo } {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new AwsError(
        ErrorCodes.parameterValue,
        `Invalid credential name ${JSON.stringify(name)}: 1-64 of A-Z a-z 0-9 + = , . @ _ -`,
      );
    }
    if (this.list().some((c) => c.Name === name)) {
      throw new AwsError(ErrorCodes.parameterValue, `A credential named '${name}' already exists`);
    }
    const parsed = policy === undefined || policy === null ? DEFAULT_POLICY : parsePolicy(policy);
    let accessKeyId = newAccessKeyId();
    while (this.byKey.has(accessKeyId)) accessKeyId = newAccessKeyId();
    const credential: Credential = {
      accessKeyId,
      secretAccessKey: newSecret(),
      name,
      createTime: new Date().toISOString(),
      policy: {
        Actions: [...parsed.Actions],
        ...(parsed.VpcIds ? { VpcIds: [...parsed.VpcIds] } : {}),
      },
    };
    this.write([...this.byKey.values(), credential]);
    this.byKey.set(accessKeyId, credential);
    return { ...credential, info: infoOf(credential) };
  }

  /** Every credential without its secret, oldest first. */
  list(): CredentialInfo[] {
    return [...this.byKey.values()].map(infoOf);
  }

  /** Unknown key: InvalidAccessKeyId.NotFound. */
  delete(accessKeyId: string): CredentialInfo {
    const c = typeof accessKeyId === 'string' ? this.byKey.get(accessKeyId) : undefined;
    if (c === undefined) {
      throw new AwsError(
        ACCESS_KEY_NOT_FOUND,
        `The access key ID '${String(accessKeyId)}' does not exist`,
      );
    }
    this.write([...this.byKey.values()].filter((x) => x !== c));
    this.byKey.delete(accessKeyId);
    return infoOf(c);
  }

  /** The hot path of every signed request: the in-memory map. */
  lookup(accessKeyId: string): Credential | undefined {
    return this.byKey.get(accessKeyId);
  }

  /** The memory map changes only after this succeeded. */
  private write(credentials: Credential[]): void {
    const doc: CredentialsFile = { version: FILE_VERSION, credentials };
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.fchmodSync(fd, 0o600); // the umask cannot widen it, but a stale tmp file may exist
      fs.writeSync(fd, JSON.stringify(doc, null, 2) + '\n');
      fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
    const dir = fs.openSync(path.dirname(this.file), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  }
}
