/* Test-only frame builders (see frames.h). */
#include "frames.h"

#include <arpa/inet.h>
#include <string.h>

#include "checksum.h"
#include "tbuild.h"

struct fr_l2 fr_macs(const uint8_t src[6], const uint8_t dst[6]) {
    struct fr_l2 l2;
    memcpy(l2.src, src, 6);
    memcpy(l2.dst, dst, 6);
    return l2;
}

void fr_eni_mac(uint32_t eni, uint8_t out[6]) {
    const uint8_t m[6] = {0x02, 0, 0, 0, 0, (uint8_t)(eni + 10)};
    memcpy(out, m, 6);
}

void fr_router_mac(uint32_t subnet, uint8_t out[6]) {
    const uint8_t m[6] = {0x02, 0, 0, 0, (uint8_t)subnet, 0x01};
    memcpy(out, m, 6);
}

uint8_t *fr_mac(uint32_t eni) {
    static uint8_t m[256][6];
    fr_eni_mac(eni, m[eni & 0xffu]);
    return m[eni & 0xffu];
}

uint8_t *fr_rmac(uint32_t subnet) {
    static uint8_t m[256][6];
    fr_router_mac(subnet, m[subnet & 0xffu]);
    return m[subnet & 0xffu];
}

static void eth(uint8_t *f, struct fr_l2 l2, uint16_t type) {
    memcpy(f, l2.dst, 6);
    memcpy(f + 6, l2.src, 6);
    ew_put16(f + 12, type);
}

static uint32_t l4_csum_offset(uint8_t proto) {
    switch (proto) {
    case 6:
        return 16;
    case 17:
        return 6;
    case 1:
    case 58:
        return 2;
    default:
        return 0;
    }
}

static uint16_t l4_sum(const uint8_t *ip, uint8_t family, uint8_t proto, const uint8_t *l4,
                       uint32_t n) {
    uint32_t sum = 0;
    if (family == 6) {
        sum = ew_csum_add(sum, ip + 8, 32);
        sum += n + proto;
    } else if (proto != 1) {
        sum = ew_csum_add(sum, ip + 12, 8);
        sum += n + proto;
    }
    return ew_csum_finish(ew_csum_add(sum, l4, n));
}

uint32_t fr_ip4(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t proto,
                uint8_t ttl, const uint8_t *l4, uint32_t l4len) {
    eth(f, l2, 0x0800);
    uint8_t *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ew_put16(ip + 2, (uint16_t)(20 + l4len));
    ew_put16(ip + 4, 0x1234);
    ip[8] = ttl;
    ip[9] = proto;
    ew_put32(ip + 12, tb_ip4(src));
    ew_put32(ip + 16, tb_ip4(dst));
    ew_put16(ip + 10, ew_csum_finish(ew_csum_add(0, ip, 20)));
    memmove(ip + 20, l4, l4len);
    uint32_t co = l4_csum_offset(proto);
    if (co && l4len >= co + 2) {
        ew_put16(ip + 20 + co, 0);
        ew_put16(ip + 20 + co, l4_sum(ip, 4, proto, ip + 20, l4len));
    }
    return 14 + 20 + l4len;
}

uint32_t fr_ip6(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t proto,
                uint8_t hlim, const uint8_t *l4, uint32_t l4len) {
    eth(f, l2, 0x86dd);
    uint8_t *ip = f + 14;
    ew_put32(ip, 0x60000000u);
    ew_put16(ip + 4, (uint16_t)l4len);
    ip[6] = proto;
    ip[7] = hlim;
    tb_ip6(src, ip + 8);
    tb_ip6(dst, ip + 24);
    memmove(ip + 40, l4, l4len);
    uint32_t co = l4_csum_offset(proto);
    if (co && l4len >= co + 2) {
        ew_put16(ip + 40 + co, 0);
        ew_put16(ip + 40 + co, l4_sum(ip, 6, proto, ip + 40, l4len));
    }
    return 14 + 40 + l4len;
}

static uint32_t tcp_hdr(uint8_t *h, uint16_t sport, uint16_t dport, uint8_t flags) {
    memset(h, 0, 20);
    ew_put16(h, sport);
    ew_put16(h + 2, dport);
    ew_put32(h + 4, 1000);
    h[12] = 5 << 4;
    h[13] = flags;
    ew_put16(h + 14, 65535);
    return 20;
}

static uint32_t udp_hdr(uint8_t *h, uint16_t sport, uint16_t dport, uint32_t payload) {
    memset(h, 0, 8 + payload);
    ew_put16(h, sport);
    ew_put16(h + 2, dport);
    ew_put16(h + 4, (uint16_t)(8 + payload));
    for (uint32_t i = 0; i < payload; i++)
        h[8 + i] = (uint8_t)i;
    return 8 + payload;
}

static uint32_t icmp_hdr(uint8_t *h, uint8_t type, uint8_t code, uint16_t id, uint32_t payload) {
    memset(h, 0, 8 + payload);
    h[0] = type;
    h[1] = code;
    ew_put16(h + 4, id);
    ew_put16(h + 6, 1);
    for (uint32_t i = 0; i < payload; i++)
        h[8 + i] = (uint8_t)(0xa0 + i);
    return 8 + payload;
}

