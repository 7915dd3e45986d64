/*
 * Table loader: copy the compiled buffer and validate all of it once.
 *
 * Everything the per-packet path later indexes without checks is checked here:
 * section bounds and alignment, element counts, every cross-section index,
 * every classifier blob's internal offsets, and the ordering the binary
 * searches rely on (sorted, disjoint, lo <= hi). A hostile or corrupt table
 * yields NULL and a one-line reason, never an out-of-bounds read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_view.h"

struct loader {
    struct ew_table_view *t;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct loader *l, const char *fmt, ...) {
    if (l->err && l->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->err, l->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *const section_names[EW_SEC_COUNT] = {
    "VPCS",         "SUBNETS",      "ENIS",    "ENI_IPV4",  "ENI_IPV6",        "FWD4",
    "FWD6",         "EXEMPT4",      "EXEMPT6", "RULESETS",  "CLASSIFIER_BLOB", "ADDR_SETS",
    "ADDR_RANGES4", "ADDR_RANGES6", "NACLS",   "NACL_BLOB", "REMOTE_ENIS",     "UNDERLAY_HOSTS",
    "VPC_VNI"};

static const uint32_t section_elem_size[EW_SEC_COUNT] = {sizeof(struct ew_vpc),
                                                         sizeof(struct ew_subnet),
                                                         sizeof(struct ew_eni),
                                                         sizeof(uint32_t),
                                                         sizeof(struct ew_ip6),
                                                         sizeof(struct ew_fwd4),
                                                         sizeof(struct ew_fwd6),
                                                         sizeof(uint32_t),
                                                         sizeof(struct ew_ip6),
                                                         sizeof(struct ew_ruleset),
                                                         1,
                                                         sizeof(struct ew_addr_set),
                                                         sizeof(struct ew_range4),
                                                         sizeof(struct ew_range6),
                                                         sizeof(struct ew_nacl),
                                                         1,
                                                         sizeof(struct ew_remote_eni),
                                                         sizeof(struct ew_underlay_host),
                                                         sizeof(uint32_t)};

static int check_sections(struct loader *l, const struct ew_table_header *h) {
    for (unsigned i = 0; i < EW_SEC_COUNT; i++) {
        const struct ew_section *s = &h->sec[i];
        uint64_t bytes = (uint64_t)s->count * section_elem_size[i];
        if (s->count == 0) continue; /* empty sections may carry any offset */
        if (s->offset % 8 != 0)
            return fail(l, "section %s: offset %u is not 8-aligned", section_names[i], s->offset);
        if (s->offset < h->header_size)
            return fail(l, "section %s: offset %u overlaps the header", section_names[i],
                        s->offset);
        if ((uint64_t)s->offset + bytes > h->total_size)
            return fail(l, "section %s: %u elements at offset %u exceed the table size %u",
                        section_names[i], s->count, s->offset, h->total_size);
    }
    return 0;
}

