/* The fuzzed world and its oracle (see world.h). Allocates at set-up only. */
#include "world.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tbuild.h"

/* ---- the world as data: both the table and the oracle are built from it ---- */

enum { S_WEB4, S_WEB6, S_PL4, S_PL6, S_APP4, S_EMPTY4, N_SETS };
enum { RS_WEB, RS_DB, RS_APP, RS_NAT, RS_OPEN, N_RULESETS };

struct w_set {
    enum ew_family family;
    const char *cidrs; /* "" = a group with no members: matches nothing */
};

static const struct w_set sets[N_SETS] = {
    [S_WEB4] = {EW_FAM_V4, "10.0.1.10/32,10.0.1.11/32"}, /* members of group web */
    [S_WEB6] = {EW_FAM_V6, "fd00:10:0:1::10/128"},
    [S_PL4] = {EW_FAM_V4, "10.0.2.0/25,192.168.0.0/16"}, /* a prefix list */
    [S_PL6] = {EW_FAM_V6, "2001:db8::/32,fd00:10:0:2::/64"},
    [S_APP4] = {EW_FAM_V4, "10.0.2.30/32"}, /* members of group app */
    [S_EMPTY4] = {EW_FAM_V4, ""},
};

#define IN  EW_DIR_INGRESS
#define OUT EW_DIR_EGRESS
#define ANY TB_ANY

struct w_rule {
    int rs;
    enum ew_dir dir;
    int proto;
    uint16_t lo, hi;  /* ports, or type << 8 | code */
    const char *cidr; /* NULL: the address set below */
    int set;
};

static const struct w_rule rules[] = {
    {RS_WEB, IN, 6, 80, 80, "0.0.0.0/0", 0},
    {RS_WEB, IN, 6, 443, 443, "::/0", 0},
    {RS_WEB, IN, 6, 22, 22, NULL, S_APP4},
    {RS_WEB, IN, 1, 0x0800, 0x08ff, "10.0.0.0/16", 0}, /* echo request, any code */
    {RS_WEB, IN, 58, 0, 0xffff, "fd00:10::/56", 0},
    {RS_WEB, IN, 17, 5000, 5100, NULL, S_PL4},
    {RS_WEB, OUT, ANY, 0, 0, "0.0.0.0/0", 0},
    {RS_WEB, OUT, ANY, 0, 0, "::/0", 0},

    {RS_DB, IN, 6, 5432, 5432, NULL, S_WEB4},
    {RS_DB, IN, 6, 5432, 5432, NULL, S_WEB6},
    {RS_DB, IN, 6, 5433, 5440, NULL, S_EMPTY4},
    {RS_DB, IN, 17, 53, 60, NULL, S_PL4},
    {RS_DB, IN, 17, 53, 60, NULL, S_PL6},
    {RS_DB, IN, 1, 0x0300, 0x03ff, "0.0.0.0/0", 0}, /* destination unreachable */
    {RS_DB, OUT, 6, 443, 443, "10.0.0.0/16", 0},
    {RS_DB, OUT, 17, 1000, 2000, "fd00:10::/56", 0},
    {RS_DB, OUT, 1, 0x0000, 0x00ff, "10.0.1.0/24", 0}, /* echo reply */

    {RS_APP, IN, 6, 8000, 8999, NULL, S_WEB4},
    {RS_APP, IN, 6, 8000, 8999, NULL, S_WEB6},
    {RS_APP, IN, 47, 0, 0xffff, "10.0.0.0/16", 0}, /* GRE: no ports */
    {RS_APP, IN, 17, 0, 0xffff, "0.0.0.0/0", 0},   /* with the egress one: untracked */
    {RS_APP, IN, 6, 0, 0xffff, "fd00:10:0:2::/64", 0},
    {RS_APP, OUT, ANY, 0, 0, "10.0.0.0/16", 0},
    {RS_APP, OUT, 17, 0, 0xffff, "0.0.0.0/0", 0},
    {RS_APP, OUT, 6, 0, 0xffff, "::/0", 0},
    {RS_APP, OUT, 58, 0x8000, 0x80ff, "::/0", 0}, /* echo request */

    {RS_NAT, IN, ANY, 0, 0, "10.0.0.0/8", 0},
    {RS_NAT, IN, 6, 0, 0xffff, "::/0", 0},
    {RS_NAT, IN, 17, 7, 7, "::/0", 0},
    {RS_NAT, OUT, ANY, 0, 0, "0.0.0.0/0", 0},
    {RS_NAT, OUT, ANY, 0, 0, "::/0", 0},

    {RS_OPEN, IN, ANY, 0, 0, "0.0.0.0/0", 0},
    {RS_OPEN, OUT, ANY, 0, 0, "0.0.0.0/0", 0},
};
#define N_RULES (sizeof rules / sizeof rules[0])

