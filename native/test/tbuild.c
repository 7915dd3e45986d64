/* Test-only table builder (see tbuild.h). Allocates freely; aborts on misuse. */
#include "tbuild.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

uint32_t tb_ip4(const char *s) {
    struct in_addr a;
    int ok = inet_pton(AF_INET, s, &a);
    assert(ok == 1);
    (void)ok;
    return ntohl(a.s_addr);
}

void tb_ip6(const char *s, uint8_t out[16]) {
    int ok = inet_pton(AF_INET6, s, out);
    assert(ok == 1);
    (void)ok;
}

void tb_init(struct tb *b) {
    memset(b, 0, sizeof *b);
    b->generation = 1;
}

uint32_t tb_vpc(struct tb *b, const char *net4, uint8_t prefix4, const char *net6,
                uint8_t prefix6) {
    assert(b->n_vpcs < TB_MAX);
    struct ew_vpc *v = &b->vpcs[b->n_vpcs];
    v->ipv4_net = tb_ip4(net4);
    v->ipv4_prefix = prefix4;
    v->dns_ipv4 = v->ipv4_net + 2;
    if (net6) {
        tb_ip6(net6, v->ipv6_net.b);
        v->ipv6_prefix = prefix6;
    }
    return b->n_vpcs++;
}

uint32_t tb_subnet(struct tb *b, uint32_t vpc, const char *net4, uint8_t prefix4, const char *net6,
                   uint8_t prefix6) {
    assert(b->n_subnets < TB_MAX);
    uint32_t i = b->n_subnets++;
    struct ew_subnet *s = &b->subnets[i];
    s->vpc = vpc;
    s->ipv4_net = tb_ip4(net4);
    s->ipv4_prefix = prefix4;
    s->router_ipv4 = s->ipv4_net + 1;
    uint8_t mac[6] = {0x02, 0, 0, 0, (uint8_t)i, 0x01};
    memcpy(s->router_mac, mac, 6);
    if (net6) {
        tb_ip6(net6, s->ipv6_net.b);
        s->ipv6_prefix = prefix6;
        s->router_ipv6 = s->ipv6_net;
        s->router_ipv6.b[15] = (uint8_t)(s->router_ipv6.b[15] + 1);
    }
    s->nacl = EW_INDEX_NONE;
    return i;
}

uint32_t tb_ruleset(struct tb *b) {
    assert(b->n_rulesets < TB_MAX);
    return b->n_rulesets++;
}

