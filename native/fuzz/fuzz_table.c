/*
 * libFuzzer harness: ew_table_load() on mutated tables (seeds: valid tables
 * built by tbuild), then *using* every table it accepts — the packet path
 * trusts whatever the loader lets through, so that trust is what is tested:
 *  - classifier queries at every interval's edges and every peer range's
 *    edges, compared with a linear scan over the same blob (the binary
 *    searches must agree with it on anything the loader accepted);
 *  - network ACL lookups (pipe_nacl) at every interval and range edge of every
 *    list, compared with a linear scan of the same list (action and rule);
 *  - frames between its ENIs (TCP SYN and the answer, UDP, ping, ARP, ping to
 *    the router) on a fresh core, with the verdict checks of world.c and: a
 *    forwarded new connection is one the classifier allows on both sides, and
 *    between two subnets one both subnets' NACL lists allow (linear scan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "eniwall/core.h"
#include "pipeline.h"
#include "synth.h"
#include "table_view.h"
#include "world.h"

static struct ew_port_counters *counters;

#define MAX_QUERIES 6000u
#define MAX_ENIS    8u

static void violation(const char *what) {
    w_fail(what, NULL, 0);
}

/* ---- linear reference over a classifier blob ---- */

static bool ref_ranges(const uint8_t *r, uint32_t n, enum ew_family fam, const uint8_t *peer) {
    for (uint32_t i = 0; i < n; i++) {
        if (fam == EW_FAM_V4) {
            const struct ew_range4 *x = (const void *)(r + i * sizeof *x);
            uint32_t a = ew_get32(peer);
            if (x->lo <= a && a <= x->hi) return true;
        } else {
            const struct ew_range6 *x = (const void *)(r + i * sizeof *x);
            if (memcmp(x->lo.b, peer, 16) <= 0 && memcmp(peer, x->hi.b, 16) <= 0) return true;
        }
    }
    return false;
}

static bool ref_classify(const struct ew_table_view *t, const struct ew_classifier *c,
                         enum ew_family fam, uint8_t proto, uint16_t key, const uint8_t *peer) {
    const uint8_t *blob = (const uint8_t *)c;
    const struct ew_interval *iv = (const void *)(blob + c->default_off);
    uint32_t n = c->default_count;
    uint16_t k = 0;
    const struct ew_proto_entry *pe = (const void *)(blob + c->proto_off);
    for (uint32_t i = 0; i < c->proto_count; i++)
        if (pe[i].proto == proto) {
            iv = (const void *)(blob + pe[i].interval_off);
            n = pe[i].interval_count;
            k = key;
        }
    for (uint32_t i = 0; i < n; i++) {
        if (k < iv[i].lo || k > iv[i].hi) continue;
        const struct ew_peer_set *ps = (const void *)(blob + iv[i].peer_set);
        if (ref_ranges(blob + ps->range_off, ps->range_count, fam, peer)) return true;
        const uint32_t *sets = (const void *)(blob + ps->addrset_off);
        for (uint32_t j = 0; j < ps->addrset_count; j++) {
            const struct ew_addr_set *s = &t->addr_sets[sets[j]];
            const uint8_t *r = fam == EW_FAM_V4 ? (const uint8_t *)(t->ranges4 + s->range_off)
                                                : (const uint8_t *)(t->ranges6 + s->range_off);
            if (ref_ranges(r, s->range_count, fam, peer)) return true;
        }
        return false;
    }
    return false;
}

/* ---- queries at the edges ---- */

static uint32_t queries;

static void peer_edge(enum ew_family fam, const uint8_t *edge, int delta, uint8_t out[16]) {
    memset(out, 0, 16);
    if (fam == EW_FAM_V4) {
        uint32_t a = ew_get32(edge) + (uint32_t)delta;
        ew_put32(out, a);
        return;
    }
    memcpy(out, edge, 16);
    out[15] = (uint8_t)(out[15] + delta);
}

