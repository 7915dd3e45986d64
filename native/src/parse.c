/* Frame parser (see parse.h). Every read is preceded by a length check. */
#include "parse.h"

#include <string.h>

#include "checksum.h"

#define IPV6_HLEN        40u
#define IPV6_MAX_EXT_HDR 8u /* bounded walk: more headers than this is an attack */

#define NH_HOP_BY_HOP 0u
#define NH_ROUTING    43u
#define NH_FRAGMENT   44u
#define NH_DEST_OPTS  60u

struct frag_info {
    bool frag, first;
    uint32_t id;
};

static enum ew_drop_reason parse_arp(const uint8_t *f, uint32_t len, struct ew_pkt *p) {
    if (len < EW_ETH_HLEN + 28u) return EW_DROP_MALFORMED_ARP;
    const uint8_t *a = f + EW_ETH_HLEN;
    /* Ethernet/IPv4 ARP only: hardware type 1, protocol 0x0800, lengths 6 and 4. */
    if (ew_get16(a) != 1u || ew_get16(a + 2) != EW_ETHERTYPE_IPV4 || a[4] != 6u || a[5] != 4u)
        return EW_DROP_MALFORMED_ARP;
    p->arp_op = ew_get16(a + 6);
    if (p->arp_op != 1u && p->arp_op != 2u) return EW_DROP_MALFORMED_ARP;
    p->arp_spa = ew_get32(a + 14);
    p->arp_tpa = ew_get32(a + 24);
    return EW_DROP_NONE;
}

/* Extension-header walk over n bytes at ip (an IPv6 header). On success *proto
 * is the upper-layer protocol and *l4 its offset from ip; a non-first fragment
 * stops the walk (its upper-layer header is in the first fragment). */
static enum ew_drop_reason walk_ipv6(const uint8_t *ip, uint32_t n, uint8_t *proto, uint32_t *l4,
                                     struct frag_info *fi) {
    uint8_t nh = ip[6];
    uint32_t off = IPV6_HLEN;
    fi->frag = false;
    fi->first = false;
    fi->id = 0;
    for (unsigned i = 0; i <= IPV6_MAX_EXT_HDR; i++) {
        switch (nh) {
        case NH_HOP_BY_HOP:
            if (i != 0) return EW_DROP_MALFORMED_IPV6; /* only allowed right after the header */
            /* fall through */
        case NH_ROUTING:
        case NH_DEST_OPTS: {
            if (off + 2u > n) return EW_DROP_MALFORMED_IPV6;
            uint32_t hlen = ((uint32_t)ip[off + 1] + 1u) * 8u;
            if (off + hlen > n) return EW_DROP_MALFORMED_IPV6;
            nh = ip[off];
            off += hlen;
            break;
        }
        case NH_FRAGMENT: {
            if (off + 8u > n || fi->frag) return EW_DROP_MALFORMED_IPV6;
            uint16_t offflags = ew_get16(ip + off + 2);
            uint16_t frag_off = (uint16_t)(offflags >> 3);
            bool more = (offflags & 1u) != 0;
            nh = ip[off];
            off += 8u;
            if (frag_off == 0 && !more) break; /* atomic fragment: a whole datagram */
            fi->frag = true;
            fi->first = frag_off == 0;
            fi->id = ew_get32(ip + off - 4u);
            if (!fi->first) {
                *proto = nh;
                *l4 = off;
                return EW_DROP_NONE;
            }
            break;
        }
        default:
            *proto = nh;
            *l4 = off;
            return EW_DROP_NONE;
        }
    }
    return EW_DROP_MALFORMED_IPV6;
}

static bool icmp_is_error(uint8_t family, uint8_t type) {
    if (family == 4) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    return type >= 1 && type <= 4;
}

