/*
 * Writes the hand-made seed inputs of the three harnesses into
 * <dir>/<harness>/seed-*: tables built by tbuild (fuzz_table), synthesised
 * frames (fuzz_parse) and op sequences over the world of world.c
 * (fuzz_process; the format is described in fuzz_process.c). The committed
 * corpus is these seeds plus what libFuzzer runs merged in (`make fuzz`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "synth.h"
#include "tbuild.h"
#include "world.h"

static const char *root;

static void write_seed(const char *harness, const char *name, const uint8_t *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, harness);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/seed-%s", root, harness, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- fuzz_process op sequences ---- */

struct seq {
    uint8_t b[4096];
    size_t n;
};

static void put(struct seq *s, uint8_t v) {
    s->b[s->n++] = v;
}

static void put16(struct seq *s, uint16_t v) {
    put(s, (uint8_t)(v >> 8));
    put(s, (uint8_t)v);
}

/* Port selectors (index into fuzz_process.c's ports[]). */
enum { P_WEB = 0, P_DB = 1, P_APP = 2, P_NAT = 3, P_OTHER = 8, P_UNBOUND = 11, P_HUGE = 14 };
/* Address selectors for the destination (pool index; see fuzz_process.c). */
enum {
    A_WEB = 0,
    A_WEB2 = 1,
    A_DB = 2,
    A_APP = 3,
    A_NAT = 4,
    A_UNBOUND = 5,
    A_ROUTER_A = 7,
    A_DNS = 9,
    A_IMDS = 10
};
enum { A6_WEB = 0, A6_DB = 1, A6_APP = 2, A6_NAT = 3, A6_ROUTER_A = 5 };
/* Source selectors: 0/1 own addresses, n + 2 pool entry n. */
#define SRC_POOL(n) ((uint8_t)((n) + 2))

struct frame_args {
    uint8_t port, layout, family, kind, frag, ext, src, dst, macs;
    uint16_t sport, dport;
    uint8_t flags, ttl, payload, frag_id;
};

static void synth(struct seq *s, const struct frame_args *a) {
    put(s, 0); /* op: synthesised frame */
    put(s, a->port);
    put(s, a->layout);
    put(s, (uint8_t)((a->family == 6) | a->kind << 1 | a->frag << 4 | a->ext << 6));
    put(s, a->src);
    put(s, a->dst);
    put(s, a->macs);
    put16(s, a->sport);
    put16(s, a->dport);
    put(s, a->flags);
    put(s, a->ttl);
    put(s, a->payload);
    put(s, a->frag_id);
    if (a->kind == SY_ICMP_ERROR) put(s, 4); /* quotes the reverse flow, inner TCP */
    put(s, 0);                               /* no byte flips */
}

static void tcp(struct seq *s, uint8_t port, uint8_t fam, uint8_t dst, uint16_t sp, uint16_t dp,
                uint8_t flags) {
    struct frame_args a = {.port = port,
                           .family = fam,
                           .kind = SY_TCP,
                           .dst = dst,
                           .sport = sp,
                           .dport = dp,
                           .flags = flags};
    synth(s, &a);
}

static void clock_ms(struct seq *s, uint32_t ms) {
    put(s, 6);
    put16(s, (uint16_t)(ms / 10));
}

static void sweep(struct seq *s, uint16_t budget) {
    put(s, 7);
    put16(s, budget);
}

