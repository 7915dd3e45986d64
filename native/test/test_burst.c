/* ew_process_burst() against ew_process(): the same pseudo-random stream of
 * frames (TCP with any flags, UDP, ICMP echo both ways, ICMP errors, ARP,
 * routed and switched, wrong MACs, spoofed sources, truncated frames) goes
 * through two cores, one frame by frame and one in bursts of 1..40 frames
 * (of one port, and of mixed ports as an io_uring batch holds). Every verdict, every rewritten
 * frame and, at the end, every counter and conntrack count must be identical: the burst path only
 * reorders work (parse all, prefetch all, decide each) and must never change a decision. */
#include <stdlib.h>
#include <string.h>

#include "eniwall/core.h"
#include "frames.h"
#include "harness.h"
#include "tbuild.h"

enum { SUB_A = 0, SUB_B = 1 };
enum { E_WEB = 0, E_DB = 1, E_OPEN = 2, E_NOCHECK = 3 };
enum { P_WEB = 1, P_DB = 2, P_OPEN = 3, P_NOCHECK = 4 };

#define FRAMES    30000u
#define MAX_BURST 40u
#define CAP       2048u

static const uint32_t ports[4] = {P_WEB, P_DB, P_OPEN, P_NOCHECK};
static const uint32_t subnet_of[4] = {SUB_A, SUB_A, SUB_B, SUB_A};
static const char *ip4s[4] = {"10.0.1.10", "10.0.1.20", "10.0.2.30", "10.0.1.60"};
static const char *ip6s[4] = {"fd00::10", "fd00::20", "fd00:0:0:1::30", "fd00::60"};

static struct ew_table_view *build(void) {
    static struct tb b;
    tb_init(&b);
    b.generation = 1;
    uint32_t v1 = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    tb_subnet(&b, v1, "10.0.1.0", 24, "fd00::", 64);
    tb_subnet(&b, v1, "10.0.2.0", 24, "fd00:0:0:1::", 64);
    uint32_t web = tb_ruleset(&b), db = tb_ruleset(&b), open = tb_ruleset(&b);
    tb_rule(&b, web, EW_DIR_INGRESS, 6, 80, 80, "0.0.0.0/0");
    tb_rule(&b, web, EW_DIR_INGRESS, 17, 53, 60, "10.0.0.0/16");
    tb_rule(&b, web, EW_DIR_INGRESS, 1, 0, 0xffff, "0.0.0.0/0");
    tb_rule(&b, web, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, web, EW_DIR_EGRESS, TB_ANY, 0, 0, "::/0");
    tb_rule(&b, db, EW_DIR_INGRESS, 6, 5432, 5432, "10.0.1.0/24");
    tb_rule(&b, db, EW_DIR_EGRESS, 6, 443, 443, "10.0.0.0/16");
    tb_rule(&b, db, EW_DIR_EGRESS, 17, 0, 0xffff, "10.0.0.0/16");
    tb_rule(&b, open, EW_DIR_INGRESS, TB_ANY, 0, 0, "10.0.0.0/16");
    tb_rule(&b, open, EW_DIR_INGRESS, TB_ANY, 0, 0, "fd00::/56");
    tb_rule(&b, open, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, open, EW_DIR_EGRESS, TB_ANY, 0, 0, "::/0");
    const uint8_t chk = EW_ENI_SRC_DST_CHECK;
    tb_eni(&b, SUB_A, web, P_WEB, ip4s[0], ip6s[0], chk);
    tb_eni(&b, SUB_A, db, P_DB, ip4s[1], ip6s[1], chk);
    tb_eni(&b, SUB_B, open, P_OPEN, ip4s[2], ip6s[2], chk);
    tb_eni(&b, SUB_A, open, P_NOCHECK, ip4s[3], ip6s[3], 0);
    return tb_load(&b);
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(uint32_t n) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng >> 33) % n);
}

struct frame {
    uint32_t port, len;
    uint8_t data[CAP];
};

