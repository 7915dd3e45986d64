/* Connection tracking, the admin half: create, sweep, flush, counts and dump
 * (off the per-packet path; see conntrack.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conntrack_internal.h"
#include "parse.h"

/* The big arrays (entries, buckets, flow deltas) are anonymous mappings
 * aligned to 2 MiB and advised MADV_HUGEPAGE: at 100,000+ flows every
 * lookup lands on a different 4 KiB page, so with small pages nearly every
 * packet also pays a TLB miss and a page walk per line it touches; 2 MiB
 * pages cover 96 MB of entries with 48 TLB entries. Pages stay lazily
 * zero-filled (untouched entries cost nothing). Without THP ("never") the
 * advice is refused and the arrays are ordinary pages, as before. */
#define CT_HUGE (2u << 20)

static size_t big_len(size_t len) {
    return (len + CT_HUGE - 1) / CT_HUGE * CT_HUGE;
}

static void *big_zeroed(size_t len) {
    size_t want = big_len(len);
    uint8_t *raw =
        mmap(NULL, want + CT_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    /* Trim to a 2 MiB-aligned start: the kernel backs only aligned 2 MiB ranges with huge pages. */
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + CT_HUGE - 1) & ~(uintptr_t)(CT_HUGE - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    size_t tail = (size_t)(raw + want + CT_HUGE - (p + want));
    if (tail) munmap(p + want, tail);
#ifdef MADV_HUGEPAGE
    (void)madvise(p, want, MADV_HUGEPAGE);
#endif
    return p;
}

static void big_free(void *p, size_t len) {
    if (p) munmap(p, big_len(len));
}

static uint32_t pow2_at_least(uint32_t n) {
    uint32_t p = 1;
    while (p < n && p < 0x80000000u)
        p <<= 1;
    return p;
}

struct ew_ct *ew_ct_create(uint32_t capacity, uint32_t allowance, uint64_t salt) {
    if (capacity == 0 || capacity > EW_CT_MAX_CAPACITY) return NULL; /* bucket heads: 31 bits */
    /* Aligned: the struct's cache-line layout (conntrack_internal.h) holds. */
    size_t sz = (sizeof(struct ew_ct) + EW_CT_LINE - 1) / EW_CT_LINE * EW_CT_LINE;
    struct ew_ct *ct = aligned_alloc(EW_CT_LINE, sz);
    if (!ct) return NULL;
    memset(ct, 0, sz);
    uint32_t nb = pow2_at_least(capacity);
    ct->capacity = capacity;
    ct->bucket_mask = nb - 1;
    ct->entries = big_zeroed((size_t)capacity * sizeof *ct->entries);
    ct->buckets = big_zeroed((size_t)nb * sizeof *ct->buckets); /* 0: empty and unlocked */
    ct->flows =
        big_zeroed((size_t)capacity * sizeof *ct->flows); /* only flow-logged zones touch it */
    if (!ct->entries || !ct->buckets || !ct->flows) {
        ew_ct_destroy(ct);
        return NULL;
    }
    /* Fault the bucket array in now: a first new flow in each page of it
     * would otherwise take a page fault on the per-packet path. */
    memset(ct->buckets, 0, (size_t)nb * sizeof *ct->buckets);
    atomic_flag_clear(&ct->free_lock);
    ct->allowance = allowance ? allowance : capacity;
    ct->salt = salt;
    ct->free_head = EW_CT_NIL;
    ct->fresh = 0;
    /* Small tables keep small caches: the entries caches may hold while the
     * pool is empty stay under 1/512 of the table (conntrack.h). */
    uint32_t batch = capacity / 1024u;
    ct->cache_batch = batch < 1u ? 1u : batch > EW_CT_CACHE_BATCH ? EW_CT_CACHE_BATCH : batch;
    return ct;
}

void ew_ct_destroy(struct ew_ct *ct) {
    if (!ct) return;
    if (ct->map) {
        munmap(ct->map, ct->map_len);
    } else {
        big_free(ct->entries, (size_t)ct->capacity * sizeof *ct->entries);
        big_free(ct->buckets, ((size_t)ct->bucket_mask + 1) * sizeof *ct->buckets);
    }
    big_free(ct->flows, (size_t)ct->capacity * sizeof *ct->flows);
    free(ct);
}

/* ---- the shared region (ew_ct_create_shared) ---- */

#define CT_SHM_MAGIC   0x31544354574e45ull /* "ENWTCT1" */
#define CT_SHM_VERSION 2u /* 2: the hash takes the zone last (hash_flow, hash_zone) */
#define CT_SHM_HEADER  4096u

struct ct_shm_header {
    uint64_t magic;
    uint32_t version, entry_size;
    uint32_t capacity, nbuckets;
    uint64_t salt;
    uint64_t sum; /* over the fields above */
};

static uint64_t header_sum(const struct ct_shm_header *h) {
    const uint8_t *p = (const uint8_t *)h;
    uint64_t x = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < offsetof(struct ct_shm_header, sum); i++)
        x = (x ^ p[i]) * 0x100000001b3ull;
    return x;
}