/* The embedded packet of an ICMP error: IP header plus at least 8 bytes of L4. */
static enum ew_drop_reason parse_inner(const uint8_t *ip, uint32_t n, uint8_t family,
                                       struct ew_inner *in) {
    uint32_t l4;
    bool ports = true;
    memset(in, 0, sizeof *in);
    if (family == 4) {
        if (n < 20u || ip[0] >> 4 != 4u) return EW_DROP_MALFORMED_L4;
        uint32_t ihl = (uint32_t)(ip[0] & 0x0fu) * 4u;
        if (ihl < 20u || ihl > n) return EW_DROP_MALFORMED_L4;
        in->proto = ip[9];
        memcpy(in->src, ip + 12, 4);
        memcpy(in->dst, ip + 16, 4);
        l4 = ihl;
        ports = (ew_get16(ip + 6) & 0x1fffu) == 0; /* a non-first fragment carries no ports */
    } else {
        struct frag_info fi;
        if (n < IPV6_HLEN || ip[0] >> 4 != 6u) return EW_DROP_MALFORMED_L4;
        if (walk_ipv6(ip, n, &in->proto, &l4, &fi) != EW_DROP_NONE) return EW_DROP_MALFORMED_L4;
        memcpy(in->src, ip + 8, 16);
        memcpy(in->dst, ip + 24, 16);
        ports = !fi.frag || fi.first;
    }
    if (!ports) return EW_DROP_NONE;
    uint8_t icmp_proto = family == 4 ? EW_PROTO_ICMP : EW_PROTO_ICMPV6;
    if (in->proto == EW_PROTO_TCP || in->proto == EW_PROTO_UDP) {
        if (l4 + 8u > n) return EW_DROP_MALFORMED_L4;
        in->sport = ew_get16(ip + l4);
        in->dport = ew_get16(ip + l4 + 2);
    } else if (in->proto == icmp_proto) {
        if (l4 + 8u > n) return EW_DROP_MALFORMED_L4;
        uint8_t t = ip[l4];
        bool echo = family == 4 ? (t == 8 || t == 0) : (t == 128 || t == 129);
        if (echo) {
            in->echo = true;
            in->sport = in->dport = ew_get16(ip + l4 + 4);
        }
    }
    return EW_DROP_NONE;
}

static enum ew_drop_reason parse_icmp(const uint8_t *h, uint32_t n, struct ew_pkt *p) {
    if (n < 8u) return EW_DROP_MALFORMED_L4;
    uint8_t t = h[0];
    p->icmp_type = t;
    p->icmp_code = h[1];
    p->key = (uint16_t)(t << 8 | h[1]);
    if (p->family == 4) {
        if (t == 8)
            p->icmp_kind = EW_ICMP_ECHO_REQUEST;
        else if (t == 0)
            p->icmp_kind = EW_ICMP_ECHO_REPLY;
        else
            p->icmp_kind = EW_ICMP_OTHER;
    } else {
        if (t == 128)
            p->icmp_kind = EW_ICMP_ECHO_REQUEST;
        else if (t == 129)
            p->icmp_kind = EW_ICMP_ECHO_REPLY;
        else if (t >= 133 && t <= 137)
            p->icmp_kind = EW_ICMP_NDP;
        else if ((t >= 130 && t <= 132) || t == 143)
            p->icmp_kind = EW_ICMP_MLD;
        else
            p->icmp_kind = EW_ICMP_OTHER;
    }
    if (p->icmp_kind == EW_ICMP_ECHO_REQUEST || p->icmp_kind == EW_ICMP_ECHO_REPLY) {
        p->sport = p->dport = ew_get16(h + 4);
    } else if (icmp_is_error(p->family, t)) {
        /* A fragmented error cannot be matched reliably; treat the first piece as the error. */
        p->icmp_kind = EW_ICMP_ERROR;
        return parse_inner(h + 8, n - 8u, p->family, &p->inner);
    }
    return EW_DROP_NONE;
}

static enum ew_drop_reason parse_l4(const uint8_t *h, uint32_t n, struct ew_pkt *p) {
    p->l4 = true;
    switch (p->proto) {
    case EW_PROTO_TCP: {
        if (n < 20u) return EW_DROP_MALFORMED_L4;
        uint32_t doff = (uint32_t)(h[12] >> 4) * 4u;
        if (doff < 20u || doff > n) return EW_DROP_MALFORMED_L4;
        p->sport = ew_get16(h);
        p->dport = ew_get16(h + 2);
        p->tcp_flags = h[13];
        p->key = p->dport;
        return EW_DROP_NONE;
    }
    case EW_PROTO_UDP: {
        if (n < 8u) return EW_DROP_MALFORMED_L4;
        uint16_t ulen = ew_get16(h + 4);
        /* A first fragment holds only part of the datagram the length describes. */
        if (ulen < 8u || (!p->frag && ulen > n)) return EW_DROP_MALFORMED_L4;
        p->sport = ew_get16(h);
        p->dport = ew_get16(h + 2);
        p->key = p->dport;
        return EW_DROP_NONE;
    }
    case EW_PROTO_ICMP:
        if (p->family == 4) return parse_icmp(h, n, p);
        break;
    case EW_PROTO_ICMPV6:
        if (p->family == 6) return parse_icmp(h, n, p);
        break;
    default:
        break;
    }
    return EW_DROP_NONE;
}