static void bind_sections(struct ew_table_view *t, const struct ew_table_header *h) {
#define SEC_PTR(id) ((const void *)(t->base + (h->sec[id].count ? h->sec[id].offset : 0)))
    t->vpcs = SEC_PTR(EW_SEC_VPCS);
    t->n_vpcs = h->sec[EW_SEC_VPCS].count;
    t->subnets = SEC_PTR(EW_SEC_SUBNETS);
    t->n_subnets = h->sec[EW_SEC_SUBNETS].count;
    t->enis = SEC_PTR(EW_SEC_ENIS);
    t->n_enis = h->sec[EW_SEC_ENIS].count;
    t->eni_ipv4 = SEC_PTR(EW_SEC_ENI_IPV4);
    t->n_eni_ipv4 = h->sec[EW_SEC_ENI_IPV4].count;
    t->eni_ipv6 = SEC_PTR(EW_SEC_ENI_IPV6);
    t->n_eni_ipv6 = h->sec[EW_SEC_ENI_IPV6].count;
    t->fwd4 = SEC_PTR(EW_SEC_FWD4);
    t->n_fwd4 = h->sec[EW_SEC_FWD4].count;
    t->fwd6 = SEC_PTR(EW_SEC_FWD6);
    t->n_fwd6 = h->sec[EW_SEC_FWD6].count;
    t->exempt4 = SEC_PTR(EW_SEC_EXEMPT4);
    t->n_exempt4 = h->sec[EW_SEC_EXEMPT4].count;
    t->exempt6 = SEC_PTR(EW_SEC_EXEMPT6);
    t->n_exempt6 = h->sec[EW_SEC_EXEMPT6].count;
    t->rulesets = SEC_PTR(EW_SEC_RULESETS);
    t->n_rulesets = h->sec[EW_SEC_RULESETS].count;
    t->blob = SEC_PTR(EW_SEC_CLASSIFIER_BLOB);
    t->blob_len = h->sec[EW_SEC_CLASSIFIER_BLOB].count;
    t->addr_sets = SEC_PTR(EW_SEC_ADDR_SETS);
    t->n_addr_sets = h->sec[EW_SEC_ADDR_SETS].count;
    t->ranges4 = SEC_PTR(EW_SEC_ADDR_RANGES4);
    t->n_ranges4 = h->sec[EW_SEC_ADDR_RANGES4].count;
    t->ranges6 = SEC_PTR(EW_SEC_ADDR_RANGES6);
    t->n_ranges6 = h->sec[EW_SEC_ADDR_RANGES6].count;
    t->nacls = SEC_PTR(EW_SEC_NACLS);
    t->n_nacls = h->sec[EW_SEC_NACLS].count;
    t->nacl_blob = SEC_PTR(EW_SEC_NACL_BLOB);
    t->nacl_blob_len = h->sec[EW_SEC_NACL_BLOB].count;
    t->remotes = SEC_PTR(EW_SEC_REMOTE_ENIS);
    t->n_remotes = h->sec[EW_SEC_REMOTE_ENIS].count;
    t->hosts = SEC_PTR(EW_SEC_UNDERLAY_HOSTS);
    t->n_hosts = h->sec[EW_SEC_UNDERLAY_HOSTS].count;
    t->vpc_vni = SEC_PTR(EW_SEC_VPC_VNI);
    t->n_vpc_vni = h->sec[EW_SEC_VPC_VNI].count;
#undef SEC_PTR
}

static int ip6_cmp(const struct ew_ip6 *a, const struct ew_ip6 *b) {
    return memcmp(a->b, b->b, sizeof a->b);
}

static int check_ranges4(struct loader *l, const struct ew_range4 *r, uint32_t n,
                         const char *what) {
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].lo > r[i].hi) return fail(l, "%s: range %u has lo > hi", what, i);
        if (i > 0 && r[i - 1].hi >= r[i].lo)
            return fail(l, "%s: range %u is not sorted/disjoint", what, i);
    }
    return 0;
}

static int check_ranges6(struct loader *l, const struct ew_range6 *r, uint32_t n,
                         const char *what) {
    for (uint32_t i = 0; i < n; i++) {
        if (ip6_cmp(&r[i].lo, &r[i].hi) > 0) return fail(l, "%s: range %u has lo > hi", what, i);
        if (i > 0 && ip6_cmp(&r[i - 1].hi, &r[i].lo) >= 0)
            return fail(l, "%s: range %u is not sorted/disjoint", what, i);
    }
    return 0;
}

