/*
 * ew_process(): the per-packet pipeline (order in core.h). Hot path only: no
 * allocation, no logging; every outcome is a verdict plus a counter.
 *
 * Choices where the AWS reference is unconfirmed (aws-security-groups.md):
 *  - Source/dest check runs before the router answers ping (core.h lists the
 *    router answers first): a spoofed ping never gets an answer.
 *  - ICMP errors (v4 3/4/5/11/12, v6 1/2/3/4) are RELATED, and pass without
 *    rule evaluation, when their embedded header belongs to a live tracked
 *    connection of the zone; otherwise the rules of the zone judge them (an
 *    ICMP rule for that type/code), and a refusal counts ICMP_ERROR_UNRELATED.
 *  - Fragments: see fragcache.h (first fragment judged, the rest follow it).
 *  - ICMP messages other than echo and errors are judged by the rules and
 *    never tracked; ICMP echo is tracked by identifier.
 *  - A segment with impossible TCP flags (SYN+FIN, SYN+RST, none of
 *    SYN/ACK/RST) is dropped as CT_INVALID.
 *  - Network ACLs (subnet boundary): after the sender's zone and before the
 *    receiver's, on the routed path only; every packet, tracked or not.
 *  - Drops are counted on the input port, except the receiving ENI's ingress
 *    verdicts (SG_INGRESS, NACL_INGRESS, ...), which count on the receiver's port (drop_at(): AWS
 * reports an ingress REJECT on the receiving ENI); CT_HITS / CT_NEW / UNTRACKED on the zone's own
 * port.
 *  - Flow samples (flowlog.h), for ENIs flagged EW_ENI_FLOW_LOG only: each zone's verdict of a
 *    packet that reached it (the sender's egress, NACL_EGRESS included; the receiver's once the
 *    frame got past the sender), counted in the conntrack entry when a tracked connection
 *    carries it, else in the worker's aggregation table. Non-first fragments make none.
 */
#include <string.h>

#include "checksum.h"
#include "classify.h"
#include "conntrack.h"
#include "core_internal.h"
#include "flowlog.h"
#include "fragcache.h"
#include "hits_ring.h"
#include "parse.h"
#include "pipeline.h"
#include "reply.h"
#include "table_view.h"

struct pctx {
    struct ew_worker_ctx *w;
    const struct ew_table_view *t;
    struct ew_port_counters *pc; /* input port's counters */
    const struct ew_eni *e;      /* sending ENI */
    uint32_t in_port;
    uint8_t *frame;
    uint32_t *len;
    uint32_t cap;
    struct ew_verdict *v;
    struct ew_pkt p;
    bool hashed;      /* hash[] holds the zones' conntrack hashes (burst path) */
    uint32_t hash[2]; /* [0] the sender's zone key, [1] the receiver's (prefetch_zones) */
    uint32_t fwd;     /* when hashed: the destination ENI prefetch_zones looked up */
};

/* Drops are counted on the port whose ENI decided them: the input port, except
 * for the receiving ENI's ingress verdicts (as AWS reports an ingress REJECT
 * on the receiving ENI). */
static void drop_at(struct pctx *c, uint32_t port, enum ew_drop_reason r) {
    c->v->action = EW_ACT_DROP;
    c->v->reason = (uint16_t)r;
    c->w->counters[port].drop[r]++;
}

static void drop(struct pctx *c, enum ew_drop_reason r) {
    drop_at(c, c->in_port, r);
}

static void reply(struct pctx *c, enum ew_port_counter cnt) {
    c->v->action = EW_ACT_REPLY;
    c->v->out_port = c->in_port;
    c->pc->cnt[cnt]++;
}

/* ---- ARP and NDP ---- */

static void handle_arp(struct pctx *c) {
    const struct ew_pkt *p = &c->p;
    const struct ew_table_view *t = c->t;
    const struct ew_subnet *s = &t->subnets[c->e->subnet];
    const uint8_t *arp = c->frame + EW_ETH_HLEN;
    bool check = c->e->flags & EW_ENI_SRC_DST_CHECK;
    /* Replies, gratuitous ARP (sender == target) and probes (sender 0.0.0.0). */
    if (p->arp_op != 1u || p->arp_spa == p->arp_tpa || p->arp_spa == 0) {
        drop(c, EW_DROP_NEIGHBOR_NOISE);
        return;
    }
    if (check && memcmp(arp + 8, c->e->mac, 6) != 0) {
        drop(c, EW_DROP_SPOOFED_MAC);
        return;
    }
    if (check && !eni_has_ipv4(t, c->e, p->arp_spa)) {
        drop(c, EW_DROP_SPOOFED_IP);
        return;
    }
    if (p->arp_tpa == s->router_ipv4) {
        ew_reply_arp(c->frame, s->router_mac, p->arp_tpa);
        {
            reply(c, EW_CNT_ARP_REPLIES);
            return;
        }
    }
    uint32_t f = fwd4_find(t, c->e->vpc, p->arp_tpa);
    if (f == EW_INDEX_NONE || t->enis[f].subnet != c->e->subnet) {
        drop(c, EW_DROP_ARP_UNKNOWN_TARGET);
        return;
    }
    if (&t->enis[f] == c->e) {
        drop(c, EW_DROP_NEIGHBOR_NOISE);
        return;
    } /* asking for itself */
    ew_reply_arp(c->frame, t->enis[f].mac, p->arp_tpa);
    reply(c, EW_CNT_ARP_REPLIES);
}