/* Validates the adopted chains and rebuilds pool and zone counts; -1 with why. */
static long adopt(struct ew_ct *ct, char *warn, size_t warnlen) {
    uint32_t cap = ct->capacity, nb = ct->bucket_mask + 1;
    uint8_t *seen = calloc(cap, 1);
    if (!seen) {
        snprintf(warn, warnlen, "out of memory validating the region");
        return -1;
    }
    long n = 0;
    uint32_t top = 0;
    for (uint32_t b = 0; b < nb; b++) {
        ct->buckets[b] &= ~EW_CT_BLOCK; /* a killed holder's lock */
        for (uint32_t i = ew_ct_head(ct, b); i != EW_CT_NIL; i = ct->entries[i].next) {
            struct ct_entry *e = &ct->entries[i];
            const char *bad =
                i >= cap                                           ? "index out of range"
                : seen[i]                                          ? "entry linked twice"
                : e->state == EW_CT_NONE || e->state > EW_CT_OTHER ? "bad state"
                : e->key.zone >= EW_MAX_PORTS                      ? "bad zone"
                : ew_ct_hash(ct, &e->key) != e->hash || (e->hash & ct->bucket_mask) != b
                    ? "entry in the wrong bucket"
                    : NULL;
            if (bad) {
                snprintf(warn, warnlen, "bucket %u: %s", b, bad);
                free(seen);
                return -1;
            }
            seen[i] = 1;
            n++;
            if (i + 1 > top) top = i + 1;
            atomic_fetch_add(&ct->zones[e->key.zone].count, 1);
        }
    }
    /* Entries below `top` that no chain holds (free, or in a dead worker's
     * cache) go to the pool in chains of at most cache_batch. */
    uint32_t first = EW_CT_NIL, len = 0;
    for (uint32_t i = 0; i < top; i++) {
        if (seen[i]) continue;
        memset(&ct->entries[i], 0, sizeof ct->entries[i]);
        ct->entries[i].next = first;
        first = i;
        if (++len == ct->cache_batch) {
            ew_ct_pool_push(ct, first, len);
            first = EW_CT_NIL;
            len = 0;
        }
    }
    if (len) ew_ct_pool_push(ct, first, len);
    ct->fresh = top;
    free(seen);
    return n;
}