static void process_seeds(void) {
    struct seq s;
    struct frame_args a;
#define SEED(name) write_seed("fuzz_process", name, s.b, s.n)

    /* web -> db postgres (group reference), the answer, then idle expiry. */
    s.n = 0;
    tcp(&s, P_WEB, 4, A_DB, 40000, 5432, 0x02);
    {
        /* db answers web: destination selector for web's address is A_WEB. */
        tcp(&s, P_DB, 4, A_WEB, 5432, 40000, 0x12);
        tcp(&s, P_WEB, 4, A_DB, 40000, 5432, 0x10);
        clock_ms(&s, 600000);
        sweep(&s, 65535);
        tcp(&s, P_DB, 4, A_WEB, 5432, 40000, 0x10);
    }
    SEED("tcp-group-ref");

    /* IPv6, routed between subnets: web -> app 8080 and back. */
    s.n = 0;
    tcp(&s, P_WEB, 6, A6_APP, 41000, 8080, 0x02);
    tcp(&s, P_APP, 6, A6_WEB, 8080, 41000, 0x12);
    tcp(&s, P_WEB, 6, A6_APP, 41000, 8080, 0x11);
    tcp(&s, P_APP, 6, A6_WEB, 8080, 41000, 0x04);
    SEED("tcp6-routed");

    /* Refused: db -> web 80 is fine, web -> db 22 is not; app -> web 22 is (group). */
    s.n = 0;
    tcp(&s, P_WEB, 4, A_DB, 40001, 22, 0x02);
    tcp(&s, P_APP, 4, A_WEB, 40002, 22, 0x02);
    tcp(&s, P_WEB, 4, A_APP, 22, 40002, 0x12);
    tcp(&s, P_DB, 4, A_WEB, 40003, 80, 0x02);
    tcp(&s, P_DB, 4, A_WEB, 40003, 80, 0x03); /* SYN+FIN: invalid */
    SEED("tcp-refusals");

    /* Network ACLs (world.c): stateless between subnets A and B. web -> app
     * 8000 and its answer to an ephemeral port pass; the answer to port 1000
     * is refused by B's egress list although conntrack carries it; nat -> web
     * ssh and udp 5050 are refused by A's ingress list (rules 90 and 50). */
    s.n = 0;
    tcp(&s, P_WEB, 4, A_APP, 41000, 8000, 0x02);
    tcp(&s, P_APP, 4, A_WEB, 8000, 41000, 0x12);
    tcp(&s, P_WEB, 4, A_APP, 1000, 8000, 0x02);
    tcp(&s, P_APP, 4, A_WEB, 8000, 1000, 0x12);
    tcp(&s, P_APP, 4, A_WEB, 40100, 22, 0x02);
    tcp(&s, P_NAT, 4, A_WEB, 40101, 22, 0x02);
    a = (struct frame_args){.port = P_NAT,
                            .family = 4,
                            .kind = SY_UDP,
                            .dst = A_WEB,
                            .sport = 7000,
                            .dport = 5050,
                            .payload = 8};
    synth(&s, &a);
    a.dport = 5049;
    synth(&s, &a);
    tcp(&s, P_WEB, 6, A6_APP, 41001, 8080, 0x02);
    tcp(&s, P_APP, 6, A6_WEB, 8080, 41001, 0x12);
    SEED("nacl-stateless");

    /* UDP: prefix list (nat's address is in 10.0.2.0/25), the untracked app rules. */
    s.n = 0;
    a = (struct frame_args){.port = P_NAT,
                            .family = 4,
                            .kind = SY_UDP,
                            .dst = A_DB,
                            .sport = 5353,
                            .dport = 53,
                            .payload = 30};
    synth(&s, &a);
    a.port = P_WEB;
    synth(&s, &a);
    a = (struct frame_args){.port = P_NAT,
                            .family = 4,
                            .kind = SY_UDP,
                            .dst = A_APP,
                            .sport = 1111,
                            .dport = 9999,
                            .payload = 8};
    synth(&s, &a);
    a.port = P_APP;
    a.dst = A_NAT;
    a.sport = 9999;
    a.dport = 1111;
    synth(&s, &a);
    clock_ms(&s, 31000);
    sweep(&s, 1024);
    synth(&s, &a);
    SEED("udp-prefix-list");

    /* Neighbours and the router: ARP, NS, ping to the router, TTL 1 routed. */
    s.n = 0;
    a = (struct frame_args){
        .port = P_WEB, .family = 4, .kind = SY_ARP, .dst = A_ROUTER_A, .macs = 0x20};
    synth(&s, &a);
    a.dst = A_DB;
    synth(&s, &a);
    a = (struct frame_args){.port = P_WEB,
                            .family = 4,
                            .kind = SY_ECHO_REQUEST,
                            .dst = A_ROUTER_A,
                            .macs = 0x10,
                            .sport = 77,
                            .payload = 56};
    synth(&s, &a);
    a = (struct frame_args){.port = P_WEB,
                            .family = 6,
                            .kind = SY_ICMP_OTHER,
                            .dst = A6_ROUTER_A,
                            .macs = 0x20,
                            .sport = 135 << 8,
                            .ttl = 255,
                            .payload = 24};
    synth(&s, &a);
    a = (struct frame_args){.port = P_WEB,
                            .family = 4,
                            .kind = SY_TCP,
                            .dst = A_APP,
                            .sport = 1,
                            .dport = 8000,
                            .flags = 2,
                            .ttl = 1,
                            .payload = 100,
                            .layout = 0x3c << 2};
    synth(&s, &a);
    SEED("neighbours-router");

    /* Ping and its ICMP errors: db may answer echo, web -> db unreachable. */
    s.n = 0;
    a = (struct frame_args){.port = P_DB,
                            .family = 4,
                            .kind = SY_ECHO_REQUEST,
                            .dst = A_WEB,
                            .sport = 0x1234,
                            .payload = 32};
    synth(&s, &a);
    a = (struct frame_args){.port = P_WEB,
                            .family = 4,
                            .kind = SY_ECHO_REPLY,
                            .dst = A_DB,
                            .sport = 0x1234,
                            .payload = 32};
    synth(&s, &a);
    tcp(&s, P_WEB, 4, A_DB, 40010, 5432, 0x02);
    a = (struct frame_args){.port = P_DB,
                            .family = 4,
                            .kind = SY_ICMP_ERROR,
                            .dst = A_WEB,
                            .sport = 5432,
                            .dport = 40010};
    synth(&s, &a);
    a.port = P_APP;
    a.dst = A_WEB;
    synth(&s, &a);
    SEED("icmp-echo-errors");

    /* Fragments: a first fragment, a later one, and a later one alone. */
    s.n = 0;
    a = (struct frame_args){.port = P_WEB,
                            .family = 4,
                            .kind = SY_TCP,
                            .frag = SY_FRAG_FIRST,
                            .dst = A_DB,
                            .sport = 40020,
                            .dport = 5432,
                            .flags = 2,
                            .payload = 200,
                            .frag_id = 9};
    synth(&s, &a);
    a.frag = SY_FRAG_LATER;
    synth(&s, &a);
    a.frag_id = 10;
    synth(&s, &a);
    a = (struct frame_args){.port = P_WEB,
                            .family = 6,
                            .kind = SY_UDP,
                            .frag = SY_FRAG_FIRST,
                            .ext = 1,
                            .dst = A6_DB,
                            .sport = 1,
                            .dport = 53,
                            .payload = 100,
                            .frag_id = 3};
    synth(&s, &a);
    a.frag = SY_FRAG_LATER;
    synth(&s, &a);
    SEED("fragments");

    /* Conntrack limits: more SYNs than the allowance, then than the table. */
    s.n = 0;
    for (uint16_t i = 0; i < 12; i++)
        tcp(&s, P_WEB, 4, A_APP, (uint16_t)(50000 + i), 8000, 0x02);
    for (uint16_t i = 0; i < 12; i++)
        tcp(&s, P_NAT, 4, A_APP, (uint16_t)(50000 + i), 8001, 0x02);
    for (uint16_t i = 0; i < 12; i++)
        tcp(&s, P_APP, 6, A6_NAT, (uint16_t)(50000 + i), 443, 0x02);
    clock_ms(&s, 130000);
    sweep(&s, 4096);
    tcp(&s, P_WEB, 4, A_APP, 50100, 8000, 0x02);
    SEED("conntrack-limits");

    /* Source/dest check: spoofed source on web; nat (check off) may use any source. */
    s.n = 0;
    tcp(&s, P_WEB, 4, A_DB, 1, 5432, 0x02);
    a = (struct frame_args){.port = P_WEB,
                            .family = 4,
                            .kind = SY_TCP,
                            .src = SRC_POOL(A_APP),
                            .dst = A_DB,
                            .sport = 2,
                            .dport = 5432,
                            .flags = 2};
    synth(&s, &a);
    a.port = P_NAT;
    a.src = SRC_POOL(A_WEB);
    synth(&s, &a);
    a.macs = 0x01;
    a.port = P_WEB;
    a.src = 0;
    synth(&s, &a);
    SEED("source-dest-check");

    /* Buffer layouts: vnet headers, exact and large capacities; odd ports. */
    s.n = 0;
    a = (struct frame_args){.port = P_WEB,
                            .layout = 1,
                            .family = 4,
                            .kind = SY_ECHO_REQUEST,
                            .dst = A_ROUTER_A,
                            .macs = 0x10,
                            .sport = 1,
                            .payload = 0};
    synth(&s, &a);
    a.layout = 2 | 1 << 2;
    a.family = 6;
    a.dst = A6_ROUTER_A;
    synth(&s, &a);
    a.layout = 0xff;
    a.family = 4;
    a.kind = SY_TCP;
    a.dst = A_APP;
    a.ttl = 1;
    synth(&s, &a);
    a.port = P_UNBOUND;
    synth(&s, &a);
    a.port = P_HUGE;
    synth(&s, &a);
    a.port = P_OTHER;
    a.dst = A_WEB;
    a.ttl = 64;
    a.macs = 0x30;
    synth(&s, &a);
    SEED("layouts-ports");

    /* Regression: a source/dest-check-off ENI sending from the exempt addresses
     * (metadata, VPC DNS, fd00:ec2::254) to ports the receiver does not allow. */
    s.n = 0;
    a = (struct frame_args){.port = P_NAT,
                            .family = 4,
                            .kind = SY_TCP,
                            .src = SRC_POOL(A_IMDS),
                            .dst = A_WEB,
                            .sport = 80,
                            .dport = 5432,
                            .flags = 2};
    synth(&s, &a);
    a.src = SRC_POOL(A_DNS);
    a.kind = SY_UDP;
    synth(&s, &a);
    a = (struct frame_args){.port = P_NAT,
                            .family = 6,
                            .kind = SY_TCP,
                            .src = SRC_POOL(8),
                            .dst = A6_DB,
                            .sport = 80,
                            .dport = 22,
                            .flags = 2};
    synth(&s, &a);
    SEED("exempt-source");

    /* Regression: an ENI sending to its own address (selector 254 wraps to "own"). */
    s.n = 0;
    a = (struct frame_args){.port = P_WEB,
                            .family = 4,
                            .kind = SY_UDP,
                            .dst = 254,
                            .macs = 0x30,
                            .sport = 1000,
                            .dport = 9,
                            .payload = 4};
    synth(&s, &a);
    a.family = 6;
    a.kind = SY_TCP;
    a.flags = 2;
    synth(&s, &a);
    SEED("hairpin");

    /* Raw frames: too short, a VLAN tag, garbage IPv4. */
    s.n = 0;
    static const uint8_t vlan[18] = {2, 0, 0, 0, 0, 11, 2, 0, 0, 0, 0, 10, 0x81, 0, 0, 1, 8, 0};
    put(&s, 4);
    put(&s, P_WEB);
    put(&s, 0);
    put16(&s, 5);
    for (int i = 0; i < 5; i++)
        put(&s, 0xff);
    put(&s, 4);
    put(&s, P_WEB);
    put(&s, 0);
    put16(&s, sizeof vlan);
    memcpy(s.b + s.n, vlan, sizeof vlan);
    s.n += sizeof vlan;
    SEED("raw");
#undef SEED
}