#define ND_NS 135u

static void handle_nd(struct pctx *c) {
    const struct ew_pkt *p = &c->p;
    const struct ew_table_view *t = c->t;
    const struct ew_subnet *s = &t->subnets[c->e->subnet];
    static const uint8_t unspecified[16] = {0};
    /* Only solicitations get answers; RS/RA/NA/redirects and MLD are ignored. */
    if (p->icmp_kind != EW_ICMP_NDP || p->icmp_type != ND_NS) {
        drop(c, EW_DROP_NEIGHBOR_NOISE);
        return;
    }
    if (p->l4_len < 24u) {
        drop(c, EW_DROP_MALFORMED_L4);
        return;
    }
    /* RFC 4861 7.1.1: hop limit 255 proves the sender is on the link. */
    if (p->ttl != 255u) {
        drop(c, EW_DROP_NEIGHBOR_NOISE);
        return;
    }
    if (memcmp(p->src, unspecified, 16) == 0) {
        drop(c, EW_DROP_NEIGHBOR_NOISE);
        return;
    } /* DAD */
    bool link_local = p->src[0] == 0xfe && (p->src[1] & 0xc0u) == 0x80u;
    if ((c->e->flags & EW_ENI_SRC_DST_CHECK) && !link_local && !eni_has_ipv6(t, c->e, p->src)) {
        drop(c, EW_DROP_SPOOFED_IP);
        return;
    }
    const uint8_t *target = c->frame + p->l4_off + 8;
    if (is_router6(s, target)) {
        if (!ew_reply_na(c->frame, c->len, c->cap, p, target, s->router_mac, true)) {
            drop(c, EW_DROP_FRAME_TOO_BIG);
            return;
        }
        {
            reply(c, EW_CNT_ND_REPLIES);
            return;
        }
    }
    uint32_t f = fwd6_find(t, c->e->vpc, target);
    if (f == EW_INDEX_NONE || t->enis[f].subnet != c->e->subnet) {
        drop(c, EW_DROP_ND_UNKNOWN_TARGET);
        return;
    }
    if (&t->enis[f] == c->e) {
        drop(c, EW_DROP_NEIGHBOR_NOISE);
        return;
    }
    if (!ew_reply_na(c->frame, c->len, c->cap, p, target, t->enis[f].mac, false)) {
        drop(c, EW_DROP_FRAME_TOO_BIG);
        return;
    }
    reply(c, EW_CNT_ND_REPLIES);
}

/* ---- security groups + conntrack, one zone ---- */

struct zone {
    const struct ew_eni *eni;
    uint32_t port;
    enum ew_dir dir; /* EGRESS for the sender's zone, INGRESS for the receiver's */
};

static bool classify_pkt(const struct pctx *c, const struct zone *z, uint16_t key, bool *world) {
    return pipe_classify(c->t, z->eni, z->dir, &c->p, key, world);
}

static bool untracked(const struct pctx *c, const struct zone *z, bool world) {
    return pipe_untracked(c->t, z->eni, z->dir, &c->p, world);
}

static void ct_key_from(struct ew_ct_key *k, const struct zone *z, uint8_t family, uint8_t proto,
                        const uint8_t *src, const uint8_t *dst, uint16_t sport, uint16_t dport) {
    memcpy(k->src, src, 16);
    memcpy(k->dst, dst, 16);
    k->sport = sport;
    k->dport = dport;
    k->zone = (uint16_t)z->port;
    k->family = family;
    k->proto = proto;
}

static enum ew_drop_reason judge_icmp_error(struct pctx *c, const struct zone *z) {
    const struct ew_pkt *p = &c->p;
    struct ew_port_counters *zc = &c->w->counters[z->port];
    const struct ew_inner *in = &p->inner;
    struct ew_ct_key k;
    ct_key_from(&k, z, p->family, in->proto, in->src, in->dst, in->sport, in->dport);
    if (ew_ct_exists(c->w->core->ct, &k, c->w->now_ms)) {
        zc->cnt[EW_CNT_CT_HITS]++;
        return EW_DROP_NONE;
    }
    bool world;
    return classify_pkt(c, z, p->key, &world) ? EW_DROP_NONE : EW_DROP_ICMP_ERROR_UNRELATED;
}

