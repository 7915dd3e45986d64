/*
 * ew_trace(): `check` asks the dataplane itself (core.h). Control plane only,
 * never per packet: it builds the frame the sender would write, parses it with
 * ew_parse() and takes the decisions of handle_ip()/judge() in process.c with
 * the same helpers (pipeline.h), reading conntrack through ew_ct_peek() so
 * nothing is inserted, updated or counted.
 *
 * Kept in step with process.c by test/differential.test.ts (trace against the
 * reference evaluator over random snapshots), test/cli-check.test.ts (a reply
 * allowed only by a live connection) and native/test/test_trace.c.
 */
#include <string.h>

#include "checksum.h"
#include "conntrack.h"
#include "core_internal.h"
#include "parse.h"
#include "pipeline.h"
#include "table_view.h"

#define TRACE_TTL       64u
#define TRACE_FRAME_CAP 160u
#define NO_NEXT_HEADER  59u /* protocol of the quoted packet in a synthetic ICMP error */

struct tctx {
    struct ew_core *core;
    const struct ew_table_view *t;
    const struct ew_trace_query *q;
    uint64_t now_ms;
    uint8_t frame[TRACE_FRAME_CAP];
    uint32_t len;
    struct ew_pkt p;
    struct ew_trace *out;
};

/* ---- the frame the sender would write ---- */

static bool icmp_error_type(uint8_t family, uint8_t type) {
    if (family == 4) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    return type >= 1 && type <= 4;
}

/* An IP header of `family` from src to dst carrying `proto` and plen payload bytes. */
static uint32_t put_ip(uint8_t *ip, uint8_t family, uint8_t proto, const uint8_t *src,
                       const uint8_t *dst, uint32_t plen) {
    if (family == 4) {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        ew_put16(ip + 2, (uint16_t)(20u + plen));
        ip[8] = TRACE_TTL;
        ip[9] = proto;
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        ew_put16(ip + 10, ew_csum_finish(ew_csum_add(0, ip, 20)));
        return 20;
    }
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ew_put16(ip + 4, (uint16_t)plen);
    ip[6] = proto;
    ip[7] = TRACE_TTL;
    memcpy(ip + 8, src, 16);
    memcpy(ip + 24, dst, 16);
    return 40;
}

/* Upper-layer header(s) at l4; returns their length. */
static uint32_t put_l4(uint8_t *l4, const struct ew_trace_query *q, const uint8_t *src,
                       const uint8_t *dst) {
    uint8_t icmp = q->family == 4 ? EW_PROTO_ICMP : EW_PROTO_ICMPV6;
    memset(l4, 0, 8);
    if (q->proto == EW_PROTO_TCP) {
        memset(l4, 0, 20);
        ew_put16(l4, q->sport);
        ew_put16(l4 + 2, q->dport);
        l4[12] = 5u << 4;
        l4[13] = q->tcp_flags;
        return 20;
    }
    if (q->proto == EW_PROTO_UDP) {
        ew_put16(l4, q->sport);
        ew_put16(l4 + 2, q->dport);
        ew_put16(l4 + 4, 8);
        return 8;
    }
    if (q->proto != icmp) return 8; /* eight payload bytes: nothing is read from them */
    l4[0] = q->icmp_type;
    l4[1] = q->icmp_code;
    ew_put16(l4 + 4, q->sport); /* echo identifier */
    if (!icmp_error_type(q->family, q->icmp_type)) return 8;
    /* An error quotes a packet the receiver sent; with no flow named it quotes
     * one that no connection can match, so the rules judge the error. */
    uint32_t n = put_ip(l4 + 8, q->family, NO_NEXT_HEADER, dst, src, 8);
    memset(l4 + 8 + n, 0, 8);
    return 8 + n + 8;
}

static void build_frame(struct tctx *c, const uint8_t *src, const uint8_t *dst,
                        const uint8_t smac[6], const uint8_t dmac[6]) {
    const struct ew_trace_query *q = c->q;
    uint8_t *f = c->frame;
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    ew_put16(f + 12, q->family == 4 ? EW_ETHERTYPE_IPV4 : EW_ETHERTYPE_IPV6);
    uint32_t ihl = q->family == 4 ? 20u : 40u;
    uint32_t l4 = put_l4(f + EW_ETH_HLEN + ihl, q, src, dst);
    put_ip(f + EW_ETH_HLEN, q->family, q->proto, src, dst, l4);
    c->len = EW_ETH_HLEN + ihl + l4;
}

/* ---- lookups with the frame's addresses ---- */

