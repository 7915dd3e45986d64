/* Rule hit rings (eniwall/hits.h): creation and the drain; the push is inline
 * in hits_ring.h so the per-connection path pays no call. */
#include "hits_ring.h"

#include <stdlib.h>
#include <string.h>

struct ew_hit_ring *ew_hit_ring_create(uint32_t slots) {
    if (slots == 0 || slots > EW_HIT_MAX_SLOTS || (slots & (slots - 1)) != 0) return NULL;
    struct ew_hit_ring *r = aligned_alloc(64, sizeof *r + (size_t)slots * sizeof r->recs[0]);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->mask = slots - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->lost, 0);
    return r;
}

void ew_hit_ring_destroy(struct ew_hit_ring *r) {
    free(r);
}

uint32_t ew_hit_drain(struct ew_hit_ring *r, struct ew_hit_rec *out, uint32_t max, uint64_t *lost) {
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t n = h - t;
    if (n > max) n = max;
    for (uint32_t i = 0; i < n; i++)
        out[i] = r->recs[(t + i) & r->mask];
    atomic_store_explicit(&r->tail, t + n, memory_order_release);
    uint64_t l = atomic_exchange_explicit(&r->lost, 0, memory_order_relaxed);
    if (lost) *lost = l;
    return n;
}
