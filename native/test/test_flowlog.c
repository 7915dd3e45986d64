/* Flow samples in the core (flowlog.h): accepted tracked flows counted in
 * their conntrack entries and reset by the drain, rejected and untracked flows
 * aggregated in the worker's table, the loss of a full table, no samples for
 * ENIs without a flow log, NACL verdicts on either side, IPv6 and ICMP. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack.h"
#include "core_internal.h"
#include "eniwall/core.h"
#include "flowlog.h"
#include "frames.h"
#include "harness.h"
#include "parse.h"
#include "tbuild.h"

enum { SUB_A = 0, SUB_B = 1 };
/* ENI indices (their MACs) and ports. */
enum { E_CLI = 0, E_SRV = 1, E_SRV_OFF = 2, E_CLI_OFF = 3, E_FAR = 4, E_W1 = 5, E_W2 = 6 };
enum { P_CLI = 1, P_SRV = 2, P_SRV_OFF = 3, P_CLI_OFF = 4, P_FAR = 5, P_W1 = 6, P_W2 = 7 };

#define FL EW_ENI_FLOW_LOG

static struct ew_core *core;
static struct ew_port_counters *pcs;
static struct ew_worker_ctx w;
static struct ew_table_view *table;
static struct ew_fl_table *fl;
static uint8_t f[2048];
static uint32_t len;

static struct ew_table_view *build(void) {
    static struct tb b;
    tb_init(&b);
    b.generation = 1;
    uint32_t v = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    tb_subnet(&b, v, "10.0.1.0", 24, "fd00::", 64);
    tb_subnet(&b, v, "10.0.2.0", 24, "fd00:0:0:1::", 64);
    uint32_t cli = tb_ruleset(&b), srv = tb_ruleset(&b), world = tb_ruleset(&b);
    tb_rule(&b, cli, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, cli, EW_DIR_EGRESS, TB_ANY, 0, 0, "::/0");
    tb_rule(&b, srv, EW_DIR_INGRESS, 6, 80, 81, "10.0.0.0/16");
    tb_rule(&b, srv, EW_DIR_INGRESS, 6, 80, 80, "fd00::/56");
    tb_rule(&b, srv, EW_DIR_INGRESS, 1, 0, 0xffff, "10.0.0.0/16");
    tb_rule(&b, srv, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, srv, EW_DIR_EGRESS, TB_ANY, 0, 0, "::/0");
    /* /0 for every TCP port both ways: untracked (section 4.2). */
    tb_rule(&b, world, EW_DIR_INGRESS, 6, 0, 0xffff, "0.0.0.0/0");
    tb_rule(&b, world, EW_DIR_EGRESS, 6, 0, 0xffff, "0.0.0.0/0");
    tb_eni(&b, SUB_A, cli, P_CLI, "10.0.1.10", "fd00::10", EW_ENI_SRC_DST_CHECK | FL);
    tb_eni(&b, SUB_A, srv, P_SRV, "10.0.1.20", "fd00::20", EW_ENI_SRC_DST_CHECK | FL);
    tb_eni(&b, SUB_A, srv, P_SRV_OFF, "10.0.1.30", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, SUB_A, cli, P_CLI_OFF, "10.0.1.40", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, SUB_B, srv, P_FAR, "10.0.2.50", NULL, EW_ENI_SRC_DST_CHECK | FL);
    tb_eni(&b, SUB_A, world, P_W1, "10.0.1.60", NULL, EW_ENI_SRC_DST_CHECK | FL);
    tb_eni(&b, SUB_A, world, P_W2, "10.0.1.70", NULL, EW_ENI_SRC_DST_CHECK | FL);
    /* Subnet A: egress 90 deny tcp 82; B: ingress 90 deny tcp 81. Else allow. */
    uint32_t na = tb_nacl(&b), nb = tb_nacl(&b);
    tb_nacl_entry(&b, na, EW_DIR_EGRESS, 90, 6, 82, 82, "0.0.0.0/0", EW_NACL_DENY);
    tb_nacl_entry(&b, na, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, na, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_INGRESS, 90, 6, 81, 81, "0.0.0.0/0", EW_NACL_DENY);
    tb_nacl_entry(&b, nb, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_subnet_nacl(&b, SUB_A, na);
    tb_subnet_nacl(&b, SUB_B, nb);
    return tb_load(&b);
}

static struct ew_verdict run(uint32_t port) {
    struct ew_verdict v;
    ew_process(&w, table, port, f, &len, sizeof f, &v);
    return v;
}

/* ---- draining ---- */

#define MAX_S 64
static struct ew_flow_sample got[MAX_S];
static uint32_t n_got;
static uint64_t lost[EW_MAX_PORTS];
static const int64_t WALL = 1700000000000; /* added to the monotonic ms */

static void drain(void) {
    memset(lost, 0, sizeof lost);
    n_got = ew_fl_collect(fl, got, MAX_S, WALL, lost);
    n_got += ew_ct_flow_drain(core->ct, got + n_got, MAX_S - n_got, WALL, lost);
}

static void addr(const char *s, uint8_t out[16]) {
    memset(out, 0, 16);
    if (strchr(s, ':'))
        inet_pton(AF_INET6, s, out);
    else
        inet_pton(AF_INET, s, out);
}

/* The one sample of (port, dir, action, src, dst, dport); NULL when absent. */
static const struct ew_flow_sample *find(uint16_t port, uint8_t dir, uint8_t action,
                                         const char *src, const char *dst, uint16_t dport) {
    uint8_t s[16], d[16];
    addr(src, s);
    addr(dst, d);
    const struct ew_flow_sample *hit = NULL;
    for (uint32_t i = 0; i < n_got; i++) {
        const struct ew_flow_sample *g = &got[i];
        if (g->port == port && g->dir == dir && g->action == action && g->dport == dport &&
            memcmp(g->src, s, 16) == 0 && memcmp(g->dst, d, 16) == 0) {
            CHECK(hit == NULL, "one sample per key (port %u dport %u)", port, dport);
            hit = g;
        }
    }
    return hit;
}

static uint32_t samples_of(uint16_t port) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_got; i++)
        n += got[i].port == port;
    return n;
}

