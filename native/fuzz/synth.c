/* Frame synthesis (see synth.h). */
#include "synth.h"

#include <string.h>

#include "checksum.h"

static uint32_t ip4_header(uint8_t *ip, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                           uint8_t ttl, uint32_t l4len, uint16_t frag_field, uint16_t id) {
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ew_put16(ip + 2, (uint16_t)(20 + l4len));
    ew_put16(ip + 4, id);
    ew_put16(ip + 6, frag_field);
    ip[8] = ttl;
    ip[9] = proto;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    ew_put16(ip + 10, ew_csum_finish(ew_csum_add(0, ip, 20)));
    return 20;
}

static uint32_t ip6_header(uint8_t *ip, const uint8_t *src, const uint8_t *dst, uint8_t nh,
                           uint8_t hlim, uint32_t plen) {
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ew_put16(ip + 4, (uint16_t)plen);
    ip[6] = nh;
    ip[7] = hlim;
    memcpy(ip + 8, src, 16);
    memcpy(ip + 24, dst, 16);
    return 40;
}

static uint8_t icmp_proto(uint8_t family) {
    return family == 4 ? 1 : 58;
}

/* L4 header + payload at l4; returns its length and the IP protocol in *proto. */
static uint32_t l4_build(uint8_t *l4, const struct sy_desc *d, uint8_t *proto) {
    uint32_t n = 0;
    switch (d->kind) {
    case SY_TCP:
        *proto = 6;
        memset(l4, 0, 20);
        ew_put16(l4, d->sport);
        ew_put16(l4 + 2, d->dport);
        ew_put32(l4 + 4, 0x01020304u);
        l4[12] = 5 << 4;
        l4[13] = d->tcp_flags;
        ew_put16(l4 + 14, 65535);
        n = 20;
        break;
    case SY_UDP:
        *proto = 17;
        ew_put16(l4, d->sport);
        ew_put16(l4 + 2, d->dport);
        ew_put16(l4 + 4, (uint16_t)(8 + d->payload));
        ew_put16(l4 + 6, 0);
        n = 8;
        break;
    case SY_ECHO_REQUEST:
    case SY_ECHO_REPLY:
        *proto = icmp_proto(d->family);
        l4[0] = d->family == 4 ? (d->kind == SY_ECHO_REQUEST ? 8 : 0)
                               : (d->kind == SY_ECHO_REQUEST ? 128 : 129);
        l4[1] = 0;
        ew_put16(l4 + 2, 0);
        ew_put16(l4 + 4, d->sport);
        ew_put16(l4 + 6, 1);
        n = 8;
        break;
    case SY_ICMP_ERROR: {
        *proto = icmp_proto(d->family);
        l4[0] = d->icmp_type;
        l4[1] = d->icmp_code;
        memset(l4 + 2, 0, 6);
        uint8_t *in = l4 + 8;
        uint8_t iproto = d->inner_kind == SY_TCP   ? 6
                         : d->inner_kind == SY_UDP ? 17
                                                   : icmp_proto(d->family);
        uint32_t ih = d->family == 4
                          ? ip4_header(in, d->inner_src, d->inner_dst, iproto, 1, 8, 0, 7)
                          : ip6_header(in, d->inner_src, d->inner_dst, iproto, 1, 8);
        uint8_t *q = in + ih;
        if (iproto == 6 || iproto == 17) {
            ew_put16(q, d->inner_sport);
            ew_put16(q + 2, d->inner_dport);
            ew_put32(q + 4, 0);
        } else {
            q[0] = d->family == 4 ? (d->inner_kind == SY_ECHO_REQUEST ? 8 : 0)
                                  : (d->inner_kind == SY_ECHO_REQUEST ? 128 : 129);
            q[1] = 0;
            ew_put16(q + 2, 0);
            ew_put16(q + 4, d->inner_sport);
            ew_put16(q + 6, 1);
        }
        n = 8 + ih + 8;
        break;
    }
    case SY_ICMP_OTHER:
        *proto = icmp_proto(d->family);
        l4[0] = d->icmp_type;
        l4[1] = d->icmp_code;
        memset(l4 + 2, 0, 6);
        n = 8;
        break;
    default: /* SY_PROTO */
        *proto = d->proto;
        n = 0;
        break;
    }
    for (uint32_t i = 0; i < d->payload; i++)
        l4[n + i] = (uint8_t)(i * 7u + 1u);
    return n + d->payload;
}