/* sample: the zone's ENI has a flow log and this packet's verdict for it is
 * ACCEPT if the zone passes it; *counted is set when conntrack took the sample. */
static enum ew_drop_reason judge(struct pctx *c, const struct zone *z, bool sample, bool *counted) {
    const struct ew_pkt *p = &c->p;
    struct ew_core *core = c->w->core;
    struct ew_port_counters *zc = &c->w->counters[z->port];
    enum ew_drop_reason deny = z->dir == EW_DIR_EGRESS ? EW_DROP_SG_EGRESS : EW_DROP_SG_INGRESS;
    uint8_t fl = sample ? (uint8_t)z->dir : EW_CT_FL_OFF;
    *counted = false;
    if (p->icmp_kind == EW_ICMP_ERROR) return judge_icmp_error(c, z);
    if (p->proto == EW_PROTO_TCP && !tcp_flags_possible(p->tcp_flags)) return EW_DROP_CT_INVALID;

    bool icmp_echo = p->icmp_kind == EW_ICMP_ECHO_REQUEST || p->icmp_kind == EW_ICMP_ECHO_REPLY;
    bool trackable = icmp_echo || p->icmp_kind == EW_ICMP_NONE;
    struct ew_ct_timeouts tmo = {z->eni->tcp_established_timeout, z->eni->udp_timeout,
                                 z->eni->udp_stream_timeout};
    struct ew_ct_key k;
    struct ew_ct_hold hold;
    if (trackable) {
        ct_key_from(&k, z, p->family, p->proto, p->src, p->dst, p->sport, p->dport);
        /* The burst path hashed both zones' keys already (prefetch_zones). */
        uint32_t hash =
            c->hashed ? c->hash[z->dir == EW_DIR_EGRESS ? 0 : 1] : ew_ct_hash(core->ct, &k);
        if (ew_ct_track_hold(core->ct, &k, hash, p->tcp_flags, p->ip_len, &tmo, c->w->now_ms, fl,
                             c->w->ct_cache, &hold) == EW_CT_HIT) {
            zc->cnt[EW_CNT_CT_HITS]++;
            *counted = sample;
            return EW_DROP_NONE;
        }
        /* A miss: the bucket's lock is held until the insert or the release
         * below, so the bucket is walked once (rule lookups only in between). */
    }
    bool world;
    bool allowed = classify_pkt(c, z, p->key, &world);
    if (!trackable) return allowed ? EW_DROP_NONE : deny;
    if (!allowed) {
        ew_ct_release(core->ct, &hold);
        return deny;
    }
    if (untracked(c, z, world)) {
        ew_ct_release(core->ct, &hold);
        zc->cnt[EW_CNT_UNTRACKED]++;
        return EW_DROP_NONE;
    }
    if (!pipe_can_open(p)) { /* allowed by the rules, nothing to track */
        ew_ct_release(core->ct, &hold);
        return EW_DROP_NONE;
    }
    switch (
        ew_ct_insert_held(core->ct, &k, &hold, p->tcp_flags, p->ip_len, &tmo, fl, c->w->ct_cache)) {
    case EW_CT_INSERTED:
        zc->cnt[EW_CNT_CT_NEW]++;
        *counted = sample;
        if (c->w->hits) /* which rule admitted it: named off the packet path (hits.h) */
            ew_hit_push(c->w->hits, z->dir == EW_DIR_EGRESS ? p->dst : p->src, c->w->now_ms,
                        (uint16_t)z->port, p->key, (uint8_t)z->dir, p->family, p->proto);
        return EW_DROP_NONE;
    case EW_CT_EXISTS: /* not from a held insert; kept for completeness */
        zc->cnt[EW_CNT_CT_HITS]++;
        return EW_DROP_NONE;
    case EW_CT_ALLOWANCE:
        return EW_DROP_CT_ALLOWANCE_EXCEEDED;
    default:
        return EW_DROP_CT_TABLE_FULL;
    }
}

/* ---- flow samples (flowlog.h) ---- */

static inline bool flow_logged(const struct ew_eni *e) {
    return (e->flags & EW_ENI_FLOW_LOG) != 0;
}

/* One packet's sample in the worker's aggregation table: zone z's verdict,
 * REJECT with reason r, or ACCEPT when r is EW_DROP_NONE. */