static void parse_cidr(const char *cidr, uint8_t *family, uint8_t net[16], uint8_t *prefix) {
    char buf[64];
    strncpy(buf, cidr, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    char *slash = strchr(buf, '/');
    assert(slash);
    *slash = '\0';
    *prefix = (uint8_t)atoi(slash + 1);
    memset(net, 0, 16);
    if (strchr(buf, ':')) {
        *family = EW_FAM_V6;
        tb_ip6(buf, net);
    } else {
        *family = EW_FAM_V4;
        uint32_t a = htonl(tb_ip4(buf));
        memcpy(net, &a, 4);
    }
}

static struct tb_rule *new_rule(struct tb *b, uint32_t rs, enum ew_dir dir, int proto, uint16_t lo,
                                uint16_t hi) {
    assert(rs < b->n_rulesets && b->n_rules[rs][dir] < TB_MAX_RULES);
    struct tb_rule *r = &b->rules[rs][dir][b->n_rules[rs][dir]++];
    memset(r, 0, sizeof *r);
    r->proto = proto;
    r->lo = proto == TB_ANY ? 0 : lo;
    r->hi = proto == TB_ANY ? 0xffff : hi;
    r->addrset = -1;
    return r;
}

void tb_rule(struct tb *b, uint32_t rs, enum ew_dir dir, int proto, uint16_t lo, uint16_t hi,
             const char *cidr) {
    struct tb_rule *r = new_rule(b, rs, dir, proto, lo, hi);
    parse_cidr(cidr, &r->family, r->net, &r->prefix);
}

void tb_rule_set(struct tb *b, uint32_t rs, enum ew_dir dir, int proto, uint16_t lo, uint16_t hi,
                 uint32_t set) {
    struct tb_rule *r = new_rule(b, rs, dir, proto, lo, hi);
    r->addrset = (int)set;
    r->family = (uint8_t)b->sets[set].family;
}

/* [lo, hi] of a CIDR, both 16 bytes network order (IPv4 in the first 4). */
static void cidr_bounds(uint8_t family, const uint8_t net[16], uint8_t prefix, uint8_t lo[16],
                        uint8_t hi[16]) {
    unsigned bits = family == EW_FAM_V4 ? 32u : 128u;
    memset(lo, 0, 16);
    memset(hi, 0, 16);
    for (unsigned i = 0; i < bits; i++) {
        unsigned byte = i / 8, bit = 7 - i % 8;
        uint8_t v = (uint8_t)((net[byte] >> bit) & 1u);
        if (i < prefix) {
            lo[byte] = (uint8_t)(lo[byte] | v << bit);
            hi[byte] = (uint8_t)(hi[byte] | v << bit);
        } else {
            hi[byte] = (uint8_t)(hi[byte] | 1u << bit);
        }
    }
}

struct range {
    uint8_t lo[16], hi[16];
};

static int range_cmp(const void *a, const void *b) {
    return memcmp(((const struct range *)a)->lo, ((const struct range *)b)->lo, 16);
}

/* Sort and merge overlapping ranges; returns the new count. */
static uint32_t merge_ranges(struct range *r, uint32_t n) {
    if (n == 0) return 0;
    qsort(r, n, sizeof *r, range_cmp);
    uint32_t out = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (memcmp(r[out].hi, r[i].lo, 16) >= 0) {
            if (memcmp(r[i].hi, r[out].hi, 16) > 0) memcpy(r[out].hi, r[i].hi, 16);
        } else {
            r[++out] = r[i];
        }
    }
    return out + 1;
}

uint32_t tb_addr_set(struct tb *b, enum ew_family fam, const char *cidrs) {
    assert(b->n_sets < TB_MAX);
    struct tb_set *s = &b->sets[b->n_sets];
    struct range r[TB_MAX_RULES];
    uint32_t n = 0;
    char buf[1024];
    strncpy(buf, cidrs, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        uint8_t f, net[16], prefix;
        parse_cidr(tok, &f, net, &prefix);
        assert(f == fam && n < TB_MAX_RULES);
        cidr_bounds(f, net, prefix, r[n].lo, r[n].hi);
        n++;
    }
    n = merge_ranges(r, n);
    s->family = fam;
    s->n = n;
    for (uint32_t i = 0; i < n; i++) {
        if (fam == EW_FAM_V4) {
            s->r4[i].lo = (uint32_t)r[i].lo[0] << 24 | (uint32_t)r[i].lo[1] << 16 |
                          (uint32_t)r[i].lo[2] << 8 | r[i].lo[3];
            s->r4[i].hi = (uint32_t)r[i].hi[0] << 24 | (uint32_t)r[i].hi[1] << 16 |
                          (uint32_t)r[i].hi[2] << 8 | r[i].hi[3];
        } else {
            memcpy(s->r6[i].lo.b, r[i].lo, 16);
            memcpy(s->r6[i].hi.b, r[i].hi, 16);
        }
    }
    return b->n_sets++;
}

