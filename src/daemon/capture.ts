/**
 * `capture.*`: packet capture sessions over the request/response API. The
 * client starts a capture on its connection, then asks for batches with
 * `capture.read` (a long poll: it returns as soon as records are ready, else
 * after waitMs); each read is one native drain. The session ends with
 * `capture.stop`, when the client's connection closes (however it goes), or
 * when the ENI loses its port (then reads say `ended`).
 *
 * The records' verdicts become text here (the pcapng packet comments), with
 * ENI ids for ports: "accepted: forwarded to eni-…", "dropped: SG_INGRESS (no
 * ingress rule of eni-… allows it)", "dropped: NACL_INGRESS acl-… rule 90".
 */
import { randomBytes } from 'node:crypto';
import { DROP, dropReason } from '../abi/drops';
import type { CaptureRecord } from '../dataplane/capture';
import { AwsError, ErrorCodes } from '../model/errors';
import type { CapturePacket, CaptureReadResult, CaptureStartResult } from '../api/protocol';
import type { DataplaneHandle } from './dataplane';
import type { RequestContext } from './server';

/** The longest a read may wait for records. */
export const MAX_CAPTURE_WAIT_MS = 5_000;
const POLL_MS = 20;
/** AWS's code for an operation the resource's current state does not allow. */
const INCORRECT_STATE = 'IncorrectState';

export type CaptureDirection = 'in' | 'out' | 'both';

export interface CaptureNames {
  owners: Map<number, string>; // port -> ENI id
  naclIds: readonly string[]; // every NACL of the model
}

interface Session {
  id: string;
  eniId: string;
  port: number;
  ended: boolean;
  lost: number;
  packets: number;
}

export class CaptureSessions {
  private readonly byId = new Map<string, Session>();
  private readonly byPort = new Map<number, Session>();

  constructor(
    private readonly dataplane: DataplaneHandle,
    /** The ENI ids of the ports and the NACL ids, for the comments. */
    private readonly names: () => CaptureNames,
  ) {}

  start(
    eniId: string,
    direction: CaptureDirection,
    dropsOnly: boolean,
    ctx: RequestContext,
  ): CaptureStartResult {
    const port = this.dataplane.portOf(eniId);
    if (port === undefined) {
      throw new AwsError(INCORRECT_STATE, `The network interface '${eniId}' has no dataplane port`);
    }
    const stale = this.byPort.get(port);
    // A session whose ENI left this port (deleted, port reused) is over even if its
    // client has not read since.
    if (stale && this.dataplane.portOf(stale.eniId) !== port) stale.ended = true;
    if (stale && !stale.ended) {
      throw new AwsError(INCORRECT_STATE, `A capture is already running on '${eniId}'`);
    }
    if (stale) this.forget(stale);
    try {
      this.dataplane.captureStart(port, {
        out: direction !== 'in',
        in: direction !== 'out',
        dropsOnly,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new AwsError(INCORRECT_STATE, `Cannot capture on '${eniId}': ${message}`);
    }
    const session: Session = {
      id: `cap-${randomBytes(8).toString('hex')}`,
      eniId,
      port,
      ended: false,
      lost: 0,
      packets: 0,
    };
    this.byId.set(session.id, session);
    this.byPort.set(port, session);
    // The client going away (Ctrl-C, kill, crash) ends its capture.
    ctx.onClose(() => this.stop(session.id));
    return { captureId: session.id, eniId, port };
  }

  async read(id: string, waitMs: number): Promise<CaptureReadResult> {
    const session = this.session(id);
    const deadline = Date.now() + Math.min(Math.max(waitMs, 0), MAX_CAPTURE_WAIT_MS);
    for (;;) {
      if (session.ended) return this.result(session, []);
      const drain = this.dataplane.captureDrain(session.port);
      if (drain === null) {
        // The port closed (ENI deleted or unbound): the C side ended the capture.
        session.ended = true;
        return this.result(session, []);
      }
      session.lost = drain.lost;
      if (drain.records.length > 0 || Date.now() >= deadline) {
        const names = this.names();
        const packets = drain.records.map((r) => packet(r, names));
        session.packets += packets.length;
        return this.result(session, packets);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Ends a capture; idempotent (the connection's close calls it again). */
  stop(id: string): { lost: number; packets: number } {
    const session = this.byId.get(id);
    if (!session) return { lost: 0, packets: 0 };
    if (!session.ended) {
      const last = this.dataplane.captureDrain(session.port);
      if (last) session.lost = last.lost;
      this.dataplane.captureStop(session.port);
      session.ended = true;
    }
    this.forget(session);
    return { lost: session.lost, packets: session.packets };
  }

  /** Daemon shutdown. */
  stopAll(): void {
    for (const id of [...this.byId.keys()]) this.stop(id);
  }

  private forget(session: Session): void {
    this.byId.delete(session.id);
    if (this.byPort.get(session.port) === session) this.byPort.delete(session.port);
  }

  private session(id: string): Session {
    const session = this.byId.get(id);
    if (!session) {
      throw new AwsError(ErrorCodes.parameterValue, `No capture '${id}' is running`);
    }
    return session;
  }

  private result(session: Session, packets: CapturePacket[]): CaptureReadResult {
    return { packets, lost: session.lost, ended: session.ended };
  }
}

function packet(r: CaptureRecord, names: CaptureNames): CapturePacket {
  return {
    timeUs: r.timeUs,
    origLen: r.origLen,
    direction: r.direction,
    data: r.frame.toString('base64'),
    comment: verdictText(r, names),
  };
}

/** The verdict of one record, for humans (the pcapng packet comment). */
export function verdictText(r: CaptureRecord, names: CaptureNames): string {
  const eni = (port: number | null): string =>
    port === null ? 'no ENI' : (names.owners.get(port) ?? `port ${port}`);
  if (r.action === 'forward') {
    return r.direction === 'out'
      ? `accepted: forwarded to ${eni(r.outPort)}`
      : `accepted: forwarded from ${eni(r.inPort)}`;
  }
  if (r.action === 'reply') {
    return r.direction === 'out'
      ? `answered by the dataplane (ARP, neighbour discovery or the subnet router)`
      : `answer from the dataplane to ${eni(r.inPort)}`;
  }
  const name = r.drop ?? 'NONE';
  switch (name) {
    case 'SG_EGRESS':
      return `dropped: SG_EGRESS (no egress rule of ${eni(r.inPort)} allows it)`;
    case 'SG_INGRESS':
      return `dropped: SG_INGRESS (no ingress rule of ${eni(r.dstPort)} allows it)`;
    case 'NACL_EGRESS':
    case 'NACL_INGRESS': {
      const rule = r.naclRule === null || r.naclRule >= 32767 ? `* (${r.naclRule})` : r.naclRule;
      return `dropped: ${name} ${naclIdOf(r.naclId, names.naclIds)} rule ${rule}`;
    }
    default:
      return `dropped: ${name} (${dropReason(DROP[name]).text})`;
  }
}

/** The model's id of a NACL the table names by its id's low 64 bits (acl- + 17 hex is 68). */
function naclIdOf(traced: string | null, ids: readonly string[]): string {
  const low = (id: string): bigint | undefined => {
    const m = /^acl-([0-9a-f]+)$/i.exec(id);
    return m === null ? undefined : BigInt(`0x${m[1]}`) & 0xffffffffffffffffn;
  };
  const want = traced === null ? undefined : low(traced);
  return ids.find((id) => want !== undefined && low(id) === want) ?? traced ?? 'acl-?';
}