static void query(const struct ew_table_view *t, uint32_t eni, enum ew_dir d, enum ew_family fam,
                  uint8_t proto, uint16_t key, const uint8_t *peer) {
    if (queries++ >= MAX_QUERIES) return;
    const struct ew_classifier *c = ew_view_classifier(t, &t->enis[eni], d, fam);
    bool world;
    int got = ew_classify_query(t, eni, d, fam, proto, key, peer, &world);
    bool want = ref_classify(t, c, fam, proto, key, peer);
    if (got != (want ? 1 : 0)) violation("classifier lookup disagrees with a linear scan");
}

static void peers_of(const struct ew_table_view *t, const uint8_t *blob,
                     const struct ew_interval *iv, enum ew_family fam, uint8_t peers[][16],
                     uint32_t *np) {
    const struct ew_peer_set *ps = (const void *)(blob + iv->peer_set);
    uint32_t rsize = fam == EW_FAM_V4 ? sizeof(struct ew_range4) : sizeof(struct ew_range6);
    uint32_t half = fam == EW_FAM_V4 ? 4 : 16;
    for (uint32_t i = 0; i < ps->range_count && i < 3 && *np + 4 <= 24; i++) {
        const uint8_t *r = blob + ps->range_off + i * rsize;
        uint8_t lo[16] = {0}, hi[16] = {0};
        if (fam == EW_FAM_V4) {
            const struct ew_range4 *x = (const void *)r;
            ew_put32(lo, x->lo);
            ew_put32(hi, x->hi);
        } else {
            memcpy(lo, r, half);
            memcpy(hi, r + half, half);
        }
        peer_edge(fam, lo, 0, peers[(*np)++]);
        peer_edge(fam, lo, -1, peers[(*np)++]);
        peer_edge(fam, hi, 0, peers[(*np)++]);
        peer_edge(fam, hi, 1, peers[(*np)++]);
    }
    const uint32_t *sets = (const void *)(blob + ps->addrset_off);
    for (uint32_t i = 0; i < ps->addrset_count && i < 2 && *np + 2 <= 24; i++) {
        const struct ew_addr_set *s = &t->addr_sets[sets[i]];
        if (!s->range_count) continue;
        uint8_t lo[16] = {0}, hi[16] = {0};
        if (fam == EW_FAM_V4) {
            ew_put32(lo, t->ranges4[s->range_off].lo);
            ew_put32(hi, t->ranges4[s->range_off + s->range_count - 1].hi);
        } else {
            memcpy(lo, t->ranges6[s->range_off].lo.b, 16);
            memcpy(hi, t->ranges6[s->range_off + s->range_count - 1].hi.b, 16);
        }
        peer_edge(fam, lo, -1, peers[(*np)++]);
        peer_edge(fam, hi, 0, peers[(*np)++]);
    }
}

static void query_intervals(const struct ew_table_view *t, uint32_t eni, enum ew_dir d,
                            enum ew_family fam, uint8_t proto, const struct ew_interval *iv,
                            uint32_t n, const uint8_t *blob) {
    for (uint32_t i = 0; i < n && queries < MAX_QUERIES; i++) {
        uint8_t peers[26][16];
        uint32_t np = 0;
        memset(peers[np++], 0, 16);
        memset(peers[np++], 0xff, 16);
        peers_of(t, blob, &iv[i], fam, peers, &np);
        const uint16_t keys[4] = {iv[i].lo, iv[i].hi, (uint16_t)(iv[i].lo - 1u),
                                  (uint16_t)(iv[i].hi + 1u)};
        for (uint32_t k = 0; k < 4; k++)
            for (uint32_t p = 0; p < np; p++)
                query(t, eni, d, fam, proto, keys[k], peers[p]);
    }
}