struct w_eni_def {
    uint32_t subnet;
    int rs;
    uint32_t port;
    const char *ips4, *ips6;
    uint8_t flags;
};

static const struct w_eni_def eni_defs[W_N_ENIS] = {
    [W_ENI_WEB] = {W_SUB_A, RS_WEB, 1, "10.0.1.10,10.0.1.11", "fd00:10:0:1::10",
                   EW_ENI_SRC_DST_CHECK},
    [W_ENI_DB] = {W_SUB_A, RS_DB, 2, "10.0.1.20", "fd00:10:0:1::20", EW_ENI_SRC_DST_CHECK},
    [W_ENI_APP] = {W_SUB_B, RS_APP, 3, "10.0.2.30", "fd00:10:0:2::30", EW_ENI_SRC_DST_CHECK},
    [W_ENI_NAT] = {W_SUB_B, RS_NAT, 4, "10.0.2.40", "fd00:10:0:2::40", 0}, /* check off */
    [W_ENI_UNBOUND] = {W_SUB_A, RS_APP, EW_PORT_NONE, "10.0.1.50", "fd00:10:0:1::50",
                       EW_ENI_SRC_DST_CHECK},
    [W_ENI_OTHER_VPC] = {W_SUB_OTHER, RS_OPEN, 5, "10.0.1.60", NULL, EW_ENI_SRC_DST_CHECK},
};

/* Network ACLs: A and B (one VPC) each have one, the other VPC's subnet none.
 * Numbers out of order on purpose (first match = lowest number). */
enum { NACL_A, NACL_B, N_NACLS };

struct w_nacl_entry {
    int nacl;
    enum ew_dir dir;
    uint16_t rule;
    int proto;
    uint16_t lo, hi;
    const char *cidr;
    uint8_t action;
};

#define ALLOW EW_NACL_ALLOW
#define DENY  EW_NACL_DENY

static const struct w_nacl_entry nacl_entries[] = {
    {NACL_A, IN, 100, ANY, 0, 0, "0.0.0.0/0", ALLOW},
    {NACL_A, IN, 90, 6, 22, 22, "10.0.2.32/27", DENY}, /* nat, not app */
    {NACL_A, IN, 50, 17, 5050, 5060, "10.0.2.40/32", DENY},
    {NACL_A, IN, 101, ANY, 0, 0, "::/0", ALLOW},
    {NACL_A, IN, 60, 58, 0x8000, 0x80ff, "fd00:10:0:2::40/128", DENY},
    {NACL_A, OUT, 100, ANY, 0, 0, "0.0.0.0/0", ALLOW},
    {NACL_A, OUT, 101, ANY, 0, 0, "::/0", ALLOW},
    {NACL_A, OUT, 80, 1, 0x0300, 0x03ff, "10.0.2.0/24", DENY}, /* ICMP errors out */

    {NACL_B, IN, 100, 6, 0, 0xffff, "10.0.0.0/16", ALLOW},
    {NACL_B, IN, 60, 6, 8080, 8080, "10.0.1.11/32", DENY},
    {NACL_B, IN, 110, 17, 0, 0xffff, "0.0.0.0/0", ALLOW},
    {NACL_B, IN, 120, 1, 0x0800, 0x08ff, "10.0.1.0/24", ALLOW},
    {NACL_B, IN, 130, 47, 0, 0xffff, "0.0.0.0/0", ALLOW},
    {NACL_B, IN, 140, 6, 0, 0xffff, "::/0", ALLOW},
    {NACL_B, IN, 150, 58, 0x8000, 0x81ff, "fd00:10::/56", ALLOW},
    {NACL_B, OUT, 100, 6, 1024, 0xffff, "0.0.0.0/0", ALLOW}, /* ephemeral replies */
    {NACL_B, OUT, 105, 6, 22, 22, "10.0.1.0/24", ALLOW},
    {NACL_B, OUT, 110, ANY, 0, 0, "::/0", ALLOW},
    {NACL_B, OUT, 120, 17, 0, 0xffff, "10.0.0.0/16", ALLOW},
    {NACL_B, OUT, 130, 1, 0, 0xff, "10.0.1.0/25", ALLOW}, /* echo replies to part of A */
};
#define N_NACL_ENTRIES (sizeof nacl_entries / sizeof nacl_entries[0])

