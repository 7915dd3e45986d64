/**
 * Puts a model snapshot in force on a Dataplane: one TAP per ENI (its kernel
 * side wired into the ENI's namespace with its MAC, addresses and default
 * routes via the subnet router), then one compiled table, then the ports of
 * ENIs that are gone or were re-bound are closed.
 *
 * All or nothing: every step that can fail runs before anything in force is
 * touched. New TAPs (for new ENIs, and for ENIs re-bound because their TAP
 * name, namespace, MAC or addresses changed) are opened and configured first;
 * then the table naming them is compiled and loaded. If any of that fails, the
 * TAPs this apply opened are closed again and the previous generation and
 * ports stay in force, untouched. Only after the new table is in force (it no
 * longer names them) are the old ports closed, so no frame is judged against a
 * closed port.
 *
 * Re-binding in place: a re-bound ENI's new TAP usually wants the old one's
 * name in the old one's namespace, where both cannot exist at once. The new
 * TAP is then opened under a temporary name and configured but left down (so
 * the namespace keeps using the old link and its routes); once the old port is
 * closed it is renamed, brought up and given its routes. Those last steps run
 * after the commit; should one fail, apply reports it (the daemon then
 * re-applies its committed state).
 *
 * With a change set (what the model changed since the last apply), only the
 * ENIs it names are looked at: created and modified ones are (re-)wired if
 * their wiring differs, deleted ones released; the others are left as they
 * are without comparing anything. The compiler gets the change too. An ENI
 * without a TAP (unbound, see src/model/enis.ts) gets no port: it is compiled
 * without one (its addresses still count in group references). After a
 * failed apply the driver no longer trusts change sets until a full apply
 * (without one, e.g. the daemon's re-apply) has succeeded.
 *
 * Namespaces: `netns` (a name, created if missing) or `netnsPath` (a file such
 * as CNI_NETNS, never created); inside it the link is renamed to `ifName` when
 * given. A path namespace that is gone (the container died while the daemon
 * was down) does not fail a full apply (start-up, re-apply): that ENI gets no
 * port, like an unbound one, until a later apply finds the namespace again;
 * an apply whose change names the ENI fails instead, so a create or modify
 * never reports success without the link in place.
 *
 * QEMU stream ports: an ENI with `qemuSocket` instead of `tap` gets a port
 * listening on that unix socket, or with `qemuSocketMode: 'connect'` connecting
 * (and reconnecting) to QEMU's (Dataplane.openStream; README "QEMU VMs"):
 * no namespace, no link to configure. Its wiring is the path alone, so it is
 * opened once and kept while the ENI lives; guests come and go on it. After a
 * restart the full apply opens it again (a stale socket file left by a killed
 * daemon is replaced), asking for its saved port id when portsFile is set. A
 * socket that cannot be opened (its directory gone after a reboot, a file in
 * the way, an engine that cannot serve sockets) does not fail a full apply:
 * that ENI gets no port, reported through onSkipped, like a vanished path
 * namespace; an apply whose change names the ENI fails instead.
 *
 * Persistent TAPs (option persistTaps, daemon --persist-taps): every TAP is
 * opened with TUNSETPERSIST, so it outlives the daemon. A driver that finds
 * an ENI's link already in place (the previous daemon's, after SIGTERM or
 * kill -9) attaches to it by name inside its namespace instead of creating
 * one, and re-asserts its MAC, addresses and routes idempotently: the
 * instance's sockets never see their link go. A TAP that cannot be attached
 * as it is (another queue count, not a TAP) is deleted and made anew. Closing
 * a port because its ENI was deleted or re-bound removes the device; closing
 * the driver (daemon shutdown) leaves it for the next daemon.
 */
import * as fs from 'node:fs';

import type { ChangeSet } from '../model/change';
import { parseCidr, subnetRouterAddress } from '../model/cidr';
import type { Eni, ModelSnapshot, Subnet } from '../model/types';
import { isBound } from '../model/enis';
import type { Dataplane } from './dataplane';
import {
  addAddress,
  ensureNamespace,
  inNs,
  isNamespacePath,
  linkExists,
  linkUp,
  moveLink,
  namespaceExists,
  setDefaultRoute,
  setMac,
  setMtu,
  type InterfaceConfig,
} from './netns';

