/* In-place answer builders (see reply.h). */
#include "reply.h"

#include <string.h>

#include "checksum.h"

#define IPV4_HLEN    20u
#define IPV6_HLEN    40u
#define ICMP_HLEN    8u
#define NA_LEN       (EW_ETH_HLEN + IPV6_HLEN + 32u) /* NA: 24 bytes + target LL option */
#define V4_QUOTE_MAX 548u  /* error fits in 576 bytes (RFC 1812 4.3.2.3) */
#define V6_QUOTE_MAX 1232u /* error fits in the 1280-byte minimum MTU (RFC 4443 2.4) */
#define REPLY_TTL    64u

void ew_link_local_from_mac(const uint8_t mac[6], uint8_t out[16]) {
    memset(out, 0, 16);
    out[0] = 0xfe;
    out[1] = 0x80;
    out[8] = mac[0] ^ 0x02u;
    out[9] = mac[1];
    out[10] = mac[2];
    out[11] = 0xff;
    out[12] = 0xfe;
    out[13] = mac[3];
    out[14] = mac[4];
    out[15] = mac[5];
}

static void eth_answer(uint8_t *frame, const uint8_t src_mac[6], uint16_t ethertype) {
    memmove(frame, frame + 6, 6); /* back to whoever sent it */
    memcpy(frame + 6, src_mac, 6);
    ew_put16(frame + 12, ethertype);
}

void ew_reply_arp(uint8_t *frame, const uint8_t mac[6], uint32_t ip) {
    uint8_t *a = frame + EW_ETH_HLEN;
    uint8_t req_mac[6], req_ip[4];
    memcpy(req_mac, a + 8, 6);
    memcpy(req_ip, a + 14, 4);
    eth_answer(frame, mac, EW_ETHERTYPE_ARP);
    ew_put16(a + 6, 2); /* reply */
    memcpy(a + 8, mac, 6);
    ew_put32(a + 14, ip);
    memcpy(a + 18, req_mac, 6);
    memcpy(a + 24, req_ip, 4);
}

static uint32_t pseudo6_sum(const uint8_t *src, const uint8_t *dst, uint32_t len, uint8_t nh) {
    uint32_t sum = ew_csum_add(0, src, 16);
    sum = ew_csum_add(sum, dst, 16);
    sum += len >> 16;
    sum += len & 0xffffu;
    return sum + nh;
}

static void write_ipv6(uint8_t *ip, uint32_t plen, uint8_t hlim, const uint8_t *src,
                       const uint8_t *dst) {
    ew_put32(ip, 0x60000000u);
    ew_put16(ip + 4, (uint16_t)plen);
    ip[6] = EW_PROTO_ICMPV6;
    ip[7] = hlim;
    memcpy(ip + 8, src, 16);
    memcpy(ip + 24, dst, 16);
}

static void icmp6_checksum(uint8_t *ip, uint32_t plen) {
    uint8_t *icmp = ip + IPV6_HLEN;
    ew_put16(icmp + 2, 0);
    uint32_t sum = pseudo6_sum(ip + 8, ip + 24, plen, EW_PROTO_ICMPV6);
    ew_put16(icmp + 2, ew_csum_finish(ew_csum_add(sum, icmp, plen)));
}

bool ew_reply_na(uint8_t *frame, uint32_t *len, uint32_t cap, const struct ew_pkt *p,
                 const uint8_t target[16], const uint8_t mac[6], bool router) {
    if (cap < NA_LEN) return false;
    uint8_t tgt[16];
    memcpy(tgt, target, 16); /* may point into the frame we overwrite */
    eth_answer(frame, mac, EW_ETHERTYPE_IPV6);
    uint8_t *ip = frame + EW_ETH_HLEN;
    write_ipv6(ip, 32, 255, tgt, p->src);
    uint8_t *na = ip + IPV6_HLEN;
    memset(na, 0, 32);
    na[0] = 136;
    na[4] = (uint8_t)((router ? 0x80u : 0u) | 0x40u | 0x20u); /* router, solicited, override */
    memcpy(na + 8, tgt, 16);
    na[24] = 2; /* target link-layer address option, 8 bytes */
    na[25] = 1;
    memcpy(na + 26, mac, 6);
    icmp6_checksum(ip, 32);
    *len = NA_LEN;
    return true;
}

