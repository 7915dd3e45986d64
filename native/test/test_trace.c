/* ew_trace(): the same answer as ew_process() for the same packet, and no side
 * effects (no counters, no conntrack entry, no state change). Three steps per
 * test: set up rules and state, trace, check the stages and that nothing moved. */
#include <stdlib.h>
#include <string.h>

#include "eniwall/core.h"
#include "frames.h"
#include "harness.h"
#include "parse.h"
#include "tbuild.h"

enum { SUB_A = 0, SUB_B = 1 };
enum { E_WEB = 0, E_DB = 1, E_OPEN = 2 };
enum { P_WEB = 1, P_DB = 2, P_OPEN = 3 };

static struct ew_core *core;
static struct ew_port_counters *pcs;
static struct ew_worker_ctx w;
static struct ew_table_view *table;
static uint8_t f[2048];
static uint32_t len;

/* web: all egress, https from anywhere; db: postgres from web, egress 443 only;
 * open (another subnet): everything. */
static struct ew_table_view *build_with(bool nacls) {
    static struct tb b;
    tb_init(&b);
    b.generation = 7;
    uint32_t v = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    tb_subnet(&b, v, "10.0.1.0", 24, "fd00::", 64);
    tb_subnet(&b, v, "10.0.2.0", 24, "fd00:0:0:1::", 64);
    uint32_t web = tb_ruleset(&b), db = tb_ruleset(&b), open = tb_ruleset(&b);
    uint32_t web_members = tb_addr_set(&b, EW_FAM_V4, "10.0.1.10/32");
    tb_rule(&b, web, EW_DIR_INGRESS, 6, 443, 443, "0.0.0.0/0");
    tb_rule(&b, web, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule_set(&b, db, EW_DIR_INGRESS, 6, 5432, 5432, web_members);
    tb_rule(&b, db, EW_DIR_EGRESS, 6, 443, 443, "10.0.0.0/16");
    tb_rule(&b, open, EW_DIR_INGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, open, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    const uint8_t chk = EW_ENI_SRC_DST_CHECK;
    tb_eni(&b, SUB_A, web, P_WEB, "10.0.1.10", NULL, chk);
    tb_eni(&b, SUB_A, db, P_DB, "10.0.1.20", NULL, chk);
    tb_eni(&b, SUB_B, open, P_OPEN, "10.0.2.30", NULL, chk);
    tb_exempt4(&b, "169.254.169.254");
    if (nacls) {
        /* A: egress all, ingress https only; B: ingress deny ssh from A (80) above allow all. */
        uint32_t a = tb_nacl(&b), bb = tb_nacl(&b);
        tb_nacl_entry(&b, a, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
        tb_nacl_entry(&b, a, EW_DIR_INGRESS, 100, 6, 443, 443, "0.0.0.0/0", EW_NACL_ALLOW);
        tb_nacl_entry(&b, bb, EW_DIR_INGRESS, 80, 6, 22, 22, "10.0.1.0/24", EW_NACL_DENY);
        tb_nacl_entry(&b, bb, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
        tb_nacl_entry(&b, bb, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
        tb_subnet_nacl(&b, SUB_A, a);
        tb_subnet_nacl(&b, SUB_B, bb);
    }
    return tb_load(&b);
}

static struct ew_table_view *build(void) {
    return build_with(false);
}

static void put4(uint8_t *out, const char *ip) {
    uint32_t a = tb_ip4(ip);
    memset(out, 0, 16);
    out[0] = (uint8_t)(a >> 24);
    out[1] = (uint8_t)(a >> 16);
    out[2] = (uint8_t)(a >> 8);
    out[3] = (uint8_t)a;
}

static struct ew_trace_query q4(uint32_t eni, enum ew_dir dir, uint8_t proto, const char *local,
                                const char *peer, uint16_t sport, uint16_t dport, uint8_t flags) {
    struct ew_trace_query q;
    memset(&q, 0, sizeof q);
    q.eni = eni;
    q.dir = (uint8_t)dir;
    q.family = 4;
    q.proto = proto;
    q.tcp_flags = flags;
    q.sport = sport;
    q.dport = dport;
    put4(q.local, local);
    put4(q.peer, peer);
    return q;
}

static struct ew_trace trace(const struct ew_trace_query *q) {
    struct ew_trace t;
    int r = ew_trace(core, table, q, w.now_ms, &t);
    CHECK_EQ(r, 0, "ew_trace accepts the query");
    return t;
}

/* Sum of every counter of every port: must not move while tracing. */
static uint64_t all_counters(void) {
    uint64_t s = 0;
    for (uint32_t p = 0; p < 8; p++) {
        for (uint32_t k = 0; k < EW_CNT_COUNT; k++)
            s += pcs[p].cnt[k];
        for (uint32_t k = 0; k < EW_DROP_COUNT; k++)
            s += pcs[p].drop[k];
    }
    return s;
}

static void test_new_connection(void) {
    uint64_t before = all_counters();
    struct ew_trace_query q =
        q4(E_DB, EW_DIR_INGRESS, 6, "10.0.1.20", "10.0.1.10", 40000, 5432, EW_TCP_SYN);
    struct ew_trace t = trace(&q);
    CHECK_EQ(t.generation, 7, "generation of the table traced");
    CHECK_EQ(t.action, EW_ACT_FORWARD, "web -> db:5432 is forwarded");
    CHECK_EQ(t.sender, E_WEB, "sender: the ENI owning the peer");
    CHECK_EQ(t.receiver, E_DB, "receiver");
    CHECK_EQ(t.out_port, P_DB, "out port");
    CHECK(t.spoof_checked && !t.routed, "anti-spoofing passed, switched");
    const struct ew_trace_zone *eg = &t.zone[EW_DIR_EGRESS], *in = &t.zone[EW_DIR_INGRESS];
    CHECK(eg->judged && eg->reached && eg->classified && eg->allowed && eg->world, "web egress");
    CHECK_EQ(eg->ct, EW_TRACE_CT_MISS, "web: no connection yet");
    CHECK_EQ(eg->track, EW_TRACE_TRACK_OPENS, "web would open an entry");
    CHECK(in->judged && in->reached && in->allowed && !in->world, "db ingress, by group reference");
    CHECK_EQ(all_counters(), before, "trace moves no counter");
    CHECK_EQ(ew_core_ct_count(core, P_WEB) + ew_core_ct_count(core, P_DB), 0, "no entry inserted");

    q.dport = 22;
    t = trace(&q);
    CHECK_EQ(t.action, EW_ACT_DROP, "db:22");
    CHECK_EQ(t.reason, EW_DROP_SG_INGRESS, "refused by db's ingress");
    CHECK_EQ(t.zone[EW_DIR_INGRESS].reason, EW_DROP_SG_INGRESS, "db's zone says why");
}

/* The reply is allowed only by the tracked connection: db's egress allows 443 only. */
static void test_reply_tracked(void) {
    struct ew_trace_query reply = q4(E_WEB, EW_DIR_INGRESS, 6, "10.0.1.10", "10.0.1.20", 5432,
                                     40000, EW_TCP_SYN | EW_TCP_ACK);
    struct ew_trace t = trace(&reply);
    CHECK_EQ(t.reason, EW_DROP_SG_EGRESS, "before the SYN: db's egress refuses the reply");

    struct ew_verdict v;
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 40000, 5432,
                  EW_TCP_SYN);
    ew_process(&w, table, P_WEB, f, &len, sizeof f, &v);
    CHECK_EQ(v.action, EW_ACT_FORWARD, "the real SYN passes and opens both zones");
    uint32_t held = ew_core_ct_count(core, P_WEB) + ew_core_ct_count(core, P_DB);
    CHECK_EQ(held, 2, "an entry in each zone");

    uint64_t before = all_counters();
    t = trace(&reply);
    CHECK_EQ(t.action, EW_ACT_FORWARD, "after the SYN: the reply is carried");
    for (int d = 0; d < 2; d++) {
        CHECK_EQ(t.zone[d].ct, EW_TRACE_CT_HIT, "tracked in both zones");
        CHECK_EQ(t.zone[d].ct_state, EW_CT_TCP_SYN_SENT, "state as tracked");
        CHECK(t.zone[d].ct_reply && !t.zone[d].classified, "reply direction, rules not asked");
    }
    t = trace(&reply);
    CHECK_EQ(t.zone[EW_DIR_EGRESS].ct_state, EW_CT_TCP_SYN_SENT, "tracing twice changes no state");
    CHECK_EQ(all_counters(), before, "no counter moved");
    CHECK_EQ(ew_core_ct_count(core, P_WEB) + ew_core_ct_count(core, P_DB), held, "no entry added");

    /* Idle past SYN_SENT's timeout: the entry is dead for the trace too. */
    uint64_t now = w.now_ms;
    w.now_ms += 121000;
    t = trace(&reply);
    CHECK_EQ(t.reason, EW_DROP_SG_EGRESS, "an expired connection carries nothing");
    w.now_ms = now;
}

/* Each query traced and the same frame processed: one verdict. */
static void test_agrees_with_process(void) {
    struct {
        uint32_t eni, port;
        enum ew_dir dir;
        const char *local, *peer;
        uint8_t proto;
        uint16_t sport, dport;
        uint8_t dmac_eni; /* 0xff: the router */
        uint32_t dst_eni;
        enum ew_drop_reason want;
    } cases[] = {
        {E_WEB, P_WEB, EW_DIR_EGRESS, "10.0.1.10", "10.0.2.30", 6, 41000, 22, 0xff, E_OPEN,
         EW_DROP_NONE},
        {E_DB, P_DB, EW_DIR_EGRESS, "10.0.1.20", "10.0.2.30", 6, 41000, 22, 0xff, E_OPEN,
         EW_DROP_SG_EGRESS},
        {E_WEB, P_WEB, EW_DIR_EGRESS, "10.0.1.10", "169.254.169.254", 6, 41000, 80, 0xff, 0,
         EW_DROP_SERVICE_UNAVAILABLE},
        {E_WEB, P_WEB, EW_DIR_EGRESS, "10.0.1.10", "10.0.1.10", 6, 41000, 80, E_WEB, E_WEB,
         EW_DROP_HAIRPIN},
        {E_WEB, P_WEB, EW_DIR_EGRESS, "10.0.1.10", "10.0.9.9", 6, 41000, 80, 0xff, 0,
         EW_DROP_NO_ROUTE},
        {E_WEB, P_WEB, EW_DIR_EGRESS, "10.0.1.10", "10.0.1.1", 6, 41000, 80, 0xff, 0,
         EW_DROP_ROUTER_UNHANDLED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ew_trace_query q = q4(cases[i].eni, cases[i].dir, cases[i].proto, cases[i].local,
                                     cases[i].peer, cases[i].sport, cases[i].dport, EW_TCP_SYN);
        struct ew_trace t = trace(&q);
        uint8_t rm[6];
        fr_router_mac(SUB_A, rm);
        const uint8_t *dmac = cases[i].dmac_eni == 0xff ? rm : fr_mac(cases[i].dmac_eni);
        len = fr_tcp4(f, fr_macs(fr_mac(cases[i].eni), dmac), cases[i].local, cases[i].peer,
                      cases[i].sport, cases[i].dport, EW_TCP_SYN);
        struct ew_verdict v;
        ew_process(&w, table, cases[i].port, f, &len, sizeof f, &v);
        char what[64];
        snprintf(what, sizeof what, "case %zu", i);
        CHECK_EQ(t.reason, cases[i].want, what);
        CHECK_EQ(v.reason, cases[i].want, what);
        CHECK_EQ(t.action, v.action, what);
    }
    /* The asked zone is answered even when the frame is dropped before it. */
    struct ew_trace_query q =
        q4(E_WEB, EW_DIR_EGRESS, 6, "10.0.1.10", "10.0.9.9", 1, 80, EW_TCP_SYN);
    struct ew_trace t = trace(&q);
    CHECK(t.zone[EW_DIR_EGRESS].judged && !t.zone[EW_DIR_EGRESS].reached, "judged, not reached");
    CHECK(t.zone[EW_DIR_EGRESS].allowed, "web's egress allows it");
    q = q4(E_WEB, EW_DIR_INGRESS, 6, "10.0.1.10", "203.0.113.5", 1, 443, EW_TCP_SYN);
    t = trace(&q);
    CHECK_EQ(t.path, EW_TRACE_PATH_NONE, "no ENI sends from outside");
    CHECK(t.zone[EW_DIR_INGRESS].allowed && t.zone[EW_DIR_INGRESS].world, "https from anywhere");
}

/* The frame of query q processed for real (a copy of the core's state is not
 * needed: these frames open nothing that later checks depend on). */
static struct ew_verdict process_like(uint32_t port, const char *src, const char *dst,
                                      uint16_t sport, uint16_t dport, uint32_t src_eni) {
    uint8_t rm[6];
    fr_router_mac(src_eni == E_OPEN ? SUB_B : SUB_A, rm);
    len = fr_tcp4(f, fr_macs(fr_mac(src_eni), rm), src, dst, sport, dport, EW_TCP_SYN);
    struct ew_verdict v;
    ew_process(&w, table, port, f, &len, sizeof f, &v);
    return v;
}

static void test_nacl_stages(void) {
    /* No NACL anywhere: cross-subnet stages say so. */
    struct ew_trace_query q =
        q4(E_WEB, EW_DIR_EGRESS, 6, "10.0.1.10", "10.0.2.30", 42000, 22, EW_TCP_SYN);
    struct ew_trace t = trace(&q);
    CHECK(t.nacl[EW_DIR_EGRESS].skip == EW_TRACE_NACL_NONE &&
              t.nacl[EW_DIR_INGRESS].skip == EW_TRACE_NACL_NONE && !t.nacl[0].evaluated,
          "no NACL: not evaluated");

    struct ew_table_view *base = table;
    table = build_with(true);
    CHECK(table != NULL, "NACL table");
    if (!table) {
        table = base;
        return;
    }
    uint64_t before = all_counters();
    t = trace(&q);
    const struct ew_trace_nacl *ne = &t.nacl[EW_DIR_EGRESS], *ni = &t.nacl[EW_DIR_INGRESS];
    CHECK(ne->evaluated && ne->allowed && ne->reached && ne->rule == 100, "A egress: rule 100");
    CHECK(ne->nacl == 0 && ne->id_hi == 0 && ne->id_lo == 0xac10000u, "A's NACL id");
    CHECK(ni->evaluated && !ni->allowed && ni->reached && ni->rule == 80, "B ingress: deny 80");
    CHECK_EQ(ni->id_lo, 0xac10001u, "B's NACL id");
    CHECK(t.action == EW_ACT_DROP && t.reason == EW_DROP_NACL_INGRESS, "dropped by B's NACL");
    const struct ew_trace_zone *in = &t.zone[EW_DIR_INGRESS];
    CHECK(in->judged && !in->reached && in->allowed,
          "the receiver's groups still answer: they would allow it");
    CHECK_EQ(all_counters(), before, "trace moves no counter");
    CHECK_EQ(process_like(P_WEB, "10.0.1.10", "10.0.2.30", 42000, 22, E_WEB).reason,
             EW_DROP_NACL_INGRESS, "ew_process agrees");

    q.dport = 23;
    t = trace(&q);
    CHECK(t.action == EW_ACT_FORWARD && t.nacl[EW_DIR_INGRESS].rule == 100, "port 23: rule 100");
    CHECK(t.zone[EW_DIR_INGRESS].reached, "receiver reached");

    /* open -> web:80: A's ingress has only 443, so `*` (32767) denies. */
    q = q4(E_WEB, EW_DIR_INGRESS, 6, "10.0.1.10", "10.0.2.30", 42001, 80, EW_TCP_SYN);
    t = trace(&q);
    CHECK(t.nacl[EW_DIR_INGRESS].evaluated && !t.nacl[EW_DIR_INGRESS].allowed &&
              t.nacl[EW_DIR_INGRESS].rule == EW_NACL_RULE_STAR4,
          "`*` decides: rule 32767");
    CHECK_EQ(t.nacl[EW_DIR_EGRESS].rule, 100, "B egress: rule 100");
    CHECK_EQ(t.reason, EW_DROP_NACL_INGRESS, "NACL_INGRESS");
    CHECK(!t.zone[EW_DIR_INGRESS].allowed, "web's groups refuse port 80 too");
    CHECK_EQ(process_like(P_OPEN, "10.0.2.30", "10.0.1.10", 42001, 80, E_OPEN).reason,
             EW_DROP_NACL_INGRESS, "ew_process agrees");

    /* Same subnet: not evaluated. */
    q = q4(E_DB, EW_DIR_INGRESS, 6, "10.0.1.20", "10.0.1.10", 42002, 5432, EW_TCP_SYN);
    t = trace(&q);
    CHECK(t.action == EW_ACT_FORWARD && t.nacl[0].skip == EW_TRACE_NACL_SAME_SUBNET &&
              t.nacl[1].skip == EW_TRACE_NACL_SAME_SUBNET && !t.nacl[0].evaluated &&
              t.nacl[0].nacl == EW_INDEX_NONE,
          "same subnet: NACLs not evaluated");

    /* db's egress groups refuse first; the NACLs are still evaluated, unreached. */
    q = q4(E_DB, EW_DIR_EGRESS, 6, "10.0.1.20", "10.0.2.30", 42003, 22, EW_TCP_SYN);
    t = trace(&q);
    CHECK_EQ(t.reason, EW_DROP_SG_EGRESS, "SG egress decides first");
    CHECK(t.nacl[EW_DIR_EGRESS].evaluated && !t.nacl[EW_DIR_EGRESS].reached &&
              t.nacl[EW_DIR_INGRESS].evaluated && !t.nacl[EW_DIR_INGRESS].reached,
          "NACLs evaluated, not reached");

    /* A peer outside the VPC: no path between ENIs. */
    q = q4(E_WEB, EW_DIR_INGRESS, 6, "10.0.1.10", "203.0.113.5", 1, 443, EW_TCP_SYN);
    t = trace(&q);
    CHECK(t.nacl[0].skip == EW_TRACE_NACL_NO_PATH && t.nacl[1].skip == EW_TRACE_NACL_NO_PATH,
          "outside peer: no path");
    ew_table_free(table);
    table = base;
}

static void test_bad_queries(void) {
    struct ew_trace t;
    struct ew_trace_query q = q4(99, EW_DIR_INGRESS, 6, "10.0.1.10", "10.0.1.20", 1, 2, 2);
    CHECK_EQ(ew_trace(core, table, &q, 0, &t), -1, "ENI index out of range");
    q.eni = 0;
    q.family = 5;
    CHECK_EQ(ew_trace(core, table, &q, 0, &t), -1, "family");
    q.family = 4;
    CHECK_EQ(ew_trace(core, NULL, &q, 0, &t), -1, "no table");
    CHECK_EQ(ew_trace(NULL, table, &q, 0, &t), 0, "no core: conntrack misses");
}

int main(void) {
    struct ew_core_config cfg = {
        .conntrack_max = 4096, .allowance_per_eni = 1024, .hash_salt = 0x1234};
    char err[128];
    core = ew_core_create(&cfg, err, sizeof err);
    pcs = calloc(EW_MAX_PORTS, sizeof *pcs);
    w = (struct ew_worker_ctx){core, pcs, 1000000, NULL, NULL, NULL};
    table = build();
    CHECK(core && table && pcs, "setup");
    if (!core || !table || !pcs) return harness_report("test_trace");
    test_new_connection();
    test_reply_tracked();
    test_agrees_with_process();
    test_bad_queries();
    test_nacl_stages();
    ew_table_free(table);
    ew_core_destroy(core);
    free(pcs);
    return harness_report("test_trace");
}