/** What the driver needs of src/compiler's TableCompiler. */
export interface TableCompilerLike {
  compile(
    snapshot: ModelSnapshot,
    ports: ReadonlyMap<string, number>,
    generation: bigint,
    change?: ChangeSet,
  ): Uint8Array;
}

export class DataplaneApplyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataplaneApplyError';
  }
}

interface BoundPort {
  port: number;
  ifname: string;
  netns: string | undefined; // where the TAP's kernel side lives (undefined: our namespace)
  /** Everything about the ENI that the TAP and its namespace side depend on. */
  wiring: string;
}

/** A TAP opened by the apply in progress, not yet in force. */
interface PendingPort {
  eni: Eni;
  config: InterfaceConfig;
  bound: BoundPort; // what it becomes once committed (ifname = the final name)
  ifname: string; // its kernel name now: temporary while the old TAP holds the final one
  replaces: BoundPort | undefined; // the ENI's previous port, closed at commit
  /** Shares its namespace with the TAP it replaces: link up and routes wait for the commit. */
  deferred: boolean;
  /** Attached to a persistent TAP that was already there: not removed if the apply fails. */
  reopened?: boolean;
  /**
   * Reattached: MAC, addresses and routes are re-asserted after the commit, not
   * before. The link kept them while no daemon ran, so forwarding resumes as
   * soon as the table is loaded; the `ip` calls (a process each) stay out of a
   * restart's gap.
   */
  reassert?: boolean;
}

export interface DriverOptions {
  /** Open TAPs persistent and attach to those already in place (see the file comment). */
  persistTaps?: boolean;
  /**
   * Where the ENI -> port map is kept across restarts (JSON, rewritten after
   * every apply): a reattached TAP asks for its old port, so the conntrack
   * zones adopted from shared memory still name the same ENI.
   */
  portsFile?: string;
  /** A full apply left this QEMU socket ENI without a port (see the file comment). */
  onSkipped?: (eniId: string, reason: string) => void;
}

/** The file of a namespace given by name or path. */
function namespaceFile(ns: string): string {
  return isNamespacePath(ns) ? ns : `/run/netns/${ns}`;
}

function prefixOf(cidr: string): number {
  const parsed = parseCidr(cidr);
  if (parsed === undefined) throw new DataplaneApplyError(`subnet CIDR ${cidr} does not parse`);
  return parsed.prefix;
}

/** Addresses and gateways the ENI's kernel side gets in its namespace. */
export function interfaceConfig(eni: Eni, subnet: Subnet): InterfaceConfig {
  const v4 = prefixOf(subnet.cidr);
  const addresses = [eni.privateIp, ...eni.secondaryIps].map((addr) => ({ addr, prefix: v4 }));
  const gateways = [subnetRouterAddress(subnet.cidr)];
  if (subnet.ipv6Cidr !== undefined) {
    const v6 = prefixOf(subnet.ipv6Cidr);
    addresses.push(...eni.ipv6Addresses.map((addr) => ({ addr, prefix: v6 })));
    if (eni.ipv6Addresses.length > 0) gateways.push(subnetRouterAddress(subnet.ipv6Cidr));
  }
  return { mac: eni.mac, addresses, gateways };
}

/** Where the ENI's kernel side lives: a namespace name or path; undefined: our namespace. */
function namespaceOf(eni: Eni): string | undefined {
  return eni.netnsPath ?? eni.netns;
}

/** The link's final name in that namespace: ifName there, else the tap name. */
function linkNameOf(eni: Eni): string {
  return (namespaceOf(eni) === undefined ? undefined : eni.ifName) ?? eni.tap ?? '';
}

/**
 * Deletes the TAPs persistent ports of these ENIs left in place (the link of
 * every ENI bound to a TAP, where it exists); `eniwall daemon --cleanup`.
 * Resolves with the links deleted, as `name` or `name in namespace`.
 */
export async function removePersistentTaps(enis: readonly Eni[]): Promise<string[]> {
  const removed: string[] = [];
  for (const eni of enis) {
    if (eni.tap === undefined) continue;
    const ns = namespaceOf(eni);
    const name = linkNameOf(eni);
    if (ns !== undefined && !(await namespaceExists(ns))) continue;
    if (!(await linkExists(name, ns))) continue;
    await inNs(ns, ['link', 'del', 'dev', name]);
    removed.push(ns === undefined ? name : `${name} in ${ns}`);
  }
  return removed;
}

