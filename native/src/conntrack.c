/* Connection tracking, the per-packet half: hash, state machine, lookup,
 * insert and update (see conntrack.h for the design and lock order; the admin
 * half is conntrack_admin.c). */
#include <stdlib.h>
#include <string.h>

#include "conntrack_internal.h"
#include "parse.h"

/* ---- hashing and matching ---- */

static inline uint64_t mix64(uint64_t h, uint64_t v) {
    h ^= v;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* murmur3's 64-bit finaliser: every input bit reaches every output bit, so
 * keys that differ only in their ports (or only in high bits) still spread
 * over the low bits that pick the bucket. */
static inline uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* memcmp(a, b, 16)'s sign, inline: big-endian words compare as the bytes do. */
static inline int cmp_addr(const uint8_t *a, const uint8_t *b) {
    uint64_t a0 = __builtin_bswap64(load64(a)), b0 = __builtin_bswap64(load64(b));
    if (a0 != b0) return a0 < b0 ? -1 : 1;
    uint64_t a1 = __builtin_bswap64(load64(a + 8)), b1 = __builtin_bswap64(load64(b + 8));
    return (a1 > b1) - (a1 < b1);
}

/* A key's hash in two steps: the flow (everything but the zone), then the
 * zone. A forwarded packet is looked up in two zones (sender's and
 * receiver's) with the same flow, so the burst path hashes the flow once. */
static inline __attribute__((always_inline)) uint64_t hash_flow(const struct ew_ct *ct,
                                                                const struct ew_ct_key *k) {
    /* Canonical order: the lower (address, port) endpoint first. */
    int c = cmp_addr(k->src, k->dst);
    bool swap = c > 0 || (c == 0 && k->sport > k->dport);
    const uint8_t *a = swap ? k->dst : k->src, *b = swap ? k->src : k->dst;
    uint16_t pa = swap ? k->dport : k->sport, pb = swap ? k->sport : k->dport;
    uint64_t h = ct->salt;
    h = mix64(h, load64(a));
    h = mix64(h, load64(a + 8));
    h = mix64(h, load64(b));
    h = mix64(h, load64(b + 8));
    return mix64(h, (uint64_t)pa << 48 | (uint64_t)pb << 32 | (uint64_t)k->family << 8 | k->proto);
}

static inline __attribute__((always_inline)) uint32_t hash_zone(uint64_t flow, uint16_t zone) {
    uint64_t h = fmix64(mix64(flow, zone));
    return (uint32_t)(h ^ (h >> 32));
}

static inline __attribute__((always_inline)) uint32_t hash_key(const struct ew_ct *ct,
                                                               const struct ew_ct_key *k) {
    return hash_zone(hash_flow(ct, k), k->zone);
}

uint32_t ew_ct_hash(const struct ew_ct *ct, const struct ew_ct_key *k) {
    return hash_key(ct, k);
}

/* EW_CT_DIR_ORIG / EW_CT_DIR_REPLY when e serves k, else -1. */
static inline int match_dir(const struct ct_entry *e, const struct ew_ct_key *k) {
    const struct ew_ct_key *s = &e->key;
    if (s->zone != k->zone || s->proto != k->proto || s->family != k->family) return -1;
    if (s->sport == k->sport && s->dport == k->dport && memcmp(s->src, k->src, 16) == 0 &&
        memcmp(s->dst, k->dst, 16) == 0)
        return EW_CT_DIR_ORIG;
    if (s->sport == k->dport && s->dport == k->sport && memcmp(s->src, k->dst, 16) == 0 &&
        memcmp(s->dst, k->src, 16) == 0)
        return EW_CT_DIR_REPLY;
    return -1;
}

/* ---- state machine ---- */

static uint32_t state_timeout_s(uint8_t state, const struct ew_ct_timeouts *t) {
    switch (state) {
    case EW_CT_TCP_SYN_SENT:
        return EW_CT_TIMEOUT_SYN_SENT;
    case EW_CT_TCP_SYN_RECV:
        return EW_CT_TIMEOUT_SYN_RECV;
    case EW_CT_TCP_ESTABLISHED:
        return t->tcp_established;
    case EW_CT_TCP_FIN_WAIT:
        return EW_CT_TIMEOUT_FIN_WAIT;
    case EW_CT_TCP_CLOSE_WAIT:
        return EW_CT_TIMEOUT_CLOSE_WAIT;
    case EW_CT_TCP_LAST_ACK:
        return EW_CT_TIMEOUT_LAST_ACK;
    case EW_CT_TCP_TIME_WAIT:
        return EW_CT_TIMEOUT_TIME_WAIT;
    case EW_CT_TCP_CLOSE:
        return EW_CT_TIMEOUT_CLOSE;
    case EW_CT_UDP_SINGLE:
        return t->udp;
    case EW_CT_UDP_STREAM:
        return t->udp_stream;
    case EW_CT_ICMP_ECHO:
        return EW_CT_TIMEOUT_ICMP;
    default:
        return EW_CT_TIMEOUT_OTHER;
    }
}

static bool is_syn_only(uint8_t flags) {
    return (flags & (EW_TCP_SYN | EW_TCP_ACK | EW_TCP_RST | EW_TCP_FIN)) == EW_TCP_SYN;
}

/* A closed TCP connection whose key a new SYN may take over. */
static bool reusable(const struct ct_entry *e) {
    return e->state == EW_CT_TCP_CLOSE || e->state == EW_CT_TCP_TIME_WAIT;
}

static void tcp_advance(struct ct_entry *e, unsigned dir, uint8_t f) {
    bool syn = f & EW_TCP_SYN, ack = f & EW_TCP_ACK, fin = f & EW_TCP_FIN;
    if (f & EW_TCP_RST) {
        e->state = EW_CT_TCP_CLOSE;
        return;
    }
    switch (e->state) {
    case EW_CT_TCP_SYN_SENT:
        if (dir == EW_CT_DIR_REPLY && syn)
            e->state = EW_CT_TCP_SYN_RECV; /* SYN-ACK (or simultaneous open) */
        break;
    case EW_CT_TCP_SYN_RECV:
        if (fin) {
            e->state = EW_CT_TCP_FIN_WAIT;
            e->fin_dir = (uint8_t)dir;
        } else if (dir == EW_CT_DIR_ORIG && ack && !syn) {
            e->state = EW_CT_TCP_ESTABLISHED;
        }
        break;
    case EW_CT_TCP_ESTABLISHED:
        if (fin) {
            e->state = EW_CT_TCP_FIN_WAIT;
            e->fin_dir = (uint8_t)dir;
        }
        break;
    case EW_CT_TCP_FIN_WAIT:
        if (dir != e->fin_dir) {
            if (fin)
                e->state = EW_CT_TCP_LAST_ACK;
            else if (ack)
                e->state = EW_CT_TCP_CLOSE_WAIT;
        }
        break;
    case EW_CT_TCP_CLOSE_WAIT:
        if (dir != e->fin_dir && fin) e->state = EW_CT_TCP_LAST_ACK;
        break;
    case EW_CT_TCP_LAST_ACK:
        if (dir == e->fin_dir && ack) e->state = EW_CT_TCP_TIME_WAIT;
        break;
    default:
        break;
    }
}

static void udp_advance(struct ct_entry *e, unsigned dir) {
    if (dir == EW_CT_DIR_REPLY && e->last_dir == EW_CT_DIR_ORIG && e->exchanges < 255)
        e->exchanges++;
    e->last_dir = (uint8_t)dir;
    e->state = e->exchanges >= 2 ? EW_CT_UDP_STREAM : EW_CT_UDP_SINGLE;
}

static void account(struct ct_entry *e, unsigned dir, uint32_t bytes,
                    const struct ew_ct_timeouts *tmo, uint64_t now_ms) {
    e->packets[dir]++;
    e->bytes[dir] += bytes;
    e->last_ms = now_ms;
    e->timeout_ms = state_timeout_s(e->state, tmo) * 1000u;
}

/* The flow-sample half of account() (caller holds the bucket lock). */
static inline void account_flow(struct ew_ct *ct, uint32_t idx, uint8_t fl_dir, uint8_t tcp_flags,
                                uint32_t bytes, uint64_t now_ms) {
    struct ct_flow *f = &ct->flows[idx];
    unsigned d = fl_dir & 1u;
    if (f->packets[d] == 0) f->first_ms[d] = now_ms;
    f->packets[d]++;
    f->bytes[d] += bytes;
    f->last_ms[d] = now_ms;
    f->flags[d] |= (uint8_t)(tcp_flags & 0x3fu); /* FIN..URG, as flow logs know them */
    if (!atomic_load_explicit(&ct->flows_used, memory_order_relaxed))
        atomic_store_explicit(&ct->flows_used, 1u, memory_order_relaxed);
}

/* Writes the whole entry from a local copy: a new entry's lines are only
 * written, never read first (next: its chain link, kept by the caller). */
static inline void init_entry(struct ct_entry *e, uint32_t next, const struct ew_ct_key *k,
                              uint32_t hash, uint32_t bytes, const struct ew_ct_timeouts *tmo,
                              uint64_t now_ms) {
    struct ct_entry n;
    memset(&n, 0, sizeof n);
    n.next = next;
    n.key = *k;
    n.hash = hash;
    n.last_dir = EW_CT_DIR_ORIG;
    bool icmp = k->proto == (k->family == 4 ? EW_PROTO_ICMP : EW_PROTO_ICMPV6);
    if (k->proto == EW_PROTO_TCP)
        n.state = EW_CT_TCP_SYN_SENT;
    else if (k->proto == EW_PROTO_UDP)
        n.state = EW_CT_UDP_SINGLE;
    else
        n.state = icmp ? EW_CT_ICMP_ECHO : EW_CT_OTHER; /* ICMP entries are echo only */
    account(&n, EW_CT_DIR_ORIG, bytes, tmo, now_ms);
    *e = n;
}

/* ---- chain maintenance (caller holds the bucket's bucket lock) ---- */

/* ---- the shared pool of free entries and the worker caches ---- */

void ew_ct_pool_push(struct ew_ct *ct, uint32_t first, uint32_t n) {
    struct ct_entry *h = &ct->entries[first];
    h->chain_len = n;
    ew_spin_lock(&ct->free_lock);
    h->chain_next = ct->free_head;
    ct->free_head = first;
    ew_spin_unlock(&ct->free_lock);
}

void ew_ct_cache_give(struct ew_ct *ct, struct ew_ct_cache *c, uint32_t count) {
    if (count > c->n) count = c->n;
    if (count == 0) return;
    /* The oldest entries (the bottom of the stack) go: the newest stay warm. */
    for (uint32_t i = 0; i + 1 < count; i++)
        ct->entries[c->idx[i]].next = c->idx[i + 1];
    ct->entries[c->idx[count - 1]].next = EW_CT_NIL;
    ew_ct_pool_push(ct, c->idx[0], count);
    c->n -= count;
    memmove(c->idx, c->idx + count, c->n * sizeof c->idx[0]);
}

/* One entry from the pool (no cache): the top chain's first. */
static uint32_t pool_take_one(struct ew_ct *ct) {
    uint32_t idx = EW_CT_NIL;
    ew_spin_lock(&ct->free_lock);
    if (ct->free_head != EW_CT_NIL) {
        idx = ct->free_head;
        struct ct_entry *h = &ct->entries[idx];
        if (h->chain_len > 1) { /* the rest of the chain stays, headed by the second */
            struct ct_entry *s = &ct->entries[h->next];
            s->chain_len = h->chain_len - 1;
            s->chain_next = h->chain_next;
            ct->free_head = h->next;
        } else {
            ct->free_head = h->chain_next;
        }
    } else if (ct->fresh < ct->capacity) {
        idx = ct->fresh++;
    }
    ew_spin_unlock(&ct->free_lock);
    return idx;
}

/* Refills an empty cache: the pool's top chain, else up to cache_batch
 * never-used entries. false when the pool is empty (the table is full, but
 * for the entries other workers' caches hold: see ew_ct_cache_create). */
static bool cache_refill(struct ew_ct *ct, struct ew_ct_cache *c) {
    uint32_t first = EW_CT_NIL, n = 0;
    ew_spin_lock(&ct->free_lock);
    if (ct->free_head != EW_CT_NIL) {
        first = ct->free_head;
        n = ct->entries[first].chain_len;
        ct->free_head = ct->entries[first].chain_next;
    } else if (ct->fresh < ct->capacity) {
        n = ct->capacity - ct->fresh < ct->cache_batch ? ct->capacity - ct->fresh : ct->cache_batch;
        first = ct->fresh;
        ct->fresh += n;
        ew_spin_unlock(&ct->free_lock);
        for (uint32_t i = 0; i < n; i++) /* in order: the first used comes last */
            c->idx[i] = first + n - 1 - i;
        c->n = n;
        return true;
    }
    ew_spin_unlock(&ct->free_lock);
    if (first == EW_CT_NIL) return false;
    /* The chain is ours now: walk it outside the lock (chains hold at most
     * 2 * cache_batch entries, the cache's size). */
    uint32_t idx = first;
    for (uint32_t i = 0; i < n; i++) {
        c->idx[n - 1 - i] = idx;
        idx = ct->entries[idx].next;
    }
    c->n = n;
    return true;
}

/* Caller holds a bucket lock (lock order: bucket -> pool). */
static inline uint32_t alloc_entry(struct ew_ct *ct, struct ew_ct_cache *c) {
    if (!c) return pool_take_one(ct);
    if (c->n == 0 && !cache_refill(ct, c)) return EW_CT_NIL;
    return c->idx[--c->n];
}

struct ew_ct_cache *ew_ct_cache_create(void) {
    return calloc(1, sizeof(struct ew_ct_cache));
}

void ew_ct_cache_flush(struct ew_ct *ct, struct ew_ct_cache *c) {
    if (c) ew_ct_cache_give(ct, c, c->n);
}

void ew_ct_cache_destroy(struct ew_ct *ct, struct ew_ct_cache *c) {
    if (!c) return;
    if (ct) ew_ct_cache_flush(ct, c);
    free(c);
}

uint32_t ew_ct_cache_count(const struct ew_ct_cache *c) {
    return c ? c->n : 0;
}

struct find_arg {
    const struct ew_ct_key *k;
    uint64_t now_ms;
    int dir;
};

static inline enum ew_ct_walk find_judge(const struct ct_entry *e, void *arg) {
    struct find_arg *f = arg;
    if (ew_ct_expired(e, f->now_ms)) return EW_CT_UNLINK;
    f->dir = match_dir(e, f->k);
    return f->dir >= 0 ? EW_CT_STOP : EW_CT_KEEP;
}

/* Finds the live entry for k in bucket b, unlinking expired entries met on the way. */
static inline uint32_t find_locked(struct ew_ct *ct, uint32_t b, const struct ew_ct_key *k,
                                   uint64_t now_ms, int *dir, struct ew_ct_cache *cache) {
    struct find_arg f = {.k = k, .now_ms = now_ms, .dir = -1};
    uint32_t idx = ew_ct_walk(ct, b, find_judge, &f, cache);
    *dir = f.dir;
    return idx;
}

/* ---- per packet ---- */

uint32_t ew_ct_prefetch_bucket(const struct ew_ct *ct, const struct ew_ct_key *k) {
    uint32_t hash = hash_key(ct, k);
    uint32_t b = hash & ct->bucket_mask;
    __builtin_prefetch(&ct->buckets[b], 1, 3); /* head and lock: one word */
    return hash;
}

void ew_ct_prefetch_buckets2(const struct ew_ct *ct, const struct ew_ct_key *k, uint16_t zone_b,
                             uint32_t hash[2]) {
    uint64_t flow = hash_flow(ct, k);
    hash[0] = hash_zone(flow, k->zone);
    hash[1] = hash_zone(flow, zone_b);
    __builtin_prefetch(&ct->buckets[hash[0] & ct->bucket_mask], 1, 3);
    __builtin_prefetch(&ct->buckets[hash[1] & ct->bucket_mask], 1, 3);
}

bool ew_ct_prefetch_entry(const struct ew_ct *ct, uint32_t hash) {
    uint32_t idx = ew_ct_head(ct, hash & ct->bucket_mask);
    if (idx == EW_CT_NIL) return true;
    /* 96-byte entries: the key and state may straddle two lines. */
    const char *e = (const char *)&ct->entries[idx];
    __builtin_prefetch(e, 1, 3);
    __builtin_prefetch(e + sizeof(struct ct_entry) - 1, 1, 3);
    return false;
}

void ew_ct_prefetch_new(const struct ew_ct *ct, const struct ew_ct_cache *c, uint32_t count) {
    if (!c) return;
    for (uint32_t i = 0; i < count && i < c->n; i++) {
        const char *e = (const char *)&ct->entries[c->idx[c->n - 1 - i]];
        __builtin_prefetch(e, 1, 3);
        __builtin_prefetch(e + sizeof(struct ct_entry) - 1, 1, 3);
    }
}

/* The lookup half (caller holds bucket b's bucket lock). On a miss, *reuse is
 * the closed TCP entry a new SYN may take over (same key), else EW_CT_NIL. */
static inline __attribute__((always_inline)) enum ew_ct_track_result
track_locked(struct ew_ct *ct, uint32_t b, const struct ew_ct_key *k, uint8_t tcp_flags,
             uint32_t bytes, const struct ew_ct_timeouts *tmo, uint64_t now_ms, uint8_t fl_dir,
             uint32_t *reuse, struct ew_ct_cache *cache) {
    int dir = 0;
    *reuse = EW_CT_NIL;
    uint32_t idx = find_locked(ct, b, k, now_ms, &dir, cache);
    if (idx == EW_CT_NIL) return EW_CT_MISS;
    struct ct_entry *e = &ct->entries[idx];
    unsigned d = (unsigned)dir;
    if (k->proto == EW_PROTO_TCP) {
        /* After RST only a new SYN (judged by the rules) may use the key again;
         * a SYN on a TIME_WAIT connection is a new connection too. */
        if (reusable(e) && (e->state == EW_CT_TCP_CLOSE || is_syn_only(tcp_flags))) {
            *reuse = idx;
            return EW_CT_MISS;
        }
        tcp_advance(e, d, tcp_flags);
    } else if (k->proto == EW_PROTO_UDP) {
        udp_advance(e, d);
    }
    account(e, d, bytes, tmo, now_ms);
    if (fl_dir != EW_CT_FL_OFF) account_flow(ct, idx, fl_dir, tcp_flags, bytes, now_ms);
    return EW_CT_HIT;
}

/* The insert half (caller holds the bucket lock of hash's bucket, and has
 * walked that bucket under it: no live entry for k but `reuse`). */
static inline enum ew_ct_insert_result
insert_locked(struct ew_ct *ct, uint32_t hash, uint32_t reuse, const struct ew_ct_key *k,
              uint8_t tcp_flags, uint32_t bytes, const struct ew_ct_timeouts *tmo, uint64_t now_ms,
              uint8_t fl_dir, struct ew_ct_cache *cache) {
    /* tcp_flags: callers only insert what may open a connection; used for samples */
    uint32_t b = hash & ct->bucket_mask;
    struct ct_zone *zone = &ct->zones[k->zone % EW_MAX_PORTS];
    if (reuse != EW_CT_NIL) {
        struct ct_entry *e = &ct->entries[reuse]; /* same zone: count unchanged */
        init_entry(e, e->next, k, hash, bytes, tmo, now_ms);
        /* Same 5-tuple and zone: undrained deltas stay (keyed by ENI direction). */
        if (fl_dir != EW_CT_FL_OFF) {
            ct->flows[reuse].orig_dir = fl_dir;
            account_flow(ct, reuse, fl_dir, tcp_flags, bytes, now_ms);
        }
        return EW_CT_INSERTED;
    }
    /* Exact: one atomic on the zone's own line (see struct ct_zone). */
    uint32_t held = atomic_fetch_add_explicit(&zone->count, 1, memory_order_relaxed);
    if (held >= ct->allowance) {
        atomic_fetch_sub_explicit(&zone->count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&zone->exceeded, 1, memory_order_relaxed);
        return EW_CT_ALLOWANCE;
    }
    uint32_t idx = alloc_entry(ct, cache);
    if (idx == EW_CT_NIL) {
        atomic_fetch_sub_explicit(&zone->count, 1, memory_order_relaxed);
        return EW_CT_FULL;
    }
    init_entry(&ct->entries[idx], ew_ct_head(ct, b), k, hash, bytes, tmo, now_ms);
    if (fl_dir != EW_CT_FL_OFF) {
        ct->flows[idx].orig_dir = fl_dir;
        account_flow(ct, idx, fl_dir, tcp_flags, bytes, now_ms);
    }
    ew_ct_set_head(ct, b, idx);
    return EW_CT_INSERTED;
}

enum ew_ct_track_result ew_ct_track_fl(struct ew_ct *ct, const struct ew_ct_key *k,
                                       uint8_t tcp_flags, uint32_t bytes,
                                       const struct ew_ct_timeouts *tmo, uint64_t now_ms,
                                       uint8_t fl_dir) {
    uint32_t b = hash_key(ct, k) & ct->bucket_mask;
    uint32_t reuse;
    ew_ct_lock_bucket(ct, b);
    enum ew_ct_track_result r =
        track_locked(ct, b, k, tcp_flags, bytes, tmo, now_ms, fl_dir, &reuse, NULL);
    ew_ct_unlock_bucket(ct, b);
    return r;
}

enum ew_ct_insert_result ew_ct_insert_fl(struct ew_ct *ct, const struct ew_ct_key *k,
                                         uint8_t tcp_flags, uint32_t bytes,
                                         const struct ew_ct_timeouts *tmo, uint64_t now_ms,
                                         uint8_t fl_dir) {
    uint32_t hash = hash_key(ct, k);
    uint32_t b = hash & ct->bucket_mask;
    int dir = 0;
    ew_ct_lock_bucket(ct, b);
    uint32_t idx = find_locked(ct, b, k, now_ms, &dir, NULL);
    enum ew_ct_insert_result r;
    if (idx != EW_CT_NIL && !(k->proto == EW_PROTO_TCP && reusable(&ct->entries[idx])))
        r = EW_CT_EXISTS; /* another worker inserted it first */
    else
        r = insert_locked(ct, hash, idx, k, tcp_flags, bytes, tmo, now_ms, fl_dir, NULL);
    ew_ct_unlock_bucket(ct, b);
    return r;
}

/* ---- find-or-insert in one locked pass ---- */

enum ew_ct_track_result ew_ct_track_hold(struct ew_ct *ct, const struct ew_ct_key *k, uint32_t hash,
                                         uint8_t tcp_flags, uint32_t bytes,
                                         const struct ew_ct_timeouts *tmo, uint64_t now_ms,
                                         uint8_t fl_dir, struct ew_ct_cache *cache,
                                         struct ew_ct_hold *h) {
    uint32_t b = hash & ct->bucket_mask;
    ew_ct_lock_bucket(ct, b);
    enum ew_ct_track_result r =
        track_locked(ct, b, k, tcp_flags, bytes, tmo, now_ms, fl_dir, &h->reuse, cache);
    if (r == EW_CT_HIT) {
        ew_ct_unlock_bucket(ct, b);
    } else {
        h->hash = hash;
        h->now_ms = now_ms;
    }
    return r;
}

enum ew_ct_insert_result ew_ct_insert_held(struct ew_ct *ct, const struct ew_ct_key *k,
                                           const struct ew_ct_hold *h, uint8_t tcp_flags,
                                           uint32_t bytes, const struct ew_ct_timeouts *tmo,
                                           uint8_t fl_dir, struct ew_ct_cache *cache) {
    enum ew_ct_insert_result r =
        insert_locked(ct, h->hash, h->reuse, k, tcp_flags, bytes, tmo, h->now_ms, fl_dir, cache);
    ew_ct_unlock_bucket(ct, h->hash & ct->bucket_mask);
    return r;
}

void ew_ct_release(struct ew_ct *ct, const struct ew_ct_hold *h) {
    ew_ct_unlock_bucket(ct, h->hash & ct->bucket_mask);
}

bool ew_ct_exists(struct ew_ct *ct, const struct ew_ct_key *k, uint64_t now_ms) {
    uint32_t b = hash_key(ct, k) & ct->bucket_mask;
    int dir = 0;
    ew_ct_lock_bucket(ct, b);
    uint32_t idx = find_locked(ct, b, k, now_ms, &dir, NULL);
    bool live = idx != EW_CT_NIL && ct->entries[idx].state != EW_CT_TCP_CLOSE;
    ew_ct_unlock_bucket(ct, b);
    return live;
}

enum ew_ct_track_result ew_ct_peek(struct ew_ct *ct, const struct ew_ct_key *k, uint8_t tcp_flags,
                                   uint64_t now_ms, uint8_t *state, bool *reply) {
    uint32_t b = hash_key(ct, k) & ct->bucket_mask;
    enum ew_ct_track_result r = EW_CT_MISS;
    ew_ct_lock_bucket(ct, b);
    /* A plain walk: expired entries are skipped, not unlinked (that is a change). */
    for (uint32_t idx = ew_ct_head(ct, b); idx != EW_CT_NIL; idx = ct->entries[idx].next) {
        const struct ct_entry *e = &ct->entries[idx];
        int d = ew_ct_expired(e, now_ms) ? -1 : match_dir(e, k);
        if (d < 0) continue;
        /* The same rule as ew_ct_track: a closed connection only takes a new SYN. */
        if (k->proto == EW_PROTO_TCP && reusable(e) &&
            (e->state == EW_CT_TCP_CLOSE || is_syn_only(tcp_flags)))
            break;
        *state = e->state;
        *reply = d == (int)EW_CT_DIR_REPLY;
        r = EW_CT_HIT;
        break;
    }
    ew_ct_unlock_bucket(ct, b);
    return r;
}
