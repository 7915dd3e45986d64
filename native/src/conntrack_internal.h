/*
 * Conntrack internals shared by the per-packet half (conntrack.c: hash, state
 * machine, track/insert/exists) and the admin half (conntrack_admin.c: create,
 * sweep, flush, counts, dump). See conntrack.h for the design and lock order.
 */
#ifndef ENIWALL_CONNTRACK_INTERNAL_H
#define ENIWALL_CONNTRACK_INTERNAL_H

#include <stdatomic.h>
#include <string.h>

#include "conntrack.h"
#include "spinlock.h"

#define EW_CT_NIL       0xffffffffu
#define EW_CT_DIR_ORIG  0u
#define EW_CT_DIR_REPLY 1u

struct ct_entry {
    struct ew_ct_key key; /* originator orientation */
    uint64_t last_ms;     /* time of the last packet */
    uint64_t packets[2];  /* [EW_CT_DIR_ORIG], [EW_CT_DIR_REPLY] */
    uint64_t bytes[2];
    uint32_t next; /* bucket chain or free chain; EW_CT_NIL ends */
    union {
        uint32_t timeout_ms; /* idle time allowed in the current state */
        uint32_t chain_len;  /* free, first of a pool chain: the chain's length */
    };
    union {
        uint32_t hash;
        uint32_t chain_next; /* free, first of a pool chain: the next chain's first */
    };
    uint8_t state;     /* enum ew_ct_state; EW_CT_NONE when free */
    uint8_t fin_dir;   /* TCP: direction of the first FIN */
    uint8_t last_dir;  /* UDP: direction of the previous packet */
    uint8_t exchanges; /* UDP: request-response exchanges seen (saturating) */
};
_Static_assert(sizeof(struct ct_entry) == 96, "ct_entry size (memory budget 128 B/entry)");

/* Flow-sample deltas of one entry (flowlog.h), in a parallel array so that
 * only entries of flow-logged zones touch it: calloc maps its pages lazily,
 * so without flow logs it costs address space, not memory. Indexed by the
 * zone ENI's direction (enum ew_dir); written under the entry's bucket lock. */
struct ct_flow {
    uint64_t bytes[2];
    uint64_t first_ms[2], last_ms[2];
    uint32_t packets[2];
    uint8_t flags[2];
    uint8_t orig_dir; /* enum ew_dir of the entry's ORIG packets in its zone */
    uint8_t pad[5];
};
_Static_assert(sizeof(struct ct_flow) == 64, "ct_flow is one cache line");

#define EW_CT_LINE 64
/* Entries a worker cache moves to or from the shared pool at once (at most;
 * ew_ct_create scales it down for small tables, see cache_batch). */
#define EW_CT_CACHE_BATCH 64u

/* One zone's counters, on a line of their own: two workers opening
 * connections in different zones never write the same line. */
struct ct_zone {
    _Atomic uint32_t count;
    uint32_t pad;
    _Atomic uint64_t exceeded;
    _Atomic uint64_t flow_lost; /* deltas freed before a drain took them */
    uint8_t pad2[EW_CT_LINE - 24];
};
_Static_assert(sizeof(struct ct_zone) == EW_CT_LINE, "ct_zone is one cache line");

/* A worker's private stock of free entries (ew_ct_cache_create): inserts take
 * from it and frees (expired entries its lookups unlink) give to it, so the
 * shared pool lock is taken once per cache_batch of them, not per connection. */
struct ew_ct_cache {
    uint32_t n;
    uint32_t idx[2 * EW_CT_CACHE_BATCH];
};

/* A bucket is one 32-bit word: its lock in bit 0 and its chain head above it,
 * so a lookup's lock and head are one cache line (one prefetch, one miss) and
 * the array stays 4 bytes per bucket (4-8 per entry). The head is stored as
 * index + 1, so 0 is an empty chain and a zeroed array is all empty and
 * unlocked. Capacity stays below 2^31 - 1. */
#define EW_CT_BLOCK        1u
#define EW_CT_MAX_CAPACITY 0x7ffffffeu

static inline uint32_t ew_ct_head_of(uint32_t w) {
    return (w >> 1) - 1u; /* 0 -> EW_CT_NIL */
}

/* Cache-line layout: the first line is read by every packet of every worker
 * and never written after create; the pool and the sweep cursor, written by
 * any worker, each have a line of their own (a write there would otherwise
 * invalidate the read-mostly line in every other core). Allocated aligned. */
struct ew_ct {
    struct ct_entry *entries;
    uint32_t *buckets;     /* see EW_CT_BLOCK; atomic, so flush may peek without the lock */
    struct ct_flow *flows; /* [capacity], see struct ct_flow */
    uint32_t capacity, bucket_mask, allowance;
    uint64_t salt;
    uint32_t cache_batch; /* entries per pool transfer of a worker cache, 1..EW_CT_CACHE_BATCH */
    /* The shared pool of free entries: a stack of chains (each linked through
     * ct_entry.next, its first entry holding chain_len and chain_next), then
     * the never-used entries from `fresh` on (create touches no entry). */
    _Alignas(EW_CT_LINE) ew_spinlock free_lock;
    uint32_t free_head; /* first entry of the top chain, under free_lock */
    uint32_t fresh;     /* next never-used entry, under free_lock */
    _Alignas(EW_CT_LINE) _Atomic uint64_t sweep_pos;  /* next bucket to sweep */
    _Alignas(EW_CT_LINE) _Atomic uint32_t flows_used; /* some entry was sampled: the drain walks */
    uint32_t flow_cursor; /* drainer only: the bucket the next drain starts at */
    struct ct_zone zones[EW_MAX_PORTS];
    /* ew_ct_create_shared: entries and buckets live in this file mapping. */
    void *map;
    size_t map_len;
};