static void flow_sample(struct pctx *c, const struct zone *z, enum ew_drop_reason r) {
    const struct ew_pkt *p = &c->p;
    struct ew_fl_key k;
    memcpy(k.src, p->src, 16);
    memcpy(k.dst, p->dst, 16);
    bool ports = p->proto == EW_PROTO_TCP || p->proto == EW_PROTO_UDP;
    k.sport = ports ? p->sport : 0;
    k.dport = ports ? p->dport : 0;
    k.port = (uint16_t)z->port;
    k.reason = (uint16_t)r;
    k.dir = (uint8_t)z->dir;
    k.action = r == EW_DROP_NONE ? EW_FLOW_ACCEPT : EW_FLOW_REJECT;
    k.family = p->family;
    k.proto = p->proto;
    uint8_t flags = p->proto == EW_PROTO_TCP ? (uint8_t)(p->tcp_flags & 0x3fu) : 0;
    ew_fl_record(c->w->fl, &c->w->counters[z->port].cnt[EW_CNT_FLOW_SAMPLES_LOST], &k, p->ip_len,
                 flags, c->w->now_ms);
}

/* ---- IP data ---- */

static bool to_service(const struct pctx *c) {
    return pipe_to_service(c->t, c->e, &c->p);
}

static bool is_broadcast(const struct pctx *c) {
    return pipe_is_broadcast(c->t, c->e, c->frame, &c->p);
}

static void handle_router(struct pctx *c, const struct ew_subnet *s) {
    const struct ew_pkt *p = &c->p;
    if (p->frag || p->icmp_kind != EW_ICMP_ECHO_REQUEST || p->icmp_code != 0) {
        drop(c, EW_DROP_ROUTER_UNHANDLED);
        return;
    }
    ew_reply_echo(c->frame, c->len, p, s->router_mac);
    reply(c, EW_CNT_ROUTER_ICMP_REPLIES);
}

static void time_exceeded(struct pctx *c, const struct ew_subnet *s) {
    const struct ew_pkt *p = &c->p;
    uint8_t src[16];
    /* Never answer an error with an error, nor a fragment that is not the first. */
    if (p->icmp_kind == EW_ICMP_ERROR || (p->frag && !p->frag_first)) {
        drop(c, EW_DROP_TTL_EXCEEDED);
        return;
    }
    if (p->family == 4) {
        ew_put32(src, s->router_ipv4);
    } else if (s->ipv6_prefix) {
        memcpy(src, s->router_ipv6.b, 16);
    } else {
        ew_link_local_from_mac(s->router_mac, src);
    }
    if (!ew_reply_time_exceeded(c->frame, c->len, c->cap, p, s->router_mac, src)) {
        drop(c, EW_DROP_TTL_EXCEEDED);
        return;
    }
    reply(c, EW_CNT_ROUTER_ICMP_REPLIES);
}

static void route_rewrite(struct pctx *c, const uint8_t router_mac[6], const uint8_t dst_mac[6]) {
    uint8_t *ip = c->frame + EW_ETH_HLEN;
    memcpy(c->frame, dst_mac, 6);
    memcpy(c->frame + 6, router_mac, 6);
    if (c->p.family == 4) {
        uint16_t old = ew_get16(ip + 8); /* TTL and protocol share one checksum word */
        ip[8]--;
        ew_put16(ip + 10, ew_csum_replace16(ew_get16(ip + 10), old, ew_get16(ip + 8)));
    } else {
        ip[7]--;
    }
}

static void frag_key(struct ew_frag_key *k, const struct pctx *c) {
    memcpy(k->src, c->p.src, 16);
    memcpy(k->dst, c->p.dst, 16);
    k->id = c->p.frag_id;
    k->zone = (uint16_t)c->in_port;
    k->family = c->p.family;
    k->proto = c->p.proto;
}

/* ---- overlay (io_underlay.c carries the frames) ---- */

static uint32_t remote_find(const struct ew_table_view *t, uint32_t eni) {
    uint32_t lo = 0, hi = t->n_remotes;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->remotes[mid].eni < eni)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_remotes && t->remotes[lo].eni == eni ? lo : EW_INDEX_NONE;
}

/* To an ENI of another host: the sender's half only (its zone, its subnet's
 * egress NACL), as AWS enforces egress at the sender; the owning host runs
 * the receiver's NACL and zone after decapsulation (ew_process_decap). */
