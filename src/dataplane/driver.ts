/**
 * Puts a model snapshot in force on a Dataplane: one TAP per ENI (its kernel
 * side wired into the ENI's namespace with its MAC, addresses and default
 * routes via the subnet router), then one compiled table, then the ports of
 * ENIs that are gone are closed.
 *
 * Order matters for "all or nothing": new TAPs are opened and wired first; if
 * any of that fails, the ones opened by this apply are closed again and the
 * table in force is untouched. Only then is the table compiled and loaded, and
 * only after the new table (which no longer names them) is in force are the
 * removed ENIs' ports closed, so no frame is judged against a closed port.
 */
import { parseCidr, subnetRouterAddress } from '../model/cidr';
import type { Eni, ModelSnapshot, Subnet } from '../model/types';
import type { Dataplane } from './dataplane';
import { wireIntoNamespace, type InterfaceConfig } from './netns';

/** What the driver needs of src/compiler's TableCompiler. */
export interface TableCompilerLike {
  compile(
    snapshot: ModelSnapshot,
    ports: ReadonlyMap<string, number>,
    generation: bigint,
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
  /** Everything about the ENI that the TAP and its namespace side depend on. */
  wiring: string;
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

function wiringKey(eni: Eni, subnet: Subnet | undefined): string {
  return JSON.stringify([
    eni.tap,
    eni.netns ?? null,
    eni.mac,
    eni.privateIp,
    eni.secondaryIps,
    eni.ipv6Addresses,
    subnet?.cidr,
    subnet?.ipv6Cidr,
  ]);
}

export class DataplaneDriver {
  private readonly bound = new Map<string, BoundPort>(); // by ENI id
  private lastGeneration = 0n;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dp: Dataplane,
    private readonly compiler: TableCompilerLike,
  ) {}

  /** The dataplane port of an ENI, once an apply opened it. */
  portOf(eniId: string): number | undefined {
    return this.bound.get(eniId)?.port;
  }

  /** Applies one snapshot; calls are serialised. Resolves with the generation in force. */
  apply(snapshot: ModelSnapshot): Promise<bigint> {
    const run = this.queue.then(() => this.applyNow(snapshot));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(snapshot: ModelSnapshot): Promise<bigint> {
    const subnets = new Map(snapshot.subnets.map((s) => [s.id, s]));
    const wanted = new Map(snapshot.enis.map((e) => [e.id, e]));
    const subnetOf = (eni: Eni): Subnet => {
      const s = subnets.get(eni.subnetId);
      if (s === undefined)
        throw new DataplaneApplyError(
          `ENI ${eni.id}: subnet ${eni.subnetId} is not in the snapshot`,
        );
      return s;
    };

    // An ENI whose TAP or namespace side changed is rebound: its old TAP must
    // go first because the new one may reuse the name.
    for (const [id, b] of this.bound) {
      const eni = wanted.get(id);
      if (eni !== undefined && b.wiring !== wiringKey(eni, subnets.get(eni.subnetId)))
        this.release(id);
    }

    const opened: string[] = [];
    try {
      for (const eni of snapshot.enis) {
        if (this.bound.has(eni.id)) continue;
        const subnet = subnetOf(eni);
        await this.bind(eni, subnet);
        opened.push(eni.id);
      }
      const ports = new Map(
        [...this.bound].filter(([id]) => wanted.has(id)).map(([id, b]) => [id, b.port]),
      );
      const current = this.dp.generation();
      const generation = (current > this.lastGeneration ? current : this.lastGeneration) + 1n;
      const table = this.compiler.compile(snapshot, ports, generation);
      this.dp.loadTable(table, generation);
      this.lastGeneration = generation;
    } catch (err) {
      for (const id of opened) this.release(id);
      if (err instanceof DataplaneApplyError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      throw new DataplaneApplyError(
        `apply failed, generation ${this.dp.generation()} stays in force: ${msg}`,
        { cause: err },
      );
    }

    for (const id of [...this.bound.keys()]) if (!wanted.has(id)) this.release(id);
    return this.lastGeneration;
  }

  private async bind(eni: Eni, subnet: Subnet): Promise<void> {
    let tap;
    try {
      tap = this.dp.openTap(eni.tap);
    } catch (err) {
      throw new DataplaneApplyError(
        `ENI ${eni.id}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    // Bound before wiring so a failed wiring is undone by the caller's release().
    this.bound.set(eni.id, { port: tap.port, ifname: tap.ifname, wiring: wiringKey(eni, subnet) });
    if (eni.netns === undefined) return;
    try {
      await wireIntoNamespace(tap.ifname, eni.netns, interfaceConfig(eni, subnet));
    } catch (err) {
      this.release(eni.id);
      const msg = err instanceof Error ? err.message : String(err);
      throw new DataplaneApplyError(
        `ENI ${eni.id}: wiring ${tap.ifname} into namespace ${eni.netns}: ${msg}`,
        { cause: err },
      );
    }
  }

  private release(eniId: string): void {
    const b = this.bound.get(eniId);
    if (b === undefined) return;
    this.bound.delete(eniId);
    if (!this.dp.closed) this.dp.closePort(b.port);
  }

  /** Closes every port this driver opened (the TAPs vanish from their namespaces). */
  async close(): Promise<void> {
    await this.queue;
    for (const id of [...this.bound.keys()]) this.release(id);
  }
}
