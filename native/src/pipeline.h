/*
 * The decisions of the per-packet pipeline that ew_process() (process.c) and
 * ew_trace() (trace.c) share, so that `check` explains the verdict with the
 * very code that enforces it: table lookups (forwarding, own addresses, the
 * service addresses, the subnet router), the broadcast test, the classifier call of
 * one zone, the untracked decision (aws-security-groups.md section 4.2) and the
 * network ACL lookup.
 *
 * All of them only read the immutable table and the parsed packet: no
 * counters, no conntrack, no allocation. Static inline: they sit on the hot
 * path of process.c.
 */
#ifndef ENIWALL_PIPELINE_H
#define ENIWALL_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "classify.h"
#include "parse.h"
#include "reply.h"
#include "table_view.h"

/* ---- table lookups ---- */

static inline uint32_t fwd4_find(const struct ew_table_view *t, uint32_t vpc, uint32_t addr) {
    uint32_t lo = 0, hi = t->n_fwd4;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct ew_fwd4 *f = &t->fwd4[mid];
        if (f->vpc < vpc || (f->vpc == vpc && f->addr < addr))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->n_fwd4 && t->fwd4[lo].vpc == vpc && t->fwd4[lo].addr == addr)
        return t->fwd4[lo].eni;
    return EW_INDEX_NONE;
}

static inline uint32_t fwd6_find(const struct ew_table_view *t, uint32_t vpc, const uint8_t *addr) {
    uint32_t lo = 0, hi = t->n_fwd6;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct ew_fwd6 *f = &t->fwd6[mid];
        if (f->vpc < vpc || (f->vpc == vpc && memcmp(f->addr.b, addr, 16) < 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->n_fwd6 && t->fwd6[lo].vpc == vpc && memcmp(t->fwd6[lo].addr.b, addr, 16) == 0)
        return t->fwd6[lo].eni;
    return EW_INDEX_NONE;
}

static inline bool sorted4_has(const uint32_t *a, uint32_t n, uint32_t x) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == x;
}

static inline bool sorted6_has(const struct ew_ip6 *a, uint32_t n, const uint8_t *x) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (memcmp(a[mid].b, x, 16) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && memcmp(a[lo].b, x, 16) == 0;
}

static inline bool eni_has_ipv4(const struct ew_table_view *t, const struct ew_eni *e, uint32_t a) {
    for (uint32_t i = 0; i < e->ipv4_count; i++)
        if (t->eni_ipv4[e->ipv4_off + i] == a) return true;
    return false;
}

static inline bool eni_has_ipv6(const struct ew_table_view *t, const struct ew_eni *e,
                                const uint8_t *a) {
    for (uint32_t i = 0; i < e->ipv6_count; i++)
        if (memcmp(t->eni_ipv6[e->ipv6_off + i].b, a, 16) == 0) return true;
    return false;
}

static inline bool is_router6(const struct ew_subnet *s, const uint8_t *a) {
    uint8_t ll[16];
    if (s->ipv6_prefix && memcmp(s->router_ipv6.b, a, 16) == 0) return true;
    ew_link_local_from_mac(s->router_mac, ll);
    return memcmp(ll, a, 16) == 0;
}

/* ---- per-packet tests ---- */

/* Broadcast or multicast: the destination MAC's group bit, IPv6 ff00::/8, or
 * IPv4 limited/subnet-directed broadcast and 224.0.0.0/4. */
static inline bool pipe_is_broadcast(const struct ew_table_view *t, const struct ew_eni *e,
                                     const uint8_t *frame, const struct ew_pkt *p) {
    if (frame[0] & 1u) return true;
    if (p->family == 6) return p->dst[0] == 0xff;
    const struct ew_subnet *s = &t->subnets[e->subnet];
    uint32_t host_mask = s->ipv4_prefix >= 32 ? 0 : 0xffffffffu >> s->ipv4_prefix;
    return p->dst4 == 0xffffffffu || (p->dst4 >> 28) == 0xeu ||
           (host_mask && p->dst4 == (s->ipv4_net | host_mask));
}

/* A service address of the VPC (the DNS at base + 2, and the link-local DNS,
 * metadata and time-sync addresses of table.h's EXEMPT4/EXEMPT6 sections). eniwall does
 * not provide these services, so traffic to them is dropped with its own
 * reason. Only the destination counts: a source address never exempts a frame
 * from the receiver's groups (an ENI with source/dest check off may send from
 * any address). */
static inline bool pipe_to_service(const struct ew_table_view *t, const struct ew_eni *e,
                                   const struct ew_pkt *p) {
    if (p->family == 4)
        return p->dst4 == t->vpcs[e->vpc].dns_ipv4 ||
               sorted4_has(t->exempt4, t->n_exempt4, p->dst4);
    return sorted6_has(t->exempt6, t->n_exempt6, p->dst);
}

static inline bool tcp_flags_possible(uint8_t f) {
    if ((f & EW_TCP_SYN) && (f & (EW_TCP_FIN | EW_TCP_RST))) return false;
    return (f & (EW_TCP_SYN | EW_TCP_ACK | EW_TCP_RST)) != 0;
}

/* The classifier of ENI e in direction dir: the peer is the destination for
 * EGRESS, the source for INGRESS. */