static uint32_t owner_of(const struct ew_table_view *t, uint32_t vpc, uint8_t family,
                         const uint8_t *a) {
    return family == 4 ? fwd4_find(t, vpc, ew_get32(a)) : fwd6_find(t, vpc, a);
}

/* ---- one zone, as judge() in process.c, read-only ---- */

static void ct_key_of(struct ew_ct_key *k, uint32_t port, uint8_t family, uint8_t proto,
                      const uint8_t *src, const uint8_t *dst, uint16_t sport, uint16_t dport) {
    memcpy(k->src, src, 16);
    memcpy(k->dst, dst, 16);
    k->sport = sport;
    k->dport = dport;
    k->zone = (uint16_t)port;
    k->family = family;
    k->proto = proto;
}

static bool peek(const struct tctx *c, const struct ew_ct_key *k, uint8_t flags,
                 struct ew_trace_zone *z) {
    if (!c->core || z->port == EW_PORT_NONE) return false; /* an unbound zone holds nothing */
    uint8_t state = 0;
    bool reply = false;
    if (ew_ct_peek(c->core->ct, k, flags, c->now_ms, &state, &reply) != EW_CT_HIT) return false;
    z->ct_state = state;
    z->ct_reply = reply;
    return true;
}

static void judge_zone(const struct tctx *c, uint32_t eni, enum ew_dir dir, bool reached) {
    const struct ew_pkt *p = &c->p;
    const struct ew_eni *e = &c->t->enis[eni];
    struct ew_trace_zone *z = &c->out->zone[dir];
    struct ew_ct_key k;
    bool world = false;
    z->eni = eni;
    z->port = e->port_id;
    z->judged = 1;
    z->reached = reached;
    if (p->icmp_kind == EW_ICMP_ERROR) {
        const struct ew_inner *in = &p->inner;
        ct_key_of(&k, z->port, p->family, in->proto, in->src, in->dst, in->sport, in->dport);
        /* ew_ct_exists: any live entry but a closed TCP one; peek with no flags says the same. */
        if (peek(c, &k, 0, z)) {
            z->ct = EW_TRACE_CT_RELATED;
            return;
        }
        z->classified = 1;
        z->allowed = pipe_classify(c->t, e, dir, p, p->key, &world);
        z->world = world;
        if (!z->allowed) z->reason = EW_DROP_ICMP_ERROR_UNRELATED;
        return;
    }
    if (p->proto == EW_PROTO_TCP && !tcp_flags_possible(p->tcp_flags)) {
        z->reason = EW_DROP_CT_INVALID;
        return;
    }
    bool echo = p->icmp_kind == EW_ICMP_ECHO_REQUEST || p->icmp_kind == EW_ICMP_ECHO_REPLY;
    bool trackable = echo || p->icmp_kind == EW_ICMP_NONE;
    if (trackable) {
        ct_key_of(&k, z->port, p->family, p->proto, p->src, p->dst, p->sport, p->dport);
        z->ct = EW_TRACE_CT_MISS;
        if (peek(c, &k, p->tcp_flags, z)) {
            z->ct = EW_TRACE_CT_HIT;
            return;
        }
    }
    z->classified = 1;
    z->allowed = pipe_classify(c->t, e, dir, p, p->key, &world);
    z->world = world;
    if (!z->allowed) {
        z->reason = dir == EW_DIR_EGRESS ? EW_DROP_SG_EGRESS : EW_DROP_SG_INGRESS;
        return;
    }
    if (!trackable) return;
    if (pipe_untracked(c->t, e, dir, p, world)) {
        z->track = EW_TRACE_TRACK_UNTRACKED;
        return;
    }
    if (!pipe_can_open(p)) {
        z->track = EW_TRACE_TRACK_NO_ENTRY;
        return;
    }
    z->track = EW_TRACE_TRACK_OPENS;
    /* ew_ct_insert would refuse it: the zone's allowance is used up. */
    if (c->core && z->port != EW_PORT_NONE &&
        ew_ct_zone_count(c->core->ct, z->port) >= c->core->cfg.allowance_per_eni)
        z->reason = EW_DROP_CT_ALLOWANCE_EXCEEDED;
}

/* ---- network ACLs, as handle_ip() in process.c ---- */

/* One subnet's list in direction dir; pure, so it is evaluated even when the
 * frame stops before it (reached = 0). Returns the refusal, if any. */
