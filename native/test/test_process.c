/* ew_process(): ARP/ND answers, router ping, anti-spoof, forwarding, routing,
 * security groups with conntrack, tracked vs untracked (section 4.2), table
 * swaps, ICMP errors, fragments. Three steps per test: build the frame, set up
 * state, check the verdict, the rewritten bytes and the counters. */
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "eniwall/core.h"
#include "frames.h"
#include "harness.h"
#include "parse.h"
#include "tbuild.h"

/* Topology: VPC 1 = 10.0.0.0/16 + fd00::/56 with subnets A (10.0.1.0/24,
 * fd00::/64) and B (10.0.2.0/24, fd00:0:0:1::/64); VPC 2 reuses 10.0.0.0/16. */
enum { SUB_A = 0, SUB_B = 1, SUB_C = 2 };
enum { E_WEB = 0, E_DB = 1, E_OPEN = 2, E_OTHER_VPC = 3, E_UNBOUND = 4, E_NOCHECK = 5 };
enum { P_WEB = 1, P_DB = 2, P_OPEN = 3, P_OTHER_VPC = 4, P_NOCHECK = 6 };

static struct ew_core *core;
static struct ew_port_counters *pcs;
static struct ew_worker_ctx w;
static struct ew_table_view *table;
static uint8_t f[2048];
static uint32_t len;

/* web: the section 4.2 example, with ssh from the OPEN ENI only. */
static void web_rules(struct tb *b, uint32_t rs, bool with_inbound) {
    if (with_inbound) {
        tb_rule(b, rs, EW_DIR_INGRESS, 6, 22, 22, "10.0.2.30/32");
        tb_rule(b, rs, EW_DIR_INGRESS, 6, 80, 80, "0.0.0.0/0");
        tb_rule(b, rs, EW_DIR_INGRESS, 6, 80, 80, "::/0");
    }
    tb_rule(b, rs, EW_DIR_INGRESS, 1, 0, 0xffff, "0.0.0.0/0");
    tb_rule(b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "::/0");
}

typedef void (*nacl_fn)(struct tb *b);

static struct ew_table_view *build_with(bool web_inbound, nacl_fn nacls) {
    static struct tb b;
    tb_init(&b);
    b.generation = web_inbound ? 1 : 2;
    uint32_t v1 = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    uint32_t v2 = tb_vpc(&b, "10.0.0.0", 16, NULL, 0);
    tb_subnet(&b, v1, "10.0.1.0", 24, "fd00::", 64);
    tb_subnet(&b, v1, "10.0.2.0", 24, "fd00:0:0:1::", 64);
    tb_subnet(&b, v2, "10.0.1.0", 24, NULL, 0);
    uint32_t web = tb_ruleset(&b), db = tb_ruleset(&b), open = tb_ruleset(&b);
    uint32_t web_members = tb_addr_set(&b, EW_FAM_V4, "10.0.1.10/32,10.0.1.11/32");
    web_rules(&b, web, web_inbound);
    tb_rule_set(&b, db, EW_DIR_INGRESS, 6, 5432, 5432, web_members);
    tb_rule(&b, db, EW_DIR_EGRESS, 6, 443, 443, "10.0.0.0/16");
    tb_rule(&b, open, EW_DIR_INGRESS, TB_ANY, 0, 0, "10.0.0.0/16");
    tb_rule(&b, open, EW_DIR_INGRESS, TB_ANY, 0, 0, "fd00::/56");
    tb_rule(&b, open, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, open, EW_DIR_EGRESS, TB_ANY, 0, 0, "::/0");
    const uint8_t chk = EW_ENI_SRC_DST_CHECK;
    tb_eni(&b, SUB_A, web, P_WEB, "10.0.1.10,10.0.1.11", "fd00::10", chk);
    tb_eni(&b, SUB_A, db, P_DB, "10.0.1.20", "fd00::20", chk);
    tb_eni(&b, SUB_B, open, P_OPEN, "10.0.2.30", "fd00:0:0:1::30", chk);
    tb_eni(&b, SUB_C, open, P_OTHER_VPC, "10.0.1.40", NULL, chk);
    tb_eni(&b, SUB_A, open, EW_PORT_NONE, "10.0.1.50", NULL, chk);
    tb_eni(&b, SUB_A, open, P_NOCHECK, "10.0.1.60", "fd00::60", 0);
    tb_exempt4(&b, "169.254.169.123");
    tb_exempt4(&b, "169.254.169.253");
    tb_exempt4(&b, "169.254.169.254");
    tb_exempt6(&b, "fd00:ec2::123");
    tb_exempt6(&b, "fd00:ec2::253");
    tb_exempt6(&b, "fd00:ec2::254");
    if (nacls) nacls(&b);
    return tb_load(&b);
}

static struct ew_table_view *build(bool web_inbound) {
    return build_with(web_inbound, NULL);
}

static struct ew_verdict run(uint32_t port) {
    struct ew_verdict v;
    ew_process(&w, table, port, f, &len, sizeof f, &v);
    return v;
}

/* Each macro evaluates its verdict argument once (it may be a run() call). */
#define EXPECT_DROP(v, r, what)                                                                    \
    do {                                                                                           \
        struct ew_verdict v_ = (v);                                                                \
        CHECK(v_.action == EW_ACT_DROP && v_.reason == (r),                                        \
              "%s: action %d reason %d, want drop %d", what, v_.action, v_.reason, r);             \
    } while (0)
#define EXPECT_FWD(v, port, what)                                                                  \
    do {                                                                                           \
        struct ew_verdict v_ = (v);                                                                \
        CHECK(v_.action == EW_ACT_FORWARD && v_.out_port == (uint32_t)(port),                      \
              "%s: action %d out %u reason %d, want forward to %d", what, v_.action, v_.out_port,  \
              v_.reason, port);                                                                    \
    } while (0)
#define EXPECT_REPLY(v, port, what)                                                                \
    do {                                                                                           \
        struct ew_verdict v_ = (v);                                                                \
        CHECK(v_.action == EW_ACT_REPLY && v_.out_port == (uint32_t)(port),                        \
              "%s: action %d reason %d, want reply", what, v_.action, v_.reason);                  \
    } while (0)

static uint64_t cnt(uint32_t port, enum ew_port_counter c) {
    return pcs[port].cnt[c];
}
static uint64_t drops(uint32_t port, enum ew_drop_reason r) {
    return pcs[port].drop[r];
}

/* ---- ARP ---- */

