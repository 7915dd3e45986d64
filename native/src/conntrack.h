/*
 * Connection tracking: one preallocated table shared by all workers.
 *
 * What: per zone (= dataplane port id, i.e. per ENI, as each Nitro card
 * tracks its own connections), one entry per connection serving both
 * directions. The key holds the originator's orientation; a packet matches an
 * entry either as sent (ORIG) or reversed (REPLY). Ports are TCP/UDP ports,
 * the echo identifier for ICMP echo (in both port fields), zero otherwise.
 *
 * Design:
 *  - Entries live in one array sized at create time (capacity); a bucket array
 *    of u32 words (power of two >= capacity: head and lock) chains them
 *    through a per-entry next index. Never-used entries are handed out by a
 *    bump index, freed ones through a pool of chains (per-worker caches take
 *    and give them in batches), so create touches no entry memory.
 *  - The hash is salted and symmetric: both orientations of a flow are
 *    canonicalised (lower endpoint first) before hashing, so
 *    hash(a -> b) == hash(b -> a) and one probe finds the entry from either side.
 *  - Each zone may hold at most `allowance` entries; a refused insert counts in
 *    the zone's exceeded counter, so one flooding ENI cannot starve the others.
 *  - Idle timeouts are stored per entry when it is updated (from the zone's ENI
 *    record), so sweeps need no table. Expiry is done by ew_ct_sweep() in
 *    bounded steps, and lazily by lookups that meet an expired entry.
 *
 * Thread safety: each bucket has its own spinlock, a bit of its head word (one
 * word for both); the free list has its own lock, always taken after a
 * bucket lock (lock order: bucket -> free list). Zone counters are atomics,
 * one cache line per zone; per-worker entry caches batch the free list (below).
 * Memory: 96 B per entry + 4 B per bucket (1-2 buckets per entry): <= 104 B.
 */
#ifndef ENIWALL_CONNTRACK_H
#define ENIWALL_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eniwall/core.h"
#include "eniwall/flowlog.h"

/* enum ew_ct_state (the states an entry moves through) is in eniwall/core.h:
 * it is dumped to the control plane, so its numbering is a contract. */

/* Fixed (non-ENI) idle timeouts, seconds. TCP non-established states follow the
 * Linux nf_conntrack defaults; ICMP echo is unconfirmed for AWS: we chose 30 s. */
#define EW_CT_TIMEOUT_SYN_SENT   120u
#define EW_CT_TIMEOUT_SYN_RECV   60u
#define EW_CT_TIMEOUT_FIN_WAIT   120u
#define EW_CT_TIMEOUT_CLOSE_WAIT 60u
#define EW_CT_TIMEOUT_LAST_ACK   30u
#define EW_CT_TIMEOUT_TIME_WAIT  120u
#define EW_CT_TIMEOUT_CLOSE      10u
#define EW_CT_TIMEOUT_ICMP       30u
#define EW_CT_TIMEOUT_OTHER      600u

/* Padding-free: hashed and compared as raw bytes. */
struct ew_ct_key {
    uint8_t src[16]; /* originator; IPv4 in the first 4 bytes, rest zero */
    uint8_t dst[16];
    uint16_t sport; /* host order; ICMP echo: identifier */
    uint16_t dport;
    uint16_t zone;  /* port id */
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
};
_Static_assert(sizeof(struct ew_ct_key) == 40, "ew_ct_key must have no padding");

/* The zone ENI's configured timeouts, seconds. */
struct ew_ct_timeouts {
    uint32_t tcp_established;
    uint32_t udp;
    uint32_t udp_stream;
};

enum ew_ct_track_result {
    EW_CT_MISS = 0, /* no live entry (or a closed one a new SYN may replace) */
    EW_CT_HIT = 1   /* matched; state, counters and timer updated */
};

enum ew_ct_insert_result {
    EW_CT_INSERTED = 0,
    EW_CT_EXISTS,    /* another worker inserted it first: treat as tracked */
    EW_CT_ALLOWANCE, /* the zone's allowance is used up (counted) */
    EW_CT_FULL       /* no free entry in the table */
};

struct ew_ct;