static const int subnet_nacl[3] = {[W_SUB_A] = NACL_A, [W_SUB_B] = NACL_B, [W_SUB_OTHER] = -1};

/* ---- built state ---- */

struct o_cidr {
    uint8_t family; /* 4 or 6 */
    uint8_t net[16];
    uint8_t prefix;
};

static struct {
    bool ready;
    uint8_t *table;
    size_t table_len;
    struct w_eni_info enis[W_N_ENIS];
    struct o_cidr rule_cidr[N_RULES];
    struct o_cidr set_cidr[N_SETS][8];
    uint32_t set_n[N_SETS];
    const struct tb *b; /* the definitions, for tb_nacl_eval (a linear scan, not the table) */
} W;

static void parse_o_cidr(const char *s, struct o_cidr *c) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *slash = strchr(buf, '/');
    if (!slash) abort();
    *slash = '\0';
    c->prefix = (uint8_t)atoi(slash + 1);
    memset(c->net, 0, 16);
    c->family = strchr(buf, ':') ? 6 : 4;
    if (inet_pton(c->family == 6 ? AF_INET6 : AF_INET, buf, c->net) != 1) abort();
}

static uint32_t parse_list(const char *list, int af, uint8_t out[][16], uint32_t max) {
    uint32_t n = 0;
    if (!list) return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < max;
         tok = strtok_r(NULL, ",", &save)) {
        memset(out[n], 0, 16);
        if (inet_pton(af, tok, out[n]) != 1) abort();
        n++;
    }
    return n;
}

