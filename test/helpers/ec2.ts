/**
 * The EC2 endpoint in tests: a real daemon with --ec2-listen on a free port,
 * credentials made with the real CLI, requests signed by @smithy/signature-v4
 * (the JS SDK's signer, an independent oracle for src/ec2/sigv4.ts) and a
 * small XML reader for the answers.
 *
 *   const e = await startEc2Daemon(t);                    // credential 'test' made, all actions
 *   const r = await e.call('CreateSecurityGroup', { GroupName: 'web', GroupDescription: 'w' });
 *   assert.equal(r.status, 200);
 *   const id = r.xml.text('groupId');                     // first <groupId> anywhere
 *   const bad = await e.call('DescribeVpcs', { Bogus: '1' });
 *   assert.equal(bad.code, 'UnknownParameter');           // the <Code> of an error answer
 *
 * /usr/bin/aws (Debian awscli 2.9.19) runs against the same endpoint with `e.aws(...)`.
 */
import { createHash, createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import type { TestContext } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { startDaemon, type DaemonOptions, type TestDaemon } from './daemon';

export const AWS_CLI = '/usr/bin/aws';
export const REGION = 'us-east-1';

export interface TestCredential {
  AccessKeyId: string;
  SecretAccessKey: string;
  Name: string;
}

export interface Ec2DaemonOptions extends DaemonOptions {
  /** Start with --ec2-allow-unsigned (the endpoint listens on a loopback address either way). */
  allowUnsigned?: boolean;
  /** Make no credential (tests of unsigned access); default: one named 'test' with all actions. */
  noCredential?: boolean;
  /** The address to listen on (default 127.0.0.1; '::1' listens as [::1]:PORT). */
  host?: string;
}

export interface CallOptions {
  /** Sign with this credential (default: the daemon's 'test' credential). */
  credential?: TestCredential;
  /** Send no Authorization at all (like --no-sign-request). */
  unsigned?: boolean;
  /** Version parameter (default 2016-11-15; 2011-06-15 for STS). */
  version?: string;
  /** The signing scope's service (default ec2). */
  service?: string;
  /** Replace the form body entirely (malformed-request tests); params are then ignored. */
  rawBody?: string | Buffer;
  /** Extra or replaced request headers (signed when signing). */
  headers?: Record<string, string>;
  method?: string;
  path?: string;
  /** Sign as if at this time (skew tests). */
  signingDate?: Date;
  /** The endpoint's address (default 127.0.0.1). */
  host?: string;
}

export interface Ec2Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  xml: XmlNode;
  /** The error <Code> (EC2 and STS envelopes), undefined for a success. */
  code?: string;
  message?: string;
}

export interface Ec2Daemon {
  readonly daemon: TestDaemon;
  readonly port: number;
  readonly host: string;
  readonly endpoint: string; // http://127.0.0.1:PORT (or http://[::1]:PORT)
  /** The 'test' credential (all actions), unless noCredential. */
  readonly credential?: TestCredential;
  /** One EC2 query request; params in the order given (order must not matter). */
  call(action: string, params?: Record<string, string>, options?: CallOptions): Promise<Ec2Reply>;
  /** Like call() but requires HTTP 200; returns the XML. */
  ok(action: string, params?: Record<string, string>, options?: CallOptions): Promise<XmlNode>;
  /** Make a credential with the CLI (`eniwall credentials create --name … [--policy file]`). */
  createCredential(name: string, policy?: unknown): Promise<TestCredential>;
  /** /usr/bin/aws against the endpoint (--output json); signed with `credential` or unsigned. */
  aws(args: string[], credential?: TestCredential | 'unsigned'): Promise<AwsCliResult>;
}

