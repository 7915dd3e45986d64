/**
 * A chained IPAM plugin (e.g. Debian containernetworking-plugins' host-local):
 * found on CNI_PATH by its `ipam.type`, run with the same CNI_* environment
 * (CNI_COMMAND set per call) and the same network configuration on stdin, as
 * the spec's delegation rules say. Its error JSON is passed on as it is.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { CniCommand } from './config';
import { CniCodes, CniError } from './errors';

const IPAM_TIMEOUT_MS = 30000;

export function findPlugin(type: string, cniPath: readonly string[]): string {
  for (const dir of cniPath) {
    const file = path.join(dir, type);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(
    CniCodes.invalidEnvironment,
    `CNI_PATH has no IPAM plugin '${type}'`,
    `searched: ${cniPath.join(':') || '(CNI_PATH is empty)'}`,
  );
}

export interface IpamCall {
  type: string;
  command: CniCommand;
  cniPath: readonly string[];
  stdin: string;
  /** Overrides for this call (GC frees other attachments than the one in our env). */
  env?: Record<string, string>;
}

/** Runs the IPAM plugin; resolves with its parsed stdout (undefined when it printed nothing). */
export function execIpam(call: IpamCall): Promise<Record<string, unknown> | undefined> {
  const file = findPlugin(call.type, call.cniPath);
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], {
      env: { ...process.env, ...call.env, CNI_COMMAND: call.command },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), IPAM_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CniError(CniCodes.ipamFailure, `cannot run ${file}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = stdout.trim() === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        parsed = undefined;
      }
      if (code === 0) return resolve(parsed);
      // Its own CNI error, passed on; else a failure of ours that names it.
      if (parsed !== undefined && typeof parsed['code'] === 'number') {
        return reject(
          new CniError(
            parsed['code'],
            `${call.type}: ${String(parsed['msg'] ?? 'failed')}`,
            typeof parsed['details'] === 'string' ? parsed['details'] : undefined,
          ),
        );
      }
      reject(
        new CniError(
          CniCodes.ipamFailure,
          `${call.type} ${call.command} failed (${signal ?? `exit ${code}`})`,
          stderr.trim() || stdout.trim(),
        ),
      );
    });
    child.stdin.on('error', () => undefined); // it may exit before reading everything
    child.stdin.end(call.stdin);
  });
}

/** The first IPv4 address of an IPAM result (`ips[].address`, "a.b.c.d/len"), without the length. */
export function firstIpv4(result: Record<string, unknown> | undefined): string {
  const ips = Array.isArray(result?.['ips']) ? (result['ips'] as unknown[]) : [];
  for (const ip of ips) {
    const address = (ip as { address?: unknown }).address;
    if (typeof address !== 'string') continue;
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/\d{1,2}$/.exec(address);
    if (m?.[1] !== undefined) return m[1];
  }
  throw new CniError(CniCodes.ipamFailure, 'the IPAM plugin returned no IPv4 address');
}