struct ew_ct *ew_ct_create(uint32_t capacity, uint32_t allowance, uint64_t salt);
void ew_ct_destroy(struct ew_ct *ct);
/* The same with entries and buckets in a shared file mapping at `path` (e.g.
 * under /dev/shm) that outlives the process: a region left by an earlier
 * process of the same layout (magic, version, entry size, capacity) is
 * adopted after validation (header checksum; every chain walked, bounded:
 * indices < capacity, no entry twice, each in the bucket its hash names, a
 * known state; lock bits cleared; free pool and zone counts rebuilt), its
 * salt with it; anything else is discarded and started empty. *adopted: the
 * number of entries taken over, or -1 when a region was discarded (why in
 * warn). NULL when the file cannot be made. */
struct ew_ct *ew_ct_create_shared(uint32_t capacity, uint32_t allowance, uint64_t salt,
                                  const char *path, long *adopted, char *warn, size_t warnlen);
/* Bytes reserved for `capacity` entries: entries + bucket words (heads and locks). */
size_t ew_ct_memory_bytes(const struct ew_ct *ct);
uint32_t ew_ct_hash(const struct ew_ct *ct, const struct ew_ct_key *k);

/* Flow samples (flowlog.h): fl_dir is the zone ENI's direction of the packet
 * (enum ew_dir) when its ENI has a flow log, else EW_CT_FL_OFF; a tracked
 * packet is then counted in the entry's struct ct_flow. */
#define EW_CT_FL_OFF 0xffu

/* Per packet. tcp_flags is ignored for other protocols; bytes = IP length. */
enum ew_ct_track_result ew_ct_track_fl(struct ew_ct *ct, const struct ew_ct_key *k,
                                       uint8_t tcp_flags, uint32_t bytes,
                                       const struct ew_ct_timeouts *tmo, uint64_t now_ms,
                                       uint8_t fl_dir);
/* Opens a connection in the packet's orientation (after the rules allowed it). */
enum ew_ct_insert_result ew_ct_insert_fl(struct ew_ct *ct, const struct ew_ct_key *k,
                                         uint8_t tcp_flags, uint32_t bytes,
                                         const struct ew_ct_timeouts *tmo, uint64_t now_ms,
                                         uint8_t fl_dir);
static inline enum ew_ct_track_result ew_ct_track(struct ew_ct *ct, const struct ew_ct_key *k,
                                                  uint8_t tcp_flags, uint32_t bytes,
                                                  const struct ew_ct_timeouts *tmo,
                                                  uint64_t now_ms) {
    return ew_ct_track_fl(ct, k, tcp_flags, bytes, tmo, now_ms, EW_CT_FL_OFF);
}
static inline enum ew_ct_insert_result ew_ct_insert(struct ew_ct *ct, const struct ew_ct_key *k,
                                                    uint8_t tcp_flags, uint32_t bytes,
                                                    const struct ew_ct_timeouts *tmo,
                                                    uint64_t now_ms) {
    return ew_ct_insert_fl(ct, k, tcp_flags, bytes, tmo, now_ms, EW_CT_FL_OFF);
}
/* Find-or-insert in one locked pass (judge(), process.c): the bucket is walked
 * and the hash computed once per new connection. hash is ew_ct_hash(ct, k)
 * (ew_ct_prefetch_bucket's result will do). On a HIT the entry was updated as
 * by ew_ct_track_fl and no lock is held. On a MISS the bucket's lock
 * stays held in *h: the caller judges the packet (rule lookups only: no other
 * conntrack call, nothing that may block) and then must call exactly one of
 * ew_ct_insert_held (opens the connection as ew_ct_insert_fl would, never
 * EW_CT_EXISTS: nobody could insert meanwhile) or ew_ct_release. cache: the
 * worker's entry cache (below), or NULL for the shared pool alone. */
struct ew_ct_hold {
    uint32_t hash;
    uint32_t reuse; /* the closed TCP entry a new SYN takes over, else none */
    uint64_t now_ms;
};
enum ew_ct_track_result ew_ct_track_hold(struct ew_ct *ct, const struct ew_ct_key *k, uint32_t hash,
                                         uint8_t tcp_flags, uint32_t bytes,
                                         const struct ew_ct_timeouts *tmo, uint64_t now_ms,
                                         uint8_t fl_dir, struct ew_ct_cache *cache,
                                         struct ew_ct_hold *h);
enum ew_ct_insert_result ew_ct_insert_held(struct ew_ct *ct, const struct ew_ct_key *k,
                                           const struct ew_ct_hold *h, uint8_t tcp_flags,
                                           uint32_t bytes, const struct ew_ct_timeouts *tmo,
                                           uint8_t fl_dir, struct ew_ct_cache *cache);