/* One frame from ENI s to a random ENI d (or elsewhere), of a random kind. */
static void make(struct frame *fr, uint32_t s) {
    uint32_t d = rnd(4);
    fr->port = ports[s];
    uint8_t *f = fr->data;
    bool six = rnd(4) == 0;
    uint32_t m = rnd(10);
    const uint8_t *dmac = m < 5 ? (subnet_of[s] == subnet_of[d] ? fr_mac(d) : fr_rmac(subnet_of[s]))
                          : m < 8 ? fr_rmac(subnet_of[s])
                          : m < 9 ? fr_mac(d)
                                  : fr_mac(E_OPEN);
    struct fr_l2 l2 = fr_macs(fr_mac(s), dmac);
    if (rnd(40) == 0) l2 = fr_macs(fr_mac((s + 1) % 4), dmac); /* spoofed MAC */
    const char *src = six ? ip6s[s] : ip4s[s];
    if (rnd(40) == 0) src = six ? "fd00::99" : "10.0.1.99"; /* spoofed address */
    const char *dst = six ? ip6s[d] : ip4s[d];
    if (rnd(30) == 0) dst = six ? "2001:db8::1" : "8.8.8.8";
    static const uint16_t sports[] = {1000, 1001, 40000, 53, 80};
    static const uint16_t dports[] = {80, 53, 5432, 443, 22, 1000};
    uint16_t sp = sports[rnd(5)], dp = dports[rnd(6)];
    switch (rnd(7)) {
    case 0:
    case 1: {
        static const uint8_t flags[] = {0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x03, 0x00};
        uint8_t fl = flags[rnd(8)];
        fr->len = six ? fr_tcp6(f, l2, src, dst, sp, dp, fl) : fr_tcp4(f, l2, src, dst, sp, dp, fl);
        break;
    }
    case 2:
    case 3:
        fr->len = six ? fr_udp6(f, l2, src, dst, sp, dp, rnd(64))
                      : fr_udp4(f, l2, src, dst, sp, dp, rnd(64));
        break;
    case 4: {
        uint8_t type = six ? (rnd(2) ? 128 : 129) : (rnd(2) ? 8 : 0);
        fr->len = six ? fr_icmp6(f, l2, src, dst, type, 0, sp, 8)
                      : fr_icmp4(f, l2, src, dst, type, 0, sp, 8);
        break;
    }
    case 5: {
        uint8_t inner[CAP];
        uint32_t ilen = fr_udp4(inner, fr_macs(fr_mac(d), fr_mac(s)), ip4s[d], ip4s[s], dp, sp, 4);
        fr->len = fr_icmp4_error(f, l2, ip4s[s], ip4s[d], 3, 3, inner, ilen);
        break;
    }
    default:
        fr->len = fr_arp(f, fr_mac(s), 1, ip4s[s], ip4s[d]);
        break;
    }
    if (rnd(50) == 0) fr->len = rnd(fr->len + 1); /* truncated */
}

static struct ew_core *new_core(void) {
    struct ew_core_config cfg = {
        .conntrack_max = 4096, .allowance_per_eni = 1024, .hash_salt = 0x9e3779b97f4a7c15ull};
    char err[128];
    struct ew_core *c = ew_core_create(&cfg, err, sizeof err);
    CHECK(c != NULL, "core: %s", err);
    return c;
}