static enum ew_drop_reason trace_nacl(const struct tctx *c, enum ew_dir dir, uint32_t subnet,
                                      bool cross, bool reached) {
    const struct ew_table_view *t = c->t;
    struct ew_trace_nacl *n = &c->out->nacl[dir];
    n->reached = reached;
    if (!cross) {
        n->skip = EW_TRACE_NACL_SAME_SUBNET;
        return EW_DROP_NONE;
    }
    uint32_t i = t->subnets[subnet].nacl;
    if (i == EW_INDEX_NONE) {
        n->skip = EW_TRACE_NACL_NONE;
        return EW_DROP_NONE;
    }
    n->skip = EW_TRACE_NACL_EVALUATED;
    n->evaluated = 1;
    n->nacl = i;
    n->id_hi = t->nacls[i].id_hi;
    n->id_lo = t->nacls[i].id_lo;
    n->allowed = pipe_nacl(t, i, dir, &c->p, c->p.key, &n->rule);
    if (n->allowed) return EW_DROP_NONE;
    return dir == EW_DIR_EGRESS ? EW_DROP_NACL_EGRESS : EW_DROP_NACL_INGRESS;
}

/* ---- the pipeline ---- */

static void finish(struct ew_trace *out, enum ew_action action, enum ew_drop_reason r) {
    out->action = (uint8_t)action;
    out->reason = (uint16_t)r;
}

/* handle_ip() of process.c for a frame from ENI s; sets the frame's fate and
 * judges the zones the frame reaches. */
static void walk(struct tctx *c, uint32_t si) {
    const struct ew_table_view *t = c->t;
    const struct ew_pkt *p = &c->p;
    const struct ew_eni *s = &t->enis[si];
    const struct ew_subnet *sn = &t->subnets[s->subnet];
    struct ew_trace *out = c->out;
    if (s->flags & EW_ENI_SRC_DST_CHECK) {
        bool own = p->family == 4 ? eni_has_ipv4(t, s, p->src4) : eni_has_ipv6(t, s, p->src);
        if (!own) {
            finish(out, EW_ACT_DROP, EW_DROP_SPOOFED_IP);
            return;
        }
        out->spoof_checked = 1;
    }
    if (pipe_is_broadcast(t, s, c->frame, p)) {
        finish(out, EW_ACT_DROP, EW_DROP_BROADCAST);
        return;
    }
    if (p->family == 4 ? p->dst4 == sn->router_ipv4 : is_router6(sn, p->dst)) {
        /* handle_router(): the router answers ping and nothing else; no group is asked. */
        if (p->icmp_kind == EW_ICMP_ECHO_REQUEST && p->icmp_code == 0) {
            finish(out, EW_ACT_REPLY, EW_DROP_NONE);
            return;
        }
        {
            finish(out, EW_ACT_DROP, EW_DROP_ROUTER_UNHANDLED);
            return;
        }
    }
    if (pipe_to_service(t, s, p)) {
        finish(out, EW_ACT_DROP, EW_DROP_SERVICE_UNAVAILABLE);
        return;
    }
    uint32_t fi = owner_of(t, s->vpc, p->family, p->dst);
    if (fi == EW_INDEX_NONE) {
        finish(out, EW_ACT_DROP, EW_DROP_NO_ROUTE);
        return;
    }
    const struct ew_eni *f = &t->enis[fi];
    out->receiver = fi;
    if (fi == si) {
        finish(out, EW_ACT_DROP, EW_DROP_HAIRPIN);
        return;
    }
    out->routed = f->subnet != s->subnet;
    if (f->flags & EW_ENI_REMOTE) {
        /* handle_remote(): the sender's zone and subnet NACL here; the owning
         * host judges the receiver's (its ingress zone stays unjudged here). */
        out->out_port = EW_PORT_UNDERLAY;
        judge_zone(c, si, EW_DIR_EGRESS, true);
        enum ew_drop_reason re = (enum ew_drop_reason)out->zone[EW_DIR_EGRESS].reason;
        enum ew_drop_reason rn =
            trace_nacl(c, EW_DIR_EGRESS, s->subnet, out->routed, re == EW_DROP_NONE);
        if (re == EW_DROP_NONE) re = rn;
        finish(out, re == EW_DROP_NONE ? EW_ACT_FORWARD : EW_ACT_DROP, re);
        return;
    }
    if (f->port_id == EW_PORT_NONE) {
        finish(out, EW_ACT_DROP, EW_DROP_PORT_DOWN);
        return;
    }
    out->out_port = f->port_id;
    judge_zone(c, si, EW_DIR_EGRESS, true);
    enum ew_drop_reason r = (enum ew_drop_reason)out->zone[EW_DIR_EGRESS].reason;
    bool cross = f->subnet != s->subnet;
    enum ew_drop_reason ne = trace_nacl(c, EW_DIR_EGRESS, s->subnet, cross, r == EW_DROP_NONE);
    enum ew_drop_reason ni =
        trace_nacl(c, EW_DIR_INGRESS, f->subnet, cross, r == EW_DROP_NONE && ne == EW_DROP_NONE);
    if (r != EW_DROP_NONE) {
        finish(out, EW_ACT_DROP, r);
        return;
    }
    r = ne != EW_DROP_NONE ? ne : ni;
    if (r != EW_DROP_NONE) {
        /* The receiver's groups still answer (unreached), so `check` can say
         * that the network ACL denies what they would allow. */
        finish(out, EW_ACT_DROP, r);
        judge_zone(c, fi, EW_DIR_INGRESS, false);
        return;
    }
    judge_zone(c, fi, EW_DIR_INGRESS, true);
    r = (enum ew_drop_reason)out->zone[EW_DIR_INGRESS].reason;
    if (r != EW_DROP_NONE) {
        finish(out, EW_ACT_DROP, r);
        return;
    }
    finish(out, EW_ACT_FORWARD, EW_DROP_NONE);
}

