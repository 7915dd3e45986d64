/**
 * What one host of a fleet knows of the others (etcd store, src/store/etcd-store.ts).
 *
 * Every ENI carries `hostId`, the host that owns it (stamped when it is
 * created or attached). A host opens ports only for its own ENIs: localView()
 * strips the TAP wiring of the others, so the dataplane compiles them like
 * unbound ENIs -- their addresses still count as members of their groups, so a
 * rule referencing a group opens for members on other hosts.
 *
 * FleetView.remoteEnis() says, for every ENI owned by another host, its
 * addresses, VPC, owner and the owner's underlay address; 'change' fires after
 * every state or host change. With an underlay address of its own (the
 * daemon's --underlay-address) the view also derives the overlay
 * (overlayConfig()); FleetOverlay keeps the dataplane's overlay equal to it.
 *
 * A host that stops being live (its lease expired: dead, or cut off from
 * etcd) keeps its ENIs in the overlay at the underlay address last seen for
 * it: they are forwarded as before, shown `reachable: false`. Dropping them
 * would turn a short etcd outage into a fleet-wide cut. Only a host never
 * seen live since this daemon started (no address known) has its ENIs left
 * out of the overlay; they stay group members, and frames to them are
 * refused as to any ENI without a port here.
 */
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import type { Eni, ModelSnapshot } from '../model/types';
import type { EtcdStore, HostInfo } from '../store/etcd-store';
import type { DataplaneHandle, OverlayConfig } from '../daemon/dataplane';

export interface RemoteEni {
  eniId: string;
  vpcId: string;
  subnetId: string;
  mac: string;
  addresses: string[];
  hostId: string;
  /** The owning host's underlay address: live, or the last seen (undefined: never seen). */
  underlayAddress?: string;
  /** The owner is live (registered, lease held). */
  reachable: boolean;
  /** In this host's overlay: frames to it are sent to underlayAddress. */
  forwarded: boolean;
}

/** ENIs owned by another host: no TAP or QEMU socket here, compiled as members only. */
export function localView(snapshot: ModelSnapshot, hostId: string): ModelSnapshot {
  if (!snapshot.enis.some((e) => isRemote(e, hostId))) return snapshot;
  return {
    ...snapshot,
    enis: snapshot.enis.map((e) => {
      if (!isRemote(e, hostId)) return e;
      const { tap: _t, qemuSocket: _q, netns: _n, netnsPath: _p, ifName: _i, ...rest } = e;
      return rest;
    }),
  };
}

export function isRemote(eni: Eni, hostId: string): boolean {
  return eni.hostId !== undefined && eni.hostId !== hostId;
}

export class FleetView extends EventEmitter {
  private snapshot: ModelSnapshot | undefined;
  /** Underlay address of every host seen live since start (kept when it stops being live). */
  private readonly lastUnderlay = new Map<string, string>();

  constructor(
    readonly hostId: string,
    private readonly store: EtcdStore,
    /** This host's underlay address: the overlay is derived only with one. */
    readonly underlayAddress?: string,
  ) {
    super();
    store.on('hosts', () => {
      this.noteUnderlays();
      this.emit('change');
    });
  }

  private noteUnderlays(): void {
    for (const h of this.store.hosts())
      if (h.underlayAddress !== undefined) this.lastUnderlay.set(h.hostId, h.underlayAddress);
  }

  /** Underlay addresses known from a previous run (the fleet cache), used until hosts register. */
  seedUnderlays(underlays: Record<string, string>): void {
    for (const [hostId, address] of Object.entries(underlays))
      if (hostId !== this.hostId && !this.lastUnderlay.has(hostId))
        this.lastUnderlay.set(hostId, address);
  }

  /** Every other host's underlay address, live or last seen (written to the fleet cache). */
  knownUnderlays(): Record<string, string> {
    this.noteUnderlays();
    return Object.fromEntries([...this.lastUnderlay].filter(([id]) => id !== this.hostId));
  }

  update(snapshot: ModelSnapshot): void {
    this.snapshot = snapshot;
    this.emit('change');
  }

  hosts(): HostInfo[] {
    return this.store.hosts();
  }