/* ---- tests ---- */

static void tcp(uint32_t from_eni, uint32_t from_port, const uint8_t *dmac, const char *src,
                const char *dst, uint16_t sport, uint16_t dport, uint8_t flags) {
    len = fr_tcp4(f, fr_macs(fr_mac(from_eni), dmac), src, dst, sport, dport, flags);
    (void)run(from_port);
}

static void test_accepted_tracked(void) {
    const char *c = "10.0.1.10", *s = "10.0.1.20";
    w.now_ms = 5000;
    tcp(E_CLI, P_CLI, fr_mac(E_SRV), c, s, 40000, 80, EW_TCP_SYN);
    w.now_ms = 5001;
    tcp(E_SRV, P_SRV, fr_mac(E_CLI), s, c, 80, 40000, EW_TCP_SYN | EW_TCP_ACK);
    w.now_ms = 5002;
    tcp(E_CLI, P_CLI, fr_mac(E_SRV), c, s, 40000, 80, EW_TCP_ACK);
    w.now_ms = 5003;
    tcp(E_CLI, P_CLI, fr_mac(E_SRV), c, s, 40000, 80, EW_TCP_ACK | 0x08u /* PSH */);
    CHECK_EQ(ew_fl_count(fl), 0, "tracked and accepted: nothing in the aggregation table");
    drain();
    CHECK_EQ(n_got, 4, "client egress + ingress, server ingress + egress");
    const struct ew_flow_sample *ce = find(P_CLI, EW_DIR_EGRESS, EW_FLOW_ACCEPT, c, s, 80);
    const struct ew_flow_sample *ci = find(P_CLI, EW_DIR_INGRESS, EW_FLOW_ACCEPT, s, c, 40000);
    const struct ew_flow_sample *si = find(P_SRV, EW_DIR_INGRESS, EW_FLOW_ACCEPT, c, s, 80);
    const struct ew_flow_sample *se = find(P_SRV, EW_DIR_EGRESS, EW_FLOW_ACCEPT, s, c, 40000);
    CHECK(ce && ci && si && se, "all four samples");
    if (!(ce && ci && si && se)) return;
    CHECK_EQ(ce->packets, 3, "client sent SYN, ACK, PSH/ACK");
    CHECK_EQ(ce->bytes, 3 * 40, "three 40-byte IP packets");
    CHECK_EQ(ce->tcp_flags, EW_TCP_SYN | EW_TCP_ACK | 0x08u, "flags OR-ed");
    CHECK_EQ(ce->sport, 40000, "source port");
    CHECK_EQ(ce->family, 4, "IPv4");
    CHECK_EQ(ce->proto, 6, "TCP");
    CHECK_EQ(ce->first_ms, WALL + 5000, "first packet time, on the wall clock");
    CHECK_EQ(ce->last_ms, WALL + 5003, "last packet time");
    CHECK_EQ(ce->reason, EW_DROP_NONE, "no reason on ACCEPT");
    CHECK_EQ(ci->packets, 1, "client received the SYN-ACK");
    CHECK_EQ(ci->tcp_flags, EW_TCP_SYN | EW_TCP_ACK, "SYN-ACK flags");
    CHECK_EQ(si->packets, 3, "server received three");
    CHECK_EQ(se->packets, 1, "server sent one");
    CHECK_EQ(se->first_ms, WALL + 5001, "server's egress time");
    drain();
    CHECK_EQ(n_got, 0, "deltas were reset by the drain");
    w.now_ms = 6000;
    tcp(E_SRV, P_SRV, fr_mac(E_CLI), s, c, 80, 40000, EW_TCP_ACK);
    drain();
    CHECK_EQ(n_got, 2, "one packet: server egress and client ingress");
    ce = find(P_SRV, EW_DIR_EGRESS, EW_FLOW_ACCEPT, s, c, 40000);
    CHECK(ce && ce->packets == 1 && ce->tcp_flags == EW_TCP_ACK && ce->first_ms == WALL + 6000,
          "the new delta only");
}