void ew_reply_echo(uint8_t *frame, uint32_t *len, const struct ew_pkt *p,
                   const uint8_t router_mac[6]) {
    uint8_t *ip = frame + EW_ETH_HLEN;
    uint8_t *icmp = frame + p->l4_off;
    eth_answer(frame, router_mac, p->ethertype);
    if (p->family == 4) {
        uint32_t ihl = (uint32_t)(ip[0] & 0x0fu) * 4u;
        memcpy(ip + 12, p->dst, 4);
        memcpy(ip + 16, p->src, 4);
        ip[8] = REPLY_TTL;
        ew_put16(ip + 10, 0);
        ew_put16(ip + 10, ew_csum_finish(ew_csum_add(0, ip, ihl)));
        icmp[0] = 0;
        ew_put16(icmp + 2, ew_csum_replace16(ew_get16(icmp + 2), (uint16_t)(8u << 8 | icmp[1]),
                                             (uint16_t)(0u << 8 | icmp[1])));
    } else {
        /* Swapping source and destination leaves the pseudo-header sum unchanged. */
        memcpy(ip + 8, p->dst, 16);
        memcpy(ip + 24, p->src, 16);
        ip[7] = REPLY_TTL;
        icmp[0] = 129;
        ew_put16(icmp + 2, ew_csum_replace16(ew_get16(icmp + 2), (uint16_t)(128u << 8 | icmp[1]),
                                             (uint16_t)(129u << 8 | icmp[1])));
    }
    *len = EW_ETH_HLEN + p->ip_len;
}

bool ew_reply_time_exceeded(uint8_t *frame, uint32_t *len, uint32_t cap, const struct ew_pkt *p,
                            const uint8_t router_mac[6], const uint8_t *router_ip) {
    uint8_t *ip = frame + EW_ETH_HLEN;
    uint32_t hdrs = p->family == 4 ? IPV4_HLEN + ICMP_HLEN : IPV6_HLEN + ICMP_HLEN;
    uint32_t quote = p->ip_len;
    uint32_t qmax = p->family == 4 ? V4_QUOTE_MAX : V6_QUOTE_MAX;
    if (quote > qmax) quote = qmax;
    if (cap < EW_ETH_HLEN + hdrs) return false;
    if (quote > cap - EW_ETH_HLEN - hdrs) quote = cap - EW_ETH_HLEN - hdrs;
    if (quote < (p->family == 4 ? IPV4_HLEN + 8u : IPV6_HLEN + 8u)) return false;
    memmove(ip + hdrs, ip, quote);
    eth_answer(frame, router_mac, p->ethertype);
    uint8_t *icmp = ip + hdrs - ICMP_HLEN;
    memset(icmp, 0, ICMP_HLEN);
    if (p->family == 4) {
        memset(ip, 0, IPV4_HLEN);
        ip[0] = 0x45;
        ew_put16(ip + 2, (uint16_t)(hdrs + quote));
        ip[8] = REPLY_TTL;
        ip[9] = EW_PROTO_ICMP;
        memcpy(ip + 12, router_ip, 4);
        memcpy(ip + 16, p->src, 4);
        ew_put16(ip + 10, ew_csum_finish(ew_csum_add(0, ip, IPV4_HLEN)));
        icmp[0] = 11;
        ew_put16(icmp + 2, ew_csum_finish(ew_csum_add(0, icmp, ICMP_HLEN + quote)));
    } else {
        write_ipv6(ip, ICMP_HLEN + quote, REPLY_TTL, router_ip, p->src);
        icmp[0] = 3;
        icmp6_checksum(ip, ICMP_HLEN + quote);
    }
    *len = EW_ETH_HLEN + hdrs + quote;
    return true;
}