static uint32_t add_ips4(struct tb *b, const char *list, uint32_t *count) {
    uint32_t off = b->n_ipv4;
    char buf[512];
    strncpy(buf, list, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        b->ipv4[b->n_ipv4++] = tb_ip4(tok);
    *count = b->n_ipv4 - off;
    return off;
}

static uint32_t add_ips6(struct tb *b, const char *list, uint32_t *count) {
    uint32_t off = b->n_ipv6;
    *count = 0;
    if (!list) return off;
    char buf[512];
    strncpy(buf, list, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        tb_ip6(tok, b->ipv6[b->n_ipv6++].b);
    *count = b->n_ipv6 - off;
    return off;
}

uint32_t tb_eni(struct tb *b, uint32_t subnet, uint32_t ruleset, uint32_t port, const char *ips4,
                const char *ips6, uint8_t flags) {
    assert(b->n_enis < TB_MAX);
    uint32_t i = b->n_enis++;
    struct ew_eni *e = &b->enis[i];
    memset(e, 0, sizeof *e);
    e->port_id = port;
    e->subnet = subnet;
    e->vpc = b->subnets[subnet].vpc;
    e->ruleset = ruleset;
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(i + 10)};
    memcpy(e->mac, mac, 6);
    e->flags = flags;
    e->ipv4_off = add_ips4(b, ips4, &e->ipv4_count);
    e->ipv6_off = add_ips6(b, ips6, &e->ipv6_count);
    e->tcp_established_timeout = 432000;
    e->udp_stream_timeout = 180;
    e->udp_timeout = 30;
    e->id_hi = 0x1234;
    e->id_lo = i;
    return i;
}

void tb_exempt4(struct tb *b, const char *ip) {
    b->exempt4[b->n_exempt4++] = tb_ip4(ip);
}

/* Callers add IPv6 service addresses in ascending order (the loader checks it). */
void tb_exempt6(struct tb *b, const char *ip) {
    tb_ip6(ip, b->exempt6[b->n_exempt6++].b);
}

/* ---- network ACLs ---- */

uint32_t tb_nacl(struct tb *b) {
    assert(b->n_nacls < TB_MAX_NACLS);
    uint32_t i = b->n_nacls++;
    memset(&b->nacls[i], 0, sizeof b->nacls[i]);
    b->nacls[i].id_hi = 0;
    b->nacls[i].id_lo = 0xac10000u + i;
    return i;
}

void tb_nacl_entry(struct tb *b, uint32_t nacl, enum ew_dir dir, uint16_t rule, int proto,
                   uint16_t lo, uint16_t hi, const char *cidr, uint8_t action) {
    assert(nacl < b->n_nacls && b->nacls[nacl].n[dir] < TB_MAX_NACL_ENTRIES);
    assert(rule >= 1 && rule <= 32766);
    struct tb_nacl_entry *e = &b->nacls[nacl].e[dir][b->nacls[nacl].n[dir]++];
    memset(e, 0, sizeof *e);
    e->rule = rule;
    e->proto = proto;
    e->lo = proto == TB_ANY ? 0 : lo;
    e->hi = proto == TB_ANY ? 0xffff : hi;
    e->action = action;
    parse_cidr(cidr, &e->family, e->net, &e->prefix);
}

void tb_subnet_nacl(struct tb *b, uint32_t subnet, uint32_t nacl) {
    assert(subnet < b->n_subnets && (nacl < b->n_nacls || nacl == EW_INDEX_NONE));
    b->subnets[subnet].nacl = nacl;
}

static bool nacl_entry_covers(const struct tb_nacl_entry *e, uint8_t family, uint8_t proto,
                              uint16_t key, const uint8_t peer[16]) {
    uint8_t lo[16], hi[16];
    unsigned w = family == EW_FAM_V4 ? 4 : 16;
    if (e->family != family) return false;
    if (e->proto != TB_ANY && (e->proto != proto || key < e->lo || key > e->hi)) return false;
    cidr_bounds(family, e->net, e->prefix, lo, hi);
    return memcmp(lo, peer, w) <= 0 && memcmp(peer, hi, w) <= 0;
}

uint8_t tb_nacl_eval(const struct tb *b, uint32_t nacl, enum ew_dir dir, uint8_t family,
                     uint8_t proto, uint16_t key, const uint8_t peer[16], uint16_t *rule) {
    const struct tb_nacl *n = &b->nacls[nacl];
    const struct tb_nacl_entry *best = NULL;
    for (uint32_t i = 0; i < n->n[dir]; i++) {
        const struct tb_nacl_entry *e = &n->e[dir][i];
        if ((!best || e->rule < best->rule) && nacl_entry_covers(e, family, proto, key, peer))
            best = e;
    }
    if (!best) {
        *rule = family == EW_FAM_V4 ? EW_NACL_RULE_STAR4 : EW_NACL_RULE_STAR6;
        return EW_NACL_DENY;
    }
    *rule = best->rule;
    return best->action;
}

/* ---- serialisation ---- */

struct buf {
    uint8_t *p;
    uint32_t len, cap;
};

static uint32_t reserve(struct buf *b, uint32_t n, uint32_t align) {
    uint32_t off = (b->len + align - 1) / align * align;
    if (off + n > b->cap) {
        uint32_t cap = b->cap ? b->cap : 1024;
        while (off + n > cap)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert(b->p);
        memset(b->p + b->cap, 0, cap - b->cap);
        b->cap = cap;
    }
    b->len = off + n;
    return off;
}

static void put(struct buf *b, uint32_t off, const void *v, size_t n) {
    memcpy(b->p + off, v, n);
}

static int u16_cmp(const void *a, const void *b) {
    return (int)*(const uint32_t *)a - (int)*(const uint32_t *)b;
}

/* One interval's peer set: ranges from CIDR rules covering it, plus address sets. */
static uint32_t emit_peer_set(struct buf *o, uint32_t base, const struct tb *b,
                              const struct tb_rule **cov, uint32_t n, uint8_t fam, bool *world) {
    struct range r[TB_MAX_RULES];
    uint32_t nr = 0, sets[TB_MAX_RULES], ns = 0;
    *world = false;
    for (uint32_t i = 0; i < n; i++) {
        if (cov[i]->addrset >= 0) {
            bool dup = false;
            for (uint32_t j = 0; j < ns; j++)
                dup |= sets[j] == (uint32_t)cov[i]->addrset;
            if (!dup) sets[ns++] = (uint32_t)cov[i]->addrset;
            continue;
        }
        if (cov[i]->prefix == 0) *world = true;
        cidr_bounds(fam, cov[i]->net, cov[i]->prefix, r[nr].lo, r[nr].hi);
        nr++;
    }
    nr = merge_ranges(r, nr);
    (void)b;
    uint32_t ps = reserve(o, sizeof(struct ew_peer_set), 4);
    uint32_t rsize = fam == EW_FAM_V4 ? sizeof(struct ew_range4) : sizeof(struct ew_range6);
    uint32_t roff = reserve(o, rsize * nr, 4);
    for (uint32_t i = 0; i < nr; i++) {
        if (fam == EW_FAM_V4) {
            struct ew_range4 v = {(uint32_t)r[i].lo[0] << 24 | (uint32_t)r[i].lo[1] << 16 |
                                      (uint32_t)r[i].lo[2] << 8 | r[i].lo[3],
                                  (uint32_t)r[i].hi[0] << 24 | (uint32_t)r[i].hi[1] << 16 |
                                      (uint32_t)r[i].hi[2] << 8 | r[i].hi[3]};
            put(o, roff + i * rsize, &v, sizeof v);
        } else {
            put(o, roff + i * rsize, r[i].lo, 16);
            put(o, roff + i * rsize + 16, r[i].hi, 16);
        }
    }
    uint32_t soff = reserve(o, 4 * ns, 4);
    put(o, soff, sets, 4 * ns);
    struct ew_peer_set v = {roff - base, nr, soff - base, ns};
    put(o, ps, &v, sizeof v);
    return ps - base;
}

/* Intervals for the rules matching proto (TB_ANY rules always match). */
static void emit_intervals(struct buf *o, uint32_t base, const struct tb *b,
                           const struct tb_rule *rules, uint32_t n, int proto, uint8_t fam,
                           uint32_t *iv_off, uint32_t *iv_count) {
    uint32_t bounds[2 * TB_MAX_RULES + 2], nb = 0;
    const struct tb_rule *sel[TB_MAX_RULES];
    uint32_t ns = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (rules[i].family != fam) continue;
        if (rules[i].proto != TB_ANY && rules[i].proto != proto) continue;
        if (proto == TB_ANY && rules[i].proto != TB_ANY) continue;
        sel[ns++] = &rules[i];
        bounds[nb++] = rules[i].lo;
        bounds[nb++] = (uint32_t)rules[i].hi + 1;
    }
    qsort(bounds, nb, sizeof bounds[0], u16_cmp);
    struct ew_interval ivs[2 * TB_MAX_RULES + 2];
    const struct tb_rule *cov[2 * TB_MAX_RULES + 2][TB_MAX_RULES];
    uint32_t ncov[2 * TB_MAX_RULES + 2];
    uint32_t niv = 0;
    for (uint32_t i = 0; i + 1 < nb; i++) {
        uint32_t lo = bounds[i], hi = bounds[i + 1] - 1;
        if (bounds[i] == bounds[i + 1]) continue;
        uint32_t c = 0;
        for (uint32_t j = 0; j < ns; j++)
            if (sel[j]->lo <= lo && hi <= sel[j]->hi) cov[niv][c++] = sel[j];
        if (c == 0) continue;
        ivs[niv].lo = (uint16_t)lo;
        ivs[niv].hi = (uint16_t)hi;
        ncov[niv] = c;
        niv++;
    }
    *iv_off = reserve(o, sizeof(struct ew_interval) * niv, 4) - base;
    *iv_count = niv;
    for (uint32_t i = 0; i < niv; i++) {
        bool world;
        ivs[i].peer_set = emit_peer_set(o, base, b, cov[i], ncov[i], fam, &world);
        ivs[i].flags = world ? EW_IV_WORLD : 0;
        put(o, base + *iv_off + i * (uint32_t)sizeof(struct ew_interval), &ivs[i], sizeof ivs[i]);
    }
}

