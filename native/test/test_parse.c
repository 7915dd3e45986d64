/* Parser: good frames of every kind, every kind of malformed frame, and random
 * truncations/mutations that must never read out of bounds (run under ASan). */
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "frames.h"
#include "harness.h"
#include "parse.h"

static uint8_t ma[6] = {0x02, 0, 0, 0, 0, 0x0a}, mb[6] = {0x02, 0, 0, 0, 0, 0x0b};

static void fix_ip4_csum(uint8_t *f) {
    uint8_t *ip = f + 14;
    ew_put16(ip + 10, 0);
    ew_put16(ip + 10, ew_csum_finish(ew_csum_add(0, ip, (uint32_t)(ip[0] & 0xf) * 4)));
}

/* ---- frame makers: each writes a frame and returns its length ---- */

typedef uint32_t (*maker)(uint8_t *f);

static uint32_t tcp4(uint8_t *f) {
    return fr_tcp4(f, fr_macs(ma, mb), "10.0.0.1", "10.0.0.2", 40000, 443, EW_TCP_SYN);
}
static uint32_t udp6(uint8_t *f) {
    return fr_udp6(f, fr_macs(ma, mb), "fd00::1", "fd00::2", 5353, 53, 12);
}
static uint32_t echo4(uint8_t *f) {
    return fr_icmp4(f, fr_macs(ma, mb), "10.0.0.1", "10.0.0.2", 8, 0, 0x4242, 16);
}
static uint32_t echo6(uint8_t *f) {
    return fr_icmp6(f, fr_macs(ma, mb), "fd00::1", "fd00::2", 128, 0, 0x77, 8);
}
static uint32_t arp(uint8_t *f) {
    return fr_arp(f, ma, 1, "10.0.0.1", "10.0.0.2");
}
static uint32_t ns(uint8_t *f) {
    return fr_ns(f, ma, "fe80::1", "fd00::2", 255);
}
static uint32_t other4(uint8_t *f) {
    uint8_t gre[8] = {0};
    return fr_ip4(f, fr_macs(ma, mb), "10.0.0.1", "10.0.0.2", 47, 64, gre, sizeof gre);
}
static uint32_t frag4_first(uint8_t *f) {
    uint32_t n = fr_udp4(f, fr_macs(ma, mb), "10.0.0.1", "10.0.0.2", 1, 2, 64);
    fr_ip4_frag(f, 99, 0, true);
    return n;
}
static uint32_t frag4_later(uint8_t *f) {
    uint32_t n = fr_udp4(f, fr_macs(ma, mb), "10.0.0.1", "10.0.0.2", 1, 2, 64);
    fr_ip4_frag(f, 99, 72, false);
    return n;
}
static uint32_t ip4_options(uint8_t *f) {
    uint32_t n = fr_tcp4(f, fr_macs(ma, mb), "10.0.0.1", "10.0.0.2", 1, 80, EW_TCP_ACK);
    uint8_t *ip = f + 14;
    memmove(ip + 24, ip + 20, n - 34); /* 4 bytes of options (NOPs + EOL) */
    ip[20] = 1, ip[21] = 1, ip[22] = 1, ip[23] = 0;
    ip[0] = 0x46;
    ew_put16(ip + 2, (uint16_t)(ew_get16(ip + 2) + 4));
    fix_ip4_csum(f);
    return n + 4;
}
/* IPv6 + hop-by-hop (8) + destination options (8) + TCP. */
static uint32_t ext6(uint8_t *f) {
    uint8_t l4[16 + 20] = {60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0};
    l4[16 + 2] = 0;
    l4[16 + 3] = 22;
    l4[16 + 12] = 5 << 4;
    l4[16 + 13] = EW_TCP_SYN;
    return fr_ip6(f, fr_macs(ma, mb), "fd00::1", "fd00::2", 0, 64, l4, sizeof l4);
}
static uint32_t frag6(uint8_t *f, uint16_t off_bytes, bool more) {
    uint8_t l4[8 + 8] = {17, 0, 0, 0, 0, 0, 0x12, 0x34};
    ew_put16(l4 + 2, (uint16_t)(off_bytes | (more ? 1u : 0u)));
    ew_put16(l4 + 8, 7);
    ew_put16(l4 + 10, 9);
    ew_put16(l4 + 12, 100);
    return fr_ip6(f, fr_macs(ma, mb), "fd00::1", "fd00::2", 44, 64, l4, sizeof l4);
}
static uint32_t frag6_first(uint8_t *f) {
    return frag6(f, 0, true);
}
static uint32_t frag6_later(uint8_t *f) {
    return frag6(f, 64, false);
}
static uint32_t icmp_err4(uint8_t *f) {
    uint8_t orig[128];
    uint32_t n = fr_udp4(orig, fr_macs(mb, ma), "10.0.0.2", "10.0.0.9", 3333, 4444, 4);
    return fr_icmp4_error(f, fr_macs(ma, mb), "10.0.0.1", "10.0.0.2", 3, 3, orig, n);
}