static int check_vpcs_subnets(struct loader *l) {
    const struct ew_table_view *t = l->t;
    for (uint32_t i = 0; i < t->n_vpcs; i++)
        if (t->vpcs[i].ipv4_prefix > 32 || t->vpcs[i].ipv6_prefix > 128)
            return fail(l, "vpc %u: bad prefix length", i);
    for (uint32_t i = 0; i < t->n_subnets; i++) {
        const struct ew_subnet *s = &t->subnets[i];
        if (s->vpc >= t->n_vpcs) return fail(l, "subnet %u: vpc index %u out of range", i, s->vpc);
        if (s->ipv4_prefix > 32 || s->ipv6_prefix > 128)
            return fail(l, "subnet %u: bad prefix length", i);
        if (s->nacl != EW_INDEX_NONE && s->nacl >= t->n_nacls)
            return fail(l, "subnet %u: network ACL index %u out of range", i, s->nacl);
    }
    return 0;
}

#define MAX_TIMEOUT_S 432000u

static int check_enis(struct loader *l) {
    struct ew_table_view *t = l->t;
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        t->port_eni[p] = EW_INDEX_NONE;
    for (uint32_t i = 0; i < t->n_enis; i++) {
        const struct ew_eni *e = &t->enis[i];
        if (e->subnet >= t->n_subnets)
            return fail(l, "eni %u: subnet index %u out of range", i, e->subnet);
        if (e->vpc >= t->n_vpcs || e->vpc != t->subnets[e->subnet].vpc)
            return fail(l, "eni %u: vpc index %u does not match its subnet", i, e->vpc);
        if (e->ruleset >= t->n_rulesets)
            return fail(l, "eni %u: ruleset index %u out of range", i, e->ruleset);
        if (e->ipv4_count == 0 || (uint64_t)e->ipv4_off + e->ipv4_count > t->n_eni_ipv4)
            return fail(l, "eni %u: IPv4 addresses [%u, +%u) out of range", i, e->ipv4_off,
                        e->ipv4_count);
        if ((uint64_t)e->ipv6_off + e->ipv6_count > t->n_eni_ipv6)
            return fail(l, "eni %u: IPv6 addresses [%u, +%u) out of range", i, e->ipv6_off,
                        e->ipv6_count);
        if (e->tcp_established_timeout == 0 || e->tcp_established_timeout > MAX_TIMEOUT_S ||
            e->udp_stream_timeout == 0 || e->udp_stream_timeout > MAX_TIMEOUT_S ||
            e->udp_timeout == 0 || e->udp_timeout > MAX_TIMEOUT_S)
            return fail(l, "eni %u: connection-tracking timeout out of range", i);
        if (e->port_id == EW_PORT_NONE) continue;
        if (e->port_id >= EW_PORT_UNDERLAY)
            return fail(l, "eni %u: port id %u >= %u", i, e->port_id, EW_MAX_PORTS);
        if (t->port_eni[e->port_id] != EW_INDEX_NONE)
            return fail(l, "eni %u: port id %u already used by eni %u", i, e->port_id,
                        t->port_eni[e->port_id]);
        t->port_eni[e->port_id] = i;
    }
    return 0;
}

static int check_forwarding(struct loader *l) {
    const struct ew_table_view *t = l->t;
    for (uint32_t i = 0; i < t->n_fwd4; i++) {
        const struct ew_fwd4 *f = &t->fwd4[i];
        if (f->eni >= t->n_enis || f->vpc >= t->n_vpcs || t->enis[f->eni].vpc != f->vpc)
            return fail(l, "fwd4 %u: bad vpc/eni index", i);
        if (i > 0) {
            const struct ew_fwd4 *p = &t->fwd4[i - 1];
            if (p->vpc > f->vpc || (p->vpc == f->vpc && p->addr >= f->addr))
                return fail(l, "fwd4 %u: not sorted by (vpc, addr) or duplicate", i);
        }
    }
    for (uint32_t i = 0; i < t->n_fwd6; i++) {
        const struct ew_fwd6 *f = &t->fwd6[i];
        if (f->eni >= t->n_enis || f->vpc >= t->n_vpcs || t->enis[f->eni].vpc != f->vpc)
            return fail(l, "fwd6 %u: bad vpc/eni index", i);
        if (i > 0) {
            const struct ew_fwd6 *p = &t->fwd6[i - 1];
            if (p->vpc > f->vpc || (p->vpc == f->vpc && ip6_cmp(&p->addr, &f->addr) >= 0))
                return fail(l, "fwd6 %u: not sorted by (vpc, addr) or duplicate", i);
        }
    }
    for (uint32_t i = 1; i < t->n_exempt4; i++)
        if (t->exempt4[i - 1] >= t->exempt4[i]) return fail(l, "exempt4 %u: not sorted", i);
    for (uint32_t i = 1; i < t->n_exempt6; i++)
        if (ip6_cmp(&t->exempt6[i - 1], &t->exempt6[i]) >= 0)
            return fail(l, "exempt6 %u: not sorted", i);
    return 0;
}