static uint32_t world_flags(const struct tb_rule *rules, uint32_t n, uint8_t fam) {
    uint32_t f = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct tb_rule *r = &rules[i];
        if (r->family != fam || r->addrset >= 0 || r->prefix != 0 || r->lo != 0 || r->hi != 0xffff)
            continue;
        if (r->proto == TB_ANY || r->proto == 6) f |= EW_CLS_WORLD_ALL_PORTS_TCP;
        if (r->proto == TB_ANY || r->proto == 17) f |= EW_CLS_WORLD_ALL_PORTS_UDP;
    }
    return f;
}

static uint32_t emit_classifier(struct buf *o, const struct tb *b, uint32_t rs, enum ew_dir dir,
                                uint8_t fam) {
    const struct tb_rule *rules = b->rules[rs][dir];
    uint32_t n = b->n_rules[rs][dir];
    uint32_t base = reserve(o, sizeof(struct ew_classifier), 8);
    int protos[TB_MAX_RULES];
    uint32_t np = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (rules[i].family != fam || rules[i].proto == TB_ANY) continue;
        bool dup = false;
        for (uint32_t j = 0; j < np; j++)
            dup |= protos[j] == rules[i].proto;
        if (!dup) protos[np++] = rules[i].proto;
    }
    qsort(protos, np, sizeof protos[0], u16_cmp);
    uint32_t pe_off = reserve(o, sizeof(struct ew_proto_entry) * np, 4) - base;
    for (uint32_t i = 0; i < np; i++) {
        struct ew_proto_entry pe = {.proto = (uint8_t)protos[i]};
        emit_intervals(o, base, b, rules, n, protos[i], fam, &pe.interval_off, &pe.interval_count);
        put(o, base + pe_off + i * (uint32_t)sizeof pe, &pe, sizeof pe);
    }
    struct ew_classifier c = {.proto_off = pe_off, .proto_count = np};
    emit_intervals(o, base, b, rules, n, TB_ANY, fam, &c.default_off, &c.default_count);
    c.flags = world_flags(rules, n, fam);
    c.blob_size = o->len - base;
    put(o, base, &c, sizeof c);
    return base;
}

