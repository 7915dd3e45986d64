/*
 * Rule hit records — which connections the security groups admitted.
 *
 * What: every time a zone's classifier admits a new connection that conntrack
 * then opens (a conntrack miss, never a hit), the worker appends one record —
 * the zone's port, direction, family, protocol, classifier key and the peer —
 * to its own ring. The control plane drains the rings and names the rule(s)
 * each record matched against the desired state (src/daemon/rule-hits.ts):
 * the table keeps merged intervals, not rule ids, and attributing off the
 * packet path keeps the per-connection cost at one 32-byte store.
 *
 * Design: one single-producer single-consumer ring per worker (the worker
 * writes head, the drainer tail, each on its own cache line); a full ring
 * counts the record lost instead of waiting. No lock, no allocation.
 *
 * Thread safety: ew_hit_push from the ring's worker only; ew_hit_drain from
 * one control thread at a time.
 */
#ifndef ENIWALL_HITS_H
#define ENIWALL_HITS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EW_HIT_MAX_SLOTS (1u << 20)

struct ew_hit_rec {
    uint8_t peer[16]; /* the other end: the source (ingress) or destination (egress),
                         network order; IPv4 in the first 4 bytes, rest zero */
    uint64_t ms;      /* engine clock when conntrack opened it */
    uint16_t port;    /* the zone: the ENI's dataplane port */
    uint16_t key;     /* TCP/UDP destination port, ICMP type<<8|code, 0 otherwise */
    uint8_t dir;      /* enum ew_dir of the zone */
    uint8_t family;   /* 4 or 6 */
    uint8_t proto;    /* IP protocol */
    uint8_t pad;
};

struct ew_hit_ring;

/* slots: a power of two, 1..EW_HIT_MAX_SLOTS; NULL on bad size or no memory. */
struct ew_hit_ring *ew_hit_ring_create(uint32_t slots);
void ew_hit_ring_destroy(struct ew_hit_ring *r);
/* Moves up to max records into out; returns how many. *lost (may be NULL)
 * gets the records lost to a full ring since the previous drain. */
uint32_t ew_hit_drain(struct ew_hit_ring *r, struct ew_hit_rec *out, uint32_t max, uint64_t *lost);

#ifdef __cplusplus
}
#endif

#endif /* ENIWALL_HITS_H */
