/*
 * Flow samples in the core (public record: eniwall/flowlog.h).
 *
 * Design:
 *  - Accepted packets of tracked flows are counted in their conntrack entry
 *    (conntrack.h, struct ct_flow: per ENI direction packets, bytes, TCP flags,
 *    first/last time), under the bucket lock the lookup already holds; the
 *    drain walks conntrack and resets the deltas it reports. Only zones of
 *    flow-logged ENIs touch that memory.
 *  - Everything else (REJECTs, untracked and other untrackable ACCEPTs) goes
 *    into the worker's aggregation table below: open addressing over a fixed
 *    array sized at engine create, owned by one worker, so no lock and no
 *    allocation. A full table (or a probe run longer than FL_PROBES) counts
 *    the sample as lost on its port (FLOW_SAMPLES_LOST and the per-drain loss).
 *  - Hand-off (io_flow.c): each worker has two tables. The drainer bumps the
 *    worker's request counter and wakes it; at its next burst boundary the
 *    worker switches to the other table and acknowledges (release). The
 *    drainer then owns the old table alone (acquire), copies it out and clears
 *    it before the next request hands it back. The worker never waits.
 */
#ifndef ENIWALL_FLOWLOG_INTERNAL_H
#define ENIWALL_FLOWLOG_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "eniwall/core.h"
#include "eniwall/flowlog.h"

/* What identifies one aggregated sample. Padding-free: hashed and compared as bytes. */
struct ew_fl_key {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport, dport;
    uint16_t port;
    uint16_t reason;
    uint8_t dir, action, family, proto;
};
_Static_assert(sizeof(struct ew_fl_key) == 44, "ew_fl_key must have no padding");

struct ew_fl_table;

/* Control plane: max_entries >= 1 (NULL when it cannot allocate). */
struct ew_fl_table *ew_fl_create(uint32_t max_entries);
void ew_fl_destroy(struct ew_fl_table *t);

/* Per packet (the owning worker only): add one packet of ip_bytes to k's
 * sample. t NULL (no table) or full: the loss is counted in lost_counter
 * (the port's FLOW_SAMPLES_LOST) and in the table's per-drain loss. */
void ew_fl_record(struct ew_fl_table *t, uint64_t *lost_counter, const struct ew_fl_key *k,
                  uint32_t ip_bytes, uint8_t tcp_flags, uint64_t now_ms);

/* Drainer (owns t): copy up to max samples into out, times moved to the Unix
 * epoch by adding wall_offset_ms; samples that do not fit count as lost.
 * Adds the per-port loss to lost[EW_MAX_PORTS] and empties t. Returns the
 * number copied. */
uint32_t ew_fl_collect(struct ew_fl_table *t, struct ew_flow_sample *out, uint32_t max,
                       int64_t wall_offset_ms, uint64_t *lost);
/* Samples held now (tests). */
uint32_t ew_fl_count(const struct ew_fl_table *t);

/* The per-worker double buffer (see the hand-off above). */
struct ew_fl_worker {
    struct ew_fl_table *tab[2];
    uint32_t active;      /* worker's: index of the table in use */
    _Atomic uint32_t req; /* drainer: switches asked for */
    _Atomic uint32_t ack; /* worker: switches done */
};

/* Worker, at a burst boundary: switch tables when asked; returns the table to use. */
static inline struct ew_fl_table *ew_fl_worker_boundary(struct ew_fl_worker *fw) {
    uint32_t req = atomic_load_explicit(&fw->req, memory_order_acquire);
    if (req != atomic_load_explicit(&fw->ack, memory_order_relaxed)) {
        fw->active ^= 1u;
        atomic_store_explicit(&fw->ack, req, memory_order_release);
    }
    return fw->tab[fw->active];
}

#endif /* ENIWALL_FLOWLOG_INTERNAL_H */