/* ---- fuzz_parse frames ---- */

static void parse_seeds(void) {
    uint8_t f[2048];
    struct sy_desc d;
    char name[32];
    unsigned n = 0;
    for (uint8_t fam = 4; fam <= 6; fam = (uint8_t)(fam + 2))
        for (uint8_t kind = SY_TCP; kind <= SY_ARP; kind++) {
            if (fam == 6 && kind == SY_ARP) continue;
            memset(&d, 0, sizeof d);
            d.family = fam;
            d.kind = kind;
            d.ttl = 64;
            d.src[0] = 10, d.dst[0] = 10, d.src[3] = 1, d.dst[3] = 2;
            d.sport = 1234;
            d.dport = 80;
            d.tcp_flags = 2;
            d.icmp_type = fam == 4 ? 3 : 1;
            d.proto = 47;
            d.payload = 16;
            d.inner_kind = (uint8_t)(kind % 4);
            d.frag = (uint8_t)(n % 3);
            d.frag_id = n;
            d.ext6 = (uint8_t)(n % 4);
            d.arp_op = 1;
            uint32_t len = sy_build(f, &d);
            snprintf(name, sizeof name, "frame-%02u", n++);
            write_seed("fuzz_parse", name, f, len);
        }
}

/* ---- fuzz_table tables ---- */