uint32_t sy_build(uint8_t *f, const struct sy_desc *d) {
    memcpy(f, d->dst_mac, 6);
    memcpy(f + 6, d->src_mac, 6);
    if (d->kind == SY_ARP) {
        ew_put16(f + 12, 0x0806);
        uint8_t *a = f + 14;
        ew_put16(a, 1);
        ew_put16(a + 2, 0x0800);
        a[4] = 6;
        a[5] = 4;
        ew_put16(a + 6, d->arp_op);
        memcpy(a + 8, d->src_mac, 6);
        memcpy(a + 14, d->src, 4);
        memset(a + 18, 0, 6);
        memcpy(a + 24, d->dst, 4);
        return 14 + 28;
    }
    uint8_t l4buf[1024];
    uint8_t proto = 0;
    uint32_t l4len = l4_build(l4buf, d, &proto);
    if (d->family == 4) {
        ew_put16(f + 12, 0x0800);
        uint16_t frag = 0;
        if (d->frag == SY_FRAG_FIRST) frag = 0x2000;
        if (d->frag == SY_FRAG_LATER)
            frag = (uint16_t)(((d->frag_id & 0x1f) + 1) | (d->frag_id & 0x20 ? 0x2000 : 0));
        uint32_t ih =
            ip4_header(f + 14, d->src, d->dst, proto, d->ttl, l4len, frag, (uint16_t)d->frag_id);
        memcpy(f + 14 + ih, l4buf, l4len);
        return 14 + ih + l4len;
    }
    ew_put16(f + 12, 0x86dd);
    uint8_t ext[16];
    uint32_t en = 0;
    uint8_t first_nh = proto;
    if (d->ext6) {
        static const uint8_t types[4] = {0, 0, 60, 43};
        first_nh = types[d->ext6 & 3];
        ext[0] = proto;
        ext[1] = 0;
        ext[2] = d->ext6 == 3 ? 4 : 1; /* routing type 4 / PadN option */
        ext[3] = d->ext6 == 3 ? 0 : 4;
        memset(ext + 4, 0, 4);
        en = 8;
    }
    if (d->frag != SY_FRAG_NONE) {
        uint8_t *fh = ext + en;
        fh[0] = en ? ext[0] : proto;
        if (en)
            ext[0] = 44;
        else
            first_nh = 44;
        fh[1] = 0;
        uint16_t off = d->frag == SY_FRAG_FIRST
                           ? 1
                           : (uint16_t)((((d->frag_id & 0x1f) + 1) << 3) | ((d->frag_id >> 5) & 1));
        ew_put16(fh + 2, off);
        ew_put32(fh + 4, d->frag_id);
        en += 8;
    }
    ip6_header(f + 14, d->src, d->dst, first_nh, d->ttl, en + l4len);
    memcpy(f + 54, ext, en);
    memcpy(f + 54 + en, l4buf, l4len);
    return 54 + en + l4len;
}

void sy_fix_ipv4_csum(uint8_t *f, uint32_t len) {
    if (len < 34 || ew_get16(f + 12) != 0x0800) return;
    uint32_t ihl = (uint32_t)(f[14] & 15) * 4;
    if (ihl < 20 || 14 + ihl > len) return;
    ew_put16(f + 24, 0);
    ew_put16(f + 24, ew_csum_finish(ew_csum_add(0, f + 14, ihl)));
}
