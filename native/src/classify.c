/* Classifier lookup (see classify.h and table.h). Hot path: no allocation. */
#include "classify.h"

#include <string.h>

static const struct ew_interval *find_interval(const uint8_t *blob, const struct ew_classifier *c,
                                               uint8_t proto, uint16_t key) {
    const struct ew_proto_entry *pe = (const void *)(blob + c->proto_off);
    const struct ew_interval *iv = (const void *)(blob + c->default_off);
    uint32_t n = c->default_count;
    uint16_t k = 0;
    uint32_t lo = 0, hi = c->proto_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (pe[mid].proto < proto) {
            lo = mid + 1;
        } else {
            if (pe[mid].proto == proto) {
                iv = (const void *)(blob + pe[mid].interval_off);
                n = pe[mid].interval_count;
                k = key;
            }
            hi = mid;
        }
    }
    /* The last interval whose lo <= k. */
    lo = 0;
    hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (iv[mid].lo <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || k > iv[lo - 1].hi) return NULL;
    return &iv[lo - 1];
}

static bool ranges4_contain(const struct ew_range4 *r, uint32_t n, uint32_t a) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && a <= r[lo - 1].hi;
}

static bool ranges6_contain(const struct ew_range6 *r, uint32_t n, const uint8_t *a) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (memcmp(r[mid].lo.b, a, 16) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && memcmp(a, r[lo - 1].hi.b, 16) <= 0;
}

bool ew_classify4(const struct ew_table_view *t, const struct ew_classifier *c, uint8_t proto,
                  uint16_t key, uint32_t peer, bool *world) {
    const uint8_t *blob = (const uint8_t *)c;
    const struct ew_interval *iv = find_interval(blob, c, proto, key);
    *world = false;
    if (!iv) return false;
    *world = (iv->flags & EW_IV_WORLD) != 0;
    const struct ew_peer_set *ps = (const void *)(blob + iv->peer_set);
    if (ranges4_contain((const void *)(blob + ps->range_off), ps->range_count, peer)) return true;
    const uint32_t *sets = (const void *)(blob + ps->addrset_off);
    for (uint32_t i = 0; i < ps->addrset_count; i++) {
        const struct ew_addr_set *s = &t->addr_sets[sets[i]];
        if (ranges4_contain(t->ranges4 + s->range_off, s->range_count, peer)) return true;
    }
    return false;
}

bool ew_classify6(const struct ew_table_view *t, const struct ew_classifier *c, uint8_t proto,
                  uint16_t key, const uint8_t *peer, bool *world) {
    const uint8_t *blob = (const uint8_t *)c;
    const struct ew_interval *iv = find_interval(blob, c, proto, key);
    *world = false;
    if (!iv) return false;
    *world = (iv->flags & EW_IV_WORLD) != 0;
    const struct ew_peer_set *ps = (const void *)(blob + iv->peer_set);
    if (ranges6_contain((const void *)(blob + ps->range_off), ps->range_count, peer)) return true;
    const uint32_t *sets = (const void *)(blob + ps->addrset_off);
    for (uint32_t i = 0; i < ps->addrset_count; i++) {
        const struct ew_addr_set *s = &t->addr_sets[sets[i]];
        if (ranges6_contain(t->ranges6 + s->range_off, s->range_count, peer)) return true;
    }
    return false;
}

int ew_classify_query(const struct ew_table_view *t, uint32_t eni_index, enum ew_dir dir,
                      enum ew_family family, uint8_t proto, uint16_t key, const uint8_t *peer,
                      bool *world) {
    bool w = false;
    if (!t || eni_index >= t->n_enis || !peer || (dir != EW_DIR_INGRESS && dir != EW_DIR_EGRESS) ||
        (family != EW_FAM_V4 && family != EW_FAM_V6))
        return -1;
    const struct ew_classifier *c = ew_view_classifier(t, &t->enis[eni_index], dir, family);
    bool ok;
    if (family == EW_FAM_V4) {
        uint32_t a = (uint32_t)peer[0] << 24 | (uint32_t)peer[1] << 16 | (uint32_t)peer[2] << 8 |
                     (uint32_t)peer[3];
        ok = ew_classify4(t, c, proto, key, a, &w);
    } else {
        ok = ew_classify6(t, c, proto, key, peer, &w);
    }
    if (world) *world = w;
    return ok ? 1 : 0;
}
