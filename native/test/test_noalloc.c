/* The per-packet path never allocates: malloc/calloc/realloc/free are wrapped
 * (-Wl,--wrap) and counted across 100,000 ew_process() calls after warm-up,
 * with new flows, conntrack hits, expiry and sweeps, answers and drops, flow
 * samples (both ENIs have a flow log) and their drains; each frame also goes
 * through a capture ring (copy, verdict, commit or a counted loss when full)
 * and the ring is drained now and then. */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "core_internal.h"
#include "eniwall/core.h"
#include "eniwall/hits.h"
#include "flowlog.h"
#include "frames.h"
#include "harness.h"
#include "tbuild.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static int counting;
static long allocs;

void *__wrap_malloc(size_t n) {
    allocs += counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
    allocs += counting;
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
    allocs += counting;
    return __real_realloc(p, n);
}
void __wrap_free(void *p) {
    allocs += counting;
    __real_free(p);
}

#define NFRAMES 96

struct frame {
    uint32_t port, len;
    uint8_t buf[256];
};

static struct frame frames[NFRAMES];

static void add(uint32_t i, uint32_t port, uint32_t len) {
    frames[i].port = port;
    frames[i].len = len;
}

int main(void) {
    static struct tb b;
    tb_init(&b);
    uint32_t vpc = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    uint32_t sa = tb_subnet(&b, vpc, "10.0.1.0", 24, "fd00::", 64);
    uint32_t sb = tb_subnet(&b, vpc, "10.0.2.0", 24, NULL, 0);
    uint32_t rs = tb_ruleset(&b);
    tb_rule(&b, rs, EW_DIR_INGRESS, 17, 53, 53, "10.0.0.0/16");
    tb_rule(&b, rs, EW_DIR_INGRESS, 1, 0x0800, 0x08ff, "10.0.0.0/16");
    tb_rule(&b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_eni(&b, sa, rs, 1, "10.0.1.10", "fd00::10", EW_ENI_SRC_DST_CHECK | EW_ENI_FLOW_LOG);
    tb_eni(&b, sb, rs, 2, "10.0.2.20", NULL, EW_ENI_SRC_DST_CHECK | EW_ENI_FLOW_LOG);
    /* Network ACLs on both subnets, so the loop runs their lookups too (the tcp
     * frame to port 22 is refused by sa's rule 50). */
    uint32_t na = tb_nacl(&b), nb = tb_nacl(&b);
    tb_nacl_entry(&b, na, EW_DIR_INGRESS, 50, 6, 22, 22, "0.0.0.0/0", EW_NACL_DENY);
    tb_nacl_entry(&b, na, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, na, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "10.0.0.0/16", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_EGRESS, 100, 17, 0, 65535, "10.0.0.0/16", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_EGRESS, 110, 6, 0, 65535, "10.0.0.0/16", EW_NACL_ALLOW);
    tb_subnet_nacl(&b, sa, na);
    tb_subnet_nacl(&b, sb, nb);
    size_t n;
    uint8_t *buf = tb_build(&b, &n);
    struct ew_table_view *t = ew_table_load(buf, n, NULL, 0);
    struct ew_core_config cfg = {.conntrack_max = 4096, .allowance_per_eni = 1024, .hash_salt = 11};
    struct ew_core *core = ew_core_create(&cfg, NULL, 0);
    struct ew_port_counters *pcs = calloc(EW_MAX_PORTS, sizeof *pcs);
    struct ew_fl_table *fl = ew_fl_create(256);
    static struct ew_flow_sample samples[1024];
    static uint64_t lost[EW_MAX_PORTS];
    uint64_t sampled = 0;
    CHECK(t && core && pcs && fl, "setup");
    if (!t || !core || !pcs || !fl) return harness_report("test_noalloc");

    uint8_t m1[6], m2[6], r1[6], r2[6];
    fr_eni_mac(0, m1);
    fr_eni_mac(1, m2);
    fr_router_mac(sa, r1);
    fr_router_mac(sb, r2);
    uint32_t i = 0;
    for (uint16_t k = 0; k < 64; k++, i++) /* new flows, then hits */
        add(i, 1,
            fr_udp4(frames[i].buf, fr_macs(m1, r1), "10.0.1.10", "10.0.2.20", (uint16_t)(10000 + k),
                    53, 20));
    for (uint16_t k = 0; k < 8; k++, i++) /* replies */
        add(i, 2,
            fr_udp4(frames[i].buf, fr_macs(m2, r2), "10.0.2.20", "10.0.1.10", 53,
                    (uint16_t)(10000 + k), 20));
    add(i, 1, fr_arp(frames[i].buf, m1, 1, "10.0.1.10", "10.0.1.1")), i++;
    add(i, 1, fr_icmp4(frames[i].buf, fr_macs(m1, r1), "10.0.1.10", "10.0.1.1", 8, 0, 1, 32)), i++;
    add(i, 1, fr_icmp4(frames[i].buf, fr_macs(m1, r1), "10.0.1.10", "10.0.2.20", 8, 0, 2, 32)), i++;
    add(i, 1, fr_ns(frames[i].buf, m1, "fe80::10", "fd00::1", 255)), i++;
    add(i, 2, fr_tcp4(frames[i].buf, fr_macs(m2, r2), "10.0.2.20", "10.0.1.10", 1, 22, 2)), i++;
    add(i, 1, fr_udp4(frames[i].buf, fr_macs(m2, r1), "10.0.1.10", "10.0.2.20", 1, 53, 4)), i++;
    add(i, 1, fr_udp4(frames[i].buf, fr_macs(m1, r1), "10.0.1.10", "10.0.2.20", 7, 53, 100)), i++;
    fr_ip4_frag(frames[i - 1].buf, 77, 0, true);
    add(i, 1, fr_udp4(frames[i].buf, fr_macs(m1, r1), "10.0.1.10", "10.0.2.20", 7, 53, 100)), i++;
    fr_ip4_frag(frames[i - 1].buf, 77, 64, false);
    while (i < NFRAMES)
        add(i, 3, 60), i++; /* unbound port */

    /* With a worker entry cache, as the engine runs: refills and returns allocate nothing. */
    /* And a small rule hit ring: it fills, then counts records lost, allocating nothing. */
    struct ew_worker_ctx w = {
        core, pcs, 1000, fl, ew_core_cache_create(core), ew_hit_ring_create(64)};
    CHECK(w.ct_cache != NULL && w.hits != NULL, "worker entry cache and hit ring created");
    uint8_t work[2048];
    struct ew_verdict v;
    long forwarded = 0, replied = 0, dropped = 0;
    struct ew_capture *cap = ew_capture_create(1, EW_CAP_OUT | EW_CAP_IN, 1, 16);
    CHECK(cap != NULL, "capture rings created");
    static uint8_t drained[600]; /* two of the largest frames here: fewer than arrive */
    uint64_t captured = 0;
    for (int pass = 0; pass < 2; pass++) {
        counting = pass == 1;
        int calls = pass == 0 ? 1000 : 100000;
        for (int c = 0; c < calls; c++) {
            const struct frame *fr = &frames[c % NFRAMES];
            uint32_t len = fr->len;
            memcpy(work, fr->buf, sizeof fr->buf);
            struct ew_cap_slot *slot = ew_capture_slot(cap, 0);
            if (slot) ew_capture_fill(slot, EW_CAP_OUT, work, len);
            ew_process(&w, t, fr->port, work, &len, sizeof work, &v);
            if (slot) {
                ew_capture_verdict(slot, t, fr->port, &v);
                ew_capture_commit(cap, 0);
            } else {
                ew_capture_lose(cap, 0);
            }
            if (c % 7 == 6) { /* a small buffer: the ring fills, loses, drains, wraps */
                size_t used;
                captured += ew_capture_drain(cap, drained, sizeof drained, &used);
            }
            if (pass == 1) {
                forwarded += v.action == EW_ACT_FORWARD;
                replied += v.action == EW_ACT_REPLY;
                dropped += v.action == EW_ACT_DROP;
            }
            if (c % 1000 == 999) { /* the drain allocates nothing either */
                sampled += ew_fl_collect(fl, samples, 1024, 0, lost);
                sampled += ew_ct_flow_drain(core->ct, samples, 1024, 0, lost);
            }
            if (c % 5000 == 4999) { /* idle flows expire: inserts reuse freed entries */
                w.now_ms += 31000;
                ew_core_sweep(core, w.now_ms, 1024);
            }
        }
    }
    counting = 1;
    long during = allocs;
    /* Proves the wrapper counts (called through volatile pointers so the
     * compiler cannot elide the pair). */
    void *(*volatile do_malloc)(size_t) = malloc;
    void (*volatile do_free)(void *) = free;
    do_free(do_malloc(16));
    counting = 0;
    CHECK_EQ(during, 0, "allocations across 100,000 ew_process() calls");
    CHECK_EQ(allocs - during, 2, "wrapper sees malloc and free");
    CHECK(forwarded > 50000 && replied > 2000 && dropped > 10000,
          "the loop exercised every outcome (%ld fwd, %ld reply, %ld drop)", forwarded, replied,
          dropped);
    CHECK(pcs[1].cnt[EW_CNT_CT_NEW] > 1000, "new connections were opened during the loop");
    CHECK(captured > 20000 && ew_capture_lost(cap) > 0,
          "the capture ring recorded, filled and lost (%llu kept, %llu lost)",
          (unsigned long long)captured, (unsigned long long)ew_capture_lost(cap));
    ew_capture_destroy(cap);
    CHECK(pcs[1].drop[EW_DROP_NACL_INGRESS] > 0, "a NACL refused frames during the loop");
    CHECK(sampled > 1000, "flow samples were made and drained (%llu)", (unsigned long long)sampled);
    ew_fl_destroy(fl);

    ew_core_cache_destroy(core, w.ct_cache);
    ew_hit_ring_destroy(w.hits);
    ew_core_destroy(core);
    ew_table_free(t);
    free(pcs);
    free(buf);
    return harness_report("test_noalloc");
}