static void handle_remote(struct pctx *c, uint32_t fi, bool routed) {
    const struct ew_pkt *p = &c->p;
    const struct ew_table_view *t = c->t;
    const struct ew_eni *e = c->e, *f = &t->enis[fi];
    const struct ew_subnet *s = &t->subnets[e->subnet];
    uint32_t ri = remote_find(t, fi);
    if (ri == EW_INDEX_NONE) { /* the loader makes this impossible */
        drop(c, EW_DROP_OVERLAY_NO_UNDERLAY);
        return;
    }
    if (routed && p->ttl <= 1u) {
        time_exceeded(c, s);
        return;
    }
    if (!(p->frag && !p->frag_first)) {
        struct zone ze = {e, c->in_port, EW_DIR_EGRESS};
        bool fe = flow_logged(e), counted;
        uint16_t rule;
        uint32_t out_nacl = s->nacl;
        bool out_ok = !routed || out_nacl == EW_INDEX_NONE ||
                      pipe_nacl(t, out_nacl, EW_DIR_EGRESS, p, p->key, &rule);
        enum ew_drop_reason r = judge(c, &ze, fe && out_ok, &counted);
        if (r == EW_DROP_NONE && !out_ok) {
            r = EW_DROP_NACL_EGRESS;
            c->v->nacl = out_nacl;
            c->v->nacl_rule = rule;
        }
        if (fe && !counted) flow_sample(c, &ze, r);
        if (r != EW_DROP_NONE) {
            drop(c, r);
            return;
        }
        if (p->frag_first) {
            struct ew_frag_key fk;
            frag_key(&fk, c);
            ew_frag_remember(c->w->core->frags, &fk, c->w->now_ms);
        }
    } else {
        struct ew_frag_key fk;
        frag_key(&fk, c);
        if (!ew_frag_allowed(c->w->core->frags, &fk, c->w->now_ms)) {
            drop(c, EW_DROP_FRAGMENT);
            return;
        }
    }
    if (routed) {
        route_rewrite(c, s->router_mac, f->mac);
        c->pc->cnt[EW_CNT_ROUTED]++;
    }
    c->pc->cnt[EW_CNT_ACCEPTED]++;
    c->v->action = EW_ACT_ENCAP;
    c->v->out_port = EW_PORT_UNDERLAY;
    c->v->remote = ri;
}

static void handle_ip(struct pctx *c) {
    const struct ew_pkt *p = &c->p;
    const struct ew_table_view *t = c->t;
    const struct ew_eni *e = c->e;
    const struct ew_subnet *s = &t->subnets[e->subnet];
    if (e->flags & EW_ENI_SRC_DST_CHECK) {
        bool own = p->family == 4 ? eni_has_ipv4(t, e, p->src4) : eni_has_ipv6(t, e, p->src);
        if (!own) {
            drop(c, EW_DROP_SPOOFED_IP);
            return;
        }
    }
    if (is_broadcast(c)) {
        drop(c, EW_DROP_BROADCAST);
        return;
    }
    if (p->family == 4 ? p->dst4 == s->router_ipv4 : is_router6(s, p->dst)) {
        handle_router(c, s);
        return;
    }
    if (to_service(c)) {
        drop(c, EW_DROP_SERVICE_UNAVAILABLE);
        return;
    }

    /* The burst path looked the destination up already (same table, ENI, packet). */
    uint32_t fi = c->hashed        ? c->fwd
                  : p->family == 4 ? fwd4_find(t, e->vpc, p->dst4)
                                   : fwd6_find(t, e->vpc, p->dst);
    if (fi == EW_INDEX_NONE) {
        drop(c, EW_DROP_NO_ROUTE);
        return;
    }
    const struct ew_eni *f = &t->enis[fi];
    if (f == e) { /* a VPC does not send an ENI's frame back to it */
        drop(c, EW_DROP_HAIRPIN);
        return;
    }
    bool routed;
    if (memcmp(c->frame, f->mac, 6) == 0 && f->subnet == e->subnet)
        routed = false;
    else if (memcmp(c->frame, s->router_mac, 6) == 0 && f->subnet != e->subnet)
        routed = true;
    else {
        drop(c, EW_DROP_WRONG_DST_MAC);
        return;
    }
    if (f->flags & EW_ENI_REMOTE) {
        handle_remote(c, fi, routed);
        return;
    }
    if (f->port_id == EW_PORT_NONE) {
        drop(c, EW_DROP_PORT_DOWN);
        return;
    }
    c->v->dst_port = f->port_id;
    if (routed && p->ttl <= 1u) {
        time_exceeded(c, s);
        return;
    }

    if (p->frag && !p->frag_first) {
        struct ew_frag_key fk;
        frag_key(&fk, c);
        if (!ew_frag_allowed(c->w->core->frags, &fk, c->w->now_ms)) {
            drop(c, EW_DROP_FRAGMENT);
            return;
        }
    } else {
        struct zone ze = {e, c->in_port, EW_DIR_EGRESS};
        struct zone zf = {f, f->port_id, EW_DIR_INGRESS};
        bool fe = flow_logged(e), ff = flow_logged(f), counted;
        /* Network ACLs stand between the two zones, only on the routed
         * (cross-subnet) path; stateless, so conntrack hits pass them too.
         * The egress list is looked up before the sender's zone (a pure
         * lookup; its drop still comes after the zone's), so that a packet it
         * will drop is not counted as ACCEPT in the sender's conntrack entry. */
        uint16_t rule;
        uint32_t out_nacl = s->nacl, in_nacl = t->subnets[f->subnet].nacl;
        bool out_ok = !routed || out_nacl == EW_INDEX_NONE ||
                      pipe_nacl(t, out_nacl, EW_DIR_EGRESS, p, p->key, &rule);
        enum ew_drop_reason r = judge(c, &ze, fe && out_ok, &counted);
        if (r == EW_DROP_NONE && !out_ok) {
            r = EW_DROP_NACL_EGRESS;
            c->v->nacl = out_nacl; /* the verdict names the list and entry (capture) */
            c->v->nacl_rule = rule;
        }
        if (fe && !counted) flow_sample(c, &ze, r);
        if (r != EW_DROP_NONE) {
            drop(c, r);
            return;
        }
        if (routed && in_nacl != EW_INDEX_NONE &&
            !pipe_nacl(t, in_nacl, EW_DIR_INGRESS, p, p->key, &rule)) {
            c->v->nacl = in_nacl;
            c->v->nacl_rule = rule;
            if (ff) flow_sample(c, &zf, EW_DROP_NACL_INGRESS);
            drop_at(c, f->port_id, EW_DROP_NACL_INGRESS);
            return;
        }
        r = judge(c, &zf, ff, &counted);
        if (ff && !counted) flow_sample(c, &zf, r);
        if (r != EW_DROP_NONE) {
            drop_at(c, f->port_id, r);
            return;
        }
        if (p->frag_first) {
            struct ew_frag_key fk;
            frag_key(&fk, c);
            ew_frag_remember(c->w->core->frags, &fk, c->w->now_ms);
        }
    }
    if (routed) {
        route_rewrite(c, s->router_mac, f->mac);
        c->pc->cnt[EW_CNT_ROUTED]++;
    }
    c->pc->cnt[EW_CNT_ACCEPTED]++;
    c->v->action = EW_ACT_FORWARD;
    c->v->out_port = f->port_id;
}

