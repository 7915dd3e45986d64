/**
 * The flow-sample record of native/include/eniwall/flowlog.h (struct
 * ew_flow_sample), mirrored for decoding the one Buffer each drain returns.
 * test/abi-contract.test.ts compares these offsets with the C compiler's
 * (native/test/layout_dump.c).
 */
export const FLOW_SAMPLE = {
  size: 80,
  fields: {
    src: 0,
    dst: 16,
    packets: 32,
    bytes: 40,
    first_ms: 48,
    last_ms: 56,
    port: 64,
    sport: 66,
    dport: 68,
    reason: 70,
    dir: 72,
    action: 73,
    family: 74,
    proto: 75,
    tcp_flags: 76,
    pad: 77,
  },
} as const;

/** enum ew_flow_action */
export const FLOW_ACCEPT = 0;
export const FLOW_REJECT = 1;

/** One record, numbers as the C side has them (addresses still raw bytes). */
export interface RawFlowSample {
  src: Uint8Array;
  dst: Uint8Array;
  packets: number;
  bytes: number;
  firstMs: number;
  lastMs: number;
  port: number;
  sport: number;
  dport: number;
  reason: number;
  dir: number;
  action: number;
  family: number;
  proto: number;
  tcpFlags: number;
}

/** Splits a drain's Buffer into records (little-endian, as the C side wrote them). */
export function readFlowSamples(buf: Uint8Array): RawFlowSample[] {
  const f = FLOW_SAMPLE.fields;
  if (buf.length % FLOW_SAMPLE.size !== 0) {
    throw new RangeError(`flow samples: ${buf.length} bytes is not a whole number of records`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: RawFlowSample[] = [];
  for (let o = 0; o < buf.length; o += FLOW_SAMPLE.size) {
    const family = dv.getUint8(o + f.family);
    const alen = family === 6 ? 16 : 4;
    out.push({
      src: buf.subarray(o + f.src, o + f.src + alen),
      dst: buf.subarray(o + f.dst, o + f.dst + alen),
      packets: Number(dv.getBigUint64(o + f.packets, true)),
      bytes: Number(dv.getBigUint64(o + f.bytes, true)),
      firstMs: Number(dv.getBigUint64(o + f.first_ms, true)),
      lastMs: Number(dv.getBigUint64(o + f.last_ms, true)),
      port: dv.getUint16(o + f.port, true),
      sport: dv.getUint16(o + f.sport, true),
      dport: dv.getUint16(o + f.dport, true),
      reason: dv.getUint16(o + f.reason, true),
      dir: dv.getUint8(o + f.dir),
      action: dv.getUint8(o + f.action),
      family,
      proto: dv.getUint8(o + f.proto),
      tcpFlags: dv.getUint8(o + f.tcp_flags),
    });
  }
  return out;
}