static enum ew_drop_reason parse_ipv4(const uint8_t *f, uint32_t len, struct ew_pkt *p) {
    const uint8_t *ip = f + EW_ETH_HLEN;
    uint32_t avail = len - EW_ETH_HLEN;
    if (avail < 20u || ip[0] >> 4 != 4u) return EW_DROP_MALFORMED_IPV4;
    uint32_t ihl = (uint32_t)(ip[0] & 0x0fu) * 4u;
    uint32_t tot = ew_get16(ip + 2);
    if (ihl < 20u || tot < ihl || tot > avail) return EW_DROP_MALFORMED_IPV4;
    if (!ew_csum_ok32(ip, ihl)) return EW_DROP_MALFORMED_IPV4;
    uint16_t frag = ew_get16(ip + 6);
    uint32_t frag_off = (uint32_t)(frag & 0x1fffu) * 8u;
    bool more = (frag & 0x2000u) != 0;
    if (frag_off + (tot - ihl) > 65535u) return EW_DROP_MALFORMED_IPV4; /* "ping of death" */
    p->family = 4;
    p->ip_len = tot;
    p->ttl = ip[8];
    p->proto = ip[9];
    p->src4 = ew_get32(ip + 12);
    p->dst4 = ew_get32(ip + 16);
    memcpy(p->src, ip + 12, 4);
    memcpy(p->dst, ip + 16, 4);
    p->l4_off = EW_ETH_HLEN + ihl;
    p->l4_len = tot - ihl;
    p->frag = more || frag_off != 0;
    p->frag_first = p->frag && frag_off == 0;
    p->frag_id = ew_get16(ip + 4);
    if (p->frag && !p->frag_first) return EW_DROP_NONE;
    return parse_l4(f + p->l4_off, p->l4_len, p);
}

static enum ew_drop_reason parse_ipv6(const uint8_t *f, uint32_t len, struct ew_pkt *p) {
    const uint8_t *ip = f + EW_ETH_HLEN;
    uint32_t avail = len - EW_ETH_HLEN;
    if (avail < IPV6_HLEN || ip[0] >> 4 != 6u) return EW_DROP_MALFORMED_IPV6;
    uint32_t plen = ew_get16(ip + 4);
    if (plen == 0 || IPV6_HLEN + plen > avail) return EW_DROP_MALFORMED_IPV6; /* no jumbograms */
    p->family = 6;
    p->ip_len = IPV6_HLEN + plen;
    p->ttl = ip[7];
    memcpy(p->src, ip + 8, 16);
    memcpy(p->dst, ip + 24, 16);
    struct frag_info fi;
    uint32_t l4;
    enum ew_drop_reason r = walk_ipv6(ip, p->ip_len, &p->proto, &l4, &fi);
    if (r != EW_DROP_NONE) return r;
    p->l4_off = EW_ETH_HLEN + l4;
    p->l4_len = p->ip_len - l4;
    p->frag = fi.frag;
    p->frag_first = fi.frag && fi.first;
    p->frag_id = fi.id;
    if (p->frag && !p->frag_first) return EW_DROP_NONE;
    return parse_l4(f + p->l4_off, p->l4_len, p);
}

enum ew_drop_reason ew_parse(const uint8_t *frame, uint32_t len, struct ew_pkt *p) {
    memset(p, 0, sizeof *p);
    if (len < EW_ETH_HLEN) return EW_DROP_TRUNCATED_ETH;
    p->ethertype = ew_get16(frame + 12);
    switch (p->ethertype) {
    case EW_ETHERTYPE_IPV4:
        return parse_ipv4(frame, len, p);
    case EW_ETHERTYPE_IPV6:
        return parse_ipv6(frame, len, p);
    case EW_ETHERTYPE_ARP:
        return parse_arp(frame, len, p);
    default:
        return EW_DROP_UNSUPPORTED_ETHERTYPE; /* VLAN tags (0x8100, 0x88a8) included */
    }
}
