/**
 * Runs bin/eniwall-cni exactly as a container runtime does: a fresh process
 * with the CNI_* environment (nothing of ours: no ENIWALL_SOCKET) and the
 * network configuration on stdin; stdout parsed as the result or error JSON.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from './daemon';

export const CNI_PLUGIN = path.join(REPO_ROOT, 'bin/eniwall-cni');
/** Debian containernetworking-plugins (host-local, loopback, ...). */
export const DEBIAN_CNI_PATH = '/usr/lib/cni';

export interface CniEnv {
  CNI_COMMAND: string;
  CNI_CONTAINERID?: string;
  CNI_NETNS?: string;
  CNI_IFNAME?: string;
  CNI_ARGS?: string;
  CNI_PATH?: string;
}

export interface CniRun {
  exitCode: number | null;
  /** Parsed stdout; undefined when it was empty. */
  out: Record<string, unknown> | undefined;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runCni(
  env: CniEnv,
  stdin: string | Record<string, unknown>,
  timeoutMs = 20000,
): Promise<CniRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CNI_PLUGIN],
      {
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const exitCode = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        let out: Record<string, unknown> | undefined;
        try {
          out = stdout.trim() === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>);
        } catch {
          out = { unparsable: stdout };
        }
        resolve({ exitCode, out, stdout, stderr, ms: Date.now() - started });
      },
    );
    child.stdin?.end(typeof stdin === 'string' ? stdin : JSON.stringify(stdin));
  });
}

/** The namespace file of an `ip netns` namespace: what runtimes pass as CNI_NETNS. */
export function netnsPath(ns: string): string {
  return `/run/netns/${ns}`;
}