/* Every verdict starts as a drop with nothing decided yet. */
static inline void verdict_reset(struct ew_verdict *v) {
    v->action = EW_ACT_DROP;
    v->out_port = EW_PORT_NONE;
    v->reason = EW_DROP_NONE;
    v->nacl_rule = 0;
    v->nacl = EW_INDEX_NONE;
    v->dst_port = EW_PORT_NONE;
    v->remote = EW_INDEX_NONE;
}

/* The packet's context on the port it arrived on (a TAP, or the underlay), its RX counted. */
static inline struct pctx packet_start(struct ew_worker_ctx *w, const struct ew_table_view *t,
                                       uint32_t in_port, uint8_t *frame, uint32_t *len,
                                       uint32_t cap, struct ew_verdict *v) {
    struct pctx c = {.w = w,
                     .t = t,
                     .pc = &w->counters[in_port],
                     .in_port = in_port,
                     .frame = frame,
                     .len = len,
                     .cap = cap,
                     .v = v};
    c.pc->cnt[EW_CNT_RX_PACKETS]++;
    c.pc->cnt[EW_CNT_RX_BYTES] += *len;
    return c;
}

/* ew_process with the parse optionally done already (pre != NULL: its result
 * pre_r): ew_process_burst parses a whole burst first to prefetch. hash: the
 * two zones' conntrack hashes prefetch_zones computed, or NULL; fwd: the
 * destination ENI it found (used only with hash). */
static void process_one(struct ew_worker_ctx *w, const struct ew_table_view *t, uint32_t in_port,
                        uint8_t *frame, uint32_t *len, uint32_t cap, struct ew_verdict *v,
                        const struct ew_pkt *pre, enum ew_drop_reason pre_r, const uint32_t *hash,
                        uint32_t fwd) {
    verdict_reset(v);
    if (in_port >= EW_MAX_PORTS) { /* nowhere to count it */
        v->reason = EW_DROP_PORT_NOT_BOUND;
        return;
    }
    struct pctx c = packet_start(w, t, in_port, frame, len, cap, v);
    if (!t) {
        drop(&c, EW_DROP_NO_TABLE);
        return;
    }
    uint32_t ei = t->port_eni[in_port];
    if (ei == EW_INDEX_NONE) {
        drop(&c, EW_DROP_PORT_NOT_BOUND);
        return;
    }
    c.e = &t->enis[ei];
    enum ew_drop_reason r;
    if (hash) {
        c.hashed = true;
        c.hash[0] = hash[0];
        c.hash[1] = hash[1];
        c.fwd = fwd;
    }
    if (pre) {
        c.p = *pre;
        r = pre_r;
    } else {
        r = ew_parse(frame, *len, &c.p);
    }
    if (r != EW_DROP_NONE) {
        drop(&c, r);
        return;
    }
    if ((c.e->flags & EW_ENI_SRC_DST_CHECK) && memcmp(frame + 6, c.e->mac, 6) != 0) {
        drop(&c, EW_DROP_SPOOFED_MAC);
        return;
    }
    if (c.p.ethertype == EW_ETHERTYPE_ARP) {
        handle_arp(&c);
        return;
    }
    if (c.p.icmp_kind == EW_ICMP_NDP || c.p.icmp_kind == EW_ICMP_MLD) {
        handle_nd(&c);
        return;
    }
    handle_ip(&c);
}