static void check_classifiers(const struct ew_table_view *t) {
    queries = 0;
    for (uint32_t e = 0; e < t->n_enis && e < MAX_ENIS; e++)
        for (int d = 0; d < 2; d++)
            for (int f = 0; f < 2; f++) {
                const struct ew_classifier *c =
                    ew_view_classifier(t, &t->enis[e], (enum ew_dir)d, (enum ew_family)f);
                const uint8_t *blob = (const uint8_t *)c;
                const struct ew_proto_entry *pe = (const void *)(blob + c->proto_off);
                for (uint32_t i = 0; i < c->proto_count; i++)
                    query_intervals(t, e, (enum ew_dir)d, (enum ew_family)f, pe[i].proto,
                                    (const void *)(blob + pe[i].interval_off), pe[i].interval_count,
                                    blob);
                /* A protocol without its own entry uses the default intervals. */
                uint8_t other = 0;
                for (uint32_t i = 0; i < c->proto_count; i++)
                    if (pe[i].proto == other) other = (uint8_t)(other + 1);
                query_intervals(t, e, (enum ew_dir)d, (enum ew_family)f, other,
                                (const void *)(blob + c->default_off), c->default_count, blob);
            }
}

/* ---- network ACLs: pipe_nacl against a linear scan of the same list ---- */

static bool ref_nacl(const struct ew_table_view *t, uint32_t nacl, enum ew_dir d,
                     enum ew_family fam, uint8_t proto, uint16_t key, const uint8_t *peer,
                     uint16_t *rule) {
    const uint8_t *list = (const uint8_t *)ew_view_nacl_list(t, nacl, d, fam);
    const struct ew_nacl_list *h = (const void *)list;
    const struct ew_nacl_interval *iv = (const void *)(list + h->default_off);
    uint32_t n = h->default_count;
    const struct ew_nacl_proto *pe = (const void *)(list + h->proto_off);
    for (uint32_t i = 0; i < h->proto_count; i++)
        if (pe[i].proto == proto) {
            iv = (const void *)(list + pe[i].interval_off);
            n = pe[i].interval_count;
        }
    *rule = fam == EW_FAM_V4 ? EW_NACL_RULE_STAR4 : EW_NACL_RULE_STAR6;
    uint32_t rsize =
        fam == EW_FAM_V4 ? sizeof(struct ew_nacl_range4) : sizeof(struct ew_nacl_range6);
    for (uint32_t i = 0; i < n; i++) {
        if (key < iv[i].lo || key > iv[i].hi) continue;
        for (uint32_t j = 0; j < iv[i].range_count; j++) {
            const uint8_t *r = list + iv[i].range_off + j * rsize;
            if (fam == EW_FAM_V4) {
                const struct ew_nacl_range4 *x = (const void *)r;
                uint32_t a = ew_get32(peer);
                if (x->lo <= a && a <= x->hi) {
                    *rule = x->rule;
                    return x->action == EW_NACL_ALLOW;
                }
            } else {
                const struct ew_nacl_range6 *x = (const void *)r;
                if (memcmp(x->lo.b, peer, 16) <= 0 && memcmp(peer, x->hi.b, 16) <= 0) {
                    *rule = x->rule;
                    return x->action == EW_NACL_ALLOW;
                }
            }
        }
        return false;
    }
    return false;
}

/* The packet fields pipe_nacl reads; peer is the destination for EGRESS. */
static void nacl_pkt(struct ew_pkt *p, enum ew_dir d, enum ew_family fam, uint8_t proto,
                     const uint8_t *peer) {
    memset(p, 0, sizeof *p);
    p->family = fam == EW_FAM_V4 ? 4 : 6;
    p->proto = proto;
    uint8_t *a = d == EW_DIR_EGRESS ? p->dst : p->src;
    memcpy(a, peer, fam == EW_FAM_V4 ? 4 : 16);
    if (fam == EW_FAM_V4) {
        p->src4 = ew_get32(p->src);
        p->dst4 = ew_get32(p->dst);
    }
}

static void nacl_query(const struct ew_table_view *t, uint32_t nacl, enum ew_dir d,
                       enum ew_family fam, uint8_t proto, uint16_t key, const uint8_t *peer) {
    if (queries++ >= MAX_QUERIES) return;
    struct ew_pkt p;
    nacl_pkt(&p, d, fam, proto, peer);
    uint16_t got_rule, want_rule;
    bool got = pipe_nacl(t, nacl, d, &p, key, &got_rule);
    bool want = ref_nacl(t, nacl, d, fam, proto, key, peer, &want_rule);
    if (got != want || got_rule != want_rule)
        violation("network ACL lookup disagrees with a linear scan");
}