static int check_addr_sets(struct loader *l) {
    const struct ew_table_view *t = l->t;
    for (uint32_t i = 0; i < t->n_addr_sets; i++) {
        const struct ew_addr_set *s = &t->addr_sets[i];
        uint64_t end = (uint64_t)s->range_off + s->range_count;
        if (s->family == EW_FAM_V4) {
            if (end > t->n_ranges4) return fail(l, "addr set %u: ranges out of range", i);
            if (check_ranges4(l, t->ranges4 + s->range_off, s->range_count, "addr set") < 0)
                return -1;
        } else if (s->family == EW_FAM_V6) {
            if (end > t->n_ranges6) return fail(l, "addr set %u: ranges out of range", i);
            if (check_ranges6(l, t->ranges6 + s->range_off, s->range_count, "addr set") < 0)
                return -1;
        } else {
            return fail(l, "addr set %u: bad family %u", i, s->family);
        }
    }
    return 0;
}

/* An array of count elements of size elem at off inside a blob of blob_size bytes;
 * 4-aligned so that the u32 fields can be read directly. */
static int blob_array_ok(uint32_t blob_size, uint32_t off, uint32_t count, uint32_t elem) {
    return off % 4 == 0 && (uint64_t)off + (uint64_t)count * elem <= blob_size;
}

static int check_peer_set(struct loader *l, const uint8_t *blob, uint32_t size, uint32_t off,
                          enum ew_family fam) {
    const struct ew_table_view *t = l->t;
    if (!blob_array_ok(size, off, 1, sizeof(struct ew_peer_set)))
        return fail(l, "classifier: peer set offset %u out of bounds", off);
    const struct ew_peer_set *ps = (const void *)(blob + off);
    uint32_t rsize = fam == EW_FAM_V4 ? sizeof(struct ew_range4) : sizeof(struct ew_range6);
    if (!blob_array_ok(size, ps->range_off, ps->range_count, rsize))
        return fail(l, "classifier: peer ranges out of bounds");
    if (fam == EW_FAM_V4) {
        if (check_ranges4(l, (const void *)(blob + ps->range_off), ps->range_count, "peer set"))
            return -1;
    } else if (check_ranges6(l, (const void *)(blob + ps->range_off), ps->range_count,
                             "peer set")) {
        return -1;
    }
    if (!blob_array_ok(size, ps->addrset_off, ps->addrset_count, sizeof(uint32_t)))
        return fail(l, "classifier: address-set list out of bounds");
    const uint32_t *sets = (const void *)(blob + ps->addrset_off);
    for (uint32_t i = 0; i < ps->addrset_count; i++) {
        if (sets[i] >= t->n_addr_sets)
            return fail(l, "classifier: address set index %u out of range", sets[i]);
        if (t->addr_sets[sets[i]].family != (uint32_t)fam)
            return fail(l, "classifier: address set %u has the wrong family", sets[i]);
    }
    return 0;
}