static void test_unflagged(void) {
    /* Neither side has a flow log: no sample anywhere. */
    tcp(E_CLI_OFF, P_CLI_OFF, fr_mac(E_SRV_OFF), "10.0.1.40", "10.0.1.30", 41000, 80, EW_TCP_SYN);
    tcp(E_CLI_OFF, P_CLI_OFF, fr_mac(E_SRV_OFF), "10.0.1.40", "10.0.1.30", 41000, 99, EW_TCP_SYN);
    /* Only the flagged side samples. */
    tcp(E_CLI, P_CLI, fr_mac(E_SRV_OFF), "10.0.1.10", "10.0.1.30", 41001, 99, EW_TCP_SYN);
    drain();
    CHECK_EQ(samples_of(P_CLI_OFF) + samples_of(P_SRV_OFF), 0, "no samples for unflagged ENIs");
    CHECK_EQ(n_got, 1, "the flagged sender's egress only");
    CHECK(find(P_CLI, EW_DIR_EGRESS, EW_FLOW_ACCEPT, "10.0.1.10", "10.0.1.30", 99) != NULL,
          "the client's egress ACCEPT (refused by the receiver, not by it)");
}

static void test_rejected(void) {
    for (int i = 0; i < 3; i++) {
        w.now_ms = 7000 + (uint64_t)i;
        tcp(E_CLI, P_CLI, fr_mac(E_SRV), "10.0.1.10", "10.0.1.20", 42000, 99, EW_TCP_SYN);
    }
    /* The server's egress group lets nothing but its rules out: cli has no ingress rule. */
    tcp(E_SRV, P_SRV, fr_mac(E_CLI), "10.0.1.20", "10.0.1.10", 43000, 22, EW_TCP_SYN);
    drain();
    const struct ew_flow_sample *r =
        find(P_SRV, EW_DIR_INGRESS, EW_FLOW_REJECT, "10.0.1.10", "10.0.1.20", 99);
    CHECK(r != NULL, "REJECT on the receiver");
    if (r) {
        CHECK_EQ(r->reason, EW_DROP_SG_INGRESS, "reason SG_INGRESS");
        CHECK_EQ(r->packets, 3, "three SYNs aggregated");
        CHECK_EQ(r->tcp_flags, EW_TCP_SYN, "SYN only");
        CHECK_EQ(r->first_ms, WALL + 7000, "first");
        CHECK_EQ(r->last_ms, WALL + 7002, "last");
    }
    const struct ew_flow_sample *a =
        find(P_CLI, EW_DIR_EGRESS, EW_FLOW_ACCEPT, "10.0.1.10", "10.0.1.20", 99);
    CHECK(a && a->packets == 3, "the sender's egress verdict was ACCEPT (tracked)");
    r = find(P_CLI, EW_DIR_INGRESS, EW_FLOW_REJECT, "10.0.1.20", "10.0.1.10", 22);
    CHECK(r && r->reason == EW_DROP_SG_INGRESS, "the client refuses the server's SYN");
    CHECK(find(P_SRV, EW_DIR_EGRESS, EW_FLOW_ACCEPT, "10.0.1.20", "10.0.1.10", 22) != NULL,
          "the server's egress was allowed");
}