static void nacl_query_intervals(const struct ew_table_view *t, uint32_t nacl, enum ew_dir d,
                                 enum ew_family fam, uint8_t proto, const uint8_t *list,
                                 const struct ew_nacl_interval *iv, uint32_t n) {
    uint32_t rsize =
        fam == EW_FAM_V4 ? sizeof(struct ew_nacl_range4) : sizeof(struct ew_nacl_range6);
    for (uint32_t i = 0; i < n && queries < MAX_QUERIES; i++) {
        uint8_t peers[2 + 4 * 4][16];
        uint32_t np = 0;
        memset(peers[np++], 0, 16);
        memset(peers[np++], 0xff, 16);
        for (uint32_t j = 0; j < iv[i].range_count && j < 4; j++) {
            const uint8_t *r = list + iv[i].range_off + j * rsize;
            uint8_t lo[16] = {0}, hi[16] = {0};
            if (fam == EW_FAM_V4) {
                const struct ew_nacl_range4 *x = (const void *)r;
                ew_put32(lo, x->lo);
                ew_put32(hi, x->hi);
            } else {
                memcpy(lo, r, 16);
                memcpy(hi, r + 16, 16);
            }
            peer_edge(fam, lo, 0, peers[np++]);
            peer_edge(fam, lo, -1, peers[np++]);
            peer_edge(fam, hi, 0, peers[np++]);
            peer_edge(fam, hi, 1, peers[np++]);
        }
        const uint16_t keys[4] = {iv[i].lo, iv[i].hi, (uint16_t)(iv[i].lo - 1u),
                                  (uint16_t)(iv[i].hi + 1u)};
        for (uint32_t k = 0; k < 4; k++)
            for (uint32_t p = 0; p < np; p++)
                nacl_query(t, nacl, d, fam, proto, keys[k], peers[p]);
    }
}

static void check_nacls(const struct ew_table_view *t) {
    queries = 0;
    for (uint32_t a = 0; a < t->n_nacls && a < 8; a++)
        for (int d = 0; d < 2; d++)
            for (int f = 0; f < 2; f++) {
                const uint8_t *list =
                    (const uint8_t *)ew_view_nacl_list(t, a, (enum ew_dir)d, (enum ew_family)f);
                const struct ew_nacl_list *h = (const void *)list;
                const struct ew_nacl_proto *pe = (const void *)(list + h->proto_off);
                for (uint32_t i = 0; i < h->proto_count; i++)
                    nacl_query_intervals(t, a, (enum ew_dir)d, (enum ew_family)f, pe[i].proto, list,
                                         (const void *)(list + pe[i].interval_off),
                                         pe[i].interval_count);
                uint8_t other = 0;
                for (uint32_t i = 0; i < h->proto_count; i++)
                    if (pe[i].proto == other) other = (uint8_t)(other + 1);
                nacl_query_intervals(t, a, (enum ew_dir)d, (enum ew_family)f, other, list,
                                     (const void *)(list + h->default_off), h->default_count);
            }
}

/* A subnet's list allows the packet (no NACL: not filtered). */
static bool nacl_allows(const struct ew_table_view *t, uint32_t subnet, enum ew_dir d,
                        enum ew_family fam, uint8_t proto, uint16_t key, const uint8_t *peer) {
    uint32_t a = t->subnets[subnet].nacl;
    uint16_t rule;
    return a == EW_INDEX_NONE || ref_nacl(t, a, d, fam, proto, key, peer, &rule);
}

/* ---- frames between the ENIs ---- */

static bool port_bound(const struct ew_table_view *t, uint32_t port) {
    return port < EW_MAX_PORTS && t->port_eni[port] != EW_INDEX_NONE;
}

