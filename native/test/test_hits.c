/* Rule hit records (eniwall/hits.h): one record per connection conntrack
 * opens, in the zone that opened it, with the peer and classifier key the
 * control plane attributes to a rule; none for packets of a known connection,
 * none for refused ones; a full ring counts what it loses; the drain returns
 * records in order and resumes where it stopped. */
#include <arpa/inet.h>
#include <string.h>

#include "eniwall/core.h"
#include "eniwall/hits.h"
#include "frames.h"
#include "harness.h"
#include "tbuild.h"

enum { P_WEB = 1, P_DB = 2 };

static struct ew_table_view *build(void) {
    static struct tb b;
    tb_init(&b);
    b.generation = 1;
    uint32_t v = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    tb_subnet(&b, v, "10.0.1.0", 24, "fd00::", 64);
    uint32_t web = tb_ruleset(&b), db = tb_ruleset(&b);
    tb_rule(&b, web, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, db, EW_DIR_INGRESS, 6, 5432, 5432, "10.0.1.0/24");
    tb_eni(&b, 0, web, P_WEB, "10.0.1.10", "fd00::10", EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, 0, db, P_DB, "10.0.1.20", "fd00::20", EW_ENI_SRC_DST_CHECK);
    return tb_load(&b);
}

static bool peer_is(const struct ew_hit_rec *r, const char *ip4) {
    uint8_t want[16] = {0};
    inet_pton(AF_INET, ip4, want);
    return memcmp(r->peer, want, 16) == 0;
}

int main(void) {
    struct ew_table_view *t = build();
    CHECK(t != NULL, "table");
    struct ew_core_config cfg = {
        .conntrack_max = 4096, .allowance_per_eni = 1024, .hash_salt = 0x9e3779b97f4a7c15ull};
    char err[128];
    struct ew_core *core = ew_core_create(&cfg, err, sizeof err);
    CHECK(core != NULL, "core: %s", err);
    static struct ew_port_counters pcs[EW_MAX_PORTS];
    struct ew_worker_ctx w = {.core = core, .counters = pcs, .now_ms = 5000};
    CHECK(ew_hit_ring_create(0) == NULL && ew_hit_ring_create(3) == NULL &&
              ew_hit_ring_create(EW_HIT_MAX_SLOTS * 2) == NULL,
          "ring sizes: a power of two, 1..EW_HIT_MAX_SLOTS");
    w.hits = ew_hit_ring_create(4);
    CHECK(w.hits != NULL, "ring");

    uint8_t f[2048];
    struct ew_verdict v;
    struct fr_l2 l2 = fr_macs(fr_mac(0), fr_mac(1));
    /* A SYN web -> db:5432 opens a connection in both zones: two records. */
    uint32_t len = fr_tcp4(f, l2, "10.0.1.10", "10.0.1.20", 40000, 5432, 0x02);
    ew_process(&w, t, P_WEB, f, &len, sizeof f, &v);
    CHECK(v.action == EW_ACT_FORWARD, "SYN forwarded (reason %u)", v.reason);
    struct ew_hit_rec out[8];
    uint64_t lost = 99;
    uint32_t n = ew_hit_drain(w.hits, out, 8, &lost);
    CHECK_EQ(n, 2, "records for one new connection");
    CHECK_EQ(lost, 0, "none lost");
    if (n == 2) {
        CHECK(out[0].port == P_WEB && out[0].dir == EW_DIR_EGRESS && out[0].proto == 6 &&
                  out[0].key == 5432 && out[0].family == 4 && out[0].ms == 5000 &&
                  peer_is(&out[0], "10.0.1.20"),
              "web's egress record: peer = the destination");
        CHECK(out[1].port == P_DB && out[1].dir == EW_DIR_INGRESS && out[1].key == 5432 &&
                  peer_is(&out[1], "10.0.1.10"),
              "db's ingress record: peer = the source");
    }
    /* The reply and more packets of the connection: conntrack hits, no record. */
    len = fr_tcp4(f, fr_macs(fr_mac(1), fr_mac(0)), "10.0.1.20", "10.0.1.10", 5432, 40000, 0x12);
    ew_process(&w, t, P_DB, f, &len, sizeof f, &v);
    CHECK(v.action == EW_ACT_FORWARD, "SYN-ACK forwarded");
    len = fr_tcp4(f, l2, "10.0.1.10", "10.0.1.20", 40000, 5432, 0x10);
    ew_process(&w, t, P_WEB, f, &len, sizeof f, &v);
    CHECK_EQ(ew_hit_drain(w.hits, out, 8, NULL), 0, "records for packets of a known connection");
    /* Refused by db's group (port 22): web's egress opened, db's ingress refused. */
    len = fr_tcp4(f, l2, "10.0.1.10", "10.0.1.20", 40001, 22, 0x02);
    ew_process(&w, t, P_WEB, f, &len, sizeof f, &v);
    CHECK(v.action == EW_ACT_DROP, "SYN to port 22 refused");
    n = ew_hit_drain(w.hits, out, 8, NULL);
    CHECK(n == 1 && out[0].port == P_WEB && out[0].key == 22, "only the admitting zone records");
    /* Full ring (4 slots): 3 new connections = 6 records, 2 lost; drain resumes. */
    for (uint16_t i = 0; i < 3; i++) {
        len = fr_tcp4(f, l2, "10.0.1.10", "10.0.1.20", (uint16_t)(41000 + i), 5432, 0x02);
        ew_process(&w, t, P_WEB, f, &len, sizeof f, &v);
    }
    n = ew_hit_drain(w.hits, out, 3, &lost);
    CHECK(n == 3 && lost == 2, "a drain of 3 of 4 held, 2 lost (got %u, lost %llu)", n,
          (unsigned long long)lost);
    n = ew_hit_drain(w.hits, out, 8, &lost);
    CHECK(n == 1 && lost == 0 && out[0].port == P_DB && out[0].dir == EW_DIR_INGRESS,
          "the next drain resumes with the 4th record (got %u)", n);
    ew_hit_ring_destroy(w.hits);
    ew_core_destroy(core);
    ew_table_free(t);
    return harness_report("test_hits");
}