static int check_intervals(struct loader *l, const uint8_t *blob, uint32_t size, uint32_t off,
                           uint32_t count, enum ew_family fam) {
    if (!blob_array_ok(size, off, count, sizeof(struct ew_interval)))
        return fail(l, "classifier: intervals at %u (+%u) out of bounds", off, count);
    const struct ew_interval *iv = (const void *)(blob + off);
    for (uint32_t i = 0; i < count; i++) {
        if (iv[i].lo > iv[i].hi) return fail(l, "classifier: interval %u has lo > hi", i);
        if (i > 0 && iv[i - 1].hi >= iv[i].lo)
            return fail(l, "classifier: interval %u is not sorted/disjoint", i);
        if (check_peer_set(l, blob, size, iv[i].peer_set, fam) < 0) return -1;
    }
    return 0;
}

static int check_classifier(struct loader *l, uint32_t off, enum ew_family fam) {
    const struct ew_table_view *t = l->t;
    if (off % 4 != 0 || (uint64_t)off + sizeof(struct ew_classifier) > t->blob_len)
        return fail(l, "classifier at %u: out of bounds or not 4-aligned", off);
    const uint8_t *blob = t->blob + off;
    const struct ew_classifier *c = (const void *)blob;
    if (c->blob_size < sizeof(struct ew_classifier) || (uint64_t)off + c->blob_size > t->blob_len)
        return fail(l, "classifier at %u: blob_size %u out of bounds", off, c->blob_size);
    if (!blob_array_ok(c->blob_size, c->proto_off, c->proto_count, sizeof(struct ew_proto_entry)))
        return fail(l, "classifier at %u: protocol entries out of bounds", off);
    const struct ew_proto_entry *pe = (const void *)(blob + c->proto_off);
    for (uint32_t i = 0; i < c->proto_count; i++) {
        if (i > 0 && pe[i - 1].proto >= pe[i].proto)
            return fail(l, "classifier at %u: protocol entries not sorted", off);
        if (check_intervals(l, blob, c->blob_size, pe[i].interval_off, pe[i].interval_count, fam) <
            0)
            return -1;
    }
    return check_intervals(l, blob, c->blob_size, c->default_off, c->default_count, fam);
}

static int check_rulesets(struct loader *l) {
    const struct ew_table_view *t = l->t;
    for (uint32_t i = 0; i < t->n_rulesets; i++)
        for (int d = 0; d < 2; d++)
            for (int f = 0; f < 2; f++)
                if (check_classifier(l, t->rulesets[i].classifier[d][f], (enum ew_family)f) < 0)
                    return -1;
    return 0;
}

/* ---- network ACL decision lists ---- */

static int check_nacl_ranges(struct loader *l, const uint8_t *list, uint32_t size,
                             const struct ew_nacl_interval *iv, enum ew_family fam) {
    uint32_t rsize =
        fam == EW_FAM_V4 ? sizeof(struct ew_nacl_range4) : sizeof(struct ew_nacl_range6);
    if (!blob_array_ok(size, iv->range_off, iv->range_count, rsize))
        return fail(l, "network ACL: peer ranges at %u (+%u) out of bounds", iv->range_off,
                    iv->range_count);
    for (uint32_t i = 0; i < iv->range_count; i++) {
        const uint8_t *at = list + iv->range_off + (size_t)i * rsize;
        uint16_t rule;
        uint8_t action;
        if (fam == EW_FAM_V4) {
            const struct ew_nacl_range4 *r = (const void *)at;
            if (r->lo > r->hi) return fail(l, "network ACL: range %u has lo > hi", i);
            if (i > 0 && ((const struct ew_nacl_range4 *)(const void *)(at - rsize))->hi >= r->lo)
                return fail(l, "network ACL: range %u is not sorted/disjoint", i);
            rule = r->rule;
            action = r->action;
        } else {
            const struct ew_nacl_range6 *r = (const void *)at;
            if (ip6_cmp(&r->lo, &r->hi) > 0) return fail(l, "network ACL: range %u has lo > hi", i);
            if (i > 0 && ip6_cmp(&((const struct ew_nacl_range6 *)(const void *)(at - rsize))->hi,
                                 &r->lo) >= 0)
                return fail(l, "network ACL: range %u is not sorted/disjoint", i);
            rule = r->rule;
            action = r->action;
        }
        if (rule < 1 || rule > 32766)
            return fail(l, "network ACL: range %u has rule number %u (1..32766)", i, rule);
        if (action != EW_NACL_ALLOW && action != EW_NACL_DENY)
            return fail(l, "network ACL: range %u has action %u (0 deny, 1 allow)", i, action);
    }
    return 0;
}

