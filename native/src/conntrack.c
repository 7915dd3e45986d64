/* Connection tracking (see conntrack.h for the design and lock order). */
#include "conntrack.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "spinlock.h"

#define NIL         0xffffffffu
#define MAX_STRIPES 65536u
#define DIR_ORIG    0u
#define DIR_REPLY   1u

struct ct_entry {
    struct ew_ct_key key; /* originator orientation */
    uint64_t last_ms;     /* time of the last packet */
    uint64_t packets[2];  /* [DIR_ORIG], [DIR_REPLY] */
    uint64_t bytes[2];
    uint32_t next;       /* bucket chain or free list; NIL ends */
    uint32_t timeout_ms; /* idle time allowed in the current state */
    uint32_t hash;
    uint8_t state;     /* enum ew_ct_state; EW_CT_NONE when free */
    uint8_t fin_dir;   /* TCP: direction of the first FIN */
    uint8_t last_dir;  /* UDP: direction of the previous packet */
    uint8_t exchanges; /* UDP: request-response exchanges seen (saturating) */
};
_Static_assert(sizeof(struct ct_entry) == 96, "ct_entry size (memory budget 128 B/entry)");

struct ew_ct {
    struct ct_entry *entries;
    uint32_t *buckets; /* heads */
    ew_spinlock *stripes;
    uint32_t capacity, bucket_mask, stripe_mask, allowance;
    uint64_t salt;
    ew_spinlock free_lock;
    uint32_t free_head;         /* under free_lock */
    uint32_t fresh;             /* next never-used entry, under free_lock */
    _Atomic uint64_t sweep_pos; /* next bucket to sweep */
    _Atomic uint32_t zone_count[EW_MAX_PORTS];
    _Atomic uint64_t zone_exceeded[EW_MAX_PORTS];
};

static uint32_t pow2_at_least(uint32_t n) {
    uint32_t p = 1;
    while (p < n && p < 0x80000000u)
        p <<= 1;
    return p;
}

struct ew_ct *ew_ct_create(uint32_t capacity, uint32_t allowance, uint64_t salt) {
    if (capacity == 0 || capacity >= NIL) return NULL;
    struct ew_ct *ct = calloc(1, sizeof *ct);
    if (!ct) return NULL;
    uint32_t nb = pow2_at_least(capacity);
    uint32_t ns = nb < MAX_STRIPES ? nb : MAX_STRIPES;
    /* calloc of large blocks maps zero pages lazily: untouched entries cost nothing. */
    ct->entries = calloc(capacity, sizeof *ct->entries);
    ct->buckets = malloc((size_t)nb * sizeof *ct->buckets);
    ct->stripes = calloc(ns, sizeof *ct->stripes);
    if (!ct->entries || !ct->buckets || !ct->stripes) {
        ew_ct_destroy(ct);
        return NULL;
    }
    memset(ct->buckets, 0xff, (size_t)nb * sizeof *ct->buckets); /* all NIL */
    for (uint32_t i = 0; i < ns; i++)
        atomic_flag_clear(&ct->stripes[i]);
    atomic_flag_clear(&ct->free_lock);
    ct->capacity = capacity;
    ct->bucket_mask = nb - 1;
    ct->stripe_mask = ns - 1;
    ct->allowance = allowance ? allowance : capacity;
    ct->salt = salt;
    ct->free_head = NIL;
    ct->fresh = 0;
    return ct;
}

void ew_ct_destroy(struct ew_ct *ct) {
    if (!ct) return;
    free(ct->entries);
    free(ct->buckets);
    free(ct->stripes);
    free(ct);
}

size_t ew_ct_memory_bytes(const struct ew_ct *ct) {
    return (size_t)ct->capacity * sizeof(struct ct_entry) +
           ((size_t)ct->bucket_mask + 1) * sizeof(uint32_t) +
           ((size_t)ct->stripe_mask + 1) * sizeof(ew_spinlock);
}

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