static void setup(void) {
    if (W.ready) return;
    static struct tb b;
    tb_init(&b);
    b.generation = 7;
    uint32_t v0 = tb_vpc(&b, "10.0.0.0", 16, "fd00:10::", 56);
    uint32_t v1 = tb_vpc(&b, "10.0.0.0", 16, NULL, 0); /* overlapping VPC: isolation */
    tb_subnet(&b, v0, "10.0.1.0", 24, "fd00:10:0:1::", 64);
    tb_subnet(&b, v0, "10.0.2.0", 24, "fd00:10:0:2::", 64);
    tb_subnet(&b, v1, "10.0.1.0", 24, NULL, 0);
    for (int i = 0; i < N_RULESETS; i++)
        tb_ruleset(&b);
    uint32_t set_idx[N_SETS];
    for (int i = 0; i < N_SETS; i++) {
        set_idx[i] = tb_addr_set(&b, sets[i].family, sets[i].cidrs);
        char buf[256];
        snprintf(buf, sizeof buf, "%s", sets[i].cidrs);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save))
            parse_o_cidr(tok, &W.set_cidr[i][W.set_n[i]++]);
    }
    for (size_t i = 0; i < N_RULES; i++) {
        const struct w_rule *r = &rules[i];
        if (r->cidr) {
            tb_rule(&b, (uint32_t)r->rs, r->dir, r->proto, r->lo, r->hi, r->cidr);
            parse_o_cidr(r->cidr, &W.rule_cidr[i]);
        } else {
            tb_rule_set(&b, (uint32_t)r->rs, r->dir, r->proto, r->lo, r->hi, set_idx[r->set]);
        }
    }
    for (uint32_t i = 0; i < W_N_ENIS; i++) {
        const struct w_eni_def *d = &eni_defs[i];
        uint32_t e = tb_eni(&b, d->subnet, (uint32_t)d->rs, d->port, d->ips4, d->ips6, d->flags);
        /* Short timeouts (the AWS minimums) so that clock advances expire flows. */
        b.enis[e].tcp_established_timeout = 60;
        b.enis[e].udp_stream_timeout = 60;
        b.enis[e].udp_timeout = 30;
        struct w_eni_info *w = &W.enis[i];
        w->port = d->port;
        w->subnet = d->subnet;
        w->vpc = b.subnets[d->subnet].vpc;
        memcpy(w->mac, b.enis[e].mac, 6);
        w->src_dst_check = d->flags & EW_ENI_SRC_DST_CHECK;
        uint8_t tmp[4][16];
        w->n4 = parse_list(d->ips4, AF_INET, tmp, 4);
        for (uint32_t j = 0; j < w->n4; j++)
            memcpy(w->ip4[j], tmp[j], 4);
        w->n6 = parse_list(d->ips6, AF_INET6, w->ip6, 4);
    }
    for (int i = 0; i < N_NACLS; i++)
        tb_nacl(&b);
    for (size_t i = 0; i < N_NACL_ENTRIES; i++) {
        const struct w_nacl_entry *e = &nacl_entries[i];
        tb_nacl_entry(&b, (uint32_t)e->nacl, e->dir, e->rule, e->proto, e->lo, e->hi, e->cidr,
                      e->action);
    }
    for (uint32_t sn = 0; sn < 3; sn++)
        if (subnet_nacl[sn] >= 0) tb_subnet_nacl(&b, sn, (uint32_t)subnet_nacl[sn]);
    W.b = &b;
    tb_exempt4(&b, "169.254.169.253");
    tb_exempt4(&b, "169.254.169.254");
    tb_exempt4(&b, "169.254.169.123");
    /* exempt6 must be sorted (memcmp order): ::123 < ::253 < ::254 */
    tb_ip6("fd00:ec2::123", b.exempt6[0].b);
    tb_ip6("fd00:ec2::253", b.exempt6[1].b);
    tb_ip6("fd00:ec2::254", b.exempt6[2].b);
    b.n_exempt6 = 3;
    W.table = tb_build(&b, &W.table_len);
    W.ready = true;
}

const uint8_t *w_table(size_t *len) {
    setup();
    *len = W.table_len;
    return W.table;
}

const struct w_eni_info *w_eni(uint32_t i) {
    setup();
    return &W.enis[i];
}

uint32_t w_port_eni(uint32_t port) {
    setup();
    for (uint32_t i = 0; i < W_N_ENIS; i++)
        if (W.enis[i].port != EW_PORT_NONE && W.enis[i].port == port) return i;
    return W_NO_ENI;
}

void w_router_mac(uint32_t subnet, uint8_t out[6]) {
    const uint8_t m[6] = {0x02, 0, 0, 0, (uint8_t)subnet, 0x01};
    memcpy(out, m, 6);
}

/* ---- the oracle's own parser ---- */

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* IPv6 extension headers: hop-by-hop, routing, destination options, fragment. */
static bool walk6(const uint8_t *ip, uint32_t n, uint8_t *proto, uint32_t *l4, bool *frag,
                  bool *first, uint32_t *id) {
    uint8_t nh = ip[6];
    uint32_t off = 40;
    *frag = *first = false;
    *id = 0;
    for (int i = 0; i < 9; i++) {
        if (nh == 0 || nh == 43 || nh == 60) {
            if (off + 2 > n) return false;
            uint32_t hl = ((uint32_t)ip[off + 1] + 1) * 8;
            nh = ip[off];
            off += hl;
            if (off > n) return false;
        } else if (nh == 44) {
            if (off + 8 > n) return false;
            uint16_t fo = rd16(ip + off + 2);
            nh = ip[off];
            if ((fo >> 3) != 0 || (fo & 1)) {
                *frag = true;
                *first = (fo >> 3) == 0;
                *id = rd32(ip + off + 4);
            }
            off += 8;
            if (*frag && !*first) break;
        } else {
            break;
        }
    }
    *proto = nh;
    *l4 = off;
    return true;
}