static int fwd4_cmp(const void *a, const void *b) {
    const struct ew_fwd4 *x = a, *y = b;
    if (x->vpc != y->vpc) return x->vpc < y->vpc ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int fwd6_cmp(const void *a, const void *b) {
    const struct ew_fwd6 *x = a, *y = b;
    if (x->vpc != y->vpc) return x->vpc < y->vpc ? -1 : 1;
    return memcmp(x->addr.b, y->addr.b, 16);
}

static int u32_cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- network ACL lists: the first-match partition, built the simple way ---- */

/* +1 / -1 on a big-endian number of w bytes (no wrap: callers avoid the ends). */
static void be_inc(uint8_t *a, unsigned w) {
    for (unsigned i = w; i-- > 0;)
        if (++a[i] != 0) return;
}

static void be_dec(uint8_t *a, unsigned w) {
    for (unsigned i = w; i-- > 0;)
        if (a[i]-- != 0) return;
}

static bool be_is_max(const uint8_t *a, unsigned w) {
    for (unsigned i = 0; i < w; i++)
        if (a[i] != 0xff) return false;
    return true;
}

struct pt {
    uint8_t a[16];
};

static unsigned g_pt_w;
static int pt_cmp(const void *x, const void *y) {
    return memcmp(((const struct pt *)x)->a, ((const struct pt *)y)->a, g_pt_w);
}

static bool nacl_sel(const struct tb_nacl_entry *e, uint8_t fam, int proto) {
    if (e->family != fam) return false;
    if (proto == TB_ANY) return e->proto == TB_ANY;
    return e->proto == TB_ANY || e->proto == proto;
}

/* The ranges of one key interval: elementary address segments from every
 * selected entry's bounds, each decided by its lowest-numbered covering entry. */
static void emit_nacl_ranges(struct buf *o, uint32_t base, const struct tb_nacl_entry **sel,
                             uint32_t ns, uint8_t fam, uint32_t *off, uint32_t *count) {
    unsigned w = fam == EW_FAM_V4 ? 4 : 16;
    struct pt pts[2 * TB_MAX_NACL_ENTRIES + 1];
    uint32_t np = 0;
    memset(&pts[np++], 0, sizeof pts[0]);
    for (uint32_t i = 0; i < ns; i++) {
        uint8_t lo[16], hi[16];
        cidr_bounds(fam, sel[i]->net, sel[i]->prefix, lo, hi);
        memcpy(pts[np++].a, lo, 16);
        if (!be_is_max(hi, w)) {
            be_inc(hi, w);
            memcpy(pts[np++].a, hi, 16);
        }
    }
    g_pt_w = w;
    qsort(pts, np, sizeof pts[0], pt_cmp);
    uint32_t rsize =
        fam == EW_FAM_V4 ? sizeof(struct ew_nacl_range4) : sizeof(struct ew_nacl_range6);
    *off = reserve(o, rsize * np, 4) - base;
    uint32_t nr = 0;
    for (uint32_t i = 0; i < np; i++) {
        if (i > 0 && memcmp(pts[i].a, pts[i - 1].a, w) == 0) continue;
        uint8_t lo[16], hi[16];
        memcpy(lo, pts[i].a, 16);
        uint32_t j = i + 1;
        while (j < np && memcmp(pts[j].a, pts[i].a, w) == 0)
            j++;
        if (j < np) {
            memcpy(hi, pts[j].a, 16);
            be_dec(hi, w);
        } else {
            memset(hi, 0, 16);
            memset(hi, 0xff, w);
        }
        const struct tb_nacl_entry *best = NULL;
        for (uint32_t k = 0; k < ns; k++) {
            uint8_t elo[16], ehi[16];
            cidr_bounds(fam, sel[k]->net, sel[k]->prefix, elo, ehi);
            if (memcmp(elo, lo, w) <= 0 && memcmp(lo, ehi, w) <= 0 &&
                (!best || sel[k]->rule < best->rule))
                best = sel[k];
        }
        if (!best) continue; /* falls to `*` */
        uint32_t at = base + *off + nr * rsize;
        if (fam == EW_FAM_V4) {
            struct ew_nacl_range4 r = {0};
            r.lo = (uint32_t)lo[0] << 24 | (uint32_t)lo[1] << 16 | (uint32_t)lo[2] << 8 | lo[3];
            r.hi = (uint32_t)hi[0] << 24 | (uint32_t)hi[1] << 16 | (uint32_t)hi[2] << 8 | hi[3];
            r.rule = best->rule;
            r.action = best->action;
            put(o, at, &r, sizeof r);
        } else {
            struct ew_nacl_range6 r = {0};
            memcpy(r.lo.b, lo, 16);
            memcpy(r.hi.b, hi, 16);
            r.rule = best->rule;
            r.action = best->action;
            put(o, at, &r, sizeof r);
        }
        nr++;
    }
    *count = nr;
}

static void emit_nacl_intervals(struct buf *o, uint32_t base, const struct tb_nacl_entry *es,
                                uint32_t n, int proto, uint8_t fam, uint32_t *iv_off,
                                uint32_t *iv_count) {
    uint32_t bounds[2 * TB_MAX_NACL_ENTRIES + 2], nb = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!nacl_sel(&es[i], fam, proto)) continue;
        bounds[nb++] = es[i].lo;
        bounds[nb++] = (uint32_t)es[i].hi + 1;
    }
    qsort(bounds, nb, sizeof bounds[0], u16_cmp);
    struct ew_nacl_interval ivs[2 * TB_MAX_NACL_ENTRIES + 2];
    const struct tb_nacl_entry *cov[2 * TB_MAX_NACL_ENTRIES + 2][TB_MAX_NACL_ENTRIES];
    uint32_t ncov[2 * TB_MAX_NACL_ENTRIES + 2], niv = 0;
    for (uint32_t i = 0; i + 1 < nb; i++) {
        if (bounds[i] == bounds[i + 1]) continue;
        uint32_t lo = bounds[i], hi = bounds[i + 1] - 1, c = 0;
        for (uint32_t j = 0; j < n; j++)
            if (nacl_sel(&es[j], fam, proto) && es[j].lo <= lo && hi <= es[j].hi)
                cov[niv][c++] = &es[j];
        if (c == 0) continue;
        ivs[niv] = (struct ew_nacl_interval){(uint16_t)lo, (uint16_t)hi, 0, 0};
        ncov[niv++] = c;
    }
    *iv_off = reserve(o, sizeof(struct ew_nacl_interval) * niv, 4) - base;
    *iv_count = niv;
    for (uint32_t i = 0; i < niv; i++) {
        emit_nacl_ranges(o, base, cov[i], ncov[i], fam, &ivs[i].range_off, &ivs[i].range_count);
        put(o, base + *iv_off + i * (uint32_t)sizeof(struct ew_nacl_interval), &ivs[i],
            sizeof ivs[i]);
    }
}