static inline bool pipe_classify(const struct ew_table_view *t, const struct ew_eni *e,
                                 enum ew_dir dir, const struct ew_pkt *p, uint16_t key,
                                 bool *world) {
    enum ew_family fam = p->family == 4 ? EW_FAM_V4 : EW_FAM_V6;
    const struct ew_classifier *cl = ew_view_classifier(t, e, dir, fam);
    bool egress = dir == EW_DIR_EGRESS;
    if (p->family == 4)
        return ew_classify4(t, cl, p->proto, key, egress ? p->dst4 : p->src4, world);
    return ew_classify6(t, cl, p->proto, key, egress ? p->dst : p->src, world);
}

/* Section 4.2: a TCP/UDP flow opened by a /0 rule, whose reverse direction has a
 * /0 rule for all ports of the protocol, is not tracked. */
static inline bool pipe_untracked(const struct ew_table_view *t, const struct ew_eni *e,
                                  enum ew_dir dir, const struct ew_pkt *p, bool world) {
    if (!world || (p->proto != EW_PROTO_TCP && p->proto != EW_PROTO_UDP)) return false;
    enum ew_family fam = p->family == 4 ? EW_FAM_V4 : EW_FAM_V6;
    enum ew_dir rev = dir == EW_DIR_EGRESS ? EW_DIR_INGRESS : EW_DIR_EGRESS;
    uint32_t need =
        p->proto == EW_PROTO_TCP ? EW_CLS_WORLD_ALL_PORTS_TCP : EW_CLS_WORLD_ALL_PORTS_UDP;
    return (ew_view_classifier(t, e, rev, fam)->flags & need) != 0;
}

/* ---- network ACLs ---- */

/* The key intervals of protocol proto in a NACL list: its own entry, else the
 * default intervals (built from the "-1" entries alone). */
static inline const struct ew_nacl_interval *pipe_nacl_intervals(const uint8_t *list, uint8_t proto,
                                                                 uint32_t *count) {
    const struct ew_nacl_list *h = (const struct ew_nacl_list *)(const void *)list;
    const struct ew_nacl_proto *pe =
        (const struct ew_nacl_proto *)(const void *)(list + h->proto_off);
    uint32_t lo = 0, hi = h->proto_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (pe[mid].proto < proto)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < h->proto_count && pe[lo].proto == proto) {
        *count = pe[lo].interval_count;
        return (const struct ew_nacl_interval *)(const void *)(list + pe[lo].interval_off);
    }
    *count = h->default_count;
    return (const struct ew_nacl_interval *)(const void *)(list + h->default_off);
}

/* Network ACL `nacl`'s verdict for the packet in direction dir (the peer is the
 * destination for EGRESS, the source for INGRESS): true = allow. *rule gets the
 * deciding rule number, the `*` rule's (32767 / 32768) when no entry covers it.
 * First match wins was resolved by the compiler: every (protocol, key, peer)
 * falls in at most one range, so this is three binary searches. */
static inline bool pipe_nacl(const struct ew_table_view *t, uint32_t nacl, enum ew_dir dir,
                             const struct ew_pkt *p, uint16_t key, uint16_t *rule) {
    enum ew_family fam = p->family == 4 ? EW_FAM_V4 : EW_FAM_V6;
    const uint8_t *list = (const uint8_t *)ew_view_nacl_list(t, nacl, dir, fam);
    *rule = fam == EW_FAM_V4 ? EW_NACL_RULE_STAR4 : EW_NACL_RULE_STAR6;
    uint32_t n;
    const struct ew_nacl_interval *iv = pipe_nacl_intervals(list, p->proto, &n);
    uint32_t lo = 0, hi = n;
    while (lo < hi) { /* first interval with hi >= key */
        uint32_t mid = lo + (hi - lo) / 2;
        if (iv[mid].hi < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == n || iv[lo].lo > key) return false;
    const uint8_t *ranges = list + iv[lo].range_off;
    uint32_t rn = iv[lo].range_count;
    bool egress = dir == EW_DIR_EGRESS;
    if (fam == EW_FAM_V4) {
        const struct ew_nacl_range4 *r = (const struct ew_nacl_range4 *)(const void *)ranges;
        uint32_t a = egress ? p->dst4 : p->src4;
        lo = 0, hi = rn;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (r[mid].hi < a)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == rn || r[lo].lo > a) return false;
        *rule = r[lo].rule;
        return r[lo].action == EW_NACL_ALLOW;
    }
    const struct ew_nacl_range6 *r = (const struct ew_nacl_range6 *)(const void *)ranges;
    const uint8_t *a = egress ? p->dst : p->src;
    lo = 0, hi = rn;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (memcmp(r[mid].hi.b, a, 16) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == rn || memcmp(r[lo].lo.b, a, 16) > 0) return false;
    *rule = r[lo].rule;
    return r[lo].action == EW_NACL_ALLOW;
}

/* A packet the rules allowed may open a conntrack entry: a bare SYN, an echo
 * request, any UDP or other-protocol packet. */
static inline bool pipe_can_open(const struct ew_pkt *p) {
    if (p->proto == EW_PROTO_TCP) return (p->tcp_flags & (EW_TCP_SYN | EW_TCP_ACK)) == EW_TCP_SYN;
    if (p->icmp_kind == EW_ICMP_ECHO_REQUEST || p->icmp_kind == EW_ICMP_ECHO_REPLY)
        return p->icmp_kind == EW_ICMP_ECHO_REQUEST;
    return true;
}

#endif /* ENIWALL_PIPELINE_H */