static bool keyed_icmp(uint8_t family, uint8_t proto) {
    return (family == 4 && proto == 1) || (family == 6 && proto == 58);
}

static bool is_error_type(uint8_t family, uint8_t t) {
    return family == 4 ? (t == 3 || t == 4 || t == 5 || t == 11 || t == 12) : (t >= 1 && t <= 4);
}

/* The quoted packet of an ICMP error: IP header + the first 8 bytes after it. */
static void parse_inner(const uint8_t *ip, uint32_t n, uint8_t family, struct o_tuple *t) {
    uint32_t l4;
    bool ports = true;
    memset(t, 0, sizeof *t);
    t->family = family;
    if (family == 4) {
        if (n < 20) return;
        uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
        t->proto = ip[9];
        memcpy(t->src, ip + 12, 4);
        memcpy(t->dst, ip + 16, 4);
        l4 = ihl;
        ports = (rd16(ip + 6) & 0x1fff) == 0;
    } else {
        bool frag, first;
        uint32_t id;
        if (n < 40) return;
        memcpy(t->src, ip + 8, 16);
        memcpy(t->dst, ip + 24, 16);
        if (!walk6(ip, n, &t->proto, &l4, &frag, &first, &id)) return;
        ports = !frag || first;
    }
    if (!ports || l4 + 8 > n) return;
    if (t->proto == 6 || t->proto == 17) {
        t->sport = rd16(ip + l4);
        t->dport = rd16(ip + l4 + 2);
    } else if (keyed_icmp(family, t->proto)) {
        uint8_t ty = ip[l4];
        if (family == 4 ? (ty == 8 || ty == 0) : (ty == 128 || ty == 129))
            t->sport = t->dport = rd16(ip + l4 + 4);
    }
}

bool o_parse(const uint8_t *f, uint32_t len, struct o_pkt *p) {
    memset(p, 0, sizeof *p);
    if (len < 14) return false;
    uint16_t et = rd16(f + 12);
    const uint8_t *ip = f + 14;
    uint32_t n = len - 14, l4;
    if (et == 0x0800) {
        if (n < 20) return false;
        uint32_t ihl = (uint32_t)(ip[0] & 15) * 4, tot = rd16(ip + 2);
        if (ihl < 20 || tot < ihl || tot > n) return false;
        p->family = 4;
        p->proto = ip[9];
        memcpy(p->src, ip + 12, 4);
        memcpy(p->dst, ip + 16, 4);
        uint16_t fr = rd16(ip + 6);
        p->frag = (fr & 0x2000) || (fr & 0x1fff);
        p->frag_first = p->frag && (fr & 0x1fff) == 0;
        p->frag_id = rd16(ip + 4);
        n = tot;
        l4 = ihl;
    } else if (et == 0x86dd) {
        if (n < 40) return false;
        uint32_t tot = 40u + rd16(ip + 4);
        if (tot > n) return false;
        n = tot;
        p->family = 6;
        memcpy(p->src, ip + 8, 16);
        memcpy(p->dst, ip + 24, 16);
        if (!walk6(ip, n, &p->proto, &l4, &p->frag, &p->frag_first, &p->frag_id)) return false;
    } else {
        return false;
    }
    p->tuple.family = p->family;
    p->tuple.proto = p->proto;
    memcpy(p->tuple.src, p->src, 16);
    memcpy(p->tuple.dst, p->dst, 16);
    p->has_l4 = !p->frag || p->frag_first;
    if (!p->has_l4) return true;
    const uint8_t *h = ip + l4;
    uint32_t hn = l4 <= n ? n - l4 : 0;
    if (p->proto == 6 || p->proto == 17) {
        if (hn < 8) return false;
        p->tuple.sport = rd16(h);
        p->tuple.dport = rd16(h + 2);
        p->key = p->tuple.dport;
        p->trackable = true;
    } else if (keyed_icmp(p->family, p->proto)) {
        if (hn < 8) return false;
        uint8_t ty = h[0];
        p->key = (uint16_t)(ty << 8 | h[1]);
        bool echo = p->family == 4 ? (ty == 8 || ty == 0) : (ty == 128 || ty == 129);
        if (echo) {
            p->trackable = true;
            p->tuple.sport = p->tuple.dport = rd16(h + 4);
        } else if (is_error_type(p->family, ty)) {
            p->icmp_error = true;
            parse_inner(h + 8, hn - 8, p->family, &p->inner);
        }
    } else {
        p->trackable = true; /* address pair + protocol */
    }
    return true;
}

