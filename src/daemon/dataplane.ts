/**
 * The daemon's view of the dataplane: the Dataplane (native workers, ports,
 * counters, conntrack) and the DataplaneDriver (TAPs, namespace wiring,
 * compile + load) behind the few calls the control service makes, with
 * counters and conntrack entries turned into the API's JSON shapes.
 */
import { TableCompiler } from '../compiler';
import { DataplaneDriver } from '../dataplane/driver';
import type { ChangeSet } from '../model/change';
import type { Eni, ModelSnapshot } from '../model/types';
import type { NativeEngineStats } from '../dataplane/native.d';
import type { TraceQuery, TraceResult } from '../dataplane/native';
import type { EniStats, FlowEntry } from '../api/protocol';
import {
  Dataplane,
  type DataplaneOptions,
  type FlowDrain,
  type HitDrain,
} from '../dataplane/dataplane';
import type { CaptureDrain } from '../dataplane/capture';
import type { OverlayInput } from '../compiler/overlay';
import type { OverlayStatus } from '../api/protocol';

/** 1500 minus the encapsulation: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const OVERLAY_TAP_MTU = 1450;

/** `--overlay FILE` / the fleet code: this host's underlay and the remote ENIs (README "Overlay"). */
export interface OverlayConfig extends OverlayInput {
  underlay: { address: string; port?: number };
}

export interface DataplaneHandle {
  /**
   * Open/close TAPs, wire namespaces, compile and load; resolves with the
   * generation in force. With `change` (what changed since the last apply)
   * only the ENIs it names are re-wired and the compiler's caches trust it.
   */
  apply(snapshot: ModelSnapshot, change?: ChangeSet): Promise<bigint>;
  stats(eni: Eni): EniStats;
  flows(enis: Eni[], eniId?: string): FlowEntry[];
  /** `check`: ew_trace against the table in force and the live conntrack. */
  trace(queries: readonly TraceQuery[]): TraceResult[];
  /** How the engine runs: I/O mode, workers, offloads. */
  engine(): NativeEngineStats;
  /** Read at each metrics scrape: table generation in force, allowance, worker busy time. */
  engineMetrics(): EngineMetrics;
  /** Flow samples since the previous drain (one native call). */
  drainFlowSamples(): FlowDrain;
  /** Rule hit records since the previous drain (src/daemon/rule-hits.ts names their rules). */
  drainRuleHits(): HitDrain;
  /** The dataplane port of an ENI in force (undefined while it has none). */
  portOf(eniId: string): number | undefined;
  /** `capture.*` (src/daemon/capture.ts): one capture per port, rings in the C core. */
  captureStart(port: number, o: { out: boolean; in: boolean; dropsOnly: boolean }): void;
  captureStop(port: number): boolean;
  captureDrain(port: number): CaptureDrain | null;
  /**
   * Overlay: opens the underlay port on the first call (its address cannot
   * change later), replaces the remote ENIs and recompiles the last applied
   * snapshot; resolves with the generation in force.
   */
  setOverlay(o: OverlayConfig): Promise<bigint>;
  /** The underlay port's counters, undefined without an overlay. */
  overlayStatus(): OverlayStatus | undefined;
  close(): Promise<void>;
}

export interface EngineMetrics {
  generation: bigint;
  /** Conntrack entries one ENI may hold (the same for every ENI). */
  allowancePerEni: number;
  /** Per worker (index = worker id): seconds spent in bursts since start. */
  workerBusySeconds: number[];
}

export type DataplaneHandleOptions = Partial<
  Pick<
    DataplaneOptions,
    'workers' | 'conntrackMax' | 'allowancePerEni' | 'io' | 'vnetHdr' | 'captureSlots'
  >
> & {
  persistTaps?: boolean;
  conntrackShm?: string;
  portsFile?: string;
  onSkipped?: (eniId: string, reason: string) => void;
};

export async function openDataplane(options: DataplaneHandleOptions): Promise<DataplaneHandle> {
  // Options left undefined take the dataplane's defaults (DEFAULT_OPTIONS).
  const { persistTaps, portsFile, onSkipped, ...engineOptions } = options;
  const dataplane = await Dataplane.create(engineOptions);
  const compiler = new TableCompiler();
  const driver = new DataplaneDriver(dataplane, compiler, { persistTaps, portsFile, onSkipped });
  return new NativeDataplaneHandle(dataplane, driver, compiler);
}

