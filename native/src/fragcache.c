/* Fragment verdict cache (see fragcache.h). */
#include "fragcache.h"

#include <stdlib.h>
#include <string.h>

#include "spinlock.h"

struct frag_slot {
    struct ew_frag_key key;
    uint64_t expires_ms; /* 0 = empty */
    ew_spinlock lock;
};

struct ew_frag_cache {
    uint64_t salt;
    struct frag_slot slots[EW_FRAG_SLOTS];
};

struct ew_frag_cache *ew_frag_create(uint64_t salt) {
    struct ew_frag_cache *fc = calloc(1, sizeof *fc);
    if (!fc) return NULL;
    fc->salt = salt;
    for (uint32_t i = 0; i < EW_FRAG_SLOTS; i++)
        atomic_flag_clear(&fc->slots[i].lock);
    return fc;
}

void ew_frag_destroy(struct ew_frag_cache *fc) {
    free(fc);
}

static struct frag_slot *slot_of(struct ew_frag_cache *fc, const struct ew_frag_key *k) {
    uint64_t h = fc->salt;
    const uint8_t *b = (const uint8_t *)k;
    for (size_t i = 0; i < sizeof *k; i += 8) {
        uint64_t v;
        memcpy(&v, b + i, 8);
        h = (h ^ v) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return &fc->slots[(h ^ (h >> 32)) % EW_FRAG_SLOTS];
}

void ew_frag_remember(struct ew_frag_cache *fc, const struct ew_frag_key *k, uint64_t now_ms) {
    struct frag_slot *s = slot_of(fc, k);
    ew_spin_lock(&s->lock);
    s->key = *k;
    s->expires_ms = now_ms + EW_FRAG_TIMEOUT_MS;
    ew_spin_unlock(&s->lock);
}

bool ew_frag_allowed(struct ew_frag_cache *fc, const struct ew_frag_key *k, uint64_t now_ms) {
    struct frag_slot *s = slot_of(fc, k);
    ew_spin_lock(&s->lock);
    bool ok = s->expires_ms != 0 && now_ms < s->expires_ms && memcmp(&s->key, k, sizeof *k) == 0;
    ew_spin_unlock(&s->lock);
    return ok;
}