static uint32_t emit_nacl_list(struct buf *o, const struct tb_nacl *nc, enum ew_dir dir,
                               uint8_t fam) {
    const struct tb_nacl_entry *es = nc->e[dir];
    uint32_t n = nc->n[dir];
    uint32_t base = reserve(o, sizeof(struct ew_nacl_list), 8);
    int protos[TB_MAX_NACL_ENTRIES];
    uint32_t np = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (es[i].family != fam || es[i].proto == TB_ANY) continue;
        bool dup = false;
        for (uint32_t j = 0; j < np; j++)
            dup |= protos[j] == es[i].proto;
        if (!dup) protos[np++] = es[i].proto;
    }
    qsort(protos, np, sizeof protos[0], u16_cmp);
    uint32_t pe_off = reserve(o, sizeof(struct ew_nacl_proto) * np, 4) - base;
    for (uint32_t i = 0; i < np; i++) {
        struct ew_nacl_proto pe = {.proto = (uint8_t)protos[i]};
        emit_nacl_intervals(o, base, es, n, protos[i], fam, &pe.interval_off, &pe.interval_count);
        put(o, base + pe_off + i * (uint32_t)sizeof pe, &pe, sizeof pe);
    }
    struct ew_nacl_list h = {.proto_off = pe_off, .proto_count = np};
    emit_nacl_intervals(o, base, es, n, TB_ANY, fam, &h.default_off, &h.default_count);
    h.list_size = o->len - base;
    put(o, base, &h, sizeof h);
    return base;
}

