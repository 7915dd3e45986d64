/**
 * Capture records as the native drain packs them (native/src/capture.h,
 * struct ew_cap_rec): a 40-byte little-endian header, the frame bytes, padding
 * to 8. Decoded into plain objects; the daemon adds the verdict text.
 */
import { dropReason, type DropName } from '../abi/drops';

/** ew_engine_capture_start flags (capture.h EW_CAP_*). */
export const CAPTURE_FLAGS = { out: 1, in: 2, dropsOnly: 4 } as const;
export const CAPTURE_SNAP = 2048;
const HEADER = 40;
const PORT_NONE = 0xffffffff;
// [3] EW_ACT_ENCAP: forwarded through the overlay to the remote ENI's host.
const ACTIONS = ['drop', 'forward', 'reply', 'forward'] as const;

export interface CaptureRecord {
  /** Wall-clock time the worker judged it, in microseconds since the Unix epoch. */
  timeUs: number;
  origLen: number;
  /** 'out': the ENI sent it; 'in': it was for the ENI. */
  direction: 'out' | 'in';
  action: (typeof ACTIONS)[number];
  inPort: number;
  outPort: number | null;
  /** The destination ENI's port once the forward lookup found it. */
  dstPort: number | null;
  drop: DropName | null;
  /** The deciding NACL (NACL_EGRESS / NACL_INGRESS drops). */
  naclId: string | null;
  naclRule: number | null;
  frame: Buffer;
}

export interface CaptureDrain {
  records: CaptureRecord[];
  /** Records lost to full rings since the capture started. */
  lost: number;
}

export function decodeCaptureRecords(data: Buffer, count: number): CaptureRecord[] {
  const out: CaptureRecord[] = [];
  let off = 0;
  for (let i = 0; i < count && off + HEADER <= data.length; i++) {
    const tsNs = data.readBigUInt64LE(off);
    const origLen = data.readUInt32LE(off + 8);
    const capLen = data.readUInt16LE(off + 12);
    const dir = data.readUInt8(off + 14);
    const action = ACTIONS[data.readUInt8(off + 15)] ?? 'drop';
    const inPort = data.readUInt32LE(off + 16);
    const outPort = data.readUInt32LE(off + 20);
    const dstPort = data.readUInt32LE(off + 24);
    const reason = data.readUInt16LE(off + 28);
    const rule = data.readUInt16LE(off + 30);
    const hi = data.readUInt32LE(off + 32);
    const lo = data.readUInt32LE(off + 36);
    const hasNacl = hi !== 0 || lo !== 0;
    out.push({
      timeUs: Number(tsNs / 1000n),
      origLen,
      direction: dir === CAPTURE_FLAGS.in ? 'in' : 'out',
      action,
      inPort,
      outPort: outPort === PORT_NONE ? null : outPort,
      dstPort: dstPort === PORT_NONE ? null : dstPort,
      drop: reason === 0 ? null : (dropReason(reason).name as DropName),
      naclId: hasNacl
        ? `acl-${((BigInt(hi) << 32n) | BigInt(lo)).toString(16).padStart(17, '0')}`
        : null,
      naclRule: hasNacl ? rule : null,
      frame: Buffer.from(data.subarray(off + HEADER, off + HEADER + capLen)),
    });
    off += (HEADER + capLen + 7) & ~7;
  }
  return out;
}
