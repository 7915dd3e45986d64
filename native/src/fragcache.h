/*
 * Fragment verdict cache. Non-first fragments carry no L4 header, so they
 * cannot be classified on their own. The first fragment (offset 0) is judged
 * normally; when it is allowed, its (zone, family, proto, src, dst, id) is
 * remembered here for EW_FRAG_TIMEOUT_MS, and later fragments of the same
 * datagram follow that verdict. A non-first fragment with no remembered
 * verdict (reordered before the first one, or after a denied first one) is
 * dropped with EW_DROP_FRAGMENT. No reassembly.
 *
 * Fixed size, direct-mapped: a newer datagram may evict an older one (its
 * remaining fragments are then dropped; the sender retransmits). Each slot has
 * its own spinlock; workers share the cache.
 */
#ifndef ENIWALL_FRAGCACHE_H
#define ENIWALL_FRAGCACHE_H

#include <stdbool.h>
#include <stdint.h>

#define EW_FRAG_SLOTS      4096u
#define EW_FRAG_TIMEOUT_MS 30000u /* Linux ipfrag_time */

struct ew_frag_key {
    uint8_t src[16];
    uint8_t dst[16];
    uint32_t id;
    uint16_t zone; /* the sending ENI's port */
    uint8_t family;
    uint8_t proto;
};
_Static_assert(sizeof(struct ew_frag_key) == 40, "ew_frag_key must have no padding");

struct ew_frag_cache;

struct ew_frag_cache *ew_frag_create(uint64_t salt);
void ew_frag_destroy(struct ew_frag_cache *fc);
void ew_frag_remember(struct ew_frag_cache *fc, const struct ew_frag_key *k, uint64_t now_ms);
bool ew_frag_allowed(struct ew_frag_cache *fc, const struct ew_frag_key *k, uint64_t now_ms);

#endif /* ENIWALL_FRAGCACHE_H */