void ew_process(struct ew_worker_ctx *w, const struct ew_table_view *t, uint32_t in_port,
                uint8_t *frame, uint32_t *len, uint32_t cap, struct ew_verdict *v) {
    process_one(w, t, in_port, frame, len, cap, v, NULL, EW_DROP_NONE, NULL, EW_INDEX_NONE);
}

/* ---- bursts: parse all, prefetch all, then decide each (same verdicts) ---- */

/* The conntrack keys the two zones of a forwarded IP packet will look up
 * (judge()): the sender's (in_port) and the receiver's (its ENI's port).
 * Returns how many hashes it prefetched (0 when the packet will not reach a
 * zone lookup with a plain key: not IP, ICMP errors, later fragments, no route). */
static uint32_t prefetch_zones(const struct ew_core *core, const struct ew_table_view *t,
                               const struct ew_eni *e, uint32_t in_port, const struct ew_pkt *p,
                               uint32_t hash[2], uint32_t *fwd) {
    if (p->family != 4 && p->family != 6) return 0;
    if (p->icmp_kind != EW_ICMP_NONE && p->icmp_kind != EW_ICMP_ECHO_REQUEST &&
        p->icmp_kind != EW_ICMP_ECHO_REPLY)
        return 0;
    if (p->frag && !p->frag_first) return 0;
    uint32_t fi = p->family == 4 ? fwd4_find(t, e->vpc, p->dst4) : fwd6_find(t, e->vpc, p->dst);
    if (fi == EW_INDEX_NONE) return 0;
    uint32_t out = t->enis[fi].port_id;
    if (out == EW_PORT_NONE) return 0;
    *fwd = fi;
    struct ew_ct_key k;
    struct zone z = {e, in_port, EW_DIR_EGRESS};
    ct_key_from(&k, &z, p->family, p->proto, p->src, p->dst, p->sport, p->dport);
    ew_ct_prefetch_buckets2(core->ct, &k, (uint16_t)out, hash);
    return 2;
}

void ew_process_burst(struct ew_worker_ctx *w, const struct ew_table_view *t,
                      const uint32_t *in_ports, uint8_t *const *frames, uint32_t *lens,
                      uint32_t cap, uint32_t n, struct ew_verdict *v) {
    while (n > 0) {
        uint32_t m = n < EW_PROCESS_BURST ? n : EW_PROCESS_BURST;
        struct ew_pkt pk[EW_PROCESS_BURST];
        enum ew_drop_reason pr[EW_PROCESS_BURST];
        uint32_t hash[EW_PROCESS_BURST][2], nh[EW_PROCESS_BURST], fwd[EW_PROCESS_BURST];
        for (uint32_t i = 0; i < m; i++) {
            uint32_t port = in_ports[i];
            pr[i] = ew_parse(frames[i], lens[i], &pk[i]);
            nh[i] = 0;
            fwd[i] = EW_INDEX_NONE;
            if (pr[i] == EW_DROP_NONE && t && port < EW_MAX_PORTS &&
                t->port_eni[port] != EW_INDEX_NONE)
                nh[i] = prefetch_zones(w->core, t, &t->enis[t->port_eni[port]], port, &pk[i],
                                       hash[i], &fwd[i]);
        }
        uint32_t empty = 0; /* lookups that will miss: new connections */
        for (uint32_t i = 0; i < m; i++)
            for (uint32_t j = 0; j < nh[i]; j++)
                empty += ew_ct_prefetch_entry(w->core->ct, hash[i][j]);
        if (empty) ew_ct_prefetch_new(w->core->ct, w->ct_cache, empty);
        for (uint32_t i = 0; i < m; i++)
            process_one(w, t, in_ports[i], frames[i], &lens[i], cap, &v[i], &pk[i], pr[i],
                        nh[i] == 2 ? hash[i] : NULL, fwd[i]);
        in_ports += m;
        frames += m;
        lens += m;
        v += m;
        n -= m;
    }
}

/* ---- overlay: a frame from another host (core.h) ---- */