struct ew_ct *ew_ct_create_shared(uint32_t capacity, uint32_t allowance, uint64_t salt,
                                  const char *path, long *adopted, char *warn, size_t warnlen) {
    *adopted = 0;
    struct ew_ct *ct = ew_ct_create(capacity, allowance, salt);
    if (!ct) return NULL;
    uint32_t nb = ct->bucket_mask + 1;
    size_t ents = (size_t)capacity * sizeof(struct ct_entry);
    size_t len = CT_SHM_HEADER + ents + (size_t)nb * sizeof(uint32_t);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(warn, warnlen, "cannot open %s", path);
        if (fd >= 0) close(fd);
        ew_ct_destroy(ct);
        return NULL;
    }
    struct ct_shm_header want = {
        CT_SHM_MAGIC, CT_SHM_VERSION, sizeof(struct ct_entry), capacity, nb, salt, 0};
    bool reuse = false;
    if ((size_t)st.st_size == len) {
        struct ct_shm_header h;
        if (pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h && h.magic == CT_SHM_MAGIC &&
            h.version == CT_SHM_VERSION && h.entry_size == want.entry_size &&
            h.capacity == capacity && h.nbuckets == nb && h.sum == header_sum(&h)) {
            reuse = true;
            want.salt = h.salt;
        } else {
            snprintf(warn, warnlen, "%s: incompatible or corrupt header", path);
            *adopted = -1;
        }
    } else if (st.st_size != 0) {
        snprintf(warn, warnlen, "%s: size %lld, this layout needs %zu", path, (long long)st.st_size,
                 len);
        *adopted = -1;
    }
    if (!reuse && (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)len) != 0)) {
        snprintf(warn, warnlen, "cannot size %s", path);
        close(fd);
        ew_ct_destroy(ct);
        return NULL;
    }
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(warn, warnlen, "cannot map %s", path);
        ew_ct_destroy(ct);
        return NULL;
    }
    big_free(ct->entries, (size_t)capacity * sizeof *ct->entries);
    big_free(ct->buckets, (size_t)nb * sizeof *ct->buckets);
    ct->map = map;
    ct->map_len = len;
    ct->entries = (struct ct_entry *)((uint8_t *)map + CT_SHM_HEADER);
    ct->buckets = (uint32_t *)((uint8_t *)map + CT_SHM_HEADER + ents);
    ct->salt = want.salt;
    if (reuse) {
        long n = adopt(ct, warn, warnlen);
        if (n >= 0) {
            *adopted = n;
            return ct;
        }
        /* Discard: start empty in the same region, with our salt. */
        *adopted = -1;
        memset(ct->entries, 0, ents);
        memset(ct->buckets, 0, (size_t)nb * sizeof(uint32_t));
        for (uint32_t z = 0; z < EW_MAX_PORTS; z++)
            atomic_store(&ct->zones[z].count, 0);
        ct->free_head = EW_CT_NIL;
        ct->fresh = 0;
        want.salt = salt;
        ct->salt = salt;
    }
    /* Fault the buckets in now (as ew_ct_create does): not on the packet path. */
    memset(ct->buckets, 0, (size_t)nb * sizeof(uint32_t));
    want.sum = header_sum(&want);
    memcpy(map, &want, sizeof want);
    return ct;
}

uint32_t ew_ct_buckets(const struct ew_ct *ct) {
    return ct->bucket_mask + 1u;
}

size_t ew_ct_memory_bytes(const struct ew_ct *ct) {
    return (size_t)ct->capacity * sizeof(struct ct_entry) +
           ((size_t)ct->bucket_mask + 1) * sizeof(uint32_t);
}

/* ---- housekeeping ---- */

/* Sweeps and flushes free through a local cache: one pool lock per batch. */
static enum ew_ct_walk sweep_judge(const struct ct_entry *e, void *arg) {
    return ew_ct_expired(e, *(const uint64_t *)arg) ? EW_CT_UNLINK : EW_CT_KEEP;
}

/* Non-empty buckets the sweep has prefetched ahead of the one it walks. */
#define SWEEP_AHEAD 16

static void sweep_bucket(struct ew_ct *ct, uint32_t b, uint64_t now_ms, struct ew_ct_cache *cache) {
    ew_ct_lock_bucket(ct, b);
    ew_ct_walk(ct, b, sweep_judge, &now_ms, cache);
    ew_ct_unlock_bucket(ct, b);
}

static void prefetch_entry_lines(const struct ew_ct *ct, uint32_t idx) {
    const char *e = (const char *)&ct->entries[idx];
    __builtin_prefetch(e);
    __builtin_prefetch(e + sizeof(struct ct_entry) - 1); /* 96 bytes: often a second line */
}

/* The chain link of an entry, read without its bucket's lock, used only as a
 * prefetch address: a racing change makes it a useless prefetch, never a
 * wrong walk (the walk itself reads links under the lock). An aligned 32-bit
 * load is not torn; the range check keeps the address inside the table. */
__attribute__((no_sanitize("thread"))) static void prefetch_second(const struct ew_ct *ct,
                                                                   uint32_t head) {
    uint32_t next = *(const volatile uint32_t *)&ct->entries[head].next;
    if (next < ct->capacity) prefetch_entry_lines(ct, next);
}