/* ---- rules, by a linear scan over the definitions ---- */

static bool in_cidr(const struct o_cidr *c, uint8_t family, const uint8_t *a) {
    if (c->family != family) return false;
    for (unsigned i = 0; i < c->prefix; i++) {
        unsigned byte = i / 8, bit = 7 - i % 8;
        if (((a[byte] ^ c->net[byte]) >> bit) & 1u) return false;
    }
    return true;
}

bool o_rules_allow(uint32_t eni, enum ew_dir dir, const struct o_pkt *p) {
    setup();
    int rs = eni_defs[eni].rs;
    const uint8_t *peer = dir == EW_DIR_EGRESS ? p->dst : p->src;
    bool keyed = p->proto == 6 || p->proto == 17 || keyed_icmp(p->family, p->proto);
    for (size_t i = 0; i < N_RULES; i++) {
        const struct w_rule *r = &rules[i];
        if (r->rs != rs || r->dir != dir) continue;
        if (r->proto != ANY &&
            (r->proto != p->proto || (keyed && (p->key < r->lo || p->key > r->hi))))
            continue;
        if (r->cidr) {
            if (in_cidr(&W.rule_cidr[i], p->family, peer)) return true;
        } else {
            for (uint32_t j = 0; j < W.set_n[r->set]; j++)
                if (in_cidr(&W.set_cidr[r->set][j], p->family, peer)) return true;
        }
    }
    return false;
}

bool o_nacl_allow(uint32_t subnet, enum ew_dir dir, const struct o_pkt *p) {
    setup();
    if (subnet_nacl[subnet] < 0) return true; /* no NACL: not filtered */
    uint16_t rule;
    const uint8_t *peer = dir == EW_DIR_EGRESS ? p->dst : p->src;
    return tb_nacl_eval(W.b, (uint32_t)subnet_nacl[subnet], dir,
                        p->family == 4 ? EW_FAM_V4 : EW_FAM_V6, p->proto, p->key, peer,
                        &rule) == EW_NACL_ALLOW;
}

uint32_t o_owner(uint32_t vpc, uint8_t family, const uint8_t *addr) {
    setup();
    for (uint32_t i = 0; i < W_N_ENIS; i++) {
        const struct w_eni_info *e = &W.enis[i];
        if (e->vpc != vpc) continue;
        if (family == 4) {
            for (uint32_t j = 0; j < e->n4; j++)
                if (memcmp(e->ip4[j], addr, 4) == 0) return i;
        } else {
            for (uint32_t j = 0; j < e->n6; j++)
                if (memcmp(e->ip6[j], addr, 16) == 0) return i;
        }
    }
    return W_NO_ENI;
}

/* ---- conntrack model: allowed tuples per zone, both directions, no expiry ---- */

#define O_MAX_FLOWS 2048u
#define O_MAX_FRAGS 512u

struct o_frag {
    uint32_t in_port, id;
    uint8_t family, proto;
    uint8_t src[16], dst[16];
};

struct oracle {
    struct o_tuple flows[W_N_ENIS][O_MAX_FLOWS];
    uint32_t n_flows[W_N_ENIS];
    bool overflow; /* a zone ran out of room: stop judging (never a false alarm) */
    struct o_frag frags[O_MAX_FRAGS];
    uint32_t n_frags;
};

