/*
 * libFuzzer harness: ew_process() over multi-frame inputs, on a fresh core
 * and the realistic table of world.c, checked against the oracle.
 *
 * Input: a sequence of records, each starting with an op byte:
 *   op % 8 in 0..3  a synthesised frame: port, buffer layout, then a compact
 *                   description (family, kind, addresses from a pool, MACs,
 *                   ports, flags, TTL, fragments, IPv6 extension header, an
 *                   ICMP error's quoted flow) and up to 3 byte flips after it
 *   op % 8 in 4..5  a raw frame: port, buffer layout, 2-byte length, bytes
 *   op % 8 == 6     clock advance: 2 bytes x 10 ms (up to ~11 minutes)
 *   op % 8 == 7     conntrack sweep: 2-byte bucket budget
 * Buffer layout byte: bits 0-1 a virtio-net header in front of the frame (0,
 * 10 or 12 bytes, as the I/O layer passes buf + hdr_len), bits 2-7 the spare
 * capacity after the frame (0 = capacity exactly the frame length).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eniwall/core.h"
#include "synth.h"
#include "world.h"

static struct ew_table_view *table;
static struct ew_port_counters *counters;
static struct oracle *oracle;
static bool trace; /* FUZZ_TRACE=1: one line per frame on stderr */

struct cursor {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct cursor *c) {
    if (!c->n) return 0;
    c->n--;
    return *c->p++;
}

static uint16_t u16(struct cursor *c) {
    uint16_t hi = u8(c);
    return (uint16_t)(hi << 8 | u8(c));
}

/* Ports: mostly bound ones, then unbound and out-of-range ids. */
static const uint32_t ports[16] = {1, 2, 3, 4, 1, 2, 3, 4, 5, 1, 4, 0, 6, 4095, 4096, 0xffffffffu};

static const char *const pool4[] = {
    "10.0.1.10",       "10.0.1.11",       "10.0.1.20",       "10.0.2.30",  "10.0.2.40",
    "10.0.1.50",       "10.0.1.60",       "10.0.1.1",        "10.0.2.1",   "10.0.0.2",
    "169.254.169.254", "169.254.169.253", "169.254.169.123", "10.0.1.255", "255.255.255.255",
    "224.0.0.5",       "192.168.7.7",     "10.0.2.77",       "8.8.8.8",    "0.0.0.0",
    "10.1.0.9",        "10.0.0.0",        "10.0.255.255",    "127.0.0.1",
};
static const char *const pool6[] = {
    "fd00:10:0:1::10",   "fd00:10:0:1::20", "fd00:10:0:2::30",
    "fd00:10:0:2::40",   "fd00:10:0:1::50", "fd00:10:0:1::1",
    "fd00:10:0:2::1",    "fe80::ff:fe00:1", "fd00:ec2::254",
    "fd00:ec2::253",     "fd00:ec2::123",   "ff02::1",
    "fe80::1",           "2001:db8::1",     "::",
    "fd00:10:0:2::77",   "fd00:10::2",      "::1",
    "fe80::ff:fe00:101", "fd00:10:0:1::11",
};
#define N4 (sizeof pool4 / sizeof pool4[0])
#define N6 (sizeof pool6 / sizeof pool6[0])
static uint8_t addr4[N4][4], addr6[N6][16];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    size_t len;
    const uint8_t *buf = w_table(&len);
    char err[256];
    table = ew_table_load(buf, len, err, sizeof err);
    if (!table) {
        fprintf(stderr, "world table rejected: %s\n", err);
        abort();
    }
    counters = calloc(EW_MAX_PORTS, sizeof *counters);
    oracle = o_create();
    trace = getenv("FUZZ_TRACE") != NULL;
    for (size_t i = 0; i < N4; i++)
        if (inet_pton(AF_INET, pool4[i], addr4[i]) != 1) abort();
    for (size_t i = 0; i < N6; i++)
        if (inet_pton(AF_INET6, pool6[i], addr6[i]) != 1) abort();
    return 0;
}

/* Address selector: 0/1 the sender's own addresses, then the pool, then
 * addresses inside the two subnets. */
static void pick_addr(uint8_t sel, uint8_t family, const struct w_eni_info *me, uint8_t out[16]) {
    memset(out, 0, 16);
    if (sel < 2 && me) {
        if (family == 4 && me->n4) {
            memcpy(out, me->ip4[sel % me->n4], 4);
            return;
        }
        if (family == 6 && me->n6) {
            memcpy(out, me->ip6[sel % me->n6], 16);
            return;
        }
    }
    uint32_t i = sel >= 2 ? sel - 2u : sel;
    if (family == 4) {
        if (i < N4) {
            memcpy(out, addr4[i], 4);
        } else {
            out[0] = 10;
            out[2] = (uint8_t)(1 + (sel & 1));
            out[3] = sel;
        }
    } else if (i < N6) {
        memcpy(out, addr6[i], 16);
    } else {
        memcpy(out, addr6[sel & 1 ? 2 : 0], 16);
        out[15] = sel;
    }
}