/* ---- good frames ---- */

struct good {
    const char *name;
    maker make;
    uint8_t family, proto, kind;
    uint16_t sport, dport, key;
    bool l4, frag, first;
};

static const struct good goods[] = {
    {"tcp4 syn", tcp4, 4, 6, EW_ICMP_NONE, 40000, 443, 443, true, false, false},
    {"udp6", udp6, 6, 17, EW_ICMP_NONE, 5353, 53, 53, true, false, false},
    {"icmp4 echo", echo4, 4, 1, EW_ICMP_ECHO_REQUEST, 0x4242, 0x4242, 0x0800, true, false, false},
    {"icmp6 echo", echo6, 6, 58, EW_ICMP_ECHO_REQUEST, 0x77, 0x77, 0x8000, true, false, false},
    {"arp", arp, 0, 0, EW_ICMP_NONE, 0, 0, 0, false, false, false},
    {"neighbour solicitation", ns, 6, 58, EW_ICMP_NDP, 0, 0, 135 << 8, true, false, false},
    {"gre", other4, 4, 47, EW_ICMP_NONE, 0, 0, 0, true, false, false},
    {"ipv4 first fragment", frag4_first, 4, 17, EW_ICMP_NONE, 1, 2, 2, true, true, true},
    {"ipv4 later fragment", frag4_later, 4, 17, EW_ICMP_NONE, 0, 0, 0, false, true, false},
    {"ipv4 options", ip4_options, 4, 6, EW_ICMP_NONE, 1, 80, 80, true, false, false},
    {"ipv6 extension headers", ext6, 6, 6, EW_ICMP_NONE, 0, 22, 22, true, false, false},
    {"ipv6 first fragment", frag6_first, 6, 17, EW_ICMP_NONE, 7, 9, 9, true, true, true},
    {"ipv6 later fragment", frag6_later, 6, 17, EW_ICMP_NONE, 0, 0, 0, false, true, false},
    {"icmp4 error", icmp_err4, 4, 1, EW_ICMP_ERROR, 0, 0, 0x0303, true, false, false},
};

