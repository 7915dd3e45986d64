/* The hit ring's layout and its inline push (eniwall/hits.h has the design). */
#ifndef ENIWALL_HITS_RING_H
#define ENIWALL_HITS_RING_H

#include <stdatomic.h>
#include <string.h>

#include "eniwall/hits.h"

struct ew_hit_ring {
    _Alignas(64) _Atomic uint32_t head; /* next slot the worker writes */
    _Alignas(64) _Atomic uint32_t tail; /* next slot the drainer reads */
    _Alignas(64) _Atomic uint64_t lost; /* records dropped on a full ring (worker adds) */
    uint32_t mask;
    _Alignas(64) struct ew_hit_rec recs[];
};

/* Worker side: append one record, or count it lost when the ring is full. */
static inline void ew_hit_push(struct ew_hit_ring *r, const uint8_t peer[16], uint64_t ms,
                               uint16_t port, uint16_t key, uint8_t dir, uint8_t family,
                               uint8_t proto) {
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h - atomic_load_explicit(&r->tail, memory_order_acquire) > r->mask) {
        atomic_fetch_add_explicit(&r->lost, 1, memory_order_relaxed);
        return;
    }
    struct ew_hit_rec *rec = &r->recs[h & r->mask];
    memcpy(rec->peer, peer, 16);
    rec->ms = ms;
    rec->port = port;
    rec->key = key;
    rec->dir = dir;
    rec->family = family;
    rec->proto = proto;
    rec->pad = 0;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

#endif /* ENIWALL_HITS_RING_H */
