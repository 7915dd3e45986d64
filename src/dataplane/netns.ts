/**
 * Small wrappers around `ip` (iproute2) for wiring the kernel side of a TAP
 * into a network namespace: the "instance" behind an ENI. execFile, never a
 * shell; every failure names the command and carries ip's own message.
 *
 * A namespace is a name (`ip netns`, /run/netns/NAME) or an absolute path of
 * a namespace file (CNI_NETNS: /run/netns/x, /proc/PID/ns/net). `ip -n` takes
 * only names, so commands inside a path run as `nsenter --net=PATH ip ...`;
 * `ip link set ... netns PATH` takes a path as it is. A path namespace is never
 * created or deleted here: it belongs to whoever made it (the container runtime).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';

import { addressValue } from '../model/cidr';

const execFileAsync = promisify(execFile);

export class IpCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
  ) {
    super(`ip ${args.join(' ')} failed: ${stderr.trim() || 'no message'}`);
    this.name = 'IpCommandError';
  }
}

/** Runs `ip ...args`; resolves with stdout. */
export async function ip(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('ip', [...args], { encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: unknown; message?: unknown };
    const stderr = typeof e.stderr === 'string' && e.stderr !== '' ? e.stderr : String(e.message);
    throw new IpCommandError(args, stderr);
  }
}

/** A namespace given by its file rather than by an `ip netns` name. */
export function isNamespacePath(ns: string): boolean {
  return ns.startsWith('/');
}

/** `ip ...args` inside the namespace file `path` (nsenter execs ip: same errors as ip's). */
async function ipInPath(path: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('nsenter', [`--net=${path}`, 'ip', ...args], {
      encoding: 'utf8',
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: unknown; message?: unknown };
    const stderr = typeof e.stderr === 'string' && e.stderr !== '' ? e.stderr : String(e.message);
    throw new IpCommandError(['(in', path + ')', ...args], stderr);
  }
}

/** `ip -n ns ...` (or nsenter for a path) when ns is given, else in our own namespace. */
export function inNs(ns: string | undefined, args: readonly string[]): Promise<string> {
  if (ns !== undefined && isNamespacePath(ns)) return ipInPath(ns, args);
  return ip(ns === undefined ? args : ['-n', ns, ...args]);
}

export async function namespaceExists(ns: string): Promise<boolean> {
  // `ip netns list` is a readdir of /run/netns: read it ourselves, no process per check.
  return fs.existsSync(isNamespacePath(ns) ? ns : `/run/netns/${ns}`);
}

/** Creates the namespace unless it exists already (a path must exist: it is not ours to make). */
export async function ensureNamespace(ns: string): Promise<void> {
  if (await namespaceExists(ns)) return;
  if (isNamespacePath(ns)) throw new Error(`network namespace ${ns} does not exist`);
  try {
    await ip(['netns', 'add', ns]);
  } catch (err) {
    // Lost a race with someone creating the same namespace: that is fine.
    if (!(await namespaceExists(ns))) throw err;
  }
}

/** Deletes the namespace if it exists (links inside go with it). */
export async function deleteNamespace(ns: string): Promise<void> {
  if (isNamespacePath(ns)) return; // not ours
  if (await namespaceExists(ns)) await ip(['netns', 'del', ns]);
}

export async function linkExists(ifname: string, ns?: string): Promise<boolean> {
  try {
    await inNs(ns, ['link', 'show', 'dev', ifname]);
    return true;
  } catch {
    return false;
  }
}

/** Moves a link of our namespace into `ns`. */
export function moveLink(ifname: string, ns: string): Promise<string> {
  return ip(['link', 'set', 'dev', ifname, 'netns', ns]);
}

export function setMac(ifname: string, mac: string, ns?: string): Promise<string> {
  return inNs(ns, ['link', 'set', 'dev', ifname, 'address', mac]);
}

export function setMtu(ifname: string, mtu: number, ns?: string): Promise<string> {
  return inNs(ns, ['link', 'set', 'dev', ifname, 'mtu', String(mtu)]);
}

export function linkUp(ifname: string, ns?: string): Promise<string> {
  return inNs(ns, ['link', 'set', 'dev', ifname, 'up']);
}

/** Adds `addr/prefix`; IPv6 addresses skip duplicate address detection (nodad) so they work at once. */
export function addAddress(
  ifname: string,
  addr: string,
  prefix: number,
  ns?: string,
): Promise<string> {
  const v6 = addressValue(addr).family === 'ipv6';
  const args = [...(v6 ? ['-6'] : []), 'addr', 'add', `${addr}/${prefix}`, 'dev', ifname];
  return inNs(ns, v6 ? [...args, 'nodad'] : args);
}

/** Replaces the default route of the address family of `via`. */
export function setDefaultRoute(ifname: string, via: string, ns?: string): Promise<string> {
  const family = addressValue(via).family === 'ipv6' ? '-6' : '-4';
  return inNs(ns, [family, 'route', 'replace', 'default', 'via', via, 'dev', ifname]);
}

export interface InterfaceConfig {
  /** The link's name inside the namespace (e.g. CNI_IFNAME); absent: it keeps its own. */
  ifName?: string;
  mac?: string;
  mtu?: number;
  addresses: { addr: string; prefix: number }[]; // IPv4 and IPv6
  gateways: string[]; // default route via each (one per family)
}

/** Moves `ifname` into `ns` (a name, created if missing, or a path) and configures it there. */
export async function wireIntoNamespace(
  linkName: string,
  ns: string,
  cfg: InterfaceConfig,
): Promise<void> {
  await ensureNamespace(ns);
  await moveLink(linkName, ns);
  let ifname = linkName;
  if (cfg.ifName !== undefined && cfg.ifName !== linkName) {
    await inNs(ns, ['link', 'set', 'dev', linkName, 'name', cfg.ifName]);
    ifname = cfg.ifName;
  }
  if (cfg.mac !== undefined) await setMac(ifname, cfg.mac, ns);
  if (cfg.mtu !== undefined) await setMtu(ifname, cfg.mtu, ns);
  await linkUp(ifname, ns);
  await linkUp('lo', ns);
  for (const a of cfg.addresses) await addAddress(ifname, a.addr, a.prefix, ns);
  for (const gw of cfg.gateways) await setDefaultRoute(ifname, gw, ns);
}