static const struct w_eni_info *eni_of_port(uint32_t port) {
    uint32_t e = w_port_eni(port);
    return e == W_NO_ENI ? NULL : w_eni(e);
}

static uint32_t synth(struct cursor *c, uint32_t port, uint8_t *f) {
    const struct w_eni_info *me = eni_of_port(port);
    struct sy_desc d;
    memset(&d, 0, sizeof d);
    uint8_t b0 = u8(c);
    d.family = b0 & 1 ? 6 : 4;
    d.kind = (uint8_t)((b0 >> 1) & 7);
    if (d.kind == SY_ARP && d.family == 6) d.kind = SY_ICMP_OTHER;
    d.frag = (uint8_t)((b0 >> 4) & 3) == 3 ? SY_FRAG_NONE : (uint8_t)((b0 >> 4) & 3);
    d.ext6 = (uint8_t)(b0 >> 6);
    pick_addr(u8(c), d.family, me, d.src);
    pick_addr((uint8_t)(u8(c) + 2u), d.family, me, d.dst);
    uint8_t macs = u8(c);
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (me) memcpy(d.src_mac, me->mac, 6);
    if ((macs & 15) == 1) memcpy(d.src_mac, w_eni(W_ENI_WEB)->mac, 6);
    if ((macs & 15) == 2) d.src_mac[5] ^= 0x5a;
    /* Destination MAC: by default what a correct stack would use. */
    uint32_t dst_eni = me ? o_owner(me->vpc, d.family, d.dst) : W_NO_ENI;
    bool same_subnet = me && dst_eni != W_NO_ENI && w_eni(dst_eni)->subnet == me->subnet;
    switch (macs >> 4) {
    case 1:
        w_router_mac(me ? me->subnet : 0, d.dst_mac);
        break;
    case 2:
        memcpy(d.dst_mac, bcast, 6);
        break;
    case 3:
        if (dst_eni != W_NO_ENI) memcpy(d.dst_mac, w_eni(dst_eni)->mac, 6);
        break;
    case 4:
        w_router_mac(me && me->subnet == W_SUB_A ? W_SUB_B : W_SUB_A, d.dst_mac);
        break;
    default:
        if (same_subnet)
            memcpy(d.dst_mac, w_eni(dst_eni)->mac, 6);
        else
            w_router_mac(me ? me->subnet : 0, d.dst_mac);
        break;
    }
    d.sport = u16(c);
    d.dport = u16(c);
    uint8_t flags = u8(c);
    d.tcp_flags = flags;
    d.arp_op = flags & 1 ? 2 : 1;
    uint8_t ttl = u8(c);
    d.ttl = ttl ? ttl : 64;
    d.payload = u8(c);
    d.frag_id = u8(c);
    d.proto = (uint8_t)d.dport;
    if (d.proto == 0 || d.proto == 6 || d.proto == 17) d.proto = 47;
    d.icmp_type = (uint8_t)(d.sport >> 8);
    d.icmp_code = (uint8_t)d.sport;
    if (d.kind == SY_ICMP_ERROR) {
        static const uint8_t t4[5] = {3, 11, 12, 4, 5}, t6[4] = {1, 2, 3, 4};
        d.icmp_type = d.family == 4 ? t4[flags % 5] : t6[flags % 4];
        d.icmp_code = (uint8_t)(flags >> 5);
        uint8_t ik = u8(c);
        d.inner_kind = (uint8_t)(ik & 3);
        if (ik & 4) { /* quotes the flow it answers: the reverse of this packet */
            memcpy(d.inner_src, d.dst, 16);
            memcpy(d.inner_dst, d.src, 16);
            d.inner_sport = d.dport;
            d.inner_dport = d.sport;
        } else {
            pick_addr(u8(c), d.family, me, d.inner_src);
            pick_addr(u8(c), d.family, me, d.inner_dst);
            d.inner_sport = d.sport;
            d.inner_dport = d.dport;
        }
    }
    uint32_t len = sy_build(f, &d);
    uint8_t flips = u8(c);
    for (uint8_t i = 0; i < (flips & 3); i++) {
        uint16_t off = u16(c);
        uint8_t x = u8(c);
        if (len) f[off % len] ^= x;
    }
    if (flips & 4) sy_fix_ipv4_csum(f, len);
    return len;
}