static void test_arp(void) {
    struct {
        const char *name, *spa, *tpa;
        uint16_t op;
        uint32_t want_eni; /* 99 = router, 100 = drop */
        enum ew_drop_reason reason;
    } rows[] = {
        {"router", "10.0.1.10", "10.0.1.1", 1, 99, 0},
        {"same-subnet eni", "10.0.1.10", "10.0.1.20", 1, E_DB, 0},
        {"from the secondary address", "10.0.1.11", "10.0.1.20", 1, E_DB, 0},
        {"other-subnet eni", "10.0.1.10", "10.0.2.30", 1, 100, EW_DROP_ARP_UNKNOWN_TARGET},
        {"nobody", "10.0.1.10", "10.0.1.99", 1, 100, EW_DROP_ARP_UNKNOWN_TARGET},
        {"other vpc's address", "10.0.1.10", "10.0.1.40", 1, 100, EW_DROP_ARP_UNKNOWN_TARGET},
        {"gratuitous", "10.0.1.10", "10.0.1.10", 1, 100, EW_DROP_NEIGHBOR_NOISE},
        {"probe", "0.0.0.0", "10.0.1.10", 1, 100, EW_DROP_NEIGHBOR_NOISE},
        {"arp reply", "10.0.1.10", "10.0.1.20", 2, 100, EW_DROP_NEIGHBOR_NOISE},
        {"spoofed sender ip", "10.0.1.77", "10.0.1.1", 1, 100, EW_DROP_SPOOFED_IP},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        len = fr_arp(f, fr_mac(E_WEB), rows[i].op, rows[i].spa, rows[i].tpa);
        uint64_t before = cnt(P_WEB, EW_CNT_ARP_REPLIES);
        struct ew_verdict v = run(P_WEB);
        if (rows[i].want_eni == 100) {
            EXPECT_DROP(v, rows[i].reason, rows[i].name);
            continue;
        }
        EXPECT_REPLY(v, P_WEB, rows[i].name);
        const uint8_t *answer_mac =
            rows[i].want_eni == 99 ? fr_rmac(SUB_A) : fr_mac(rows[i].want_eni);
        const uint8_t *a = f + 14;
        CHECK_MEM(f, fr_mac(E_WEB), 6, "arp reply eth dst");
        CHECK_MEM(f + 6, answer_mac, 6, "arp reply eth src");
        CHECK_EQ(ew_get16(a + 6), 2, "arp opcode reply");
        CHECK_MEM(a + 8, answer_mac, 6, "arp sender mac");
        CHECK_EQ(ew_get32(a + 14), tb_ip4(rows[i].tpa), "arp sender ip");
        CHECK_MEM(a + 18, fr_mac(E_WEB), 6, "arp target mac");
        CHECK_EQ(ew_get32(a + 24), tb_ip4(rows[i].spa), "arp target ip");
        CHECK_EQ(len, 60, "arp length kept");
        CHECK_EQ(cnt(P_WEB, EW_CNT_ARP_REPLIES), before + 1, "ARP_REPLIES counted");
    }
    len = fr_arp(f, fr_mac(E_DB), 1, "10.0.1.10", "10.0.1.1");
    EXPECT_DROP(run(P_WEB), EW_DROP_SPOOFED_MAC, "arp from another eni's mac");
}

/* ---- NDP ---- */

static void test_nd(void) {
    uint8_t router_ll[16];
    memset(router_ll, 0, 16);
    router_ll[0] = 0xfe, router_ll[1] = 0x80;
    const uint8_t *rm = fr_rmac(SUB_A);
    router_ll[8] = rm[0] ^ 2, router_ll[9] = rm[1], router_ll[10] = rm[2], router_ll[11] = 0xff;
    router_ll[12] = 0xfe, router_ll[13] = rm[3], router_ll[14] = rm[4], router_ll[15] = rm[5];
    char ll_text[64];
    snprintf(ll_text, sizeof ll_text, "fe80::%x:%xff:fe%02x:%x", (rm[0] ^ 2) << 8 | rm[1], rm[2],
             rm[3], rm[4] << 8 | rm[5]);
    struct {
        const char *name, *src, *target;
        uint8_t hlim;
        int want; /* 1 router, 2 eni db, 0 drop */
        enum ew_drop_reason reason;
    } rows[] = {
        {"router global", "fe80::10", "fd00::1", 255, 1, 0},
        {"router link-local", "fe80::10", ll_text, 255, 1, 0},
        {"same-subnet eni", "fd00::10", "fd00::20", 255, 2, 0},
        {"other-subnet eni", "fe80::10", "fd00:0:0:1::30", 255, 0, EW_DROP_ND_UNKNOWN_TARGET},
        {"unknown", "fe80::10", "fd00::99", 255, 0, EW_DROP_ND_UNKNOWN_TARGET},
        {"dad probe", "::", "fd00::10", 255, 0, EW_DROP_NEIGHBOR_NOISE},
        {"hop limit not 255", "fe80::10", "fd00::1", 64, 0, EW_DROP_NEIGHBOR_NOISE},
        {"spoofed global source", "fd00::77", "fd00::1", 255, 0, EW_DROP_SPOOFED_IP},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        len = fr_ns(f, fr_mac(E_WEB), rows[i].src, rows[i].target, rows[i].hlim);
        struct ew_verdict v = run(P_WEB);
        if (!rows[i].want) {
            EXPECT_DROP(v, rows[i].reason, rows[i].name);
            continue;
        }
        EXPECT_REPLY(v, P_WEB, rows[i].name);
        const uint8_t *answer_mac = rows[i].want == 1 ? fr_rmac(SUB_A) : fr_mac(E_DB);
        uint8_t target[16], src[16];
        tb_ip6(rows[i].target, target);
        tb_ip6(rows[i].src, src);
        const uint8_t *ip = f + 14, *na = f + 54;
        CHECK_EQ(len, 86, "na length");
        CHECK_MEM(f, fr_mac(E_WEB), 6, "na eth dst");
        CHECK_MEM(f + 6, answer_mac, 6, "na eth src");
        CHECK_EQ(ip[7], 255, "na hop limit");
        CHECK_MEM(ip + 8, target, 16, "na source = target");
        CHECK_MEM(ip + 24, src, 16, "na destination = solicitor");
        CHECK_EQ(na[0], 136, "na type");
        CHECK_EQ(na[4], rows[i].want == 1 ? 0xe0 : 0x60, "na flags (router, solicited, override)");
        CHECK_MEM(na + 8, target, 16, "na target");
        CHECK(na[24] == 2 && na[25] == 1, "target link-layer option");
        CHECK_MEM(na + 26, answer_mac, 6, "na option mac");
        CHECK(fr_l4_csum_ok(f, len), "%s: icmpv6 checksum", rows[i].name);
    }
    uint8_t rs[8] = {133};
    len = fr_ip6(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "fe80::10", "ff02::2", 58, 255, rs, 8);
    EXPECT_DROP(run(P_WEB), EW_DROP_NEIGHBOR_NOISE, "router solicitation");
    uint8_t mld[24] = {143};
    len = fr_ip6(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "fe80::10", "ff02::16", 58, 1, mld, 24);
    EXPECT_DROP(run(P_WEB), EW_DROP_NEIGHBOR_NOISE, "mld report");
    CHECK(router_ll[0] == 0xfe, "router link-local computed");
}