export interface AwsCliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A port that was free a moment ago (the daemon binds it right after). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startEc2Daemon(
  t: TestContext,
  opts: Ec2DaemonOptions = {},
): Promise<Ec2Daemon> {
  const host = opts.host ?? '127.0.0.1';
  const where = host.includes(':') ? `[${host}]` : host;
  const port = await freePort(host);
  const daemon = await startDaemon(t, {
    ...opts,
    args: [
      '--ec2-listen',
      `${where}:${port}`,
      ...(opts.allowUnsigned === true ? ['--ec2-allow-unsigned'] : []),
      ...(opts.args ?? []),
    ],
  });
  const endpoint = `http://${where}:${port}`;
  const createCredential = async (name: string, policy?: unknown): Promise<TestCredential> => {
    const args = ['credentials', 'create', '--name', name];
    if (policy !== undefined) {
      const file = `${daemon.stateDir}/policy-${name}.json`;
      (await import('node:fs')).writeFileSync(file, JSON.stringify(policy));
      args.push('--policy', file);
    }
    return daemon.json<TestCredential>(...args);
  };
  const credential = opts.noCredential === true ? undefined : await createCredential('test');
  const call = (
    action: string,
    params: Record<string, string> = {},
    options: CallOptions = {},
  ): Promise<Ec2Reply> =>
    ec2Request(port, action, params, {
      host,
      ...options,
      credential: options.credential ?? credential,
      unsigned: options.unsigned ?? (credential === undefined && options.credential === undefined),
    });
  return {
    daemon,
    port,
    host,
    endpoint,
    credential,
    call,
    ok: async (action, params, options) => {
      const r = await call(action, params, options);
      if (r.status !== 200) {
        throw new Error(`${action}: HTTP ${r.status} ${r.code}: ${r.message}\n${daemon.logs()}`);
      }
      return r.xml;
    },
    createCredential,
    aws: (args, cred) => runAws(endpoint, args, cred ?? credential ?? 'unsigned'),
  };
}

/** SHA-256 for @smithy/signature-v4 (its Checksum interface over node:crypto). */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    throw new Error('not used');
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** The form body botocore would send: `+` for spaces (URLSearchParams encodes so). */
export function formBody(action: string, params: Record<string, string>, version: string): string {
  return new URLSearchParams({ Action: action, Version: version, ...params }).toString();
}

export async function ec2Request(
  port: number,
  action: string,
  params: Record<string, string>,
  options: CallOptions = {},
): Promise<Ec2Reply> {
  const sts = options.version === '2011-06-15' || options.service === 'sts';
  const version = options.version ?? (sts ? '2011-06-15' : '2016-11-15');
  const body = Buffer.from(options.rawBody ?? formBody(action, params, version));
  const bodyless = options.method === 'GET' || options.method === 'HEAD';
  const host = options.host ?? '127.0.0.1';
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  let headers: Record<string, string> = {
    host: authority,
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    ...(bodyless ? {} : { 'content-length': String(body.length) }),
    ...(options.headers ?? {}),
  };
  if (options.unsigned !== true) {
    const credential = options.credential;
    if (credential === undefined) throw new Error('ec2Request: no credential to sign with');
    const signer = new SignatureV4({
      credentials: {
        accessKeyId: credential.AccessKeyId,
        secretAccessKey: credential.SecretAccessKey,
      },
      region: REGION,
      service: options.service ?? 'ec2',
      sha256: NodeSha256,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      {
        method: options.method ?? 'POST',
        protocol: 'http:',
        hostname: host,
        port,
        path: options.path ?? '/',
        headers,
        body,
        query: {},
      },
      options.signingDate === undefined ? {} : { signingDate: options.signingDate },
    );
    headers = signed.headers as Record<string, string>;
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        method: options.method ?? 'POST',
        path: options.path ?? '/',
        headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const xml = text.trim().startsWith('<') ? parseXml(text) : new XmlNode('(empty)');
          const code = xml.find('Code')?.text;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            xml,
            ...(res.statusCode === 200 ? {} : { code, message: xml.find('Message')?.text }),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(bodyless ? undefined : body);
  });
}