static void test_nacl(void) {
    /* Into subnet B on 81: B's ingress list denies it. */
    tcp(E_CLI, P_CLI, fr_rmac(SUB_A), "10.0.1.10", "10.0.2.50", 44000, 81, EW_TCP_SYN);
    /* Out of subnet A on 82: A's egress list denies it. */
    tcp(E_CLI, P_CLI, fr_rmac(SUB_A), "10.0.1.10", "10.0.2.50", 44001, 82, EW_TCP_SYN);
    tcp(E_CLI, P_CLI, fr_rmac(SUB_A), "10.0.1.10", "10.0.2.50", 44001, 82, EW_TCP_SYN);
    drain();
    const struct ew_flow_sample *r =
        find(P_FAR, EW_DIR_INGRESS, EW_FLOW_REJECT, "10.0.1.10", "10.0.2.50", 81);
    CHECK(r && r->reason == EW_DROP_NACL_INGRESS, "NACL_INGRESS on the receiver");
    CHECK(find(P_CLI, EW_DIR_EGRESS, EW_FLOW_ACCEPT, "10.0.1.10", "10.0.2.50", 81) != NULL,
          "the sender's egress passed (its verdict is ACCEPT)");
    r = find(P_CLI, EW_DIR_EGRESS, EW_FLOW_REJECT, "10.0.1.10", "10.0.2.50", 82);
    CHECK(r && r->reason == EW_DROP_NACL_EGRESS && r->packets == 2, "NACL_EGRESS on the sender");
    CHECK(find(P_CLI, EW_DIR_EGRESS, EW_FLOW_ACCEPT, "10.0.1.10", "10.0.2.50", 82) == NULL,
          "no ACCEPT in conntrack for what the egress NACL dropped");
    CHECK(find(P_FAR, EW_DIR_INGRESS, EW_FLOW_REJECT, "10.0.1.10", "10.0.2.50", 82) == NULL &&
              find(P_FAR, EW_DIR_INGRESS, EW_FLOW_ACCEPT, "10.0.1.10", "10.0.2.50", 82) == NULL,
          "the receiver never saw it");
    CHECK_EQ(n_got, 3, "three samples");
}

static void test_untracked(void) {
    uint32_t before = ew_core_ct_count(core, P_W1);
    for (int i = 0; i < 2; i++)
        tcp(E_W1, P_W1, fr_mac(E_W2), "10.0.1.60", "10.0.1.70", 45000, 443, EW_TCP_SYN);
    tcp(E_W2, P_W2, fr_mac(E_W1), "10.0.1.70", "10.0.1.60", 443, 45000, EW_TCP_SYN | EW_TCP_ACK);
    CHECK_EQ(ew_core_ct_count(core, P_W1), before, "untracked: no entry");
    drain();
    const struct ew_flow_sample *a =
        find(P_W1, EW_DIR_EGRESS, EW_FLOW_ACCEPT, "10.0.1.60", "10.0.1.70", 443);
    CHECK(a && a->packets == 2, "untracked egress ACCEPT aggregated");
    a = find(P_W2, EW_DIR_INGRESS, EW_FLOW_ACCEPT, "10.0.1.60", "10.0.1.70", 443);
    CHECK(a && a->packets == 2, "untracked ingress ACCEPT on the receiver");
    a = find(P_W2, EW_DIR_EGRESS, EW_FLOW_ACCEPT, "10.0.1.70", "10.0.1.60", 45000);
    CHECK(a && a->tcp_flags == (EW_TCP_SYN | EW_TCP_ACK), "the reply, its flags");
    CHECK_EQ(n_got, 4, "four samples");
}

static void test_ipv6_and_icmp(void) {
    len = fr_tcp6(f, fr_macs(fr_mac(E_CLI), fr_mac(E_SRV)), "fd00::10", "fd00::20", 46000, 80,
                  EW_TCP_SYN);
    (void)run(P_CLI);
    len =
        fr_icmp4(f, fr_macs(fr_mac(E_CLI), fr_mac(E_SRV)), "10.0.1.10", "10.0.1.20", 8, 0, 77, 56);
    (void)run(P_CLI);
    drain();
    const struct ew_flow_sample *s =
        find(P_SRV, EW_DIR_INGRESS, EW_FLOW_ACCEPT, "fd00::10", "fd00::20", 80);
    CHECK(s && s->family == 6 && s->sport == 46000 && s->bytes == 60, "IPv6 TCP sample");
    s = find(P_SRV, EW_DIR_INGRESS, EW_FLOW_ACCEPT, "10.0.1.10", "10.0.1.20", 0);
    CHECK(s && s->proto == 1 && s->sport == 0 && s->tcp_flags == 0,
          "ICMP echo: ports 0 (not the identifier), no flags");
}