/* ---- router ---- */

static void test_router_ping(void) {
    len = fr_icmp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.1.1", 8, 0, 0x99,
                   32);
    uint32_t sent = len;
    struct ew_verdict v = run(P_WEB);
    EXPECT_REPLY(v, P_WEB, "ping router v4");
    const uint8_t *ip = f + 14;
    CHECK_MEM(f, fr_mac(E_WEB), 6, "echo reply eth dst");
    CHECK_MEM(f + 6, fr_rmac(SUB_A), 6, "echo reply eth src");
    CHECK_EQ(ew_get32(ip + 12), tb_ip4("10.0.1.1"), "echo reply from the router");
    CHECK_EQ(ew_get32(ip + 16), tb_ip4("10.0.1.10"), "echo reply to the sender");
    CHECK_EQ(ip[20], 0, "echo reply type");
    CHECK_EQ(ew_get16(ip + 24), 0x99, "identifier kept");
    CHECK(fr_ip4_csum_ok(f) && fr_l4_csum_ok(f, len), "echo reply checksums");
    CHECK_EQ(len, sent, "echo reply length");

    len = fr_icmp6(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "fd00::10", "fd00::1", 128, 0, 0x55,
                   16);
    v = run(P_WEB);
    EXPECT_REPLY(v, P_WEB, "ping router v6");
    uint8_t r6[16];
    tb_ip6("fd00::1", r6);
    CHECK_MEM(f + 14 + 8, r6, 16, "v6 echo reply source");
    CHECK_EQ(f[54], 129, "v6 echo reply type");
    CHECK(fr_l4_csum_ok(f, len), "v6 echo reply checksum");

    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.1.1", 1000, 22,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_WEB), EW_DROP_ROUTER_UNHANDLED, "tcp to the router");
    CHECK(cnt(P_WEB, EW_CNT_ROUTER_ICMP_REPLIES) == 2, "router replies counted");
}

/* ---- anti-spoof, broadcast, routes, MACs ---- */

static void test_l2_l3_checks(void) {
    struct {
        const char *name;
        uint32_t port;
        const uint8_t *smac, *dmac;
        const char *src, *dst;
        int want; /* -1 forward to out, else a drop reason */
        uint32_t out;
    } rows[] = {
        {"spoofed mac", P_WEB, fr_mac(E_DB), fr_mac(E_DB), "10.0.1.10", "10.0.1.20",
         EW_DROP_SPOOFED_MAC, 0},
        {"spoofed ip", P_WEB, fr_mac(E_WEB), fr_mac(E_DB), "10.0.1.99", "10.0.1.20",
         EW_DROP_SPOOFED_IP, 0},
        {"check off: any source", P_NOCHECK, fr_mac(E_NOCHECK), fr_mac(E_DB), "10.0.1.99",
         "10.0.1.20", EW_DROP_SG_INGRESS, 0},
        {"broadcast mac", P_WEB, fr_mac(E_WEB), (const uint8_t *)"\xff\xff\xff\xff\xff\xff",
         "10.0.1.10", "10.0.1.255", EW_DROP_BROADCAST, 0},
        {"subnet broadcast ip", P_WEB, fr_mac(E_WEB), fr_mac(E_DB), "10.0.1.10", "10.0.1.255",
         EW_DROP_BROADCAST, 0},
        {"multicast ip", P_WEB, fr_mac(E_WEB), fr_mac(E_DB), "10.0.1.10", "224.0.0.251",
         EW_DROP_BROADCAST, 0},
        {"no such address", P_WEB, fr_mac(E_WEB), fr_rmac(SUB_A), "10.0.1.10", "10.0.9.9",
         EW_DROP_NO_ROUTE, 0},
        {"other vpc's eni", P_WEB, fr_mac(E_WEB), fr_mac(E_OTHER_VPC), "10.0.1.10", "10.0.1.40",
         EW_DROP_NO_ROUTE, 0},
        {"from the other vpc", P_OTHER_VPC, fr_mac(E_OTHER_VPC), fr_mac(E_WEB), "10.0.1.40",
         "10.0.1.10", EW_DROP_NO_ROUTE, 0},
        {"unbound eni", P_WEB, fr_mac(E_WEB), fr_mac(E_UNBOUND), "10.0.1.10", "10.0.1.50",
         EW_DROP_PORT_DOWN, 0},
        {"same subnet via router mac", P_WEB, fr_mac(E_WEB), fr_rmac(SUB_A), "10.0.1.10",
         "10.0.1.20", EW_DROP_WRONG_DST_MAC, 0},
        {"other subnet via its mac", P_WEB, fr_mac(E_WEB), fr_mac(E_OPEN), "10.0.1.10", "10.0.2.30",
         EW_DROP_WRONG_DST_MAC, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        len = fr_udp4(f, fr_macs(rows[i].smac, rows[i].dmac), rows[i].src, rows[i].dst, 1000, 7, 4);
        struct ew_verdict v = run(rows[i].port);
        if (rows[i].want < 0) {
            EXPECT_FWD(v, rows[i].out, rows[i].name);
        } else {
            EXPECT_DROP(v, rows[i].want, rows[i].name);
        }
    }
    /* An ingress refusal is the receiving ENI's verdict: counted on its port. */
    CHECK_EQ(drops(P_DB, EW_DROP_SG_INGRESS), 1, "SG_INGRESS counted on the receiver");
    CHECK_EQ(drops(P_NOCHECK, EW_DROP_SG_INGRESS), 0, "not on the sender");
    len = fr_udp6(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "fe80::10", "fd00::20", 1, 2, 4);
    EXPECT_DROP(run(P_WEB), EW_DROP_SPOOFED_IP, "link-local source outside NDP");
}

/* ---- service addresses and hairpin (issue 16) ---- */

/* An ENI with source/dest check off may send from any address; a service
 * address as source must not skip the receiver's groups. db allows tcp 5432
 * from web's members only, so each of these SYNs must be refused by db. */
static void test_service_source_is_filtered(void) {
    const char *v4[] = {"169.254.169.254", "169.254.169.253", "169.254.169.123", "10.0.0.2",
                        "10.0.1.1"};
    const char *v6[] = {"fd00:ec2::254", "fd00:ec2::253", "fd00:ec2::123", "fd00::1"};
    struct fr_l2 l2 = fr_macs(fr_mac(E_NOCHECK), fr_mac(E_DB));
    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
        uint64_t before = drops(P_DB, EW_DROP_SG_INGRESS);
        len = fr_tcp4(f, l2, v4[i], "10.0.1.20", 40000, 22, EW_TCP_SYN);
        EXPECT_DROP(run(P_NOCHECK), EW_DROP_SG_INGRESS, v4[i]);
        CHECK_EQ(drops(P_DB, EW_DROP_SG_INGRESS), before + 1, "counted on the receiver");
        len = fr_udp4(f, l2, v4[i], "10.0.1.20", 53, 5432, 4);
        EXPECT_DROP(run(P_NOCHECK), EW_DROP_SG_INGRESS, v4[i]);
    }
    for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        len = fr_tcp6(f, l2, v6[i], "fd00::20", 40000, 22, EW_TCP_SYN);
        EXPECT_DROP(run(P_NOCHECK), EW_DROP_SG_INGRESS, v6[i]);
    }
    /* The allowed case still passes: from web's own address to db:5432. */
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.11", "10.0.1.20", 40100, 5432,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_WEB), P_DB, "web member to db 5432");
    /* A service source with a rule that admits it: open allows 10.0.0.0/16 in. */
    len = fr_tcp4(f, fr_macs(fr_mac(E_NOCHECK), fr_rmac(SUB_A)), "10.0.0.2", "10.0.2.30", 40200, 22,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_NOCHECK), P_OPEN, "service source judged by the rules, here allowed");
    CHECK_EQ(cnt(P_NOCHECK, EW_CNT_EXEMPT), 0, "nothing is exempt by address");
}