static void test_good(void) {
    uint8_t f[2048];
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        const struct good *g = &goods[i];
        struct ew_pkt p;
        uint32_t n = g->make(f);
        enum ew_drop_reason r = ew_parse(f, n, &p);
        CHECK(r == EW_DROP_NONE, "%s: reason %d", g->name, r);
        CHECK(p.family == g->family, "%s: family %u", g->name, p.family);
        if (g->family == 0) continue;
        CHECK(p.proto == g->proto, "%s: proto %u", g->name, p.proto);
        CHECK(p.icmp_kind == g->kind, "%s: icmp kind %u", g->name, p.icmp_kind);
        CHECK(p.sport == g->sport && p.dport == g->dport, "%s: ports %u %u", g->name, p.sport,
              p.dport);
        CHECK(p.key == g->key, "%s: key %u", g->name, p.key);
        CHECK(p.l4 == g->l4 && p.frag == g->frag && p.frag_first == g->first,
              "%s: l4/frag/first %d %d %d", g->name, p.l4, p.frag, p.frag_first);
    }
    struct ew_pkt p;
    uint32_t n = icmp_err4(f);
    ew_parse(f, n, &p);
    CHECK(p.inner.proto == 17 && p.inner.sport == 3333 && p.inner.dport == 4444,
          "icmp error inner udp ports");
    CHECK(p.inner.src[3] == 2 && p.inner.dst[3] == 9, "icmp error inner addresses");
    n = arp(f);
    ew_parse(f, n, &p);
    CHECK(p.arp_op == 1 && p.arp_spa == 0x0a000001u && p.arp_tpa == 0x0a000002u, "arp fields");
    n = tcp4(f);
    ew_parse(f, n, &p);
    CHECK(p.tcp_flags == EW_TCP_SYN && p.src4 == 0x0a000001u && p.ttl == 64, "tcp4 fields");
    /* Ethernet padding after the IP packet is ignored. */
    memset(f + n, 0xee, 20);
    CHECK(ew_parse(f, n + 20, &p) == EW_DROP_NONE && p.ip_len == 40, "padding ignored");
}

/* ---- malformed frames ---- */

struct bad {
    const char *name;
    maker make;
    void (*mutate)(uint8_t *f, uint32_t *n);
    enum ew_drop_reason want;
};

static void m_truncate_eth(uint8_t *f, uint32_t *n) {
    (void)f;
    *n = 13;
}
static void m_vlan(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 12, 0x8100);
}
static void m_qinq(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 12, 0x88a8);
}
static void m_arp_short(uint8_t *f, uint32_t *n) {
    (void)f;
    *n = 40;
}
static void m_arp_htype(uint8_t *f, uint32_t *n) {
    (void)n;
    f[15] = 6;
}
static void m_arp_plen(uint8_t *f, uint32_t *n) {
    (void)n;
    f[19] = 16;
}
static void m_arp_op(uint8_t *f, uint32_t *n) {
    (void)n;
    f[21] = 3;
}
static void m_ip4_version(uint8_t *f, uint32_t *n) {
    (void)n;
    f[14] = 0x55;
    fix_ip4_csum(f);
}
static void m_ip4_ihl(uint8_t *f, uint32_t *n) {
    (void)n;
    f[14] = 0x44;
}
static void m_ip4_ihl_long(uint8_t *f, uint32_t *n) {
    (void)n;
    f[14] = 0x4f;
}
static void m_ip4_totlen_long(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 16, 1000);
    fix_ip4_csum(f);
}
static void m_ip4_totlen_short(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 16, 12);
    fix_ip4_csum(f);
}
static void m_ip4_csum(uint8_t *f, uint32_t *n) {
    (void)n;
    f[24] ^= 0xff;
}
static void m_ip4_short(uint8_t *f, uint32_t *n) {
    (void)f;
    *n = 14 + 19;
}
static void m_ip4_pod(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 20, 0x1fff);
    fix_ip4_csum(f);
}
static void m_ip6_version(uint8_t *f, uint32_t *n) {
    (void)n;
    f[14] = 0x40;
}
static void m_ip6_plen(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 18, 500);
}
static void m_ip6_jumbo(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 18, 0);
}
static void m_ip6_short(uint8_t *f, uint32_t *n) {
    (void)f;
    *n = 14 + 39;
}
static void m_ext_hbh_late(uint8_t *f, uint32_t *n) {
    (void)n;
    f[54] = 0;
} /* dest opts -> hop-by-hop */
static void m_ext_len(uint8_t *f, uint32_t *n) {
    (void)n;
    f[55] = 200;
}
static void m_ext_loop(uint8_t *f, uint32_t *n) {
    /* Ten destination-options headers in a row: longer than the bounded walk. */
    uint8_t l4[10 * 8 + 20] = {0};
    for (int i = 0; i < 10; i++)
        l4[i * 8] = 60;
    *n = fr_ip6(f, fr_macs(ma, mb), "fd00::1", "fd00::2", 60, 64, l4, sizeof l4);
}
static void m_frag6_short(uint8_t *f, uint32_t *n) {
    (void)f;
    ew_put16(f + 18, 4);
    *n = 14 + 44;
}
static void m_tcp_doff_small(uint8_t *f, uint32_t *n) {
    (void)n;
    f[14 + 20 + 12] = 4 << 4;
}
static void m_tcp_doff_big(uint8_t *f, uint32_t *n) {
    (void)n;
    f[14 + 20 + 12] = 15 << 4;
}
static void m_tcp_short(uint8_t *f, uint32_t *n) {
    ew_put16(f + 16, 30);
    fix_ip4_csum(f);
    *n = 14 + 30;
}
static void m_udp_len_small(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 14 + 40 + 4, 7);
}
static void m_udp_len_big(uint8_t *f, uint32_t *n) {
    (void)n;
    ew_put16(f + 14 + 40 + 4, 300);
}
static void m_icmp_short(uint8_t *f, uint32_t *n) {
    ew_put16(f + 16, 20 + 6);
    fix_ip4_csum(f);
    *n = 14 + 26;
}
static void m_icmp_err_inner(uint8_t *f, uint32_t *n) {
    (void)n;
    f[14 + 20 + 8] = 0x65;
} /* inner version 6 */
static void m_icmp_err_cut(uint8_t *f, uint32_t *n) {
    ew_put16(f + 16, 20 + 8 + 24); /* inner header + 4 bytes only */
    fix_ip4_csum(f);
    *n = 14 + 52;
}

