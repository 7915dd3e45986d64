/* The per-worker flow-sample aggregation table (design in flowlog.h). */
#include "flowlog.h"

#include <stdlib.h>
#include <string.h>

#define FL_PROBES 32u /* longest probe run before a sample is counted lost */

struct fl_ent {
    struct ew_fl_key key;
    uint32_t slot; /* its slot in the index, so the drain clears only what was used */
    uint64_t packets, bytes, first_ms, last_ms;
    uint8_t tcp_flags;
};

struct ew_fl_table {
    uint32_t max, count, mask;
    uint32_t *index;     /* [mask + 1]: entry number + 1, 0 = empty */
    struct fl_ent *ents; /* [max] */
    uint64_t lost[EW_MAX_PORTS];
    uint32_t lost_ports; /* non-zero when any lost[] moved since the drain */
};

struct ew_fl_table *ew_fl_create(uint32_t max_entries) {
    if (max_entries == 0 || max_entries > (1u << 24)) return NULL;
    struct ew_fl_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    uint32_t slots = 1;
    while (slots < max_entries * 2u)
        slots <<= 1; /* load factor <= 1/2: short probe runs */
    t->max = max_entries;
    t->mask = slots - 1;
    t->index = calloc(slots, sizeof *t->index);
    t->ents = calloc(max_entries, sizeof *t->ents);
    if (!t->index || !t->ents) {
        ew_fl_destroy(t);
        return NULL;
    }
    return t;
}

void ew_fl_destroy(struct ew_fl_table *t) {
    if (!t) return;
    free(t->index);
    free(t->ents);
    free(t);
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t key_hash(const struct ew_fl_key *k) {
    const uint8_t *b = (const uint8_t *)k;
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (unsigned i = 0; i + 8 <= sizeof *k; i += 8) {
        h ^= load64(b + i);
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint32_t tail;
    memcpy(&tail, b + 40, 4);
    h ^= tail;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

static void count_lost(struct ew_fl_table *t, uint64_t *lost_counter, uint16_t port) {
    if (lost_counter) (*lost_counter)++;
    if (t && port < EW_MAX_PORTS) {
        t->lost[port]++;
        t->lost_ports = 1;
    }
}

void ew_fl_record(struct ew_fl_table *t, uint64_t *lost_counter, const struct ew_fl_key *k,
                  uint32_t ip_bytes, uint8_t tcp_flags, uint64_t now_ms) {
    if (!t) {
        count_lost(NULL, lost_counter, k->port);
        return;
    }
    uint32_t s = key_hash(k) & t->mask;
    for (uint32_t probe = 0; probe < FL_PROBES; probe++, s = (s + 1) & t->mask) {
        uint32_t i = t->index[s];
        if (i == 0) {
            if (t->count == t->max) break;
            struct fl_ent *e = &t->ents[t->count];
            t->index[s] = ++t->count;
            e->key = *k;
            e->slot = s;
            e->packets = 1;
            e->bytes = ip_bytes;
            e->first_ms = e->last_ms = now_ms;
            e->tcp_flags = tcp_flags;
            return;
        }
        struct fl_ent *e = &t->ents[i - 1];
        if (memcmp(&e->key, k, sizeof *k) == 0) {
            e->packets++;
            e->bytes += ip_bytes;
            e->last_ms = now_ms;
            e->tcp_flags |= tcp_flags;
            return;
        }
    }
    count_lost(t, lost_counter, k->port);
}

static uint64_t to_wall(uint64_t mono_ms, int64_t off) {
    return (uint64_t)((int64_t)mono_ms + off);
}

uint32_t ew_fl_collect(struct ew_fl_table *t, struct ew_flow_sample *out, uint32_t max,
                       int64_t wall_offset_ms, uint64_t *lost) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->count; i++) {
        const struct fl_ent *e = &t->ents[i];
        t->index[e->slot] = 0;
        if (n == max) {
            if (lost && e->key.port < EW_MAX_PORTS) lost[e->key.port]++;
            continue;
        }
        struct ew_flow_sample *o = &out[n++];
        memset(o, 0, sizeof *o);
        memcpy(o->src, e->key.src, 16);
        memcpy(o->dst, e->key.dst, 16);
        o->packets = e->packets;
        o->bytes = e->bytes;
        o->first_ms = to_wall(e->first_ms, wall_offset_ms);
        o->last_ms = to_wall(e->last_ms, wall_offset_ms);
        o->port = e->key.port;
        o->sport = e->key.sport;
        o->dport = e->key.dport;
        o->reason = e->key.reason;
        o->dir = e->key.dir;
        o->action = e->key.action;
        o->family = e->key.family;
        o->proto = e->key.proto;
        o->tcp_flags = e->tcp_flags;
    }
    t->count = 0;
    if (t->lost_ports) {
        for (uint32_t p = 0; p < EW_MAX_PORTS; p++) {
            if (lost) lost[p] += t->lost[p];
            t->lost[p] = 0;
        }
        t->lost_ports = 0;
    }
    return n;
}

uint32_t ew_fl_count(const struct ew_fl_table *t) {
    return t ? t->count : 0;
}