/** /usr/bin/aws with --endpoint-url and credentials in the environment, JSON output. */
export function runAws(
  endpoint: string,
  args: string[],
  credential: TestCredential | 'unsigned',
): Promise<AwsCliResult> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    AWS_DEFAULT_REGION: REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    ...(credential === 'unsigned'
      ? {}
      : {
          AWS_ACCESS_KEY_ID: credential.AccessKeyId,
          AWS_SECRET_ACCESS_KEY: credential.SecretAccessKey,
        }),
  };
  const full = [
    '--endpoint-url',
    endpoint,
    '--output',
    'json',
    ...(credential === 'unsigned' ? ['--no-sign-request'] : []),
    ...args,
  ];
  return new Promise((resolve) => {
    execFile(AWS_CLI, full, { env, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

// ------------------------------------------------------------------ XML

/**
 * An XML element: name (namespace prefix dropped), text (of a leaf), children.
 * Enough for the endpoint's answers: no attributes are kept, no CDATA, no DTD.
 */
export class XmlNode {
  readonly children: XmlNode[] = [];
  text = '';
  constructor(readonly name: string) {}

  /** The first descendant (depth-first) named `name`, or one reached by a path 'a/b/c'. */
  find(path: string): XmlNode | undefined {
    const [first, ...rest] = path.split('/');
    const hit = this.descendants().find((n) => n.name === first);
    if (hit === undefined || rest.length === 0) return hit;
    return hit.child(rest.join('/'));
  }

  /** A direct child path 'a/b' (children only, no search). */
  child(path: string): XmlNode | undefined {
    return path
      .split('/')
      .reduce<XmlNode | undefined>(
        (node, part) => node?.children.find((c) => c.name === part),
        this,
      );
  }

  /** Text of find(path); throws when absent (a test wants it there). */
  value(path: string): string {
    const n = this.find(path);
    if (n === undefined) throw new Error(`no <${path}> in the XML`);
    return n.text;
  }

  /** The <item>s of the first list element named `name` (empty when absent or empty). */
  items(name: string): XmlNode[] {
    return this.find(name)?.children.filter((c) => c.name === 'item') ?? [];
  }

  /** Every descendant named `name`. */
  all(name: string): XmlNode[] {
    return this.descendants().filter((n) => n.name === name);
  }

  private descendants(): XmlNode[] {
    const out: XmlNode[] = [];
    const walk = (n: XmlNode): void => {
      for (const c of n.children) {
        out.push(c);
        walk(c);
      }
    };
    walk(this);
    return out;
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescape(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

/** Parse a document into a synthetic root whose child is the document element. */
export function parseXml(text: string): XmlNode {
  const root = new XmlNode('(root)');
  const stack: XmlNode[] = [root];
  const re = /<\?[^>]*\?>|<!--[\s\S]*?-->|<(\/?)([A-Za-z_][\w.:-]*)([^>]*?)(\/?)>|([^<]+)/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const [, close, rawName, , selfClose, chars] = m;
    const top = stack[stack.length - 1]!;
    if (chars !== undefined) {
      top.text += unescape(chars);
      continue;
    }
    if (rawName === undefined) continue; // declaration or comment
    const name = rawName.includes(':') ? rawName.split(':').pop()! : rawName;
    if (close === '/') {
      if (top.name !== name) throw new Error(`XML: </${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const node = new XmlNode(name);
    top.children.push(node);
    if (selfClose !== '/') stack.push(node);
  }
  if (stack.length !== 1) throw new Error(`XML: <${stack[stack.length - 1]!.name}> not closed`);
  // Whitespace between elements is not text.
  const trim = (n: XmlNode): void => {
    if (n.children.length > 0) n.text = n.text.trim() === '' ? '' : n.text;
    n.children.forEach(trim);
  };
  trim(root);
  return root;
}