uint32_t fr_tcp4(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint16_t sport,
                 uint16_t dport, uint8_t flags) {
    uint8_t h[20];
    return fr_ip4(f, l2, src, dst, 6, 64, h, tcp_hdr(h, sport, dport, flags));
}

uint32_t fr_udp4(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint16_t sport,
                 uint16_t dport, uint32_t payload) {
    uint8_t h[1500];
    return fr_ip4(f, l2, src, dst, 17, 64, h, udp_hdr(h, sport, dport, payload));
}

uint32_t fr_icmp4(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t type,
                  uint8_t code, uint16_t id, uint32_t payload) {
    uint8_t h[1500];
    return fr_ip4(f, l2, src, dst, 1, 64, h, icmp_hdr(h, type, code, id, payload));
}

uint32_t fr_tcp6(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint16_t sport,
                 uint16_t dport, uint8_t flags) {
    uint8_t h[20];
    return fr_ip6(f, l2, src, dst, 6, 64, h, tcp_hdr(h, sport, dport, flags));
}

uint32_t fr_udp6(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint16_t sport,
                 uint16_t dport, uint32_t payload) {
    uint8_t h[1500];
    return fr_ip6(f, l2, src, dst, 17, 64, h, udp_hdr(h, sport, dport, payload));
}

uint32_t fr_icmp6(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t type,
                  uint8_t code, uint16_t id, uint32_t payload) {
    uint8_t h[1500];
    return fr_ip6(f, l2, src, dst, 58, 64, h, icmp_hdr(h, type, code, id, payload));
}

uint32_t fr_icmp4_error(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t type,
                        uint8_t code, const uint8_t *orig, uint32_t orig_len) {
    uint8_t h[1500];
    uint32_t quote = orig_len - 14 < 28 ? orig_len - 14 : 28;
    memset(h, 0, 8);
    h[0] = type;
    h[1] = code;
    memcpy(h + 8, orig + 14, quote);
    return fr_ip4(f, l2, src, dst, 1, 64, h, 8 + quote);
}

uint32_t fr_arp(uint8_t *f, const uint8_t src_mac[6], uint16_t op, const char *spa,
                const char *tpa) {
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    eth(f, fr_macs(src_mac, bcast), 0x0806);
    uint8_t *a = f + 14;
    memset(a, 0, 46);
    ew_put16(a, 1);
    ew_put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    ew_put16(a + 6, op);
    memcpy(a + 8, src_mac, 6);
    ew_put32(a + 14, tb_ip4(spa));
    ew_put32(a + 24, tb_ip4(tpa));
    return 60; /* padded to the Ethernet minimum */
}

uint32_t fr_ns(uint8_t *f, const uint8_t src_mac[6], const char *src, const char *target,
               uint8_t hlim) {
    uint8_t t[16], dst_ip[16] = {0xff, 0x02, [11] = 0x01, [12] = 0xff};
    tb_ip6(target, t);
    memcpy(dst_ip + 13, t + 13, 3);
    uint8_t dst_mac[6] = {0x33, 0x33, 0xff, t[13], t[14], t[15]};
    char dst[64];
    inet_ntop(AF_INET6, dst_ip, dst, sizeof dst);
    uint8_t h[32] = {135, 0};
    memcpy(h + 8, t, 16);
    h[24] = 1; /* source link-layer address option */
    h[25] = 1;
    memcpy(h + 26, src_mac, 6);
    return fr_ip6(f, fr_macs(src_mac, dst_mac), src, dst, 58, hlim, h, 32);
}

void fr_ip4_frag(uint8_t *f, uint16_t id, uint32_t offset, bool more) {
    uint8_t *ip = f + 14;
    ew_put16(ip + 4, id);
    ew_put16(ip + 6, (uint16_t)((more ? 0x2000u : 0u) | (offset / 8)));
    ew_put16(ip + 10, 0);
    ew_put16(ip + 10, ew_csum_finish(ew_csum_add(0, ip, (uint32_t)(ip[0] & 0xf) * 4)));
}

bool fr_ip4_csum_ok(const uint8_t *f) {
    const uint8_t *ip = f + 14;
    return ew_csum_finish(ew_csum_add(0, ip, (uint32_t)(ip[0] & 0xf) * 4)) == 0;
}

bool fr_l4_csum_ok(const uint8_t *f, uint32_t len) {
    const uint8_t *ip = f + 14;
    (void)len;
    if (ew_get16(f + 12) == 0x0800) {
        uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4, tot = ew_get16(ip + 2);
        uint32_t sum = 0;
        if (ip[9] != 1) {
            sum = ew_csum_add(sum, ip + 12, 8);
            sum += tot - ihl + ip[9];
        }
        return ew_csum_finish(ew_csum_add(sum, ip + ihl, tot - ihl)) == 0;
    }
    uint32_t plen = ew_get16(ip + 4);
    uint32_t sum = ew_csum_add(0, ip + 8, 32) + plen + ip[6];
    return ew_csum_finish(ew_csum_add(sum, ip + 40, plen)) == 0;
}