static struct ew_verdict send(struct ew_worker_ctx *w, const struct ew_table_view *t, uint32_t port,
                              const struct sy_desc *d, uint32_t spare) {
    uint8_t frame[2048];
    uint32_t len = sy_build(frame, d);
    uint32_t cap = len + spare;
    uint8_t *buf = malloc(cap);
    if (!buf) abort();
    memcpy(buf, frame, len);
    uint32_t flen = len;
    struct ew_verdict v;
    ew_process(w, t, port, buf, &flen, cap, &v);
    const char *bad =
        w_check_verdict(&v, port, flen, cap, port_bound(t, port), port_bound(t, v.out_port));
    if (!bad && v.action == EW_ACT_FORWARD) {
        const struct ew_eni *s = &t->enis[t->port_eni[port]];
        const struct ew_eni *r = &t->enis[t->port_eni[v.out_port]];
        if (s->vpc != r->vpc) bad = "forwarded into another VPC";
    }
    if (bad) w_fail(bad, frame, len);
    free(buf);
    return v;
}

static void addr_of(const struct ew_table_view *t, const struct ew_eni *e, uint8_t family,
                    uint8_t out[16]) {
    memset(out, 0, 16);
    if (family == 4)
        ew_put32(out, t->eni_ipv4[e->ipv4_off]);
    else
        memcpy(out, t->eni_ipv6[e->ipv6_off].b, 16);
}

/* One core for all inputs, made fresh before each (see fuzz_process.c): the
 * clock jumps past the longest timeout a table may set (432,000 s) and a sweep
 * of every bucket, ending where a new core's cursor starts, frees every entry. */
#define T_CT_MAX     64u
#define T_CT_BUCKETS 64u /* conntrack.c: the power of two >= T_CT_MAX */
static struct ew_core *core;
static uint64_t now_ms = 1000, swept;

static void sweep(uint64_t at, uint32_t budget) {
    ew_core_sweep(core, at, budget);
    swept += budget;
}

static void fresh_core(void) {
    if (!core) {
        struct ew_core_config cfg = {
            .conntrack_max = T_CT_MAX, .allowance_per_eni = 16, .hash_salt = 1};
        char err[128];
        core = ew_core_create(&cfg, err, sizeof err);
        if (!core) abort();
        return;
    }
    now_ms += 1000000000u;
    sweep(now_ms, (uint32_t)(2u * T_CT_BUCKETS - swept % T_CT_BUCKETS));
}