static int check_nacl_intervals(struct loader *l, const uint8_t *list, uint32_t size, uint32_t off,
                                uint32_t count, enum ew_family fam) {
    if (!blob_array_ok(size, off, count, sizeof(struct ew_nacl_interval)))
        return fail(l, "network ACL: intervals at %u (+%u) out of bounds", off, count);
    const struct ew_nacl_interval *iv = (const void *)(list + off);
    for (uint32_t i = 0; i < count; i++) {
        if (iv[i].lo > iv[i].hi) return fail(l, "network ACL: interval %u has lo > hi", i);
        if (i > 0 && iv[i - 1].hi >= iv[i].lo)
            return fail(l, "network ACL: interval %u is not sorted/disjoint", i);
        if (check_nacl_ranges(l, list, size, &iv[i], fam) < 0) return -1;
    }
    return 0;
}

static int check_nacl_list(struct loader *l, uint32_t n, uint32_t off, enum ew_family fam) {
    const struct ew_table_view *t = l->t;
    if (off % 4 != 0 || (uint64_t)off + sizeof(struct ew_nacl_list) > t->nacl_blob_len)
        return fail(l, "network ACL %u: list at %u out of bounds or not 4-aligned", n, off);
    const uint8_t *list = t->nacl_blob + off;
    const struct ew_nacl_list *h = (const void *)list;
    if (h->list_size < sizeof *h || (uint64_t)off + h->list_size > t->nacl_blob_len)
        return fail(l, "network ACL %u: list_size %u out of bounds", n, h->list_size);
    if (!blob_array_ok(h->list_size, h->proto_off, h->proto_count, sizeof(struct ew_nacl_proto)))
        return fail(l, "network ACL %u: protocol entries out of bounds", n);
    const struct ew_nacl_proto *pe = (const void *)(list + h->proto_off);
    for (uint32_t i = 0; i < h->proto_count; i++) {
        if (i > 0 && pe[i - 1].proto >= pe[i].proto)
            return fail(l, "network ACL %u: protocol entries not sorted", n);
        if (check_nacl_intervals(l, list, h->list_size, pe[i].interval_off, pe[i].interval_count,
                                 fam) < 0)
            return -1;
    }
    return check_nacl_intervals(l, list, h->list_size, h->default_off, h->default_count, fam);
}

static int check_nacls(struct loader *l) {
    const struct ew_table_view *t = l->t;
    for (uint32_t i = 0; i < t->n_nacls; i++)
        for (int d = 0; d < 2; d++)
            for (int f = 0; f < 2; f++)
                if (check_nacl_list(l, i, t->nacls[i].list[d][f], (enum ew_family)f) < 0) return -1;
    return 0;
}

/* Overlay sections: remote ENIs sorted, each flagged EW_ENI_REMOTE and
 * portless, naming a host; every flagged ENI listed; hosts sorted and unique;
 * VNIs 24-bit and unique per VPC. */