void ew_ct_sweep(struct ew_ct *ct, uint64_t now_ms, uint32_t budget) {
    uint64_t start = atomic_fetch_add_explicit(&ct->sweep_pos, budget, memory_order_relaxed);
    uint64_t n = budget;
    if (n > (uint64_t)ct->bucket_mask + 1) n = (uint64_t)ct->bucket_mask + 1;
    struct ew_ct_cache cache = {.n = 0};
    /* A ring of the non-empty buckets ahead: each one's first entry is
     * prefetched when it joins, its second halfway through (by then the
     * first is in cache), and it is walked when it leaves. At large tables
     * every entry is a cache miss at a random address; this way the misses
     * overlap instead of stalling one after another. */
    uint32_t ring_b[SWEEP_AHEAD], ring_head[SWEEP_AHEAD], held = 0, oldest = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t b = (uint32_t)((start + i) & ct->bucket_mask);
        /* Most buckets are empty (the array is sized for the table's capacity):
         * a plain peek at the atomically stored head skips them without the
         * locked RMW that would also dirty their line. An entry linked just
         * after the peek is new, so nothing in that bucket could expire. The
         * peeked head is only a prefetch hint; the walk re-reads it locked. */
        uint32_t head = ew_ct_head(ct, b);
        if (head == EW_CT_NIL) continue;
        prefetch_entry_lines(ct, head);
        if (held < SWEEP_AHEAD) {
            ring_b[held] = b;
            ring_head[held++] = head;
            continue;
        }
        prefetch_second(ct, ring_head[(oldest + SWEEP_AHEAD / 2) % SWEEP_AHEAD]);
        sweep_bucket(ct, ring_b[oldest], now_ms, &cache);
        ring_b[oldest] = b;
        ring_head[oldest] = head;
        oldest = (oldest + 1) % SWEEP_AHEAD;
    }
    for (uint32_t k = 0; k < held; k++)
        sweep_bucket(ct, ring_b[(oldest + k) % SWEEP_AHEAD], now_ms, &cache);
    ew_ct_cache_flush(ct, &cache);
}

static enum ew_ct_walk flush_judge(const struct ct_entry *e, void *arg) {
    return e->key.zone == *(const uint32_t *)arg ? EW_CT_UNLINK : EW_CT_KEEP;
}

void ew_ct_flush_zone(struct ew_ct *ct, uint32_t zone) {
    struct ew_ct_cache cache = {.n = 0};
    for (uint32_t b = 0; b <= ct->bucket_mask; b++) {
        /* Unlocked peek (heads are stored atomically): an entry linked after
         * it is missed, which is fine for a port that no longer reads. */
        if (ew_ct_head(ct, b) == EW_CT_NIL) continue;
        ew_ct_lock_bucket(ct, (uint32_t)b);
        ew_ct_walk(ct, b, flush_judge, &zone, &cache);
        ew_ct_unlock_bucket(ct, (uint32_t)b);
    }
    ew_ct_cache_flush(ct, &cache);
}

uint32_t ew_ct_zone_count(const struct ew_ct *ct, uint32_t zone) {
    if (zone >= EW_MAX_PORTS) return 0;
    return atomic_load_explicit(&ct->zones[zone].count, memory_order_relaxed);
}

uint64_t ew_ct_zone_exceeded(const struct ew_ct *ct, uint32_t zone) {
    if (zone >= EW_MAX_PORTS) return 0;
    return atomic_load_explicit(&ct->zones[zone].exceeded, memory_order_relaxed);
}

static void dump_one(const struct ct_entry *e, struct ew_ct_dump_entry *o, uint64_t now_ms) {
    memset(o, 0, sizeof *o);
    o->zone = e->key.zone;
    o->family = e->key.family;
    o->proto = e->key.proto;
    o->state = e->state;
    memcpy(o->src, e->key.src, 16);
    memcpy(o->dst, e->key.dst, 16);
    o->sport = e->key.sport;
    o->dport = e->key.dport;
    uint64_t idle = now_ms > e->last_ms ? now_ms - e->last_ms : 0;
    o->idle_ms = idle > UINT32_MAX ? UINT32_MAX : (uint32_t)idle;
    o->timeout_ms = e->timeout_ms;
    o->packets_orig = e->packets[EW_CT_DIR_ORIG];
    o->packets_reply = e->packets[EW_CT_DIR_REPLY];
    o->bytes_orig = e->bytes[EW_CT_DIR_ORIG];
    o->bytes_reply = e->bytes[EW_CT_DIR_REPLY];
}

/* Cursor: bucket index << 32 | position in that bucket's chain. Exact when the
 * table is quiet; under concurrent changes an entry may be missed or repeated. */