static const struct bad bads[] = {
    {"truncated ethernet", tcp4, m_truncate_eth, EW_DROP_TRUNCATED_ETH},
    {"vlan tag", tcp4, m_vlan, EW_DROP_UNSUPPORTED_ETHERTYPE},
    {"q-in-q tag", tcp4, m_qinq, EW_DROP_UNSUPPORTED_ETHERTYPE},
    {"arp truncated", arp, m_arp_short, EW_DROP_MALFORMED_ARP},
    {"arp hardware type", arp, m_arp_htype, EW_DROP_MALFORMED_ARP},
    {"arp protocol length", arp, m_arp_plen, EW_DROP_MALFORMED_ARP},
    {"arp opcode", arp, m_arp_op, EW_DROP_MALFORMED_ARP},
    {"ipv4 version", tcp4, m_ip4_version, EW_DROP_MALFORMED_IPV4},
    {"ipv4 ihl < 5", tcp4, m_ip4_ihl, EW_DROP_MALFORMED_IPV4},
    {"ipv4 ihl past the packet", tcp4, m_ip4_ihl_long, EW_DROP_MALFORMED_IPV4},
    {"ipv4 total length too long", tcp4, m_ip4_totlen_long, EW_DROP_MALFORMED_IPV4},
    {"ipv4 total length < ihl", tcp4, m_ip4_totlen_short, EW_DROP_MALFORMED_IPV4},
    {"ipv4 header checksum", tcp4, m_ip4_csum, EW_DROP_MALFORMED_IPV4},
    {"ipv4 truncated header", tcp4, m_ip4_short, EW_DROP_MALFORMED_IPV4},
    {"ipv4 fragment past 64 KiB", frag4_later, m_ip4_pod, EW_DROP_MALFORMED_IPV4},
    {"ipv6 version", udp6, m_ip6_version, EW_DROP_MALFORMED_IPV6},
    {"ipv6 payload length", udp6, m_ip6_plen, EW_DROP_MALFORMED_IPV6},
    {"ipv6 jumbogram", udp6, m_ip6_jumbo, EW_DROP_MALFORMED_IPV6},
    {"ipv6 truncated header", udp6, m_ip6_short, EW_DROP_MALFORMED_IPV6},
    {"hop-by-hop not first", ext6, m_ext_hbh_late, EW_DROP_MALFORMED_IPV6},
    {"extension header length", ext6, m_ext_len, EW_DROP_MALFORMED_IPV6},
    {"extension header chain too long", ext6, m_ext_loop, EW_DROP_MALFORMED_IPV6},
    {"fragment header truncated", frag6_first, m_frag6_short, EW_DROP_MALFORMED_IPV6},
    {"tcp data offset < 5", tcp4, m_tcp_doff_small, EW_DROP_MALFORMED_L4},
    {"tcp data offset past the packet", tcp4, m_tcp_doff_big, EW_DROP_MALFORMED_L4},
    {"tcp truncated", tcp4, m_tcp_short, EW_DROP_MALFORMED_L4},
    {"udp length < 8", udp6, m_udp_len_small, EW_DROP_MALFORMED_L4},
    {"udp length past the packet", udp6, m_udp_len_big, EW_DROP_MALFORMED_L4},
    {"icmp truncated", echo4, m_icmp_short, EW_DROP_MALFORMED_L4},
    {"icmp error with a bad inner header", icmp_err4, m_icmp_err_inner, EW_DROP_MALFORMED_L4},
    {"icmp error quoting too little", icmp_err4, m_icmp_err_cut, EW_DROP_MALFORMED_L4},
};