/** Whether the ENI has a port on this host: a TAP or a vhost-user socket. */
function wiringKey(eni: Eni, subnet: Subnet | undefined): string {
  if (eni.qemuSocket !== undefined) {
    const mode = eni.qemuSocketMode === 'connect' ? ['connect'] : [];
    return JSON.stringify(['qemu-stream', eni.qemuSocket, ...mode]);
  }
  // A vhost-user port carries no kernel configuration: only its socket path makes it another port.
  if (eni.vhostUser !== undefined) return JSON.stringify(['vhost-user', eni.vhostUser]);
  return JSON.stringify([
    eni.tap,
    eni.netns ?? null,
    eni.netnsPath ?? null,
    eni.ifName ?? null,
    eni.mac,
    eni.privateIp,
    eni.secondaryIps,
    eni.ipv6Addresses,
    subnet?.cidr,
    subnet?.ipv6Cidr,
  ]);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `ip addr replace`: adding an address the link already has is no error. */
function replaceAddress(ifname: string, addr: string, prefix: number, ns: string): Promise<string> {
  const v6 = addr.includes(':');
  const args = [...(v6 ? ['-6'] : []), 'addr', 'replace', `${addr}/${prefix}`, 'dev', ifname];
  return inNs(ns, v6 ? [...args, 'nodad'] : args);
}

/** `ip [-n ns] link set dev from name to`. */
function renameLink(from: string, to: string, ns: string | undefined): Promise<string> {
  return inNs(ns, ['link', 'set', 'dev', from, 'name', to]);
}

/** Link up (and the namespace's loopback), then the default routes: what makes it carry traffic. */
async function activate(ifname: string, ns: string, cfg: InterfaceConfig): Promise<void> {
  await linkUp(ifname, ns);
  await linkUp('lo', ns);
  for (const gw of cfg.gateways) await setDefaultRoute(ifname, gw, ns);
}

const RENAME_ATTEMPTS = 20;
const RENAME_RETRY_MS = 25;

export class DataplaneDriver {
  private readonly bound = new Map<string, BoundPort>(); // by ENI id
  private lastGeneration = 0n;
  private queue: Promise<unknown> = Promise.resolve();
  private tempNames = 0;
  /** Set by a failed apply: the ports may not match the last good state, so compare everything. */
  private diverged = true;

  /**
   * MTU given to every TAP wired into a namespace from now on (the overlay sets
   * 1500 - 50, room for IPv4 + UDP + VXLAN); undefined: the kernel's default.
   */
  tapMtu: number | undefined;

  constructor(
    private readonly dp: Dataplane,
    private readonly compiler: TableCompilerLike,
    private readonly options: DriverOptions = {},
  ) {}

  /** The dataplane port of an ENI, once an apply opened it. */
  portOf(eniId: string): number | undefined {
    return this.bound.get(eniId)?.port;
  }

  /**
   * Applies one snapshot; calls are serialised. Resolves with the generation
   * in force. `change`: what changed since the previous apply's snapshot
   * (see the file comment); without it every ENI is compared.
   */
  apply(snapshot: ModelSnapshot, change?: ChangeSet): Promise<bigint> {
    const run = this.queue.then(() => this.applyNow(snapshot, change));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(snapshot: ModelSnapshot, given: ChangeSet | undefined): Promise<bigint> {
    const change = this.diverged ? undefined : given;
    this.diverged = true; // until this apply has succeeded
    const subnets = new Map(snapshot.subnets.map((s) => [s.id, s]));
    // The ENIs to look at, and the ids that must not keep a port.
    let candidates: readonly Eni[];
    let gone: (id: string) => boolean;
    let named = new Set<string>();
    if (change === undefined) {
      const wanted = new Set(snapshot.enis.filter(isBound).map((e) => e.id));
      candidates = snapshot.enis;
      gone = (id) => !wanted.has(id);
    } else {
      named = new Set([...change.enis.created, ...change.enis.modified]);
      candidates = named.size === 0 ? [] : snapshot.enis.filter((e) => named.has(e.id));
      const deleted = new Set(change.enis.deleted);
      const unbound = new Set(candidates.filter((e) => !isBound(e)).map((e) => e.id));
      gone = (id) => deleted.has(id) || unbound.has(id);
    }

    // 1. Open and configure every TAP this snapshot needs anew; nothing in force changes.
    const pending: PendingPort[] = [];
    try {
      for (const eni of candidates) {
        if (!isBound(eni)) continue; // unbound: no port
        const subnet = subnets.get(eni.subnetId);
        if (subnet === undefined)
          throw new DataplaneApplyError(
            `ENI ${eni.id}: subnet ${eni.subnetId} is not in the snapshot`,
          );
        const old = this.bound.get(eni.id);
        if (old !== undefined && old.wiring === wiringKey(eni, subnet)) continue;
        const strict = given !== undefined && named.has(eni.id);
        if (eni.qemuSocket !== undefined) {
          try {
            pending.push(this.prepareStream(eni, subnet, old));
          } catch (err) {
            if (strict) throw err;
            this.options.onSkipped?.(eni.id, message(err));
          }
          continue;
        }
        const ns = namespaceOf(eni);
        if (!strict && ns !== undefined && isNamespacePath(ns) && !(await namespaceExists(ns))) {
          continue; // its container is gone (see the file comment): no port for now
        }
        pending.push(await this.prepare(eni, subnet, old));
      }
      // 2. Compile and publish the table that names the new ports.
      const ports = new Map<string, number>();
      for (const [id, b] of this.bound) if (!gone(id)) ports.set(id, b.port);
      for (const p of pending) ports.set(p.eni.id, p.bound.port);
      const current = this.dp.generation();
      const generation = (current > this.lastGeneration ? current : this.lastGeneration) + 1n;
      const table = this.compiler.compile(snapshot, ports, generation, change);
      this.dp.loadTable(table, generation);
      this.lastGeneration = generation;
    } catch (err) {
      for (const p of pending) this.closeQuietly(p.bound.port, p.reopened !== true);
      if (err instanceof DataplaneApplyError) throw err;
      throw new DataplaneApplyError(
        `apply failed, generation ${this.dp.generation()} stays in force: ${message(err)}`,
        { cause: err },
      );
    }

    // 3. Committed: retire the old ports, then finish the TAPs that waited for them.
    const failures: string[] = [];
    for (const p of pending) {
      if (p.replaces !== undefined) this.closeQuietly(p.replaces.port);
      this.bound.set(p.eni.id, p.bound);
    }
    for (const p of pending) {
      try {
        await this.finish(p);
      } catch (err) {
        failures.push(`ENI ${p.eni.id}: ${message(err)}`);
      }
    }
    for (const id of [...this.bound.keys()]) if (gone(id)) this.release(id);
    if (failures.length > 0) {
      throw new DataplaneApplyError(
        `generation ${this.lastGeneration} is in force, but a re-bound TAP could not be ` +
          `brought up: ${failures.join('; ')}`,
      );
    }
    this.diverged = false;
    this.savePorts();
    return this.lastGeneration;
  }

  /**
   * Opens the ENI's TAP and configures its kernel side as far as it can
   * without disturbing `old` (the ENI's port in force, if any). Closes what it
   * opened when a step fails.
   */
  private async prepare(
    eni: Eni,
    subnet: Subnet,
    old: BoundPort | undefined,
  ): Promise<PendingPort> {
    if (eni.vhostUser !== undefined) return this.prepareVhostUser(eni, subnet, eni.vhostUser, old);
    const tapName = eni.tap ?? '';
    const ns = namespaceOf(eni);
    const name = linkNameOf(eni); // the final name, in ns
    // TAPs are created in our namespace, then moved: the tap name is taken
    // while the old TAP holds it in our namespace, the final name while it
    // holds that in the target namespace.
    const nameTaken =
      old !== undefined &&
      ((old.netns === undefined && old.ifname === tapName) ||
        (old.netns === ns && old.ifname === name));
    const deferred = old !== undefined && old.netns === ns;
    const persist = this.options.persistTaps === true;
    if (persist && old === undefined) {
      const reopened = await this.reopen(eni, subnet, ns, name);
      if (reopened !== undefined) return reopened;
    }
    let tap;
    try {
      tap = this.dp.openTap(nameTaken ? this.temporaryName() : tapName, { persist });
    } catch (err) {
      throw new DataplaneApplyError(`ENI ${eni.id}: ${message(err)}`, { cause: err });
    }
    const config = interfaceConfig(eni, subnet);
    const p: PendingPort = {
      eni,
      config,
      bound: {
        port: tap.port,
        ifname: name,
        netns: ns,
        wiring: wiringKey(eni, subnet),
      },
      ifname: tap.ifname,
      replaces: old,
      deferred,
    };
    if (ns === undefined) return p;
    try {
      await ensureNamespace(ns);
      await moveLink(p.ifname, ns);
      // In a namespace the old TAP does not use, the final name is free now.
      if (!deferred && p.ifname !== p.bound.ifname) {
        await renameLink(p.ifname, p.bound.ifname, ns);
        p.ifname = p.bound.ifname;
      }
      if (config.mac !== undefined) await setMac(p.ifname, config.mac, ns);
      if (this.tapMtu !== undefined) await setMtu(p.ifname, this.tapMtu, ns);
      for (const a of config.addresses) await addAddress(p.ifname, a.addr, a.prefix, ns);
      if (!deferred) await activate(p.ifname, ns, config);
    } catch (err) {
      this.closeQuietly(tap.port);
      throw new DataplaneApplyError(
        `ENI ${eni.id}: wiring ${tap.ifname} into namespace ${ns}: ${message(err)}`,
        { cause: err },
      );
    }
    return p;
  }

  /** Opens the ENI's QEMU stream port (its saved port id when there is one). */
  private prepareStream(eni: Eni, subnet: Subnet, old: BoundPort | undefined): PendingPort {
    const path = eni.qemuSocket ?? '';
    const connect = eni.qemuSocketMode === 'connect';
    const want = old === undefined ? this.savedPorts().get(eni.id) : undefined;
    let port: number;
    try {
      try {
        port = this.dp.openStream(path, want, connect);
      } catch (err) {
        if (want === undefined) throw err;
        port = this.dp.openStream(path, undefined, connect); // its old port is taken: any port
      }
    } catch (err) {
      throw new DataplaneApplyError(`ENI ${eni.id}: ${message(err)}`, { cause: err });
    }
    return {
      eni,
      config: interfaceConfig(eni, subnet),
      bound: { port, ifname: '', netns: undefined, wiring: wiringKey(eni, subnet) },
      ifname: '',
      replaces: old,
      deferred: false,
    };
  }

  /**
   * Serves the ENI's vhost-user socket (server mode). A daemon restart asks for
   * the port id the previous daemon used (conntrack zones are port ids).
   */
  private prepareVhostUser(
    eni: Eni,
    subnet: Subnet,
    path: string,
    old: BoundPort | undefined,
  ): PendingPort {
    // Replacing a port (eni attach --replace): its id is in use until the commit, so any port.
    const want = old === undefined ? this.savedPorts().get(eni.id) : undefined;
    let port: number;
    try {
      try {
        port = this.dp.openVhostUser(path, want === undefined ? {} : { port: want });
      } catch (err) {
        if (want === undefined) throw err;
        port = this.dp.openVhostUser(path); // its old port is taken: any port
      }
    } catch (err) {
      throw new DataplaneApplyError(`ENI ${eni.id}: ${message(err)}`, { cause: err });
    }
    return {
      eni,
      config: interfaceConfig(eni, subnet),
      bound: {
        port,
        ifname: `vhost-user:${path}`,
        netns: undefined,
        wiring: wiringKey(eni, subnet),
      },
      ifname: `vhost-user:${path}`,
      replaces: old, // closed at commit
      deferred: false,
    };
  }

  /**
   * Attaches to the ENI's persistent TAP if its link is in place (`name` in
   * `ns`) and re-asserts its configuration; undefined when there is none (or
   * it could not be attached and was deleted): the caller creates one.
   */
  private async reopen(
    eni: Eni,
    subnet: Subnet,
    ns: string | undefined,
    name: string,
  ): Promise<PendingPort | undefined> {
    if (ns !== undefined && !(await namespaceExists(ns))) return undefined;
    if (!(await linkExists(name, ns))) return undefined;
    let tap;
    const opts = { persist: true, ...(ns === undefined ? {} : { netns: namespaceFile(ns) }) };
    const want = this.savedPorts().get(eni.id);
    try {
      try {
        tap = this.dp.openTap(name, want === undefined ? opts : { ...opts, port: want });
      } catch (err) {
        if (want === undefined) throw err;
        tap = this.dp.openTap(name, opts); // its old port is taken: any port
      }
    } catch {
      // Not ours to attach as it is (queue count or flags differ): replace it.
      await inNs(ns, ['link', 'del', 'dev', name]);
      return undefined;
    }
    return {
      eni,
      config: interfaceConfig(eni, subnet),
      bound: { port: tap.port, ifname: name, netns: ns, wiring: wiringKey(eni, subnet) },
      ifname: name,
      replaces: undefined,
      deferred: false,
      reopened: true,
      reassert: ns !== undefined,
    };
  }

  /** A reattached TAP's configuration, idempotently (`ip addr replace`, routes replaced). */
  private async reassert(p: PendingPort, ns: string): Promise<void> {
    try {
      if (p.config.mac !== undefined) await setMac(p.ifname, p.config.mac, ns);
      for (const a of p.config.addresses) await replaceAddress(p.ifname, a.addr, a.prefix, ns);
      await activate(p.ifname, ns, p.config);
    } catch (err) {
      // Unbound again, so that the next apply (start-up retries) reattaches and retries.
      this.release(p.eni.id, false);
      throw new Error(`re-asserting ${p.ifname} in namespace ${ns}: ${message(err)}`, {
        cause: err,
      });
    }
  }

  private saved: Map<string, number> | undefined;

  /** The ENI -> port map the previous daemon left (empty without portsFile). */
  private savedPorts(): Map<string, number> {
    if (this.saved !== undefined) return this.saved;
    this.saved = new Map();
    const file = this.options.portsFile;
    if (file === undefined) return this.saved;
    try {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
      if (parsed !== null && typeof parsed === 'object') {
        for (const [id, port] of Object.entries(parsed)) {
          if (Number.isInteger(port)) this.saved.set(id, port as number);
        }
      }
    } catch {
      // none yet, or unreadable: ports are assigned afresh
    }
    return this.saved;
  }

  private savePorts(): void {
    const file = this.options.portsFile;
    if (file === undefined) return;
    const map = Object.fromEntries([...this.bound].map(([id, b]) => [id, b.port]));
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(map));
    fs.renameSync(`${file}.tmp`, file);
  }

  /** After the commit: the final name (once the old TAP is gone), link up and routes. */
  private async finish(p: PendingPort): Promise<void> {
    if (p.ifname !== p.bound.ifname) {
      // The old TAP vanishes when its port closes; allow the kernel a moment.
      for (let attempt = 1; ; attempt++) {
        try {
          await renameLink(p.ifname, p.bound.ifname, p.bound.netns);
          break;
        } catch (err) {
          if (attempt >= RENAME_ATTEMPTS) throw err;
          await new Promise((r) => setTimeout(r, RENAME_RETRY_MS));
        }
      }
      p.ifname = p.bound.ifname;
    }
    if (p.deferred && p.bound.netns !== undefined)
      await activate(p.ifname, p.bound.netns, p.config);
    if (p.reassert === true && p.bound.netns !== undefined) await this.reassert(p, p.bound.netns);
  }

  /** A name no ENI uses (<= 15 characters): `ewr` + pid + counter, base 36. */
  private temporaryName(): string {
    return `ewr${process.pid.toString(36)}${(this.tempNames++).toString(36)}`.slice(0, 15);
  }

  /** remove: a persistent TAP goes too (its ENI was deleted or re-bound). */
  private closeQuietly(port: number, remove = true): void {
    if (!this.dp.closed) this.dp.closePort(port, remove);
  }

  private release(eniId: string, remove = true): void {
    const b = this.bound.get(eniId);
    if (b === undefined) return;
    this.bound.delete(eniId);
    this.closeQuietly(b.port, remove);
  }

  /**
   * Closes every port this driver opened: the TAPs vanish from their
   * namespaces, except persistent ones, which wait for the next daemon.
   */
  async close(): Promise<void> {
    await this.queue;
    for (const id of [...this.bound.keys()]) this.release(id, false);
  }
}
