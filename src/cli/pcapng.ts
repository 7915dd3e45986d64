/**
 * A minimal pcapng writer (draft-ietf-opsawg-pcapng): one Section Header
 * Block, one Interface Description Block (LINKTYPE_ETHERNET, microsecond
 * timestamps, the default), and an Enhanced Packet Block per frame with the
 * verdict as opt_comment and the direction in epb_flags. Little-endian, as
 * the byte-order magic says; readers (Wireshark, tshark, tcpdump) swap.
 */
const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const LINKTYPE_ETHERNET = 1;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const EPB_FLAGS = 2;
const EPB_INBOUND = 1;
const EPB_OUTBOUND = 2;

const pad4 = (n: number): number => (n + 3) & ~3;

function option(code: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + pad4(value.length));
  out.writeUInt16LE(code, 0);
  out.writeUInt16LE(value.length, 2);
  value.copy(out, 4);
  return out;
}

function options(list: Buffer[]): Buffer {
  if (list.length === 0) return Buffer.alloc(0);
  return Buffer.concat([...list, Buffer.alloc(4) /* opt_endofopt */]);
}

/** type, total length, body, total length again. */
function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const out = Buffer.alloc(total);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(total, 4);
  body.copy(out, 8);
  out.writeUInt32LE(total, total - 4);
  return out;
}

/** Section Header Block, then the one interface (the ENI). */
export function pcapngHeader(
  app: string,
  ifName: string,
  ifDescription: string,
  snap: number,
): Buffer {
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  shb.writeUInt16LE(1, 4); // major
  shb.writeUInt16LE(0, 6); // minor
  shb.writeBigInt64LE(-1n, 8); // section length: not given
  const idb = Buffer.alloc(8);
  idb.writeUInt16LE(LINKTYPE_ETHERNET, 0);
  idb.writeUInt32LE(snap, 4);
  return Buffer.concat([
    block(SHB, Buffer.concat([shb, options([option(SHB_USERAPPL, Buffer.from(app))])])),
    block(
      IDB,
      Buffer.concat([
        idb,
        options([
          option(IF_NAME, Buffer.from(ifName)),
          option(IF_DESCRIPTION, Buffer.from(ifDescription)),
        ]),
      ]),
    ),
  ]);
}

export interface PcapngPacket {
  timeUs: number; // Unix epoch, microseconds
  origLen: number;
  data: Buffer;
  /** Relative to the interface: 'out' = the ENI sent it (outbound), 'in' = inbound. */
  direction: 'in' | 'out';
  comment: string;
}

export function pcapngPacket(p: PcapngPacket): Buffer {
  const head = Buffer.alloc(20);
  head.writeUInt32LE(0, 0); // interface id
  head.writeUInt32LE(Math.floor(p.timeUs / 2 ** 32), 4);
  head.writeUInt32LE(p.timeUs % 2 ** 32, 8);
  head.writeUInt32LE(p.data.length, 12);
  head.writeUInt32LE(Math.max(p.origLen, p.data.length), 16);
  const data = Buffer.alloc(pad4(p.data.length));
  p.data.copy(data);
  const flags = Buffer.alloc(4);
  flags.writeUInt32LE(p.direction === 'in' ? EPB_INBOUND : EPB_OUTBOUND, 0);
  const opts = options([option(OPT_COMMENT, Buffer.from(p.comment)), option(EPB_FLAGS, flags)]);
  return block(EPB, Buffer.concat([head, data, opts]));
}
