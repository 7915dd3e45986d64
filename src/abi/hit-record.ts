/**
 * The rule hit record of native/include/eniwall/hits.h (struct ew_hit_rec),
 * mirrored for decoding the Buffer each hit drain returns.
 * test/abi-contract.test.ts compares these offsets with the C compiler's
 * (native/test/layout_dump.c).
 */
export const HIT_RECORD = {
  size: 32,
  fields: {
    peer: 0,
    ms: 16,
    port: 24,
    key: 26,
    dir: 28,
    family: 29,
    proto: 30,
    pad: 31,
  },
} as const;

/** One record: a connection a zone's rules admitted and conntrack opened. */
export interface RawHitRecord {
  /** The other end: 4 bytes (IPv4) or 16 (IPv6), network order. */
  peer: Uint8Array;
  /** Engine clock (ms) when it was opened. */
  ms: number;
  /** The zone: the ENI's dataplane port. */
  port: number;
  /** TCP/UDP destination port, ICMP type << 8 | code, 0 otherwise. */
  key: number;
  dir: number;
  family: number;
  proto: number;
}

export function readHitRecords(buf: Uint8Array): RawHitRecord[] {
  const f = HIT_RECORD.fields;
  if (buf.length % HIT_RECORD.size !== 0) {
    throw new RangeError(`hit records: ${buf.length} bytes is not a whole number of records`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: RawHitRecord[] = [];
  for (let o = 0; o < buf.length; o += HIT_RECORD.size) {
    const family = dv.getUint8(o + f.family);
    out.push({
      peer: buf.slice(o + f.peer, o + f.peer + (family === 4 ? 4 : 16)),
      ms: Number(dv.getBigUint64(o + f.ms, true)),
      port: dv.getUint16(o + f.port, true),
      key: dv.getUint16(o + f.key, true),
      dir: dv.getUint8(o + f.dir),
      family,
      proto: dv.getUint8(o + f.proto),
    });
  }
  return out;
}