int main(void) {
    struct ew_table_view *t = build();
    CHECK(t != NULL, "table");
    struct frame *in = calloc(FRAMES, sizeof *in);
    struct frame *one = calloc(FRAMES, sizeof *one), *many = calloc(FRAMES, sizeof *many);
    struct ew_verdict *v1 = calloc(FRAMES, sizeof *v1), *v2 = calloc(FRAMES, sizeof *v2);
    struct ew_port_counters *c1 = calloc(EW_MAX_PORTS, sizeof *c1);
    struct ew_port_counters *c2 = calloc(EW_MAX_PORTS, sizeof *c2);
    if (!t || !in || !one || !many || !v1 || !v2 || !c1 || !c2) return 1;
    /* Frames come in runs from one sender, as a worker reads them from a port. */
    for (uint32_t i = 0; i < FRAMES;) {
        uint32_t s = rnd(4), run = 1 + rnd(60);
        for (uint32_t k = 0; k < run && i < FRAMES; k++)
            make(&in[i++], s);
    }
    memcpy(one, in, FRAMES * sizeof *in);
    memcpy(many, in, FRAMES * sizeof *in);
    uint32_t *ports_of = calloc(FRAMES, sizeof *ports_of);
    if (!ports_of) return 1;
    for (uint32_t i = 0; i < FRAMES; i++)
        ports_of[i] = in[i].port;

    struct ew_worker_ctx w1 = {.core = new_core(), .counters = c1, .now_ms = 1000};
    /* The burst side runs with a worker entry cache (as engine workers do), the
     * frame side without: the cache must not change a verdict either. */
    struct ew_core *core2 = new_core();
    struct ew_worker_ctx w2 = {
        .core = core2, .counters = c2, .now_ms = 1000, .ct_cache = ew_core_cache_create(core2)};
    CHECK(w2.ct_cache != NULL, "worker entry cache");
    for (uint32_t i = 0; i < FRAMES; i++)
        ew_process(&w1, t, one[i].port, one[i].data, &one[i].len, CAP, &v1[i]);

    /* Bursts: runs of frames of one port (a worker reads a burst per port), 1..40 long. */
    uint8_t *frames[MAX_BURST];
    uint32_t lens[MAX_BURST];
    uint32_t bursts = 0;
    for (uint32_t i = 0; i < FRAMES;) {
        uint32_t want = 1 + rnd(MAX_BURST), n = 0;
        bool mixed = bursts % 2 == 1; /* an io_uring batch mixes ports */
        while (n < want && i + n < FRAMES && (mixed || many[i + n].port == many[i].port)) {
            frames[n] = many[i + n].data;
            lens[n] = many[i + n].len;
            n++;
        }
        ew_process_burst(&w2, t, &ports_of[i], frames, lens, CAP, n, &v2[i]);
        for (uint32_t k = 0; k < n; k++)
            many[i + k].len = lens[k];
        i += n;
        bursts++;
    }

    uint32_t differ = 0, forwarded = 0, hits = 0;
    for (uint32_t i = 0; i < FRAMES; i++) {
        bool same = v1[i].action == v2[i].action && v1[i].out_port == v2[i].out_port &&
                    v1[i].reason == v2[i].reason && v1[i].nacl == v2[i].nacl &&
                    v1[i].nacl_rule == v2[i].nacl_rule && v1[i].dst_port == v2[i].dst_port &&
                    one[i].len == many[i].len && memcmp(one[i].data, many[i].data, one[i].len) == 0;
        if (!same && differ++ < 5)
            fprintf(stderr, "frame %u: action %d/%d reason %u/%u len %u/%u\n", i, v1[i].action,
                    v2[i].action, v1[i].reason, v2[i].reason, one[i].len, many[i].len);
        if (v1[i].action == EW_ACT_FORWARD) forwarded++;
    }
    CHECK_EQ(differ, 0, "frames whose verdict or bytes differ between ew_process and the burst");
    CHECK_MEM(c1, c2, EW_MAX_PORTS * sizeof *c1, "counters of every port");
    for (uint32_t p = 0; p < 8; p++) {
        CHECK_EQ(ew_core_ct_count(w1.core, p), ew_core_ct_count(w2.core, p), "conntrack entries");
        hits += (uint32_t)c1[p].cnt[EW_CNT_CT_HITS];
    }
    /* The stream must exercise the interesting paths, or the comparison proves little. */
    CHECK(forwarded > FRAMES / 20, "forwarded %u of %u", forwarded, FRAMES);
    CHECK(forwarded < FRAMES - FRAMES / 20, "dropped %u of %u", FRAMES - forwarded, FRAMES);
    CHECK(hits > 500, "conntrack hits %u", hits);
    CHECK(bursts < FRAMES / 2, "bursts %u: runs of one port should batch", bursts);
    ew_core_destroy(w1.core);
    ew_core_cache_destroy(w2.core, w2.ct_cache);
    ew_core_destroy(w2.core);
    ew_table_free(t);
    free(in);
    free(one);
    free(many);
    free(v1);
    free(v2);
    free(c1);
    free(c2);
    free(ports_of);
    return harness_report("test_burst");
}