static void table_seeds(void) {
    size_t len;
    const uint8_t *t = w_table(&len);
    write_seed("fuzz_table", "world", t, len);

    static struct tb b;
    tb_init(&b);
    uint32_t v = tb_vpc(&b, "172.31.0.0", 16, NULL, 0);
    tb_subnet(&b, v, "172.31.0.0", 20, NULL, 0);
    uint32_t rs = tb_ruleset(&b);
    tb_rule(&b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, rs, EW_DIR_INGRESS, TB_ANY, 0, 0, "172.31.0.0/16");
    tb_eni(&b, 0, rs, 1, "172.31.0.10", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, 0, rs, 2, "172.31.0.20", NULL, EW_ENI_SRC_DST_CHECK);
    tb_exempt4(&b, "169.254.169.254");
    uint8_t *buf = tb_build(&b, &len);
    write_seed("fuzz_table", "default-vpc", buf, len);
    free(buf);

    /* Many small intervals and ranges: ports, ICMP codes, a prefix list. */
    tb_init(&b);
    v = tb_vpc(&b, "10.9.0.0", 16, "fd09::", 56);
    tb_subnet(&b, v, "10.9.0.0", 24, "fd09::", 64);
    tb_subnet(&b, v, "10.9.1.0", 24, "fd09:0:0:1::", 64);
    uint32_t r1 = tb_ruleset(&b), r2 = tb_ruleset(&b);
    uint32_t pl = tb_addr_set(&b, EW_FAM_V4, "10.9.0.0/28,10.9.0.64/27,192.0.2.0/24");
    uint32_t pl6 = tb_addr_set(&b, EW_FAM_V6, "fd09::/120,2001:db8::/48");
    for (uint16_t p = 0; p < 12; p++) {
        char cidr[32];
        snprintf(cidr, sizeof cidr, "10.9.%u.0/%u", p % 2, 24 + p % 8);
        tb_rule(&b, r1, EW_DIR_INGRESS, 6, (uint16_t)(1000 + 10 * p), (uint16_t)(1005 + 10 * p),
                cidr);
    }
    tb_rule_set(&b, r1, EW_DIR_INGRESS, 17, 0, 65535, pl);
    tb_rule_set(&b, r1, EW_DIR_INGRESS, 17, 53, 53, pl6);
    tb_rule(&b, r1, EW_DIR_INGRESS, 1, 0x0300, 0x0304, "0.0.0.0/0");
    tb_rule(&b, r1, EW_DIR_INGRESS, 58, 0x8000, 0x80ff, "::/0");
    tb_rule(&b, r1, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, r1, EW_DIR_EGRESS, TB_ANY, 0, 0, "::/0");
    tb_rule(&b, r2, EW_DIR_INGRESS, 6, 0, 65535, "0.0.0.0/0");
    tb_rule(&b, r2, EW_DIR_EGRESS, 6, 0, 65535, "0.0.0.0/0");
    tb_rule(&b, r2, EW_DIR_EGRESS, 50, 0, 65535, "10.9.0.0/16");
    tb_eni(&b, 0, r1, 1, "10.9.0.10,10.9.0.11", "fd09::10", EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, 1, r2, 2, "10.9.1.20", "fd09:0:0:1::20", 0);
    tb_eni(&b, 0, r2, 3, "10.9.0.30", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, 1, r1, EW_PORT_NONE, "10.9.1.40", NULL, EW_ENI_SRC_DST_CHECK);
    buf = tb_build(&b, &len);
    write_seed("fuzz_table", "intervals", buf, len);
    free(buf);

    /* The same with network ACLs on both subnets: many key intervals, peer
     * ranges that split one another (deny inside allow), both families. */
    uint32_t na = tb_nacl(&b), nb = tb_nacl(&b);
    for (uint16_t p = 0; p < 8; p++) {
        char cidr[32];
        snprintf(cidr, sizeof cidr, "10.9.%u.%u/%u", p % 2, 16 * p, 28 + p % 4);
        tb_nacl_entry(&b, na, EW_DIR_INGRESS, (uint16_t)(10 + p), 6, (uint16_t)(1000 + 7 * p),
                      (uint16_t)(1010 + 7 * p), cidr,
                      (uint8_t)(p % 2 ? EW_NACL_DENY : EW_NACL_ALLOW));
    }
    tb_nacl_entry(&b, na, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "10.9.0.0/16", EW_NACL_ALLOW);
    tb_nacl_entry(&b, na, EW_DIR_INGRESS, 90, 1, 0x0300, 0x03ff, "0.0.0.0/0", EW_NACL_DENY);
    tb_nacl_entry(&b, na, EW_DIR_INGRESS, 101, 58, 0x8000, 0x80ff, "fd09::/56", EW_NACL_ALLOW);
    tb_nacl_entry(&b, na, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, na, EW_DIR_EGRESS, 50, 17, 53, 53, "10.9.1.0/25", EW_NACL_DENY);
    tb_nacl_entry(&b, na, EW_DIR_EGRESS, 101, TB_ANY, 0, 0, "::/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_INGRESS, 100, 6, 0, 65535, "10.9.0.0/24", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_INGRESS, 110, 6, 0, 65535, "fd09::/64", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_EGRESS, 100, 6, 1024, 65535, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_subnet_nacl(&b, 0, na);
    tb_subnet_nacl(&b, 1, nb);
    buf = tb_build(&b, &len);
    write_seed("fuzz_table", "nacls", buf, len);
    free(buf);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    process_seeds();
    parse_seeds();
    table_seeds();
    return 0;
}