struct oracle *o_create(void) {
    struct oracle *o = calloc(1, sizeof *o);
    if (!o) abort();
    return o;
}

void o_reset(struct oracle *o) {
    memset(o->n_flows, 0, sizeof o->n_flows);
    o->n_frags = 0;
    o->overflow = false;
}

static bool same_tuple(const struct o_tuple *a, const struct o_tuple *b, bool reversed) {
    if (a->family != b->family || a->proto != b->proto) return false;
    if (!reversed)
        return memcmp(a->src, b->src, 16) == 0 && memcmp(a->dst, b->dst, 16) == 0 &&
               a->sport == b->sport && a->dport == b->dport;
    return memcmp(a->src, b->dst, 16) == 0 && memcmp(a->dst, b->src, 16) == 0 &&
           a->sport == b->dport && a->dport == b->sport;
}

static bool zone_has(const struct oracle *o, uint32_t eni, const struct o_tuple *t) {
    for (uint32_t i = 0; i < o->n_flows[eni]; i++)
        if (same_tuple(&o->flows[eni][i], t, false) || same_tuple(&o->flows[eni][i], t, true))
            return true;
    return false;
}

static void zone_add(struct oracle *o, uint32_t eni, const struct o_tuple *t) {
    if (zone_has(o, eni, t)) return;
    if (o->n_flows[eni] == O_MAX_FLOWS) {
        o->overflow = true;
        return;
    }
    o->flows[eni][o->n_flows[eni]++] = *t;
}

void o_observe(struct oracle *o, uint32_t in_port, const uint8_t *frame, uint32_t len) {
    uint32_t s = w_port_eni(in_port);
    struct o_pkt p;
    if (s == W_NO_ENI || !o_parse(frame, len, &p) || !p.has_l4 || !p.trackable) return;
    if (o_rules_allow(s, EW_DIR_EGRESS, &p)) zone_add(o, s, &p.tuple);
    uint32_t r = o_owner(W.enis[s].vpc, p.family, p.dst);
    if (r != W_NO_ENI && o_rules_allow(r, EW_DIR_INGRESS, &p)) zone_add(o, r, &p.tuple);
}

static bool zone_allows(const struct oracle *o, uint32_t eni, enum ew_dir dir,
                        const struct o_pkt *p) {
    if (o_rules_allow(eni, dir, p)) return true;
    if (p->icmp_error) return zone_has(o, eni, &p->inner); /* RELATED */
    return p->trackable && zone_has(o, eni, &p->tuple);
}

static bool frag_match(const struct o_frag *f, uint32_t in_port, const struct o_pkt *p) {
    return f->in_port == in_port && f->id == p->frag_id && f->family == p->family &&
           f->proto == p->proto && memcmp(f->src, p->src, 16) == 0 &&
           memcmp(f->dst, p->dst, 16) == 0;
}

static bool own_address(const struct w_eni_info *e, uint8_t family, const uint8_t *a) {
    if (family == 4) {
        for (uint32_t j = 0; j < e->n4; j++)
            if (memcmp(e->ip4[j], a, 4) == 0) return true;
        return false;
    }
    for (uint32_t j = 0; j < e->n6; j++)
        if (memcmp(e->ip6[j], a, 16) == 0) return true;
    return false;
}

static char why[384];