uint32_t ew_ct_hash(const struct ew_ct *ct, const struct ew_ct_key *k) {
    /* Canonical order: the lower (address, port) endpoint first. */
    int c = memcmp(k->src, k->dst, 16);
    bool swap = c > 0 || (c == 0 && k->sport > k->dport);
    const uint8_t *a = swap ? k->dst : k->src, *b = swap ? k->src : k->dst;
    uint16_t pa = swap ? k->dport : k->sport, pb = swap ? k->sport : k->dport;
    uint64_t h = ct->salt;
    h = mix64(h, load64(a));
    h = mix64(h, load64(a + 8));
    h = mix64(h, load64(b));
    h = mix64(h, load64(b + 8));
    h = mix64(h, (uint64_t)pa << 48 | (uint64_t)pb << 32 | (uint64_t)k->zone << 16 |
                     (uint64_t)k->family << 8 | k->proto);
    h = fmix64(h);
    return (uint32_t)(h ^ (h >> 32));
}

/* DIR_ORIG / DIR_REPLY when e serves k, else -1. */
static inline int match_dir(const struct ct_entry *e, const struct ew_ct_key *k) {
    const struct ew_ct_key *s = &e->key;
    if (s->zone != k->zone || s->proto != k->proto || s->family != k->family) return -1;
    if (s->sport == k->sport && s->dport == k->dport && memcmp(s->src, k->src, 16) == 0 &&
        memcmp(s->dst, k->dst, 16) == 0)
        return DIR_ORIG;
    if (s->sport == k->dport && s->dport == k->sport && memcmp(s->src, k->dst, 16) == 0 &&
        memcmp(s->dst, k->src, 16) == 0)
        return DIR_REPLY;
    return -1;
}