static inline void ew_ct_lock_bucket(struct ew_ct *ct, uint32_t b) {
    uint32_t *w = &ct->buckets[b];
    while ((__atomic_fetch_or(w, EW_CT_BLOCK, __ATOMIC_ACQUIRE) & EW_CT_BLOCK) !=
           0) { /* lock bts */
        while (__atomic_load_n(w, __ATOMIC_RELAXED) & EW_CT_BLOCK) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

/* Only the holder changes the head bits, so a plain release store unlocks. */
static inline void ew_ct_unlock_bucket(struct ew_ct *ct, uint32_t b) {
    uint32_t *w = &ct->buckets[b];
    __atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) & ~EW_CT_BLOCK, __ATOMIC_RELEASE);
}

/* The chain head of bucket b: under its lock, or as an unlocked peek. */
static inline uint32_t ew_ct_head(const struct ew_ct *ct, uint32_t b) {
    return ew_ct_head_of(__atomic_load_n(&ct->buckets[b], __ATOMIC_RELAXED));
}

/* Caller holds bucket b's lock (the bit stays set). */
static inline void ew_ct_set_head(struct ew_ct *ct, uint32_t b, uint32_t idx) {
    __atomic_store_n(&ct->buckets[b], (idx + 1u) << 1 | EW_CT_BLOCK, __ATOMIC_RELAXED);
}

static inline bool ew_ct_expired(const struct ct_entry *e, uint64_t now_ms) {
    return now_ms > e->last_ms && now_ms - e->last_ms > e->timeout_ms;
}

/* Chain links change under the bucket lock but are stored atomically (relaxed,
 * a plain store on x86): flush peeks at bucket heads without the lock. */
static inline void ew_ct_set_link(uint32_t *link, uint32_t idx) {
    __atomic_store_n(link, idx, __ATOMIC_RELAXED);
}

/* ---- the shared pool (conntrack.c) ---- */
/* Pushes the chain first..(n entries through .next) on the pool. */
void ew_ct_pool_push(struct ew_ct *ct, uint32_t first, uint32_t n);
/* Returns the cache's top `count` entries (linked into one chain) to the pool. */
void ew_ct_cache_give(struct ew_ct *ct, struct ew_ct_cache *c, uint32_t count);

static inline void ew_ct_free_entry(struct ew_ct *ct, uint32_t idx, struct ew_ct_cache *cache) {
    struct ct_entry *e = &ct->entries[idx];
    struct ct_zone *z = &ct->zones[e->key.zone % EW_MAX_PORTS];
    atomic_fetch_sub_explicit(&z->count, 1, memory_order_relaxed);
    struct ct_flow *f = &ct->flows[idx];
    if (f->packets[0] | f->packets[1]) { /* undrained samples: count the loss, forget them */
        atomic_fetch_add_explicit(&z->flow_lost,
                                  (f->packets[0] ? 1u : 0u) + (f->packets[1] ? 1u : 0u),
                                  memory_order_relaxed);
        memset(f, 0, sizeof *f);
    }
    e->state = EW_CT_NONE;
    if (!cache) {
        ew_ct_pool_push(ct, idx, 1);
        return;
    }
    /* Full: the older half goes back to the pool, in one chain, one lock. */
    if (cache->n == 2 * ct->cache_batch) ew_ct_cache_give(ct, cache, ct->cache_batch);
    cache->idx[cache->n++] = idx;
}

enum ew_ct_walk { EW_CT_KEEP, EW_CT_UNLINK, EW_CT_STOP };

/* The one chain-unlink loop (caller holds bucket b's bucket lock): asks judge
 * about each entry in turn; UNLINK frees it (into cache, or the pool when NULL), STOP ends the walk
 * and returns its index, KEEP moves on. EW_CT_NIL when the chain ran out. Inlined with each
 * constant judge, so the per-packet lookup pays no indirect call. */
static inline uint32_t ew_ct_walk(struct ew_ct *ct, uint32_t b,
                                  enum ew_ct_walk (*judge)(const struct ct_entry *e, void *arg),
                                  void *arg, struct ew_ct_cache *cache) {
    uint32_t prev = EW_CT_NIL, idx = ew_ct_head(ct, b);
    while (idx != EW_CT_NIL) {
        struct ct_entry *e = &ct->entries[idx];
        uint32_t next = e->next;
        switch (judge(e, arg)) {
        case EW_CT_UNLINK:
            if (prev == EW_CT_NIL)
                ew_ct_set_head(ct, b, next);
            else
                ew_ct_set_link(&ct->entries[prev].next, next);
            ew_ct_free_entry(ct, idx, cache);
            break;
        case EW_CT_STOP:
            return idx;
        case EW_CT_KEEP:
            prev = idx;
            break;
        }
        idx = next;
    }
    return EW_CT_NIL;
}

#endif /* ENIWALL_CONNTRACK_INTERNAL_H */
