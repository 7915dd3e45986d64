/*
 * Capture rings (capture.h): allocation, the per-frame copy and the drain.
 */
#include "capture.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "table_view.h"

struct ew_capture *ew_capture_create(uint32_t port, uint32_t flags, uint32_t nrings,
                                     uint32_t slots) {
    if (port >= EW_MAX_PORTS || nrings == 0 || slots == 0 || slots > EW_CAP_MAX_SLOTS ||
        !(flags & (EW_CAP_OUT | EW_CAP_IN)))
        return NULL;
    struct ew_capture *c =
        aligned_alloc(64, (sizeof *c + nrings * sizeof c->ring[0] + 63) & ~(size_t)63);
    if (!c) return NULL;
    memset(c, 0, sizeof *c + nrings * sizeof c->ring[0]);
    c->port = port;
    c->flags = flags;
    c->slots = slots;
    c->nrings = nrings;
    for (uint32_t i = 0; i < nrings; i++) {
        struct ew_cap_ring *r = &c->ring[i];
        atomic_init(&r->head, 0);
        atomic_init(&r->tail, 0);
        atomic_init(&r->lost, 0);
        r->slots = malloc((size_t)slots * sizeof *r->slots);
        if (!r->slots) {
            ew_capture_destroy(c);
            return NULL;
        }
    }
    return c;
}

void ew_capture_destroy(struct ew_capture *c) {
    if (!c) return;
    for (uint32_t i = 0; i < c->nrings; i++)
        free(c->ring[i].slots);
    free(c);
}

void ew_capture_fill(struct ew_cap_slot *s, uint8_t dir, const uint8_t *frame, uint32_t len) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t n = len < EW_CAP_SNAP ? len : EW_CAP_SNAP;
    s->rec.ts_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    s->rec.orig_len = len;
    s->rec.cap_len = (uint16_t)n;
    s->rec.dir = dir;
    memcpy(s->data, frame, n);
}

void ew_capture_verdict(struct ew_cap_slot *s, const struct ew_table_view *t, uint32_t in_port,
                        const struct ew_verdict *v) {
    struct ew_cap_rec *r = &s->rec;
    r->action = (uint8_t)v->action;
    r->in_port = in_port;
    r->out_port = v->action == EW_ACT_DROP ? EW_PORT_NONE : v->out_port;
    r->dst_port = v->dst_port;
    r->reason = v->action == EW_ACT_DROP ? v->reason : 0;
    r->nacl_rule = 0;
    r->nacl_id_hi = r->nacl_id_lo = 0;
    if (v->action == EW_ACT_DROP && v->nacl != EW_INDEX_NONE && t && v->nacl < t->n_nacls) {
        r->nacl_rule = v->nacl_rule;
        r->nacl_id_hi = t->nacls[v->nacl].id_hi;
        r->nacl_id_lo = t->nacls[v->nacl].id_lo;
    }
}

static size_t padded(size_t n) {
    return (n + 7u) & ~(size_t)7u;
}

uint32_t ew_capture_drain(struct ew_capture *c, uint8_t *buf, size_t cap, size_t *used) {
    size_t off = 0;
    uint32_t n = 0;
    for (bool progress = true; progress;) {
        progress = false;
        for (uint32_t i = 0; i < c->nrings; i++) {
            struct ew_cap_ring *r = &c->ring[i];
            uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
            uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
            if (t == h) continue;
            const struct ew_cap_slot *s = &r->slots[t % c->slots];
            size_t need = padded(EW_CAP_REC_SIZE + s->rec.cap_len);
            if (off + need > cap) continue;
            memcpy(buf + off, &s->rec, EW_CAP_REC_SIZE);
            memcpy(buf + off + EW_CAP_REC_SIZE, s->data, s->rec.cap_len);
            memset(buf + off + EW_CAP_REC_SIZE + s->rec.cap_len, 0,
                   need - EW_CAP_REC_SIZE - s->rec.cap_len);
            off += need;
            n++;
            /* release: the producer may reuse the slot only after the copy */
            atomic_store_explicit(&r->tail, t + 1, memory_order_release);
            progress = true;
        }
    }
    *used = off;
    return n;
}

uint64_t ew_capture_lost(const struct ew_capture *c) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < c->nrings; i++)
        n += atomic_load_explicit(&((struct ew_capture *)c)->ring[i].lost, memory_order_relaxed);
    return n;
}