uint32_t ew_ct_dump(struct ew_ct *ct, uint64_t *cursor, struct ew_ct_dump_entry *out, uint32_t max,
                    uint64_t now_ms) {
    uint64_t b = *cursor >> 32;
    uint32_t pos = (uint32_t)*cursor;
    uint32_t n = 0;
    if (max == 0) return 0;
    for (; b <= ct->bucket_mask; b++, pos = 0) {
        ew_ct_lock_bucket(ct, (uint32_t)b);
        uint32_t i = 0;
        for (uint32_t idx = ew_ct_head(ct, (uint32_t)b); idx != EW_CT_NIL;
             idx = ct->entries[idx].next, i++) {
            if (i < pos) continue;
            if (n == max) {
                ew_ct_unlock_bucket(ct, (uint32_t)b);
                *cursor = b << 32 | i;
                return n;
            }
            const struct ct_entry *e = &ct->entries[idx];
            if (!ew_ct_expired(e, now_ms)) dump_one(e, &out[n++], now_ms);
        }
        ew_ct_unlock_bucket(ct, (uint32_t)b);
    }
    *cursor = 0;
    return n;
}

/* ---- flow samples ---- */

static void flow_sample(const struct ct_entry *e, const struct ct_flow *f, unsigned d,
                        int64_t wall_offset_ms, struct ew_flow_sample *o) {
    const struct ew_ct_key *k = &e->key;
    bool orig = d == f->orig_dir;
    memset(o, 0, sizeof *o);
    memcpy(o->src, orig ? k->src : k->dst, 16);
    memcpy(o->dst, orig ? k->dst : k->src, 16);
    if (k->proto == EW_PROTO_TCP || k->proto == EW_PROTO_UDP) {
        o->sport = orig ? k->sport : k->dport;
        o->dport = orig ? k->dport : k->sport;
    }
    o->packets = f->packets[d];
    o->bytes = f->bytes[d];
    o->first_ms = (uint64_t)((int64_t)f->first_ms[d] + wall_offset_ms);
    o->last_ms = (uint64_t)((int64_t)f->last_ms[d] + wall_offset_ms);
    o->port = k->zone;
    o->dir = (uint8_t)d;
    o->action = EW_FLOW_ACCEPT;
    o->family = k->family;
    o->proto = k->proto;
    o->tcp_flags = f->flags[d];
}

uint32_t ew_ct_flow_drain(struct ew_ct *ct, struct ew_flow_sample *out, uint32_t max,
                          int64_t wall_offset_ms, uint64_t *lost) {
    if (lost)
        for (uint32_t z = 0; z < EW_MAX_PORTS; z++)
            if (atomic_load_explicit(&ct->zones[z].flow_lost, memory_order_relaxed))
                lost[z] +=
                    atomic_exchange_explicit(&ct->zones[z].flow_lost, 0, memory_order_relaxed);
    /* Nothing was ever sampled: no walk (flow logs cost nothing when off). */
    if (!atomic_load_explicit(&ct->flows_used, memory_order_relaxed)) return 0;
    uint32_t n = 0;
    /* Resume where the previous drain stopped: a full buffer never starves
     * the entries of later buckets. */
    uint32_t start = ct->flow_cursor & ct->bucket_mask;
    for (uint32_t i = 0; i <= ct->bucket_mask; i++) {
        uint32_t b = (start + i) & ct->bucket_mask;
        if (ew_ct_head(ct, b) == EW_CT_NIL) continue;
        ew_ct_lock_bucket(ct, (uint32_t)b);
        for (uint32_t idx = ew_ct_head(ct, b); idx != EW_CT_NIL; idx = ct->entries[idx].next) {
            struct ct_flow *f = &ct->flows[idx];
            if ((f->packets[0] | f->packets[1]) == 0) continue;
            unsigned need = (f->packets[0] ? 1u : 0u) + (f->packets[1] ? 1u : 0u);
            if (max - n < need) { /* full: the rest waits for the next drain */
                ew_ct_unlock_bucket(ct, (uint32_t)b);
                ct->flow_cursor = b;
                return n;
            }
            for (unsigned d = 0; d < 2; d++) {
                if (!f->packets[d]) continue;
                flow_sample(&ct->entries[idx], f, d, wall_offset_ms, &out[n++]);
                f->packets[d] = 0;
                f->bytes[d] = 0;
                f->flags[d] = 0;
            }
        }
        ew_ct_unlock_bucket(ct, (uint32_t)b);
    }
    return n;
}