/* Traffic to a service address eniwall does not provide: dropped with its reason,
 * whatever the groups (open allows all egress). */
static void test_to_service_dropped(void) {
    const char *v4[] = {"169.254.169.254", "169.254.169.253", "169.254.169.123", "10.0.0.2"};
    const char *v6[] = {"fd00:ec2::254", "fd00:ec2::253", "fd00:ec2::123"};
    uint64_t before = drops(P_OPEN, EW_DROP_SERVICE_UNAVAILABLE);
    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
        len = fr_udp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", v4[i], 4000, 53, 4);
        EXPECT_DROP(run(P_OPEN), EW_DROP_SERVICE_UNAVAILABLE, v4[i]);
    }
    for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        len = fr_tcp6(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "fd00:0:0:1::30", v6[i], 4000, 80,
                      EW_TCP_SYN);
        EXPECT_DROP(run(P_OPEN), EW_DROP_SERVICE_UNAVAILABLE, v6[i]);
    }
    CHECK_EQ(drops(P_OPEN, EW_DROP_SERVICE_UNAVAILABLE), before + 7, "SERVICE_UNAVAILABLE counted");
}

static void test_hairpin(void) {
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_WEB)), "10.0.1.10", "10.0.1.10", 1, 2, 4);
    EXPECT_DROP(run(P_WEB), EW_DROP_HAIRPIN, "to own primary address");
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_WEB)), "10.0.1.10", "10.0.1.11", 1, 2, 4);
    EXPECT_DROP(run(P_WEB), EW_DROP_HAIRPIN, "to own secondary address");
    len = fr_tcp6(f, fr_macs(fr_mac(E_WEB), fr_mac(E_WEB)), "fd00::10", "fd00::10", 1, 80,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_WEB), EW_DROP_HAIRPIN, "to own IPv6 address");
    CHECK_EQ(drops(P_WEB, EW_DROP_HAIRPIN), 3, "HAIRPIN counted");
}

/* ---- SG + conntrack within a subnet ---- */

static void test_subnet_conntrack(void) {
    uint64_t new_web = cnt(P_WEB, EW_CNT_CT_NEW), new_db = cnt(P_DB, EW_CNT_CT_NEW);
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 40001, 5432,
                  EW_TCP_SYN);
    uint8_t sent[128];
    memcpy(sent, f, len);
    struct ew_verdict v = run(P_WEB);
    EXPECT_FWD(v, P_DB, "web -> db 5432 syn");
    CHECK_MEM(f, sent, len, "same-subnet frame unchanged");
    CHECK_EQ(cnt(P_WEB, EW_CNT_CT_NEW), new_web + 1, "tracked in web's zone");
    CHECK_EQ(cnt(P_DB, EW_CNT_CT_NEW), new_db + 1, "tracked in db's zone");

    uint64_t hits_db = cnt(P_DB, EW_CNT_CT_HITS);
    len = fr_tcp4(f, fr_macs(fr_mac(E_DB), fr_mac(E_WEB)), "10.0.1.20", "10.0.1.10", 5432, 40001,
                  EW_TCP_SYN | EW_TCP_ACK);
    EXPECT_FWD(run(P_DB), P_WEB, "syn-ack returns although db's egress allows only 443");
    CHECK_EQ(cnt(P_DB, EW_CNT_CT_HITS), hits_db + 1, "conntrack hit in db's zone");
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 40001, 5432,
                  EW_TCP_ACK);
    EXPECT_FWD(run(P_WEB), P_DB, "ack");

    len = fr_tcp4(f, fr_macs(fr_mac(E_DB), fr_mac(E_WEB)), "10.0.1.20", "10.0.1.10", 40002, 5432,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_DB), EW_DROP_SG_EGRESS, "db may not open connections to web");
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 40003, 22,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_WEB), EW_DROP_SG_INGRESS, "db does not accept ssh");
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 40001, 5432,
                  EW_TCP_SYN | EW_TCP_FIN);
    EXPECT_DROP(run(P_WEB), EW_DROP_CT_INVALID, "syn+fin");

    /* ICMP error about the tracked connection is RELATED both ways; db's egress
     * has no ICMP rule. An error about nothing tracked is unrelated. */
    uint8_t orig[128];
    uint32_t n = fr_tcp4(orig, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20",
                         40001, 5432, EW_TCP_ACK);
    len = fr_icmp4_error(f, fr_macs(fr_mac(E_DB), fr_mac(E_WEB)), "10.0.1.20", "10.0.1.10", 3, 4,
                         orig, n);
    EXPECT_FWD(run(P_DB), P_WEB, "related icmp error");
    n = fr_tcp4(orig, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 49999, 5432,
                EW_TCP_ACK);
    len = fr_icmp4_error(f, fr_macs(fr_mac(E_DB), fr_mac(E_WEB)), "10.0.1.20", "10.0.1.10", 3, 4,
                         orig, n);
    EXPECT_DROP(run(P_DB), EW_DROP_ICMP_ERROR_UNRELATED, "unrelated icmp error");
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 40009, 5432,
                  EW_TCP_ACK);
    EXPECT_FWD(run(P_WEB), P_DB, "bare ack without entry: judged by the rules");
}