uint8_t *tb_build(const struct tb *b, size_t *len) {
    struct buf blob = {0}, out = {0};
    struct ew_ruleset rs[TB_MAX];
    for (uint32_t i = 0; i < b->n_rulesets; i++)
        for (int d = 0; d < 2; d++)
            for (uint8_t f = 0; f < 2; f++)
                rs[i].classifier[d][f] = emit_classifier(&blob, b, i, (enum ew_dir)d, f);
    struct buf nblob = {0};
    struct ew_nacl nacls[TB_MAX_NACLS];
    for (uint32_t i = 0; i < b->n_nacls; i++) {
        nacls[i] = (struct ew_nacl){.id_hi = b->nacls[i].id_hi, .id_lo = b->nacls[i].id_lo};
        for (int d = 0; d < 2; d++)
            for (uint8_t f = 0; f < 2; f++)
                nacls[i].list[d][f] = emit_nacl_list(&nblob, &b->nacls[i], (enum ew_dir)d, f);
    }

    struct ew_fwd4 fwd4[TB_MAX * 4];
    struct ew_fwd6 fwd6[TB_MAX * 4];
    uint32_t n4 = 0, n6 = 0;
    for (uint32_t i = 0; i < b->n_enis; i++) {
        const struct ew_eni *e = &b->enis[i];
        for (uint32_t j = 0; j < e->ipv4_count; j++)
            fwd4[n4++] = (struct ew_fwd4){e->vpc, b->ipv4[e->ipv4_off + j], i};
        for (uint32_t j = 0; j < e->ipv6_count; j++)
            fwd6[n6++] = (struct ew_fwd6){e->vpc, i, b->ipv6[e->ipv6_off + j]};
    }
    qsort(fwd4, n4, sizeof fwd4[0], fwd4_cmp);
    qsort(fwd6, n6, sizeof fwd6[0], fwd6_cmp);
    uint32_t ex4[16];
    memcpy(ex4, b->exempt4, sizeof ex4);
    qsort(ex4, b->n_exempt4, sizeof ex4[0], u32_cmp);

    struct ew_addr_set sets[TB_MAX];
    struct ew_range4 r4[TB_MAX * TB_MAX_RULES];
    struct ew_range6 *r6 = calloc(TB_MAX * TB_MAX_RULES, sizeof *r6);
    uint32_t nr4 = 0, nr6 = 0;
    for (uint32_t i = 0; i < b->n_sets; i++) {
        const struct tb_set *s = &b->sets[i];
        sets[i] = (struct ew_addr_set){s->family, s->family == EW_FAM_V4 ? nr4 : nr6, s->n, 0};
        for (uint32_t j = 0; j < s->n; j++) {
            if (s->family == EW_FAM_V4)
                r4[nr4++] = s->r4[j];
            else
                r6[nr6++] = s->r6[j];
        }
    }

    struct ew_table_header h = {
        EW_TABLE_MAGIC, EW_TABLE_VERSION, b->generation, 0, sizeof(struct ew_table_header),
        {{0, 0}}};
    reserve(&out, sizeof h, 8);
    const void *data[EW_SEC_COUNT] = {b->vpcs, b->subnets, b->enis,  b->ipv4,    b->ipv6,
                                      fwd4,    fwd6,       ex4,      b->exempt6, rs,
                                      blob.p,  sets,       r4,       r6,         nacls,
                                      nblob.p, b->remotes, b->hosts, b->vpc_vni};
    const uint32_t count[EW_SEC_COUNT] = {
        b->n_vpcs,    b->n_subnets, b->n_enis,     b->n_ipv4,  b->n_ipv6,   n4,  n6,
        b->n_exempt4, b->n_exempt6, b->n_rulesets, blob.len,   b->n_sets,   nr4, nr6,
        b->n_nacls,   nblob.len,    b->n_remotes,  b->n_hosts, b->n_vpc_vni};
    const uint32_t size[EW_SEC_COUNT] = {sizeof(struct ew_vpc),
                                         sizeof(struct ew_subnet),
                                         sizeof(struct ew_eni),
                                         4,
                                         16,
                                         sizeof(struct ew_fwd4),
                                         sizeof(struct ew_fwd6),
                                         4,
                                         16,
                                         sizeof(struct ew_ruleset),
                                         1,
                                         sizeof(struct ew_addr_set),
                                         sizeof(struct ew_range4),
                                         sizeof(struct ew_range6),
                                         sizeof(struct ew_nacl),
                                         1,
                                         sizeof(struct ew_remote_eni),
                                         sizeof(struct ew_underlay_host),
                                         4};
    for (int i = 0; i < EW_SEC_COUNT; i++) {
        uint32_t off = reserve(&out, count[i] * size[i], 8);
        if (count[i]) put(&out, off, data[i], count[i] * size[i]);
        h.sec[i] = (struct ew_section){off, count[i]};
    }
    reserve(&out, 0, 8);
    h.total_size = out.len;
    put(&out, 0, &h, sizeof h);
    free(blob.p);
    free(nblob.p);
    free(r6);
    *len = out.len;
    return out.p;
}