void ew_ct_release(struct ew_ct *ct, const struct ew_ct_hold *h);
/* Per-worker entry caches: a worker's inserts take free entries from its own
 * cache and the entries its lookups expire go back to it; the shared pool
 * (one lock) is touched once per cache_batch entries (64 for tables of 64k
 * entries or more; capacity / 1024, at least 1, below), not per connection.
 * Bound: EW_CT_FULL may be answered while other workers' caches still hold
 * free entries, at most 2 * cache_batch per cache (128 of 1M per worker, and
 * never more than 1/512 of the table); allowances (zone counts) stay exact.
 * A worker flushes its cache when it stops (ew_ct_cache_destroy). */
struct ew_ct_cache;
struct ew_ct_cache *ew_ct_cache_create(void);                    /* NULL when out of memory */
void ew_ct_cache_flush(struct ew_ct *ct, struct ew_ct_cache *c); /* every entry back to the pool */
void ew_ct_cache_destroy(struct ew_ct *ct, struct ew_ct_cache *c); /* flush (ct != NULL), free */
uint32_t ew_ct_cache_count(const struct ew_ct_cache *c);           /* free entries it holds */
/* A live connection with this key exists (either orientation); nothing updated.
 * Used for ICMP errors (RELATED). */
bool ew_ct_exists(struct ew_ct *ct, const struct ew_ct_key *k, uint64_t now_ms);
/* Read-only twin of ew_ct_track for `check` (trace.c): would a packet with this
 * key and tcp_flags hit a live entry? Changes nothing (no state, counters,
 * timers, nor the unlinking of expired entries). On a hit, *state is the
 * entry's state and *reply whether the packet runs in the reply direction. */
enum ew_ct_track_result ew_ct_peek(struct ew_ct *ct, const struct ew_ct_key *k, uint8_t tcp_flags,
                                   uint64_t now_ms, uint8_t *state, bool *reply);

/* Housekeeping (see core.h). */
void ew_ct_sweep(struct ew_ct *ct, uint64_t now_ms, uint32_t budget);
void ew_ct_flush_zone(struct ew_ct *ct, uint32_t zone);
uint32_t ew_ct_zone_count(const struct ew_ct *ct, uint32_t zone);
uint32_t ew_ct_buckets(const struct ew_ct *ct);
uint64_t ew_ct_zone_exceeded(const struct ew_ct *ct, uint32_t zone);
uint32_t ew_ct_dump(struct ew_ct *ct, uint64_t *cursor, struct ew_ct_dump_entry *out, uint32_t max,
                    uint64_t now_ms);
/* Flow-sample drain: copy every entry's non-zero deltas (one sample per
 * direction, times moved to the Unix epoch by wall_offset_ms) into out and
 * reset them; stops at max, leaving the rest for the next drain. Adds to
 * lost[EW_MAX_PORTS] the samples of entries freed before a drain took them. */
uint32_t ew_ct_flow_drain(struct ew_ct *ct, struct ew_flow_sample *out, uint32_t max,
                          int64_t wall_offset_ms, uint64_t *lost);

/* ---- burst prefetch (ew_process_burst, process.c) ----
 * Two hints, no state change, no lock: step 1 hashes the key, prefetches its
 * bucket word (head and lock) and returns the hash; step 2 (once every frame
 * of the burst had step 1, so the heads are on their way) reads the head and
 * prefetches the first entry of the chain. The lookup proper then finds those
 * lines in cache. A racy head read is only a hint: the lookup takes the lock. */
uint32_t ew_ct_prefetch_bucket(const struct ew_ct *ct, const struct ew_ct_key *k);
/* Both zones of one flow: hash[0] for k (its zone), hash[1] for k with zone
 * zone_b, each = ew_ct_hash of that key; the flow part is hashed once. */
void ew_ct_prefetch_buckets2(const struct ew_ct *ct, const struct ew_ct_key *k, uint16_t zone_b,
                             uint32_t hash[2]);
bool ew_ct_prefetch_entry(const struct ew_ct *ct, uint32_t hash); /* true: bucket was empty */
/* Step 3 (burst path): an empty bucket means a new connection, whose entry
 * will be the cache's next: prefetch the next `count` of them for writing. */
struct ew_ct_cache;
void ew_ct_prefetch_new(const struct ew_ct *ct, const struct ew_ct_cache *c, uint32_t count);

#endif /* ENIWALL_CONNTRACK_H */