static void test_full_table(void) {
    struct ew_fl_table *small = ew_fl_create(2), *keep = fl;
    CHECK(small != NULL, "small table");
    if (!small) return;
    fl = w.fl = small;
    uint64_t before = pcs[P_SRV].cnt[EW_CNT_FLOW_SAMPLES_LOST];
    for (uint16_t p = 0; p < 5; p++) /* five refused flows, room for two */
        tcp(E_CLI, P_CLI, fr_mac(E_SRV), "10.0.1.10", "10.0.1.20", (uint16_t)(47000 + p), 99,
            EW_TCP_SYN);
    CHECK_EQ(ew_fl_count(small), 2, "two held");
    CHECK_EQ(pcs[P_SRV].cnt[EW_CNT_FLOW_SAMPLES_LOST] - before, 3, "three lost on the receiver");
    drain();
    CHECK_EQ(lost[P_SRV], 3, "the drain reports the loss on the receiver's port");
    CHECK_EQ(lost[P_CLI], 0, "the sender's samples live in conntrack");
    drain();
    CHECK_EQ(lost[P_SRV], 0, "loss is per drain");
    /* No table at all: every aggregated sample is lost, counted. */
    w.fl = NULL;
    before = pcs[P_SRV].cnt[EW_CNT_FLOW_SAMPLES_LOST];
    tcp(E_CLI, P_CLI, fr_mac(E_SRV), "10.0.1.10", "10.0.1.20", 48000, 99, EW_TCP_SYN);
    CHECK_EQ(pcs[P_SRV].cnt[EW_CNT_FLOW_SAMPLES_LOST] - before, 1, "counted without a table");
    fl = w.fl = keep;
    ew_fl_destroy(small);
    drain();
}

static void test_collect_limit_and_expiry(void) {
    /* Records that do not fit: aggregated ones are lost (counted), conntrack
     * deltas wait for the next drain. */
    for (uint16_t p = 0; p < 3; p++)
        tcp(E_CLI, P_CLI, fr_mac(E_SRV), "10.0.1.10", "10.0.1.20", (uint16_t)(49000 + p), 99,
            EW_TCP_SYN);
    memset(lost, 0, sizeof lost);
    uint32_t n = ew_fl_collect(fl, got, 1, WALL, lost);
    CHECK_EQ(n, 1, "one record fits");
    CHECK_EQ(lost[P_SRV], 2, "two aggregated samples lost");
    n = ew_ct_flow_drain(core->ct, got, 1, WALL, lost);
    CHECK_EQ(n, 1, "one conntrack sample fits");
    n = ew_ct_flow_drain(core->ct, got, MAX_S, WALL, lost);
    CHECK_EQ(n, 2, "the other two came with the next drain");
    /* An entry that expires before a drain took its deltas counts them lost. */
    tcp(E_CLI, P_CLI, fr_mac(E_SRV), "10.0.1.10", "10.0.1.20", 49100, 80, EW_TCP_SYN);
    w.now_ms += 10u * 60u * 1000u;
    ew_core_sweep(core, w.now_ms, 1u << 20);
    drain();
    CHECK_EQ(lost[P_CLI] + lost[P_SRV], 2, "both zones' samples of the expired entries lost");
    CHECK_EQ(n_got, 0, "nothing left to report");
}

int main(void) {
    struct ew_core_config cfg = {
        .conntrack_max = 4096, .allowance_per_eni = 1024, .hash_salt = 0x1234};
    char err[128];
    core = ew_core_create(&cfg, err, sizeof err);
    pcs = calloc(EW_MAX_PORTS, sizeof *pcs);
    fl = ew_fl_create(64);
    w = (struct ew_worker_ctx){.core = core, .counters = pcs, .now_ms = 1000, .fl = fl};
    table = build();
    CHECK(core && pcs && fl && table, "setup");
    if (!core || !pcs || !fl || !table) return harness_report("test_flowlog");
    CHECK(ew_fl_create(0) == NULL, "a table of 0 entries is refused");
    test_accepted_tracked();
    test_unflagged();
    test_rejected();
    test_nacl();
    test_untracked();
    test_ipv6_and_icmp();
    test_full_table();
    test_collect_limit_and_expiry();
    ew_table_free(table);
    ew_fl_destroy(fl);
    ew_core_destroy(core);
    free(pcs);
    return harness_report("test_flowlog");
}