/* ---- routing ---- */

static void test_routing(void) {
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 50000, 22,
                  EW_TCP_SYN);
    struct ew_verdict v = run(P_OPEN);
    EXPECT_FWD(v, P_WEB, "routed ssh syn");
    CHECK_MEM(f, fr_mac(E_WEB), 6, "routed: dst mac = destination eni");
    CHECK_MEM(f + 6, fr_rmac(SUB_B), 6, "routed: src mac = router");
    CHECK_EQ(f[14 + 8], 63, "ttl decremented");
    CHECK(fr_ip4_csum_ok(f), "ip checksum after ttl decrement");
    CHECK(fr_l4_csum_ok(f, len), "l4 checksum untouched");
    CHECK_EQ(cnt(P_OPEN, EW_CNT_ROUTED), 1, "ROUTED counted");

    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 50001, 22,
                  EW_TCP_SYN);
    f[14 + 8] = 1;
    ew_put16(f + 24, 0);
    ew_put16(f + 24, ew_csum_finish(ew_csum_add(0, f + 14, 20)));
    uint8_t orig_ip[40];
    memcpy(orig_ip, f + 14, 40);
    v = run(P_OPEN);
    EXPECT_REPLY(v, P_OPEN, "ttl 1 -> time exceeded");
    const uint8_t *ip = f + 14;
    CHECK_MEM(f, fr_mac(E_OPEN), 6, "time exceeded eth dst");
    CHECK_MEM(f + 6, fr_rmac(SUB_B), 6, "time exceeded eth src");
    CHECK_EQ(ew_get32(ip + 12), tb_ip4("10.0.2.1"), "from the subnet router");
    CHECK_EQ(ew_get32(ip + 16), tb_ip4("10.0.2.30"), "to the sender");
    CHECK(ip[9] == 1 && ip[20] == 11 && ip[21] == 0, "icmp time exceeded");
    CHECK_MEM(ip + 28, orig_ip, 40, "quotes the original packet");
    CHECK_EQ(len, 14 + 28 + 40, "time exceeded length");
    CHECK(fr_ip4_csum_ok(f) && fr_l4_csum_ok(f, len), "time exceeded checksums");

    len =
        fr_udp6(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "fd00:0:0:1::30", "fd00::10", 1, 53, 8);
    f[14 + 7] = 1;
    v = run(P_OPEN);
    EXPECT_REPLY(v, P_OPEN, "hop limit 1 -> v6 time exceeded");
    uint8_t r6[16];
    tb_ip6("fd00:0:0:1::1", r6);
    CHECK_MEM(f + 14 + 8, r6, 16, "v6 error from the subnet router");
    CHECK(f[14 + 6] == 58 && f[54] == 3, "icmpv6 time exceeded");
    CHECK(fr_l4_csum_ok(f, len), "icmpv6 checksum");

    len =
        fr_udp6(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "fd00:0:0:1::30", "fd00::10", 1, 53, 8);
    EXPECT_DROP(run(P_OPEN), EW_DROP_SG_INGRESS, "web accepts no udp over v6");
    len = fr_tcp6(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "fd00:0:0:1::30", "fd00::10", 5, 80,
                  EW_TCP_SYN);
    v = run(P_OPEN);
    EXPECT_FWD(v, P_WEB, "v6 http routed");
    CHECK_EQ(f[14 + 7], 63, "hop limit decremented");
}

/* ---- tracked vs untracked, and a table swap ---- */

static void test_tracking_and_swap(void) {
    uint32_t web_before = ew_core_ct_count(core, P_WEB);
    uint64_t untracked = cnt(P_WEB, EW_CNT_UNTRACKED);
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 51000, 80,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_OPEN), P_WEB, "http syn");
    CHECK_EQ(cnt(P_WEB, EW_CNT_UNTRACKED), untracked + 1, "http to web is untracked (4.2)");
    CHECK_EQ(ew_core_ct_count(core, P_WEB), web_before, "no entry for the untracked flow");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 51001, 22,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_OPEN), P_WEB, "ssh syn");
    CHECK_EQ(ew_core_ct_count(core, P_WEB), web_before + 1, "ssh is tracked");
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 22, 51001,
                  EW_TCP_SYN | EW_TCP_ACK);
    EXPECT_FWD(run(P_WEB), P_OPEN, "ssh syn-ack");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 51001, 22,
                  EW_TCP_ACK);
    EXPECT_FWD(run(P_OPEN), P_WEB, "ssh ack");

    /* Swap to a table where web has no inbound tcp rules at all. */
    struct ew_table_view *old = table;
    table = build(false);
    CHECK(table != NULL && ew_table_generation(table) == 2, "new generation loaded");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 51001, 22,
                  EW_TCP_ACK | 0x08);
    EXPECT_FWD(run(P_OPEN), P_WEB, "tracked ssh survives the rule removal");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 51000, 80,
                  EW_TCP_ACK);
    EXPECT_DROP(run(P_OPEN), EW_DROP_SG_INGRESS, "untracked http is cut at once");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 51002, 22,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_OPEN), EW_DROP_SG_INGRESS, "new ssh refused");
    ew_table_free(table);
    table = old;
}

