/**
 * The real AWS CLI (Debian's /usr/bin/aws 2.9.19 — never the pyenv shim on
 * PATH) against a real daemon's EC2 endpoint:
 *
 *   const e = await startEc2Daemon(t);
 *   const key = await createCredential(e.d, 'ci');
 *   const aws = awsCli(e.endpoint, key);
 *   const vpc = await aws.ok<{ Vpc: { VpcId: string } }>('ec2', 'create-vpc', '--cidr-block', '10.0.0.0/16');
 *   const err = await aws.fail('ec2', 'describe-security-groups', '--group-ids', 'sg-0000000000000000f');
 *   // { exitCode: 254, code: 'InvalidGroup.NotFound', message: '...' }
 *
 * Every run gets a fresh HOME (no ~/.aws config or cache leaks in), the
 * credentials in the environment only, region us-east-1, no pager, no IMDS.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { TestDaemon } from './daemon';
import { startEc2Daemon as startEc2DaemonWithClient } from './ec2';

export const AWS_CLI = '/usr/bin/aws';

export interface AwsCredential {
  AccessKeyId: string;
  SecretAccessKey: string;
}

/** What one CLI run printed: the parsed JSON on success, the parsed error line otherwise. */
export type AwsResult =
  | { exitCode: 0; json: unknown; stderr: string }
  | { exitCode: number; code: string; message: string; stderr: string };

export interface AwsCli {
  /** Run `aws ARGS --output json`; never throws for a non-zero exit. */
  run(...args: string[]): Promise<AwsResult>;
  /** Require exit 0; the parsed JSON (undefined for operations that print nothing). */
  ok<T = unknown>(...args: string[]): Promise<T>;
  /** Require a failure; its exit code, AWS error code and message. */
  fail(...args: string[]): Promise<{ exitCode: number; code: string; message: string }>;
}

/** "An error occurred (Code) when calling the X operation: message" → {code, message}. */
export function parseCliError(stderr: string): { code: string; message: string } {
  const m =
    /An error occurred \(([^)]+)\) when calling the \w+ operation(?: \([^)]*\))?: (.*)/.exec(
      stderr,
    );
  if (m) return { code: m[1] ?? '', message: (m[2] ?? '').trim() };
  // Not a service error (connection refused, parameter validation): keep the text.
  return { code: '', message: stderr.trim() };
}

let homes: string[] = [];
process.on('exit', () => {
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
  homes = [];
});

/**
 * `credential` undefined: no credentials at all and `--no-sign-request`
 * (the CLI sends neither Authorization nor X-Amz-Date).
 */
export function awsCli(endpoint: string, credential: AwsCredential | undefined): AwsCli {
  const run = (...args: string[]): Promise<AwsResult> =>
    new Promise((resolve) => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ewaws-'));
      homes.push(home);
      const env: Record<string, string> = {
        PATH: '/usr/bin:/bin',
        HOME: home,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_PAGER: '',
        AWS_EC2_METADATA_DISABLED: 'true',
        // No config file: keep the CLI from finding one anywhere else.
        AWS_CONFIG_FILE: path.join(home, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'credentials'),
        LANG: 'C.UTF-8',
      };
      if (credential !== undefined) {
        env.AWS_ACCESS_KEY_ID = credential.AccessKeyId;
        env.AWS_SECRET_ACCESS_KEY = credential.SecretAccessKey;
      }
      const argv = [
        '--endpoint-url',
        endpoint,
        '--output',
        'json',
        ...(credential === undefined ? ['--no-sign-request'] : []),
        ...args,
      ];
      execFile(
        AWS_CLI,
        argv,
        { env, timeout: 60_000, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          fs.rmSync(home, { recursive: true, force: true });
          homes = homes.filter((h) => h !== home);
          if (err === null) {
            const text = stdout.trim();
            resolve({ exitCode: 0, json: text === '' ? undefined : JSON.parse(text), stderr });
            return;
          }
          const exitCode = typeof err.code === 'number' ? err.code : -1;
          resolve({ exitCode, ...parseCliError(stderr), stderr });
        },
      );
    });
  return {
    run,
    ok: async <T>(...args: string[]): Promise<T> => {
      const r = await run(...args);
      if (r.exitCode !== 0) {
        throw new Error(`aws ${args.join(' ')} exited ${r.exitCode}: ${r.stderr.trim()}`);
      }
      return (r as { json: unknown }).json as T;
    },
    fail: async (...args: string[]) => {
      const r = await run(...args);
      if (r.exitCode === 0) {
        throw new Error(`aws ${args.join(' ')} succeeded, expected an error: ${JSON.stringify(r)}`);
      }
      const e = r as { exitCode: number; code: string; message: string };
      return { exitCode: e.exitCode, code: e.code, message: e.message };
    },
  };
}

export interface Ec2Daemon {
  d: TestDaemon;
  port: number;
  endpoint: string; // http://127.0.0.1:PORT
}

/** A real daemon with `--ec2-listen 127.0.0.1:PORT` (and `--ec2-allow-unsigned` when asked),
 * without a credential: tests here create theirs with createCredential. */
export async function startEc2Daemon(
  t: TestContext,
  opts: { allowUnsigned?: boolean; args?: string[] } = {},
): Promise<Ec2Daemon> {
  const e = await startEc2DaemonWithClient(t, { ...opts, noCredential: true });
  return { d: e.daemon, port: e.port, endpoint: e.endpoint };
}

/** `eniwall credentials create --name NAME [--policy FILE] --json` on the daemon. */
export async function createCredential(
  d: TestDaemon,
  name: string,
  policy?: unknown,
): Promise<AwsCredential> {
  const args = ['credentials', 'create', '--name', name];
  if (policy !== undefined) {
    const file = path.join(d.stateDir, `policy-${name}.json`);
    fs.writeFileSync(file, JSON.stringify(policy));
    args.push('--policy', file);
  }
  const out = await d.json<AwsCredential>(...args);
  if (!/^AKIA[A-Z2-7]{16}$/.test(out.AccessKeyId) || out.SecretAccessKey.length < 40) {
    throw new Error(`credentials create printed ${JSON.stringify(out)}`);
  }
  return { AccessKeyId: out.AccessKeyId, SecretAccessKey: out.SecretAccessKey };
}