const char *o_check_forward(struct oracle *o, uint32_t in_port, uint32_t out_port,
                            const uint8_t *frame, uint32_t len) {
    uint32_t s = w_port_eni(in_port), r = w_port_eni(out_port);
    struct o_pkt p;
    if (s == W_NO_ENI || r == W_NO_ENI) return "forward from or to a port without an ENI";
    if (!o_parse(frame, len, &p)) return "forwarded a frame that is not an IP packet";
    const struct w_eni_info *se = &W.enis[s], *re = &W.enis[r];
    if (o_owner(se->vpc, p.family, p.dst) != r)
        return "forwarded to an ENI that does not own the destination in the sender's VPC";
    if (se->src_dst_check && (!own_address(se, p.family, p.src) || memcmp(frame + 6, se->mac, 6)))
        return "forwarded a spoofed frame from an ENI with source/dest check on";
    if (p.family == 6 && p.proto == 58 && p.has_l4 && !p.frag) {
        uint8_t ty = (uint8_t)(p.key >> 8);
        if ((ty >= 130 && ty <= 137) || ty == 143) return "forwarded neighbour discovery or MLD";
    }
    if (o->overflow) return NULL;
    if (!p.has_l4) {
        for (uint32_t i = 0; i < o->n_frags; i++)
            if (frag_match(&o->frags[i], in_port, &p)) return NULL;
        return "non-first fragment forwarded without an allowed first fragment";
    }
    bool eg = zone_allows(o, s, EW_DIR_EGRESS, &p), ig = zone_allows(o, r, EW_DIR_INGRESS, &p);
    /* Stateless: between two subnets both lists judge every packet, tracked or not. */
    bool cross = se->subnet != re->subnet;
    bool ne = !cross || o_nacl_allow(se->subnet, EW_DIR_EGRESS, &p);
    bool ni = !cross || o_nacl_allow(re->subnet, EW_DIR_INGRESS, &p);
    if (!eg || !ig || !ne || !ni) {
        char sa[64], da[64];
        inet_ntop(p.family == 4 ? AF_INET : AF_INET6, p.src, sa, sizeof sa);
        inet_ntop(p.family == 4 ? AF_INET : AF_INET6, p.dst, da, sizeof da);
        snprintf(why, sizeof why,
                 "forwarded eni %u -> eni %u (%s -> %s proto %u key %u%s) that the %s rules "
                 "refuse and no allowed flow explains",
                 s, r, sa, da, p.proto, p.key, p.icmp_error ? ", ICMP error" : "",
                 !eg   ? "sender's egress"
                 : !ig ? "receiver's ingress"
                 : !ne ? "source subnet's NACL egress"
                       : "destination subnet's NACL ingress");
        return why;
    }
    if (p.frag_first && o->n_frags < O_MAX_FRAGS) {
        struct o_frag *f = &o->frags[o->n_frags++];
        f->in_port = in_port;
        f->id = p.frag_id;
        f->family = p.family;
        f->proto = p.proto;
        memcpy(f->src, p.src, 16);
        memcpy(f->dst, p.dst, 16);
    }
    return NULL;
}

/* ---- verdict checks ---- */

const char *w_check_verdict(const struct ew_verdict *v, uint32_t in_port, uint32_t len,
                            uint32_t cap, bool port_bound, bool out_port_bound) {
    if (len > cap) return "frame length exceeds the buffer capacity";
    if (v->reason >= EW_DROP_COUNT) return "drop reason out of range";
    switch (v->action) {
    case EW_ACT_DROP:
        return v->reason == EW_DROP_NONE ? "drop without a reason" : NULL;
    case EW_ACT_FORWARD:
        if (v->reason != EW_DROP_NONE) return "forward carrying a drop reason";
        if (!port_bound) return "forward from a port without an ENI";
        if (v->out_port >= EW_MAX_PORTS || !out_port_bound)
            return "forward to a port without an ENI";
        /* A VPC never sends an ENI's frame back to it (hairpin). */
        return v->out_port == in_port ? "forwarded back to the input port (hairpin)" : NULL;
    case EW_ACT_REPLY:
        if (v->reason != EW_DROP_NONE) return "reply carrying a drop reason";
        if (!port_bound) return "reply on a port without an ENI";
        return v->out_port == in_port ? NULL : "reply not sent back to the input port";
    default:
        return "unknown action";
    }
}

void w_fail(const char *what, const uint8_t *frame, uint32_t len) {
    fprintf(stderr, "VERDICT VIOLATION: %s\nframe (%u bytes):", what, len);
    for (uint32_t i = 0; frame && i < len && i < 256; i++)
        fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", frame[i]);
    fputc('\n', stderr);
    abort();
}