static void test_icmp_echo_and_fragments(void) {
    len = fr_icmp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 8, 0, 7, 8);
    EXPECT_FWD(run(P_WEB), P_OPEN, "ping open");
    len =
        fr_icmp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 0, 0, 7, 8);
    EXPECT_FWD(run(P_OPEN), P_WEB, "echo reply by conntrack");
    len = fr_icmp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 8, 0, 8, 8);
    EXPECT_DROP(run(P_WEB), EW_DROP_SG_INGRESS, "db accepts no ping");

    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 7000, 7001,
                  64);
    fr_ip4_frag(f, 0x4444, 0, true);
    EXPECT_FWD(run(P_WEB), P_OPEN, "first fragment");
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 7000, 7001,
                  64);
    fr_ip4_frag(f, 0x4444, 72, false);
    EXPECT_FWD(run(P_WEB), P_OPEN, "later fragment follows the first");
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 7000, 7001,
                  64);
    fr_ip4_frag(f, 0x4445, 72, false);
    EXPECT_DROP(run(P_WEB), EW_DROP_FRAGMENT, "orphan fragment");
}

static void test_no_table_and_unbound(void) {
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 1, 2, 4);
    struct ew_verdict v;
    uint64_t rx = cnt(P_WEB, EW_CNT_RX_PACKETS);
    ew_process(&w, NULL, P_WEB, f, &len, sizeof f, &v);
    EXPECT_DROP(v, EW_DROP_NO_TABLE, "no table");
    CHECK_EQ(cnt(P_WEB, EW_CNT_RX_PACKETS), rx + 1, "RX counted without a table");
    CHECK_EQ(drops(P_WEB, EW_DROP_NO_TABLE), 1, "NO_TABLE counted");
    EXPECT_DROP(run(9), EW_DROP_PORT_NOT_BOUND, "unbound port");
    EXPECT_DROP(run(EW_MAX_PORTS + 5), EW_DROP_PORT_NOT_BOUND, "port beyond range");
    len = 10;
    EXPECT_DROP(run(P_WEB), EW_DROP_TRUNCATED_ETH, "runt frame");
}

static void test_allowance(void) {
    struct ew_core_config cfg = {.conntrack_max = 1000, .allowance_per_eni = 3, .hash_salt = 3};
    struct ew_core *small = ew_core_create(&cfg, NULL, 0);
    struct ew_worker_ctx w2 = {small, pcs, 0, NULL, NULL, NULL};
    int fwd = 0;
    struct ew_verdict v;
    for (uint16_t i = 0; i < 3; i++) {
        len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30",
                      (uint16_t)(2000 + i), 53, 4);
        ew_process(&w2, table, P_WEB, f, &len, sizeof f, &v);
        fwd += v.action == EW_ACT_FORWARD;
    }
    CHECK_EQ(fwd, 3, "three flows within the allowance");
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 2999, 53, 4);
    ew_process(&w2, table, P_WEB, f, &len, sizeof f, &v);
    EXPECT_DROP(v, EW_DROP_CT_ALLOWANCE_EXCEEDED, "fourth flow");
    CHECK_EQ(ew_core_ct_allowance_exceeded(small, P_WEB), 1, "allowance exceeded counted");
    CHECK_EQ(ew_core_ct_allowance_exceeded(small, P_OPEN), 0, "other zone unaffected");
    len =
        fr_udp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 53, 2000, 4);
    ew_process(&w2, table, P_OPEN, f, &len, sizeof f, &v);
    EXPECT_FWD(v, P_WEB, "existing flow still answered");
    ew_core_flush_port(small, P_WEB);
    CHECK_EQ(ew_core_ct_count(small, P_WEB), 0, "flush port");
    ew_core_destroy(small);
}

/* No defaults in C: a zero conntrack_max or allowance is refused with a message
 * naming the field (the control plane's DEFAULT_OPTIONS owns the defaults). */
static void test_config_refuses_zero(void) {
    char err[128] = "";
    struct ew_core_config no_max = {.conntrack_max = 0, .allowance_per_eni = 16, .hash_salt = 1};
    CHECK(ew_core_create(&no_max, err, sizeof err) == NULL, "conntrack_max 0 refused");
    CHECK(strstr(err, "conntrack_max") != NULL, "the message names conntrack_max");
    err[0] = '\0';
    struct ew_core_config no_allow = {.conntrack_max = 64, .allowance_per_eni = 0, .hash_salt = 1};
    CHECK(ew_core_create(&no_allow, err, sizeof err) == NULL, "allowance_per_eni 0 refused");
    CHECK(strstr(err, "allowance_per_eni") != NULL, "the message names allowance_per_eni");
    CHECK(ew_core_create(NULL, NULL, 0) == NULL, "no config refused");
    struct ew_core_config ok = {.conntrack_max = 64, .allowance_per_eni = 1, .hash_salt = 1};
    struct ew_core *c = ew_core_create(&ok, err, sizeof err);
    CHECK(c != NULL, "explicit minimum values accepted");
    ew_core_destroy(c);
}

/* ---- network ACLs (subnet boundary, stateless) ---- */

#define ALLOW EW_NACL_ALLOW
#define DENY  EW_NACL_DENY

/* Swaps in a table with the given NACLs (the topology of build(true)); the
 * caller restores the base table with nacl_restore(). */
static struct ew_table_view *base_table;
static void nacl_table(nacl_fn fn) {
    if (table != base_table) ew_table_free(table);
    table = build_with(true, fn);
    CHECK(table != NULL, "NACL table loads");
}
static void nacl_restore(void) {
    if (table != base_table) ew_table_free(table);
    table = base_table;
}

/* B ingress: 90 deny tcp 22 from subnet A, 100 allow all; egress allow all. */
static void n_deny_below_allow(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 90, 6, 22, 22, "10.0.1.0/24", DENY);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_subnet_nacl(b, SUB_B, a);
}
/* The same two entries with the numbers swapped: the allow comes first. */
static void n_allow_below_deny(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 100, 6, 22, 22, "10.0.1.0/24", DENY);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 90, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_subnet_nacl(b, SUB_B, a);
}