static void test_bad(void) {
    uint8_t f[2048];
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const struct bad *b = &bads[i];
        uint32_t n = b->make(f);
        b->mutate(f, &n);
        struct ew_pkt p;
        enum ew_drop_reason r = ew_parse(f, n, &p);
        CHECK(r == b->want, "%s: reason %d, want %d", b->name, r, b->want);
    }
}

/* ---- fuzz: truncations and byte mutations, each in an exact-size heap copy ---- */

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_fuzz(void) {
    uint8_t f[2048];
    int parsed = 0, dropped = 0;
    for (int iter = 0; iter < 200000; iter++) {
        const struct good *g = &goods[next_rand() % (sizeof goods / sizeof goods[0])];
        uint32_t n = g->make(f);
        int mutations = (int)(next_rand() % 4);
        for (int i = 0; i < mutations; i++)
            f[next_rand() % n] = (uint8_t)next_rand();
        if (next_rand() % 2) n = (uint32_t)(next_rand() % (n + 1));
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, f, n);
        struct ew_pkt p;
        if (ew_parse(copy, n, &p) == EW_DROP_NONE) {
            parsed++;
            CHECK(p.family == 0 || (p.l4_off <= n && p.l4_off + p.l4_len <= n),
                  "l4 bounds inside the frame");
        } else {
            dropped++;
        }
        free(copy);
    }
    CHECK(parsed > 10000 && dropped > 10000, "fuzz mix: parsed %d dropped %d", parsed, dropped);
}

/* The per-packet IPv4 header check (ew_csum_ok32, 32-bit words) agrees with
 * the RFC 1071 16-bit loop on random headers, valid and one bit off. */
static void test_csum_ok32(void) {
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t h[60];
        for (size_t i = 0; i < sizeof h; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            h[i] = (uint8_t)x;
        }
        uint32_t n = 20u + 4u * (uint32_t)(x % 11u);
        if (iter % 2 == 0) { /* a valid checksum, sometimes then one bit flipped */
            h[10] = h[11] = 0;
            ew_put16(h + 10, ew_csum_finish(ew_csum_add(0, h, n)));
            if (iter % 4 == 0) h[(x >> 8) % n] ^= (uint8_t)(1u << ((x >> 16) % 8u));
        }
        bool want = ew_csum_finish(ew_csum_add(0, h, n)) == 0;
        CHECK(ew_csum_ok32(h, n) == want, "header %d (%u bytes): ok32 %d, loop %d", iter, n, !want,
              want);
    }
    uint8_t zero[20] = {0}, ones[20];
    memset(ones, 0xff, sizeof ones);
    CHECK(!ew_csum_ok32(zero, 20), "all-zero header refused (as the loop does)");
    CHECK(ew_csum_ok32(ones, 20) == (ew_csum_finish(ew_csum_add(0, ones, 20)) == 0), "all-ones");
}

int main(void) {
    test_csum_ok32();
    test_good();
    test_bad();
    test_fuzz();
    return harness_report("test_parse");
}