static bool host_known(const struct ew_table_view *t, uint32_t addr) {
    uint32_t lo = 0, hi = t->n_hosts;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->hosts[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_hosts && t->hosts[lo].addr == addr;
}

void ew_process_decap(struct ew_worker_ctx *w, const struct ew_table_view *t, uint32_t src_addr,
                      uint32_t vni, uint8_t *frame, uint32_t *len, uint32_t cap,
                      struct ew_verdict *v) {
    verdict_reset(v);
    struct pctx c = packet_start(w, t, EW_PORT_UNDERLAY, frame, len, cap, v);
    if (!t) {
        drop(&c, EW_DROP_NO_TABLE);
        return;
    }
    if (!host_known(t, src_addr)) {
        drop(&c, EW_DROP_OVERLAY_UNKNOWN_HOST);
        return;
    }
    uint32_t vpc = EW_INDEX_NONE;
    for (uint32_t i = 0; i < t->n_vpc_vni; i++)
        if (t->vpc_vni[i] == vni) {
            vpc = i;
            break;
        }
    if (vpc == EW_INDEX_NONE) {
        drop(&c, EW_DROP_OVERLAY_UNKNOWN_VNI);
        return;
    }
    enum ew_drop_reason r = ew_parse(frame, *len, &c.p);
    if (r != EW_DROP_NONE) {
        drop(&c, r);
        return;
    }
    const struct ew_pkt *p = &c.p;
    /* Only IP data crosses: each host answers ARP/ND for remote ENIs itself. */
    if (p->family != 4 && p->family != 6) {
        drop(&c, EW_DROP_OVERLAY_MALFORMED);
        return;
    }
    if (p->icmp_kind == EW_ICMP_NDP || p->icmp_kind == EW_ICMP_MLD) {
        drop(&c, EW_DROP_NEIGHBOR_NOISE);
        return;
    }
    uint32_t fi = p->family == 4 ? fwd4_find(t, vpc, p->dst4) : fwd6_find(t, vpc, p->dst);
    const struct ew_eni *f = fi == EW_INDEX_NONE ? NULL : &t->enis[fi];
    if (!f || (f->flags & EW_ENI_REMOTE) || f->port_id == EW_PORT_NONE ||
        memcmp(frame, f->mac, 6) != 0) {
        drop(&c, EW_DROP_OVERLAY_UNKNOWN_DST);
        return;
    }
    c.v->dst_port = f->port_id;
    /* The sender: a remote ENI of this VPC when its address is known (source/dest
     * check off may send from others); never one of ours. */
    uint32_t si = p->family == 4 ? fwd4_find(t, vpc, p->src4) : fwd6_find(t, vpc, p->src);
    if (si != EW_INDEX_NONE && !(t->enis[si].flags & EW_ENI_REMOTE)) {
        drop(&c, EW_DROP_OVERLAY_SPOOFED_SRC);
        return;
    }
    /* Routed (so the receiver's subnet NACL applies) when the frame comes from the
     * subnet router's MAC, or from a known remote ENI of another subnet: the
     * sender's route_rewrite() puts its own subnet's router MAC there, so the
     * MAC alone would let cross-subnet traffic between hosts pass the NACL. */
    const struct ew_subnet *fs = &t->subnets[f->subnet];
    bool routed = memcmp(frame + 6, fs->router_mac, 6) == 0 ||
                  (si != EW_INDEX_NONE && t->enis[si].subnet != f->subnet);
    bool ff = flow_logged(f), counted;
    struct zone zf = {f, f->port_id, EW_DIR_INGRESS};
    if (p->frag && !p->frag_first) {
        struct ew_frag_key fk;
        frag_key(&fk, &c);
        if (!ew_frag_allowed(w->core->frags, &fk, w->now_ms)) {
            drop(&c, EW_DROP_FRAGMENT);
            return;
        }
    } else {
        uint16_t rule;
        if (routed && fs->nacl != EW_INDEX_NONE &&
            !pipe_nacl(t, fs->nacl, EW_DIR_INGRESS, p, p->key, &rule)) {
            c.v->nacl = fs->nacl;
            c.v->nacl_rule = rule;
            if (ff) flow_sample(&c, &zf, EW_DROP_NACL_INGRESS);
            drop_at(&c, f->port_id, EW_DROP_NACL_INGRESS);
            return;
        }
        r = judge(&c, &zf, ff, &counted);
        if (ff && !counted) flow_sample(&c, &zf, r);
        if (r != EW_DROP_NONE) {
            drop_at(&c, f->port_id, r);
            return;
        }
        if (p->frag_first) {
            struct ew_frag_key fk;
            frag_key(&fk, &c);
            ew_frag_remember(w->core->frags, &fk, w->now_ms);
        }
    }
    c.pc->cnt[EW_CNT_ACCEPTED]++;
    c.v->action = EW_ACT_FORWARD;
    c.v->out_port = f->port_id;
}