static void test_nacl_rule_order(void) {
    nacl_table(n_deny_below_allow);
    uint64_t in_b = drops(P_OPEN, EW_DROP_NACL_INGRESS), out_a = drops(P_WEB, EW_DROP_NACL_EGRESS);
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41000, 22,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_WEB), EW_DROP_NACL_INGRESS, "deny 90 below allow 100 wins");
    CHECK_EQ(drops(P_OPEN, EW_DROP_NACL_INGRESS), in_b + 1, "NACL_INGRESS on the receiver's port");
    CHECK_EQ(drops(P_WEB, EW_DROP_NACL_INGRESS), 0, "not on the sender's");
    CHECK_EQ(drops(P_WEB, EW_DROP_NACL_EGRESS), out_a, "subnet A has no NACL: no egress drop");
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41000, 23,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_WEB), P_OPEN, "port 23 falls to allow 100");
    nacl_table(n_allow_below_deny);
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41001, 22,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_WEB), P_OPEN, "allow 90 below deny 100 lets it through");
    nacl_restore();
}

/* Deny-all (no entries: only `*`) on both subnets. */
static void n_deny_all_ab(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_subnet_nacl(b, SUB_A, a);
    tb_subnet_nacl(b, SUB_B, a);
}

static void test_nacl_same_subnet(void) {
    nacl_table(n_deny_all_ab);
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_mac(E_DB)), "10.0.1.10", "10.0.1.20", 41100, 5432,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_WEB), P_DB, "same subnet: a deny-all NACL is not evaluated");
    uint64_t out_a = drops(P_WEB, EW_DROP_NACL_EGRESS);
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41101, 22,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_WEB), EW_DROP_NACL_EGRESS, "different subnets: blocked leaving A");
    CHECK_EQ(drops(P_WEB, EW_DROP_NACL_EGRESS), out_a + 1, "NACL_EGRESS on the sender's port");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 41102, 22,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_OPEN), EW_DROP_NACL_EGRESS, "blocked leaving B");
    /* The first refusal decides: db's egress groups refuse before the NACL. */
    len = fr_tcp4(f, fr_macs(fr_mac(E_DB), fr_rmac(SUB_A)), "10.0.1.20", "10.0.2.30", 41103, 80,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_DB), EW_DROP_SG_EGRESS, "SG egress before NACL egress");
    /* The router and service addresses are never filtered by a NACL. */
    len = fr_icmp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.1.1", 8, 0, 5, 8);
    EXPECT_REPLY(run(P_WEB), P_WEB, "router ping under a deny-all NACL");
    nacl_restore();
}

/* B ingress denies web (rule 50) above allow all; egress allow all. */
static void n_cut_web(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 50, TB_ANY, 0, 0, "10.0.1.10/32", DENY);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_subnet_nacl(b, SUB_B, a);
}

static void test_nacl_cuts_tracked(void) {
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41200, 22,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_WEB), P_OPEN, "syn");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 22, 41200,
                  EW_TCP_SYN | EW_TCP_ACK);
    EXPECT_FWD(run(P_OPEN), P_WEB, "syn-ack");
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41200, 22,
                  EW_TCP_ACK);
    EXPECT_FWD(run(P_WEB), P_OPEN, "established");
    uint32_t ct_web = ew_core_ct_count(core, P_WEB), ct_open = ew_core_ct_count(core, P_OPEN);
    uint64_t hits = cnt(P_WEB, EW_CNT_CT_HITS);
    nacl_table(n_cut_web);
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41200, 22,
                  EW_TCP_ACK);
    EXPECT_DROP(run(P_WEB), EW_DROP_NACL_INGRESS, "a deny cuts the tracked connection at once");
    CHECK_EQ(cnt(P_WEB, EW_CNT_CT_HITS), hits + 1, "it was a conntrack hit (stateless NACL)");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 22, 41200,
                  EW_TCP_ACK);
    EXPECT_FWD(run(P_OPEN), P_WEB, "the other direction is not denied");
    CHECK_EQ(ew_core_ct_count(core, P_WEB), ct_web, "no conntrack flush (sender's zone)");
    CHECK_EQ(ew_core_ct_count(core, P_OPEN), ct_open, "no conntrack flush (receiver's zone)");
    nacl_restore();
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41200, 22,
                  EW_TCP_ACK);
    EXPECT_FWD(run(P_WEB), P_OPEN, "deny removed: the same connection flows again");
}

/* B: ssh in; egress ssh only (no ephemeral ports), or with 1024-65535. */
static void n_ssh_only(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 100, 6, 22, 22, "0.0.0.0/0", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 100, 6, 22, 22, "0.0.0.0/0", ALLOW);
    tb_subnet_nacl(b, SUB_B, a);
}
static void n_ssh_ephemeral(struct tb *b) {
    n_ssh_only(b);
    tb_nacl_entry(b, 0, EW_DIR_EGRESS, 110, 6, 1024, 65535, "0.0.0.0/0", ALLOW);
}

static void test_nacl_ephemeral(void) {
    nacl_table(n_ssh_only);
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41300, 22,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_WEB), P_OPEN, "syn in");
    uint64_t out_b = drops(P_OPEN, EW_DROP_NACL_EGRESS);
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 22, 41300,
                  EW_TCP_SYN | EW_TCP_ACK);
    EXPECT_DROP(run(P_OPEN), EW_DROP_NACL_EGRESS, "syn-ack out: no ephemeral egress allow");
    CHECK_EQ(drops(P_OPEN, EW_DROP_NACL_EGRESS), out_b + 1, "on the replying ENI's port");
    nacl_table(n_ssh_ephemeral);
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 22, 41300,
                  EW_TCP_SYN | EW_TCP_ACK);
    EXPECT_FWD(run(P_OPEN), P_WEB, "syn-ack out with 1024-65535");
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 22, 1023,
                  EW_TCP_SYN | EW_TCP_ACK);
    EXPECT_DROP(run(P_OPEN), EW_DROP_NACL_EGRESS, "1023 is below the range");
    nacl_restore();
}

/* B ingress IPv6: 100 deny tcp 80 from web's fd00::10, 110 allow all IPv6;
 * nothing for IPv4 (so `*` 32767 refuses it). B egress allows both. */
static void n_ipv6(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 100, 6, 80, 80, "fd00::10/128", DENY);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 110, TB_ANY, 0, 0, "::/0", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 101, TB_ANY, 0, 0, "::/0", ALLOW);
    tb_subnet_nacl(b, SUB_B, a);
}