static void frames(const struct ew_table_view *t) {
    fresh_core();
    struct ew_worker_ctx w = {.core = core, .counters = counters, .now_ms = now_ms};
    uint16_t pair = 0;
    for (uint32_t i = 0; i < t->n_enis && i < MAX_ENIS; i++) {
        const struct ew_eni *a = &t->enis[i];
        if (a->port_id == EW_PORT_NONE) continue;
        const struct ew_subnet *sa = &t->subnets[a->subnet];
        struct sy_desc d;
        /* ARP for the router and a ping to it. */
        memset(&d, 0, sizeof d);
        d.family = 4;
        d.kind = SY_ARP;
        d.arp_op = 1;
        memcpy(d.src_mac, a->mac, 6);
        memset(d.dst_mac, 0xff, 6);
        addr_of(t, a, 4, d.src);
        ew_put32(d.dst, sa->router_ipv4);
        send(&w, t, a->port_id, &d, 0);
        d.kind = SY_ECHO_REQUEST;
        d.ttl = 64;
        memcpy(d.dst_mac, sa->router_mac, 6);
        send(&w, t, a->port_id, &d, 16);
        for (uint32_t j = 0; j < t->n_enis && j < MAX_ENIS; j++) {
            const struct ew_eni *b = &t->enis[j];
            for (uint8_t fam = 4; fam <= 6; fam = (uint8_t)(fam + 2)) {
                if (fam == 6 && (!a->ipv6_count || !b->ipv6_count)) continue;
                memset(&d, 0, sizeof d);
                d.family = fam;
                d.ttl = (uint8_t)(pair % 7 == 0 ? 1 : 64);
                memcpy(d.src_mac, a->mac, 6);
                memcpy(d.dst_mac, a->subnet == b->subnet ? b->mac : sa->router_mac, 6);
                addr_of(t, a, fam, d.src);
                addr_of(t, b, fam, d.dst);
                /* A destination port on an interval edge of b's ingress rules. */
                const struct ew_classifier *c =
                    ew_view_classifier(t, b, EW_DIR_INGRESS, fam == 4 ? EW_FAM_V4 : EW_FAM_V6);
                const uint8_t *blob = (const uint8_t *)c;
                const struct ew_proto_entry *pe = (const void *)(blob + c->proto_off);
                uint16_t dport = 80;
                for (uint32_t k = 0; k < c->proto_count; k++)
                    if (pe[k].proto == 6 && pe[k].interval_count) {
                        const struct ew_interval *iv = (const void *)(blob + pe[k].interval_off);
                        dport = pair & 1 ? iv[0].hi : iv[0].lo;
                    }
                static const uint8_t kinds[4] = {SY_TCP, SY_UDP, SY_ECHO_REQUEST, SY_PROTO};
                d.kind = kinds[pair % 4];
                d.proto =
                    (uint8_t)(100u + (pair & 127u)); /* unique: proto flows key on addresses */
                d.sport = (uint16_t)(20000u + pair);
                d.dport = dport;
                d.tcp_flags = 0x02;
                d.payload = (uint16_t)(pair % 3 * 40);
                /* No live entry may explain the SYN (the check below is about the
                 * rules): jump past the longest timeout, and sweep the dead out. */
                w.now_ms += 500000000u;
                sweep(w.now_ms, 256);
                struct ew_verdict v = send(&w, t, a->port_id, &d, pair % 5 * 20u);
                pair++;
                if (v.action == EW_ACT_FORWARD) {
                    /* A new connection: both sides' rules must allow it. */
                    const struct ew_eni *r = &t->enis[t->port_eni[v.out_port]];
                    uint32_t ri = t->port_eni[v.out_port];
                    enum ew_family f = fam == 4 ? EW_FAM_V4 : EW_FAM_V6;
                    uint8_t proto = d.kind == SY_TCP     ? 6
                                    : d.kind == SY_UDP   ? 17
                                    : d.kind == SY_PROTO ? d.proto
                                                         : (fam == 4 ? 1 : 58);
                    uint16_t key = dport;
                    if (d.kind == SY_ECHO_REQUEST) key = fam == 4 ? 0x0800 : 0x8000;
                    if (d.kind == SY_PROTO) key = 0;
                    bool world;
                    if (ew_classify_query(t, i, EW_DIR_EGRESS, f, proto, key, d.dst, &world) != 1 ||
                        ew_classify_query(t, ri, EW_DIR_INGRESS, f, proto, key, d.src, &world) !=
                            1) {
                        fprintf(stderr, "eni %u -> eni %u family %u proto %u key %u\n", i, ri, fam,
                                proto, key);
                        violation("forwarded a new connection the classifier refuses");
                    }
                    if (r->subnet != a->subnet &&
                        (!nacl_allows(t, a->subnet, EW_DIR_EGRESS, f, proto, key, d.dst) ||
                         !nacl_allows(t, r->subnet, EW_DIR_INGRESS, f, proto, key, d.src)))
                        violation("forwarded between subnets what a network ACL refuses");
                    (void)r;
                    /* The answer, through conntrack. */
                    struct sy_desc back = d;
                    memcpy(back.src, d.dst, 16);
                    memcpy(back.dst, d.src, 16);
                    memcpy(back.src_mac, r->mac, 6);
                    memcpy(back.dst_mac,
                           r->subnet == a->subnet ? a->mac : t->subnets[r->subnet].router_mac, 6);
                    back.sport = d.dport;
                    back.dport = d.sport;
                    back.tcp_flags = 0x02 | 0x10;
                    if (d.kind == SY_ECHO_REQUEST) {
                        back.kind = SY_ECHO_REPLY;
                        back.sport = d.sport;
                    }
                    send(&w, t, v.out_port, &back, 0);
                }
            }
        }
    }
    now_ms = w.now_ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!counters) counters = calloc(EW_MAX_PORTS, sizeof *counters);
    if (size > 1u << 20) return 0;
    char err[256];
    struct ew_table_view *t = ew_table_load(data, size, err, sizeof err);
    if (!t) {
        if (!err[0]) violation("a rejected table without a reason");
        return 0;
    }
    check_classifiers(t);
    check_nacls(t);
    frames(t);
    ew_table_free(t);
    return 0;
}