int ew_trace(struct ew_core *core, const struct ew_table_view *t, const struct ew_trace_query *q,
             uint64_t now_ms, struct ew_trace *out) {
    if (!t || !q || !out || q->eni >= t->n_enis || (q->family != 4 && q->family != 6) ||
        (q->dir != EW_DIR_INGRESS && q->dir != EW_DIR_EGRESS))
        return -1;
    struct tctx c = {.core = core, .t = t, .q = q, .now_ms = now_ms, .out = out};
    memset(out, 0, sizeof *out);
    out->generation = t->generation;
    out->sender = out->receiver = EW_INDEX_NONE;
    out->out_port = EW_PORT_NONE;
    for (int d = 0; d < 2; d++) {
        out->zone[d].eni = EW_INDEX_NONE;
        out->zone[d].port = EW_PORT_NONE;
        out->nacl[d].nacl = EW_INDEX_NONE;
        out->nacl[d].skip = EW_TRACE_NACL_NO_PATH;
    }
    const struct ew_eni *x = &t->enis[q->eni];
    bool egress = q->dir == EW_DIR_EGRESS;
    const uint8_t *src = egress ? q->local : q->peer;
    const uint8_t *dst = egress ? q->peer : q->local;
    uint32_t si = egress ? q->eni : owner_of(t, x->vpc, q->family, q->peer);
    uint32_t di = owner_of(t, x->vpc, q->family, dst);

    /* Addressed as its sender would: to the receiver's MAC on the same subnet, else the router's.
     */
    const struct ew_eni *s = si == EW_INDEX_NONE ? x : &t->enis[si];
    const uint8_t *router_mac = t->subnets[s->subnet].router_mac;
    bool switched = si != EW_INDEX_NONE && di != EW_INDEX_NONE && t->enis[di].subnet == s->subnet;
    build_frame(&c, src, dst, si == EW_INDEX_NONE ? router_mac : s->mac,
                switched ? t->enis[di].mac : router_mac);
    enum ew_drop_reason r = ew_parse(c.frame, c.len, &c.p);
    if (r != EW_DROP_NONE) { /* a query the parser refuses (none should) */
        finish(out, EW_ACT_DROP, r);
        return 0;
    }
    /* The far ends no group judges: the subnet router (its answers come from the
     * dataplane itself) and, as a destination, a service address. */
    const struct ew_subnet *xs = &t->subnets[x->subnet];
    out->router = q->family == 4 ? ew_get32(q->peer) == xs->router_ipv4 : is_router6(xs, q->peer);
    out->service = egress && pipe_to_service(t, x, &c.p);
    out->sender = si;
    /* ew_process hands these to handle_nd() before any IP stage. */
    if (c.p.icmp_kind == EW_ICMP_NDP || c.p.icmp_kind == EW_ICMP_MLD) {
        out->neighbor = 1;
        finish(out, EW_ACT_DROP, EW_DROP_NEIGHBOR_NOISE);
        return 0;
    }
    if (si == EW_INDEX_NONE) {
        out->path = EW_TRACE_PATH_NONE;
        out->receiver = di;
        finish(out, EW_ACT_DROP, EW_DROP_NONE); /* no frame at all, so no drop reason */
    } else {
        walk(&c, si);
    }
    /* The asked ENI's zone is answered also when the frame never gets there;
     * not for the router and the service addresses, which no group judges. */
    if (!out->router && !out->service && !out->zone[q->dir].judged)
        judge_zone(&c, q->eni, q->dir, false);
    return 0;
}