static void test_nacl_ipv6(void) {
    nacl_table(n_ipv6);
    len = fr_tcp6(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "fd00::10", "fd00:0:0:1::30", 41400,
                  80, EW_TCP_SYN);
    EXPECT_DROP(run(P_WEB), EW_DROP_NACL_INGRESS, "v6 deny for fd00::10");
    len = fr_tcp6(f, fr_macs(fr_mac(E_NOCHECK), fr_rmac(SUB_A)), "fd00::60", "fd00:0:0:1::30",
                  41400, 80, EW_TCP_SYN);
    EXPECT_FWD(run(P_NOCHECK), P_OPEN, "v6 allow 110 for another source");
    len = fr_udp6(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "fd00::10", "fd00:0:0:1::30", 41400,
                  80, 8);
    EXPECT_FWD(run(P_WEB), P_OPEN, "udp 80 is not the tcp deny");
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41401, 22,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_WEB), EW_DROP_NACL_INGRESS, "no IPv4 ingress entry: `*` denies IPv4");
    nacl_restore();
}

/* B ingress: echo request (8/0) allowed, destination unreachable (3/all) denied,
 * the rest `*`; B egress allows all. */
static void n_icmp(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 100, 1, 0x0800, 0x0800, "0.0.0.0/0", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 110, 1, 0x0300, 0x03ff, "0.0.0.0/0", DENY);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 120, 1, 0x0300, 0x03ff, "0.0.0.0/0", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_subnet_nacl(b, SUB_B, a);
}

static void test_nacl_icmp(void) {
    nacl_table(n_icmp);
    len =
        fr_icmp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 8, 0, 41, 8);
    EXPECT_FWD(run(P_WEB), P_OPEN, "echo request 8/0 allowed");
    len =
        fr_icmp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 8, 1, 42, 8);
    EXPECT_DROP(run(P_WEB), EW_DROP_NACL_INGRESS, "8/1 is not 8/0");
    len =
        fr_icmp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 13, 0, 43, 8);
    EXPECT_DROP(run(P_WEB), EW_DROP_NACL_INGRESS, "timestamp: `*`");
    uint8_t orig[128];
    uint32_t olen = fr_udp4(orig, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10",
                            53, 41400, 8);
    len = fr_icmp4_error(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 3, 3,
                         orig, olen);
    EXPECT_DROP(run(P_WEB), EW_DROP_NACL_INGRESS,
                "an ICMP error judged by its type (3/3, rule 110)");
    nacl_restore();
}

/* B ingress: protocol -1 from web only; egress allow all. */
static void n_any_from_web(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_nacl_entry(b, a, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "10.0.1.10/32", ALLOW);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_subnet_nacl(b, SUB_B, a);
}

static void test_nacl_any_protocol(void) {
    nacl_table(n_any_from_web);
    len = fr_tcp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41500, 9999,
                  EW_TCP_SYN);
    EXPECT_FWD(run(P_WEB), P_OPEN, "-1: tcp");
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41500, 1, 8);
    EXPECT_FWD(run(P_WEB), P_OPEN, "-1: udp");
    uint8_t gre[8] = {0};
    len =
        fr_ip4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 47, 64, gre, 8);
    EXPECT_FWD(run(P_WEB), P_OPEN, "-1: gre");
    len = fr_udp4(f, fr_macs(fr_mac(E_NOCHECK), fr_rmac(SUB_A)), "10.0.1.60", "10.0.2.30", 41500, 1,
                  8);
    EXPECT_DROP(run(P_NOCHECK), EW_DROP_NACL_INGRESS, "-1 from another peer: `*`");
    nacl_restore();
}

/* A: deny all ingress (no entries); B: no NACL at all. */
static void n_only_a(struct tb *b) {
    uint32_t a = tb_nacl(b);
    tb_nacl_entry(b, a, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", ALLOW);
    tb_subnet_nacl(b, SUB_A, a);
}

static void test_nacl_none(void) {
    /* The base table has no NACL: cross-subnet traffic is not filtered. */
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41600, 7, 8);
    EXPECT_FWD(run(P_WEB), P_OPEN, "no NACL: not filtered");
    nacl_table(n_only_a);
    len = fr_udp4(f, fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)), "10.0.1.10", "10.0.2.30", 41601, 7, 8);
    EXPECT_FWD(run(P_WEB), P_OPEN, "A egress allows, B has none");
    uint64_t in_a = drops(P_WEB, EW_DROP_NACL_INGRESS);
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 41602, 22,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_OPEN), EW_DROP_NACL_INGRESS, "B has no NACL, A's ingress `*` denies");
    CHECK_EQ(drops(P_WEB, EW_DROP_NACL_INGRESS), in_a + 1, "counted on the receiver (web)");
    /* The receiver's groups would also refuse port 23: the NACL comes first. */
    len = fr_tcp4(f, fr_macs(fr_mac(E_OPEN), fr_rmac(SUB_B)), "10.0.2.30", "10.0.1.10", 41603, 23,
                  EW_TCP_SYN);
    EXPECT_DROP(run(P_OPEN), EW_DROP_NACL_INGRESS, "NACL ingress before SG ingress");
    nacl_restore();
}

int main(void) {
    struct ew_core_config cfg = {
        .conntrack_max = 65536, .allowance_per_eni = 16384, .hash_salt = 0xabcdef};
    char err[128];
    core = ew_core_create(&cfg, err, sizeof err);
    pcs = calloc(EW_MAX_PORTS, sizeof *pcs);
    w = (struct ew_worker_ctx){core, pcs, 1000000, NULL, NULL, NULL};
    table = build(true);
    CHECK(core && table, "setup");
    if (!core || !table) return harness_report("test_process");
    test_arp();
    test_nd();
    test_router_ping();
    test_l2_l3_checks();
    test_service_source_is_filtered();
    test_to_service_dropped();
    test_hairpin();
    test_subnet_conntrack();
    test_routing();
    test_tracking_and_swap();
    test_icmp_echo_and_fragments();
    test_no_table_and_unbound();
    test_allowance();
    test_config_refuses_zero();
    base_table = table;
    test_nacl_rule_order();
    test_nacl_same_subnet();
    test_nacl_cuts_tracked();
    test_nacl_ephemeral();
    test_nacl_ipv6();
    test_nacl_icmp();
    test_nacl_any_protocol();
    test_nacl_none();
    uint64_t dumped = 0, cursor = 0;
    struct ew_ct_dump_entry page[16];
    do
        dumped += ew_core_ct_dump(core, &cursor, page, 16, w.now_ms);
    while (cursor);
    uint64_t held = 0;
    for (uint32_t p = 0; p < 8; p++)
        held += ew_core_ct_count(core, p);
    CHECK_EQ(dumped, held, "dump matches zone counts");
    ew_table_free(table);
    ew_core_destroy(core);
    free(pcs);
    return harness_report("test_process");
}