static inline bool expired(const struct ct_entry *e, uint64_t now_ms) {
    return now_ms > e->last_ms && now_ms - e->last_ms > e->timeout_ms;
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
        if (dir == DIR_REPLY && syn)
            e->state = EW_CT_TCP_SYN_RECV; /* SYN-ACK (or simultaneous open) */
        break;
    case EW_CT_TCP_SYN_RECV:
        if (fin) {
            e->state = EW_CT_TCP_FIN_WAIT;
            e->fin_dir = (uint8_t)dir;
        } else if (dir == DIR_ORIG && ack && !syn) {
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
    if (dir == DIR_REPLY && e->last_dir == DIR_ORIG && e->exchanges < 255) e->exchanges++;
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

static void init_entry(struct ct_entry *e, const struct ew_ct_key *k, uint32_t hash, uint32_t bytes,
                       const struct ew_ct_timeouts *tmo, uint64_t now_ms) {
    uint32_t next = e->next;
    memset(e, 0, sizeof *e);
    e->next = next;
    e->key = *k;
    e->hash = hash;
    e->last_dir = DIR_ORIG;
    bool icmp = k->proto == (k->family == 4 ? EW_PROTO_ICMP : EW_PROTO_ICMPV6);
    if (k->proto == EW_PROTO_TCP)
        e->state = EW_CT_TCP_SYN_SENT;
    else if (k->proto == EW_PROTO_UDP)
        e->state = EW_CT_UDP_SINGLE;
    else
        e->state = icmp ? EW_CT_ICMP_ECHO : EW_CT_OTHER; /* ICMP entries are echo only */
    account(e, DIR_ORIG, bytes, tmo, now_ms);
}

/* ---- chain maintenance (caller holds the bucket's stripe lock) ---- */

static inline ew_spinlock *stripe_of(struct ew_ct *ct, uint32_t bucket) {
    return &ct->stripes[bucket & ct->stripe_mask];
}

static void free_entry(struct ew_ct *ct, uint32_t idx) {
    struct ct_entry *e = &ct->entries[idx];
    atomic_fetch_sub_explicit(&ct->zone_count[e->key.zone % EW_MAX_PORTS], 1, memory_order_relaxed);
    e->state = EW_CT_NONE;
    ew_spin_lock(&ct->free_lock);
    e->next = ct->free_head;
    ct->free_head = idx;
    ew_spin_unlock(&ct->free_lock);
}

static uint32_t alloc_entry(struct ew_ct *ct) {
    uint32_t idx = NIL;
    ew_spin_lock(&ct->free_lock);
    if (ct->free_head != NIL) {
        idx = ct->free_head;
        ct->free_head = ct->entries[idx].next;
    } else if (ct->fresh < ct->capacity) {
        idx = ct->fresh++;
    }
    ew_spin_unlock(&ct->free_lock);
    return idx;
}

/* Finds the live entry for k in bucket b, unlinking expired entries met on the way. */
static uint32_t find_locked(struct ew_ct *ct, uint32_t b, const struct ew_ct_key *k,
                            uint64_t now_ms, int *dir) {
    uint32_t *link = &ct->buckets[b];
    while (*link != NIL) {
        uint32_t idx = *link;
        struct ct_entry *e = &ct->entries[idx];
        if (expired(e, now_ms)) {
            *link = e->next;
            free_entry(ct, idx);
            continue;
        }
        int d = match_dir(e, k);
        if (d >= 0) {
            *dir = d;
            return idx;
        }
        link = &e->next;
    }
    return NIL;
}

/* ---- per packet ---- */

enum ew_ct_track_result ew_ct_track(struct ew_ct *ct, const struct ew_ct_key *k, uint8_t tcp_flags,
                                    uint32_t bytes, const struct ew_ct_timeouts *tmo,
                                    uint64_t now_ms) {
    uint32_t b = ew_ct_hash(ct, k) & ct->bucket_mask;
    ew_spinlock *lock = stripe_of(ct, b);
    enum ew_ct_track_result r = EW_CT_MISS;
    int dir = 0;
    ew_spin_lock(lock);
    uint32_t idx = find_locked(ct, b, k, now_ms, &dir);
    if (idx != NIL) {
        struct ct_entry *e = &ct->entries[idx];
        unsigned d = (unsigned)dir;
        if (k->proto == EW_PROTO_TCP) {
            /* After RST only a new SYN (judged by the rules) may use the key again;
             * a SYN on a TIME_WAIT connection is a new connection too. */
            if (reusable(e) && (e->state == EW_CT_TCP_CLOSE || is_syn_only(tcp_flags))) {
                ew_spin_unlock(lock);
                return EW_CT_MISS;
            }
            tcp_advance(e, d, tcp_flags);
        } else if (k->proto == EW_PROTO_UDP) {
            udp_advance(e, d);
        }
        account(e, d, bytes, tmo, now_ms);
        r = EW_CT_HIT;
    }
    ew_spin_unlock(lock);
    return r;
}

enum ew_ct_insert_result ew_ct_insert(struct ew_ct *ct, const struct ew_ct_key *k,
                                      uint8_t tcp_flags, uint32_t bytes,
                                      const struct ew_ct_timeouts *tmo, uint64_t now_ms) {
    (void)tcp_flags; /* callers only insert what may open a connection */
    uint32_t hash = ew_ct_hash(ct, k);
    uint32_t b = hash & ct->bucket_mask;
    uint32_t zone = k->zone % EW_MAX_PORTS;
    ew_spinlock *lock = stripe_of(ct, b);
    int dir = 0;
    ew_spin_lock(lock);
    uint32_t idx = find_locked(ct, b, k, now_ms, &dir);
    if (idx != NIL) {
        struct ct_entry *e = &ct->entries[idx];
        if (k->proto == EW_PROTO_TCP && reusable(e)) {
            init_entry(e, k, hash, bytes, tmo, now_ms); /* same zone: count unchanged */
            ew_spin_unlock(lock);
            return EW_CT_INSERTED;
        }
        ew_spin_unlock(lock);
        return EW_CT_EXISTS;
    }
    uint32_t held = atomic_fetch_add_explicit(&ct->zone_count[zone], 1, memory_order_relaxed);
    if (held >= ct->allowance) {
        atomic_fetch_sub_explicit(&ct->zone_count[zone], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ct->zone_exceeded[zone], 1, memory_order_relaxed);
        ew_spin_unlock(lock);
        return EW_CT_ALLOWANCE;
    }
    idx = alloc_entry(ct);
    if (idx == NIL) {
        atomic_fetch_sub_explicit(&ct->zone_count[zone], 1, memory_order_relaxed);
        ew_spin_unlock(lock);
        return EW_CT_FULL;
    }
    struct ct_entry *e = &ct->entries[idx];
    init_entry(e, k, hash, bytes, tmo, now_ms);
    e->next = ct->buckets[b];
    ct->buckets[b] = idx;
    ew_spin_unlock(lock);
    return EW_CT_INSERTED;
}

bool ew_ct_exists(struct ew_ct *ct, const struct ew_ct_key *k, uint64_t now_ms) {
    uint32_t b = ew_ct_hash(ct, k) & ct->bucket_mask;
    ew_spinlock *lock = stripe_of(ct, b);
    int dir = 0;
    ew_spin_lock(lock);
    uint32_t idx = find_locked(ct, b, k, now_ms, &dir);
    bool live = idx != NIL && ct->entries[idx].state != EW_CT_TCP_CLOSE;
    ew_spin_unlock(lock);
    return live;
}

enum ew_ct_track_result ew_ct_peek(struct ew_ct *ct, const struct ew_ct_key *k, uint8_t tcp_flags,
                                   uint64_t now_ms, uint8_t *state, bool *reply) {
    uint32_t b = ew_ct_hash(ct, k) & ct->bucket_mask;
    ew_spinlock *lock = stripe_of(ct, b);
    enum ew_ct_track_result r = EW_CT_MISS;
    ew_spin_lock(lock);
    for (uint32_t idx = ct->buckets[b]; idx != NIL; idx = ct->entries[idx].next) {
        const struct ct_entry *e = &ct->entries[idx];
        int d = expired(e, now_ms) ? -1 : match_dir(e, k);
        if (d < 0) continue;
        /* The same rule as ew_ct_track: a closed connection only takes a new SYN. */
        if (k->proto == EW_PROTO_TCP && reusable(e) &&
            (e->state == EW_CT_TCP_CLOSE || is_syn_only(tcp_flags)))
            break;
        *state = e->state;
        *reply = d == (int)DIR_REPLY;
        r = EW_CT_HIT;
        break;
    }
    ew_spin_unlock(lock);
    return r;
}

/* ---- housekeeping ---- */

void ew_ct_sweep(struct ew_ct *ct, uint64_t now_ms, uint32_t budget) {
    uint64_t start = atomic_fetch_add_explicit(&ct->sweep_pos, budget, memory_order_relaxed);
    uint64_t n = budget;
    if (n > (uint64_t)ct->bucket_mask + 1) n = (uint64_t)ct->bucket_mask + 1;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t b = (uint32_t)((start + i) & ct->bucket_mask);
        ew_spinlock *lock = stripe_of(ct, b);
        ew_spin_lock(lock);
        uint32_t *link = &ct->buckets[b];
        while (*link != NIL) {
            uint32_t idx = *link;
            struct ct_entry *e = &ct->entries[idx];
            if (expired(e, now_ms)) {
                *link = e->next;
                free_entry(ct, idx);
            } else {
                link = &e->next;
            }
        }
        ew_spin_unlock(lock);
    }
}

void ew_ct_flush_zone(struct ew_ct *ct, uint32_t zone) {
    for (uint32_t b = 0; b <= ct->bucket_mask; b++) {
        if (ct->buckets[b] == NIL) continue; /* racy peek is fine: flush is best effort */
        ew_spinlock *lock = stripe_of(ct, b);
        ew_spin_lock(lock);
        uint32_t *link = &ct->buckets[b];
        while (*link != NIL) {
            uint32_t idx = *link;
            struct ct_entry *e = &ct->entries[idx];
            if (e->key.zone == zone) {
                *link = e->next;
                free_entry(ct, idx);
            } else {
                link = &e->next;
            }
        }
        ew_spin_unlock(lock);
    }
}

uint32_t ew_ct_zone_count(const struct ew_ct *ct, uint32_t zone) {
    if (zone >= EW_MAX_PORTS) return 0;
    return atomic_load_explicit(&ct->zone_count[zone], memory_order_relaxed);
}

uint64_t ew_ct_zone_exceeded(const struct ew_ct *ct, uint32_t zone) {
    if (zone >= EW_MAX_PORTS) return 0;
    return atomic_load_explicit(&ct->zone_exceeded[zone], memory_order_relaxed);
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
    o->packets_orig = e->packets[DIR_ORIG];
    o->packets_reply = e->packets[DIR_REPLY];
    o->bytes_orig = e->bytes[DIR_ORIG];
    o->bytes_reply = e->bytes[DIR_REPLY];
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
        ew_spinlock *lock = stripe_of(ct, (uint32_t)b);
        ew_spin_lock(lock);
        uint32_t i = 0;
        for (uint32_t idx = ct->buckets[b]; idx != NIL; idx = ct->entries[idx].next, i++) {
            if (i < pos) continue;
            if (n == max) {
                ew_spin_unlock(lock);
                *cursor = b << 32 | i;
                return n;
            }
            const struct ct_entry *e = &ct->entries[idx];
            if (!expired(e, now_ms)) dump_one(e, &out[n++], now_ms);
        }
        ew_spin_unlock(lock);
    }
    *cursor = 0;
    return n;
}
