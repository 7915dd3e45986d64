/*
 * Packet capture with verdicts (`eniwall capture`): a bounded ring per worker
 * for one port, filled by the worker that judged the frame, drained by the
 * control thread in batches.
 *
 * Directions are relative to the ENI of the captured port:
 *  - OUT: every frame read from its port (the ENI sent it), copied before the
 *    core looks at it, with the verdict: forwarded (to which port), answered
 *    (ARP, ND, router ping) or dropped with the reason;
 *  - IN: every frame for it: forwarded to its port (as written, after the MAC
 *    rewrite / TTL decrement of a routed frame), an answer written back to it,
 *    and a frame from another ENI dropped on its way to it once the forward
 *    lookup named it (its ingress rules, NACLs, the sender's egress rules).
 * A frame is copied up to EW_CAP_SNAP bytes; orig_len keeps its length.
 *
 * Rings: single producer (the worker owning ring[i]), single consumer (the
 * control thread, serialised by the engine mutex); head and tail are atomics,
 * no lock. A full ring drops the new record and counts it in `lost`: the
 * worker never waits. Allocation happens in ew_capture_create only.
 */
#ifndef ENIWALL_CAPTURE_H
#define ENIWALL_CAPTURE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "eniwall/core.h"

#define EW_CAP_SNAP      2048u
#define EW_CAP_MAX_SLOTS 65536u /* records per worker ring */

/* Capture flags (ew_capture_create) and the record's dir field. */
#define EW_CAP_OUT        0x1u
#define EW_CAP_IN         0x2u
#define EW_CAP_DROPS_ONLY 0x4u

/* One record as drained: this header, then cap_len frame bytes, then padding
 * to a multiple of 8. A contract with src/dataplane/capture.ts (CAPTURE_RECORD). */
struct ew_cap_rec {
    uint64_t ts_ns;    /* CLOCK_REALTIME when the worker judged it */
    uint32_t orig_len; /* the frame's length */
    uint16_t cap_len;  /* bytes copied, <= EW_CAP_SNAP */
    uint8_t dir;       /* EW_CAP_OUT or EW_CAP_IN */
    uint8_t action;    /* enum ew_action */
    uint32_t in_port;  /* port the frame was read from */
    uint32_t out_port; /* forward / reply: port written to; EW_PORT_NONE on a drop */
    uint32_t dst_port; /* ew_verdict.dst_port */
    uint16_t reason;   /* enum ew_drop_reason, 0 when not dropped */
    uint16_t nacl_rule;
    uint32_t nacl_id_hi; /* acl-<17 hex> of the deciding NACL (NACL_* drops), else 0 */
    uint32_t nacl_id_lo;
};
#define EW_CAP_REC_SIZE sizeof(struct ew_cap_rec) /* 40 */

struct ew_cap_slot {
    struct ew_cap_rec rec;
    uint8_t data[EW_CAP_SNAP];
};

struct ew_cap_ring {
    _Alignas(64) _Atomic uint64_t head; /* producer: records written */
    _Atomic uint64_t lost;              /* producer: records refused, ring full */
    _Alignas(64) _Atomic uint64_t tail; /* consumer: records taken */
    _Alignas(64) struct ew_cap_slot *slots;
};

struct ew_capture {
    uint32_t port;
    uint32_t flags; /* EW_CAP_* */
    uint32_t slots; /* per ring */
    uint32_t nrings;
    struct ew_cap_ring ring[]; /* one per worker */
};

/* Allocates nrings rings of `slots` records (1..EW_CAP_MAX_SLOTS); NULL when
 * the arguments are out of range or memory is short. */
struct ew_capture *ew_capture_create(uint32_t port, uint32_t flags, uint32_t nrings,
                                     uint32_t slots);
void ew_capture_destroy(struct ew_capture *c);

/* ---- producer (worker `ring`, per frame; allocates nothing) ---- */
/* The next free slot of the ring, NULL when it is full (nothing counted yet:
 * the caller counts a loss with ew_capture_lose only if it would have kept it). */
static inline struct ew_cap_slot *ew_capture_slot(struct ew_capture *c, uint32_t ring) {
    struct ew_cap_ring *r = &c->ring[ring];
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (h - t >= c->slots) return NULL;
    return &r->slots[h % c->slots];
}
static inline void ew_capture_lose(struct ew_capture *c, uint32_t ring) {
    struct ew_cap_ring *r = &c->ring[ring];
    /* single writer: a plain increment, atomic only for the reader */
    atomic_store_explicit(&r->lost, atomic_load_explicit(&r->lost, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}
/* Publish the slot last returned by ew_capture_slot (fully written). */
static inline void ew_capture_commit(struct ew_capture *c, uint32_t ring) {
    struct ew_cap_ring *r = &c->ring[ring];
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

/* Copy a frame into a slot (snap length EW_CAP_SNAP) with a timestamp. */
void ew_capture_fill(struct ew_cap_slot *s, uint8_t dir, const uint8_t *frame, uint32_t len);
/* Write the verdict into a filled slot; t resolves the NACL index to its id. */
void ew_capture_verdict(struct ew_cap_slot *s, const struct ew_table_view *t, uint32_t in_port,
                        const struct ew_verdict *v);
/* Whether the capture keeps a record of direction dir with this verdict. */
static inline int ew_capture_wants(const struct ew_capture *c, uint32_t dir,
                                   const struct ew_verdict *v) {
    if (!(c->flags & dir)) return 0;
    return !(c->flags & EW_CAP_DROPS_ONLY) || v->action == EW_ACT_DROP;
}

/* ---- consumer (one thread) ---- */
/* Move records into buf (records laid out as struct ew_cap_rec + data, each
 * padded to 8 bytes), taking one record per ring in turn while they fit.
 * Returns the records copied; *used the bytes. */
uint32_t ew_capture_drain(struct ew_capture *c, uint8_t *buf, size_t cap, size_t *used);
/* Records lost to full rings since the capture started, all rings. */
uint64_t ew_capture_lost(const struct ew_capture *c);

#endif /* ENIWALL_CAPTURE_H */