static uint32_t raw(struct cursor *c, uint8_t *f) {
    uint32_t len = u16(c) % 2049u;
    if (len > c->n) len = (uint32_t)c->n;
    memcpy(f, c->p, len);
    c->p += len;
    c->n -= len;
    return len;
}

#define GUARD 0xa5u

static void one_frame(struct ew_worker_ctx *w, uint32_t port, uint8_t layout, const uint8_t *frame,
                      uint32_t len) {
    static const uint32_t hdrs[4] = {0, 10, 12, 0};
    uint32_t hdr = hdrs[layout & 3];
    uint32_t spare = layout >> 2;
    uint32_t cap = len + (spare == 63 ? 2048u : spare * 4u);
    /* Exactly hdr + cap bytes, so that ASan sees any write past the capacity. */
    uint8_t *buf = malloc(hdr + cap + 1);
    if (!buf) abort();
    memset(buf, GUARD, hdr);
    memcpy(buf + hdr, frame, len);
    uint32_t flen = len;
    bool bound = port < EW_MAX_PORTS && w_port_eni(port) != W_NO_ENI;
    struct ew_verdict v;
    ew_process(w, table, port, buf + hdr, &flen, cap, &v);
    bool out_bound = v.out_port < EW_MAX_PORTS && w_port_eni(v.out_port) != W_NO_ENI;
    const char *bad = w_check_verdict(&v, port, flen, cap, bound, out_bound);
    for (uint32_t i = 0; !bad && i < hdr; i++)
        if (buf[i] != GUARD)
            bad = "the core wrote into the virtio-net header in front of the frame";
    if (!bad && v.action == EW_ACT_FORWARD) {
        if (flen != len) bad = "a forwarded frame changed length";
        if (!bad) bad = o_check_forward(oracle, port, v.out_port, frame, len);
    }
    if (bad) {
        fprintf(stderr, "in_port %u, layout hdr %u cap %u, action %d out %u reason %u\n", port, hdr,
                cap, v.action, v.out_port, v.reason);
        w_fail(bad, frame, len);
    }
    if (trace)
        fprintf(stderr, "port %u len %u cap %u hdr %u -> action %d out %u reason %u\n", port, len,
                cap, hdr, v.action, v.out_port, v.reason);
    /* After the check: a frame's own flow must not excuse itself (hairpin). */
    o_observe(oracle, port, frame, len);
    free(buf);
}

/* The core is created once (creating one costs about 1 ms under ASan, which
 * would dominate) and made fresh before every input: the clock jumps past
 * every timeout (conntrack and fragment cache) and a sweep of every bucket,
 * ending where a new core's sweep cursor starts, frees every entry. */
static struct ew_core *core;
static uint64_t now_ms = 1000, swept; /* swept: the core's sweep cursor */

static void sweep(uint64_t at, uint32_t budget) {
    ew_core_sweep(core, at, budget);
    swept += budget;
}

static void fresh_core(void) {
    if (!core) {
        struct ew_core_config cfg = {.conntrack_max = W_CONNTRACK_MAX,
                                     .allowance_per_eni = W_ALLOWANCE,
                                     .hash_salt = 0x9e3779b97f4a7c15ull};
        char err[128];
        core = ew_core_create(&cfg, err, sizeof err);
        if (!core) abort();
        return;
    }
    now_ms += 10000000u; /* 10,000 s: longer than any timeout of this world */
    sweep(now_ms, (uint32_t)(2u * W_CT_BUCKETS - swept % W_CT_BUCKETS));
    for (uint32_t p = 0; p <= 8; p++)
        if (ew_core_ct_count(core, p) != 0)
            w_fail("the core is not fresh after a full sweep", NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fresh_core();
    struct ew_worker_ctx w = {.core = core, .counters = counters, .now_ms = now_ms};
    o_reset(oracle);
    struct cursor c = {data, size};
    static uint8_t frame[2048 + 64];
    for (int ops = 0; c.n && ops < 512; ops++) {
        uint8_t op = u8(&c);
        switch (op % 8) {
        case 6:
            w.now_ms += (uint64_t)u16(&c) * 10u;
            break;
        case 7:
            sweep(w.now_ms, u16(&c));
            break;
        default: {
            uint32_t port = ports[u8(&c) % 16];
            uint8_t layout = u8(&c);
            uint32_t len = op % 8 < 4 ? synth(&c, port, frame) : raw(&c, frame);
            one_frame(&w, port, layout, frame, len);
            break;
        }
        }
    }
    now_ms = w.now_ms;
    return 0;
}