  remoteEnis(): RemoteEni[] {
    this.noteUnderlays();
    const hosts = new Map(this.store.hosts().map((h) => [h.hostId, h]));
    return (this.snapshot?.enis ?? [])
      .filter((e) => isRemote(e, this.hostId))
      .map((e) => {
        const owner = hosts.get(e.hostId ?? '');
        const underlayAddress = owner?.underlayAddress ?? this.lastUnderlay.get(e.hostId ?? '');
        return {
          eniId: e.id,
          vpcId: e.vpcId,
          subnetId: e.subnetId,
          mac: e.mac,
          addresses: [e.privateIp, ...e.secondaryIps, ...e.ipv6Addresses],
          hostId: e.hostId ?? '',
          underlayAddress,
          reachable: owner !== undefined,
          forwarded:
            this.underlayAddress !== undefined &&
            underlayAddress !== undefined &&
            isIPv4(underlayAddress) &&
            underlayAddress !== this.underlayAddress,
        };
      });
  }

  /**
   * The overlay this host should have (undefined without an underlay address
   * of its own): every forwarded remote ENI at its owner's underlay address.
   * The ENIs' groups and addresses are taken from the snapshot in force when
   * the table is compiled (`fromSnapshot`), so a membership change never
   * waits for the overlay; the VNI of a VPC is the default (from its id, the
   * same on every host).
   */
  overlayConfig(): OverlayConfig | undefined {
    if (this.underlayAddress === undefined) return undefined;
    return {
      underlay: { address: this.underlayAddress },
      fromSnapshot: true,
      remotes: this.remoteEnis()
        .filter((r) => r.forwarded)
        .map((r) => ({
          eniId: r.eniId,
          vpcId: r.vpcId,
          subnetId: r.subnetId,
          mac: r.mac,
          ips: r.addresses,
          hostId: r.hostId,
          underlayAddress: r.underlayAddress as string,
        })),
    };
  }
}

/**
 * Keeps the dataplane's overlay equal to FleetView.overlayConfig(): once at
 * start, then after every 'change', coalesced (one setOverlay at a time; the
 * changes that arrive meanwhile make one more) and skipped when the derived
 * overlay is the one in force. A refused overlay is logged and counted; the
 * dataplane keeps the previous one whole (setOverlay is all-or-nothing) and the
 * next change tries again.
 */
export class FleetOverlay {
  private running: Promise<void> | undefined;
  private dirty = false;
  private inForce: string | undefined;
  private stopped = false;
  readonly state = {
    applied: 0,
    failed: 0,
    lastError: null as string | null,
    remoteEnis: 0,
    generation: null as string | null,
  };

  constructor(
    private readonly view: FleetView,
    private readonly dataplane: Pick<DataplaneHandle, 'setOverlay'>,
    private readonly log: Logger,
  ) {}

  /** The first overlay (throws if refused: the daemon does not start half-built). */
  async start(): Promise<void> {
    const cfg = this.view.overlayConfig();
    if (cfg === undefined) return;
    const key = JSON.stringify(cfg);
    this.state.generation = (await this.dataplane.setOverlay(cfg)).toString();
    this.inForce = key;
    this.state.applied++;
    this.state.remoteEnis = cfg.remotes.length;
    this.view.on('change', this.onChange);
  }

  private readonly onChange = (): void => {
    if (this.stopped) return;
    this.dirty = true;
    this.running ??= this.loop().finally(() => (this.running = undefined));
  };

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      // Let a burst of events (state + every host's applied key) land first.
      await new Promise((r) => setImmediate(r));
      const cfg = this.view.overlayConfig();
      if (cfg === undefined) return;
      const key = JSON.stringify(cfg);
      if (key === this.inForce) continue;
      try {
        this.state.generation = (await this.dataplane.setOverlay(cfg)).toString();
        this.inForce = key;
        this.state.applied++;
        this.state.remoteEnis = cfg.remotes.length;
        this.state.lastError = null;
        this.log.info({ remotes: cfg.remotes.length }, 'fleet overlay in force');
      } catch (err) {
        this.state.failed++;
        const message = err instanceof Error ? err.message : String(err);
        // The same refusal again (every change retries): counted, logged once at error.
        const level = message === this.state.lastError ? 'debug' : 'error';
        this.state.lastError = message;
        this.log[level]({ err }, 'fleet overlay refused; the overlay in force stays');
      }
    }
  }

  /** No more setOverlay calls; resolves when the one running (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.view.off('change', this.onChange);
    await this.running;
  }
}