class NativeDataplaneHandle implements DataplaneHandle {
  private last: ModelSnapshot | undefined;
  private underlay: { port: number; address: string; udpPort: number } | undefined;
  private remotes = 0;
  private overlay: OverlayConfig | undefined;
  /** apply and setOverlay run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dataplane: Dataplane,
    private readonly driver: DataplaneDriver,
    private readonly compiler: TableCompiler,
  ) {}

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => undefined);
    return run;
  }

  apply(snapshot: ModelSnapshot, change?: ChangeSet): Promise<bigint> {
    return this.serial(() => {
      this.last = snapshot;
      return this.driver.apply(snapshot, change);
    });
  }

  setOverlay(o: OverlayConfig): Promise<bigint> {
    return this.serial(async () => {
      const udpPort = o.underlay.port ?? 4789;
      if (this.underlay === undefined) {
        const port = this.dataplane.openUnderlay(o.underlay.address, udpPort);
        this.underlay = { port, address: o.underlay.address, udpPort };
      } else if (
        this.underlay.address !== o.underlay.address ||
        this.underlay.udpPort !== udpPort
      ) {
        throw new Error('the underlay address cannot change while the daemon runs');
      }
      const previous = this.overlay;
      this.compiler.setOverlay(o); // throws on a malformed input: nothing changed
      this.driver.tapMtu = OVERLAY_TAP_MTU; // ENIs wired from now on
      let generation: bigint;
      try {
        generation =
          this.last === undefined
            ? this.dataplane.generation()
            : await this.driver.apply(this.last);
      } catch (err) {
        this.compiler.setOverlay(previous); // the table in force keeps the previous overlay
        throw err;
      }
      this.overlay = o;
      this.remotes = o.remotes.length;
      return generation;
    });
  }

  overlayStatus(): OverlayStatus | undefined {
    if (this.underlay === undefined) return undefined;
    const raw = this.dataplane.counters(this.underlay.port);
    const drops: Record<string, number> = {};
    for (const [reason, n] of Object.entries(raw.drops)) {
      if (reason !== 'NONE' && Number(n) > 0) drops[reason] = Number(n);
    }
    return {
      underlay: `${this.underlay.address}:${this.underlay.udpPort}`,
      port: this.underlay.port,
      remoteEnis: this.remotes,
      generation: this.dataplane.generation().toString(),
      counters: Object.fromEntries(Object.entries(raw.counters).map(([k, v]) => [k, Number(v)])),
      drops,
    };
  }

  engine(): NativeEngineStats {
    return this.dataplane.stats();
  }

  engineMetrics(): EngineMetrics {
    return {
      generation: this.dataplane.generation(),
      allowancePerEni: this.dataplane.options.allowancePerEni ?? 0,
      workerBusySeconds: this.dataplane.workerBusySeconds(),
    };
  }

  stats(eni: Eni): EniStats {
    const port = this.driver.portOf(eni.id);
    if (port === undefined) {
      return {
        eniId: eni.id,
        tap: eni.tap ?? '', // unbound ENIs have no TAP
        port: null,
        counters: {},
        drops: {},
        conntrack: null,
        ...(eni.qemuSocket === undefined ? {} : { qemuSocket: eni.qemuSocket }),
      };
    }
    const s = eni.qemuSocket === undefined ? null : this.dataplane.streamStats(port);
    const stream =
      s === null
        ? {}
        : {
            qemuSocket: eni.qemuSocket,
            stream: {
              connected: s.connected,
              accepts: s.accepts,
              replaced: s.replaced,
              resets: s.resets,
              rxBadLen: s.rxBadLen,
              txBusy: s.txBusy,
              txNoPeer: s.txNoPeer,
              mode: s.mode,
              connects: s.connects,
              connectRetries: s.connectRetries,
            },
          };
    const raw = this.dataplane.counters(port);
    const drops: Record<string, number> = {};
    for (const [reason, n] of Object.entries(raw.drops)) {
      if (reason !== 'NONE' && Number(n) > 0) drops[reason] = Number(n);
    }
    return {
      eniId: eni.id,
      tap: eni.tap ?? '',
      port,
      counters: Object.fromEntries(Object.entries(raw.counters).map(([k, v]) => [k, Number(v)])),
      drops,
      conntrack: {
        entries: this.dataplane.ctCount(port),
        allowanceExceeded: Number(this.dataplane.ctAllowanceExceeded(port)),
      },
      ...stream,
    };
  }

  flows(enis: Eni[], eniId?: string): FlowEntry[] {
    const byPort = new Map<number, string>();
    for (const eni of enis) {
      const port = this.driver.portOf(eni.id);
      if (port !== undefined) byPort.set(port, eni.id);
    }
    const out: FlowEntry[] = [];
    for (const e of this.dataplane.ctDumpAll()) {
      const owner = byPort.get(e.zone) ?? null;
      if (eniId !== undefined && owner !== eniId) continue;
      out.push({ ...e, eniId: owner });
    }
    return out;
  }

  trace(queries: readonly TraceQuery[]): TraceResult[] {
    return this.dataplane.trace(queries);
  }

  drainFlowSamples(): FlowDrain {
    return this.dataplane.drainFlowSamples();
  }

  drainRuleHits(): HitDrain {
    return this.dataplane.drainRuleHits();
  }

  portOf(eniId: string): number | undefined {
    return this.driver.portOf(eniId);
  }

  captureStart(port: number, o: { out: boolean; in: boolean; dropsOnly: boolean }): void {
    this.dataplane.captureStart(port, o);
  }

  captureStop(port: number): boolean {
    return this.dataplane.captureStop(port);
  }

  captureDrain(port: number): CaptureDrain | null {
    return this.dataplane.captureDrain(port);
  }

  async close(): Promise<void> {
    await this.driver.close();
    await this.dataplane.close();
  }
}