static int check_overlay(struct loader *l) {
    const struct ew_table_view *t = l->t;
    uint32_t flagged = 0;
    for (uint32_t i = 0; i < t->n_enis; i++)
        if (t->enis[i].flags & EW_ENI_REMOTE) flagged++;
    if (flagged != t->n_remotes)
        return fail(l, "%u ENIs flagged remote, %u remote entries", flagged, t->n_remotes);
    for (uint32_t i = 0; i < t->n_remotes; i++) {
        const struct ew_remote_eni *r = &t->remotes[i];
        if (r->eni >= t->n_enis || !(t->enis[r->eni].flags & EW_ENI_REMOTE) ||
            t->enis[r->eni].port_id != EW_PORT_NONE)
            return fail(l, "remote %u: eni %u is not a portless remote ENI", i, r->eni);
        if (i > 0 && t->remotes[i - 1].eni >= r->eni)
            return fail(l, "remote %u: not sorted by eni", i);
        if (r->host >= t->n_hosts) return fail(l, "remote %u: host %u out of range", i, r->host);
    }
    for (uint32_t i = 1; i < t->n_hosts; i++)
        if (t->hosts[i - 1].addr >= t->hosts[i].addr)
            return fail(l, "underlay host %u: not sorted/unique", i);
    if (t->n_vpc_vni != 0 && t->n_vpc_vni != t->n_vpcs)
        return fail(l, "%u VNIs for %u VPCs", t->n_vpc_vni, t->n_vpcs);
    for (uint32_t i = 0; i < t->n_vpc_vni; i++) {
        if (t->vpc_vni[i] > 0xffffffu) return fail(l, "vpc %u: VNI over 24 bits", i);
        for (uint32_t j = 0; j < i; j++)
            if (t->vpc_vni[j] == t->vpc_vni[i]) return fail(l, "vpc %u: VNI not unique", i);
    }
    if (t->n_remotes && !t->n_vpc_vni) return fail(l, "remote ENIs without VNIs");
    return 0;
}

static int validate(struct loader *l, size_t len) {
    const struct ew_table_header *h = (const void *)l->t->base;
    if (len < sizeof *h) return fail(l, "table too short (%zu bytes)", len);
    if (h->magic != EW_TABLE_MAGIC) return fail(l, "bad magic 0x%08x", h->magic);
    if (h->version != EW_TABLE_VERSION)
        return fail(l, "unsupported table version %u (expected %u)", h->version, EW_TABLE_VERSION);
    if (h->header_size != sizeof *h)
        return fail(l, "header_size %u, expected %zu", h->header_size, sizeof *h);
    if (h->total_size != len)
        return fail(l, "total_size %u does not match buffer length %zu", h->total_size, len);
    if (check_sections(l, h) < 0) return -1;
    bind_sections(l->t, h);
    l->t->generation = h->generation;
    if (check_vpcs_subnets(l) < 0 || check_addr_sets(l) < 0 || check_rulesets(l) < 0 ||
        check_nacls(l) < 0 || check_enis(l) < 0 || check_forwarding(l) < 0 || check_overlay(l) < 0)
        return -1;
    return 0;
}

struct ew_table_view *ew_table_load(const void *buf, size_t len, char *err, size_t errlen) {
    struct loader l = {.t = NULL, .err = err, .errlen = errlen};
    if (err && errlen) err[0] = '\0';
    if (!buf || len > UINT32_MAX) {
        fail(&l, "no buffer or buffer larger than 4 GiB");
        return NULL;
    }
    struct ew_table_view *t = calloc(1, sizeof *t);
    /* malloc alignment (>= 8) keeps the 8-aligned sections aligned in the copy. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!t || !copy) {
        free(t);
        free(copy);
        fail(&l, "out of memory");
        return NULL;
    }
    memcpy(copy, buf, len);
    t->base = copy;
    t->size = (uint32_t)len;
    l.t = t;
    if (validate(&l, len) < 0) {
        ew_table_free(t);
        return NULL;
    }
    return t;
}

void ew_table_free(struct ew_table_view *t) {
    if (!t) return;
    free(t->base);
    free(t);
}

uint64_t ew_table_generation(const struct ew_table_view *t) {
    return t ? t->generation : 0;
}
