/**
 * The daemon's flow-log loop: once a second, one drain of the dataplane's
 * flow samples (one N-API call, never one per packet), aggregated into the
 * capture windows of every flow log (src/flowlog/records.ts); each closed
 * window's records go to the flow log's destination.
 *
 * Delivery never blocks or crashes the daemon: a failed write is counted,
 * logged once per change of reason, and the flow log's DeliverLogsStatus
 * becomes FAILED with the reason (DeliverLogsErrorMessage) until a write
 * succeeds again. That status is runtime state, not stored: a restarted
 * daemon tries again and reports what it finds.
 */
import type { Logger } from 'pino';
import type { FlowLog, ModelSnapshot } from '../model/types';
import {
  DEFAULT_FILE_LIMITS,
  openDestination,
  type Destination,
  type FileLimits,
} from '../flowlog/destinations';
import { FlowLogAggregator, type FlowDrain } from '../flowlog/records';

export interface FlowLogSource {
  /** Samples since the previous drain, and per port the samples lost (SKIPDATA). */
  drainFlowSamples(): FlowDrain;
  portOf(eniId: string): number | undefined;
}

export interface FlowLogRuntimeOptions {
  /** Every flow log's capture window, seconds, instead of MaxAggregationInterval (tests). */
  windowSeconds?: number;
  fileLimits?: FileLimits;
  tickMs?: number;
}

export interface FlowLogDelivery {
  flowLogId: string;
  status: 'SUCCESS' | 'FAILED';
  errorMessage?: string;
  /** Records delivered / windows whose delivery failed, since the daemon started. */
  records: number;
  deliveryErrors: number;
  /** Records lost with failed deliveries. */
  recordsDropped: number;
}

interface Sink {
  type: string;
  destination: string;
  out: Destination;
  /** Deliveries of one flow log go in order, one at a time. */
  chain: Promise<void>;
  stats: FlowLogDelivery;
}

export class FlowLogRuntime {
  private readonly aggregator: FlowLogAggregator;
  private readonly sinks = new Map<string, Sink>();
  private timer: NodeJS.Timeout | undefined;
  private active = false;

  constructor(
    private readonly source: FlowLogSource,
    private readonly log: Logger,
    private readonly options: FlowLogRuntimeOptions = {},
  ) {
    const w = options.windowSeconds;
    this.aggregator = new FlowLogAggregator(w === undefined ? undefined : w * 1000);
  }

  /** The flow logs and ENIs now in force (start-up and after every committed change). */
  configure(snapshot: ModelSnapshot): void {
    const now = Date.now();
    this.aggregator.configure(snapshot, (id) => this.source.portOf(id), now);
    const keep = new Set<string>();
    for (const fl of snapshot.flowLogs) {
      keep.add(fl.id);
      if (!this.sinks.has(fl.id)) this.sinks.set(fl.id, this.newSink(fl));
    }
    for (const id of this.sinks.keys()) if (!keep.has(id)) this.sinks.delete(id);
    this.active = snapshot.flowLogs.length > 0;
  }

  private newSink(fl: FlowLog): Sink {
    return {
      type: fl.logDestinationType,
      destination: fl.logDestination,
      out: openDestination(
        fl.logDestinationType,
        fl.logDestination,
        fl.id,
        this.options.fileLimits ?? DEFAULT_FILE_LIMITS,
      ),
      chain: Promise.resolve(),
      stats: {
        flowLogId: fl.id,
        status: 'SUCCESS',
        records: 0,
        deliveryErrors: 0,
        recordsDropped: 0,
      },
    };
  }

  start(): void {
    this.timer = setInterval(() => this.tick(Date.now()), this.options.tickMs ?? 1000);
    this.timer.unref();
  }

  /** One drain, then the records of every window that closed by `nowMs`. */
  tick(nowMs: number): void {
    // Drain even with no flow log: samples of a deleted one must not pile up.
    let drain: FlowDrain;
    try {
      drain = this.source.drainFlowSamples();
    } catch (err) {
      this.log.error({ err }, 'flow samples: drain failed');
      return;
    }
    if (!this.active) return;
    this.aggregator.add(drain, nowMs);
    for (const w of this.aggregator.flush(nowMs)) {
      const sink = this.sinks.get(w.flowLog.id);
      if (sink === undefined || w.lines.length === 0) continue;
      sink.chain = sink.chain.then(() => this.deliver(sink, w.lines, w.startMs));
    }
  }

  private async deliver(sink: Sink, lines: string[], startMs: number): Promise<void> {
    const st = sink.stats;
    try {
      await sink.out.write(lines, startMs);
      st.records += lines.length;
      if (st.status === 'FAILED')
        this.log.warn({ flowLogId: st.flowLogId }, 'flow log delivers again');
      st.status = 'SUCCESS';
      delete st.errorMessage;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      st.deliveryErrors++;
      st.recordsDropped += lines.length;
      if (st.errorMessage !== message) {
        this.log.warn({ flowLogId: st.flowLogId, error: message }, 'flow log delivery failed');
      }
      st.status = 'FAILED';
      st.errorMessage = message;
    }
  }

  /** Waits for the deliveries queued so far (tests, shutdown). */
  async settle(): Promise<void> {
    await Promise.all([...this.sinks.values()].map((s) => s.chain));
  }

  delivery(flowLogId: string): FlowLogDelivery | undefined {
    const s = this.sinks.get(flowLogId);
    return s === undefined ? undefined : { ...s.stats };
  }

  deliveries(): FlowLogDelivery[] {
    return [...this.sinks.values()].map((s) => ({ ...s.stats }));
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.settle();
  }
}
