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
import { Dataplane, type DataplaneOptions, type FlowDrain } from '../dataplane/dataplane';
import type { CaptureDrain } from '../dataplane/capture';

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
  /** The dataplane port of an ENI in force (undefined while it has none). */
  portOf(eniId: string): number | undefined;
  /** `capture.*` (src/daemon/capture.ts): one capture per port, rings in the C core. */
  captureStart(port: number, o: { out: boolean; in: boolean; dropsOnly: boolean }): void;
  captureStop(port: number): boolean;
  captureDrain(port: number): CaptureDrain | null;
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
> & { persistTaps?: boolean; conntrackShm?: string; portsFile?: string };

export async function openDataplane(options: DataplaneHandleOptions): Promise<DataplaneHandle> {
  // Options left undefined take the dataplane's defaults (DEFAULT_OPTIONS).
  const { persistTaps, portsFile, ...engineOptions } = options;
  const dataplane = await Dataplane.create(engineOptions);
  const driver = new DataplaneDriver(dataplane, new TableCompiler(), { persistTaps, portsFile });
  return new NativeDataplaneHandle(dataplane, driver);
}

class NativeDataplaneHandle implements DataplaneHandle {
  constructor(
    private readonly dataplane: Dataplane,
    private readonly driver: DataplaneDriver,
  ) {}

  apply(snapshot: ModelSnapshot, change?: ChangeSet): Promise<bigint> {
    return this.driver.apply(snapshot, change);
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
      };
    }
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
