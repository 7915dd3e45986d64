/*
 * The part of the worker pipeline both I/O backends share: per-burst clock and
 * table, the per-frame verdict (core or passthrough), TX/drop counting, and the
 * burst boundary (epoch bump for table quiescence + the periodic sweep slice).
 */
#define EW_ENGINE_INTERNAL
#include "eniwall/engine.h"

#include <string.h>

const struct ew_table_view *ew_io_burst_begin(struct ew_worker *w) {
    w->ctx.now_ms = ew_engine_now_ms(w->eng);
    return atomic_load_explicit(&w->eng->table, memory_order_acquire);
}

void ew_io_burst_end(struct ew_worker *w) {
    struct ew_engine *eng = w->eng;
    /* seq_cst: pairs with the exchange + epoch read in ew_engine_load_table */
    atomic_fetch_add(&w->epoch, 1);
    if (!eng->core || w->ctx.now_ms - w->last_sweep_ms < EW_SWEEP_EVERY) return;
    w->last_sweep_ms = w->ctx.now_ms;
    /* The sweep cursor lives in the core: one slice at a time, whoever is free. */
    if (atomic_flag_test_and_set(&eng->sweeping)) return;
    ew_core_sweep(eng->core, w->ctx.now_ms, eng->cfg.sweep_budget);
    atomic_flag_clear(&eng->sweeping);
}

void ew_io_count_tx(struct ew_worker *w, uint32_t port, uint32_t frame_len) {
    struct ew_port_counters *c = &w->counters[port];
    c->cnt[EW_CNT_TX_PACKETS]++;
    c->cnt[EW_CNT_TX_BYTES] += frame_len;
}

void ew_io_count_drop(struct ew_worker *w, uint32_t port, enum ew_drop_reason reason) {
    w->counters[port].drop[reason]++;
}

uint32_t ew_io_judge(struct ew_worker *w, const struct ew_table_view *t, uint32_t in_port,
                     uint8_t *buf, uint32_t *frame_len, uint32_t cap) {
    struct ew_engine *eng = w->eng;
    if (eng->cfg.passthrough) {
        struct ew_port_counters *c = &w->counters[in_port];
        c->cnt[EW_CNT_RX_PACKETS]++;
        c->cnt[EW_CNT_RX_BYTES] += *frame_len;
        return in_port ^ 1u;
    }
    struct ew_verdict v;
    ew_process(&w->ctx, t, in_port, buf + eng->hdr_len, frame_len, cap, &v);
    switch (v.action) {
    case EW_ACT_FORWARD:
        if (v.out_port < EW_MAX_PORTS) return v.out_port;
        ew_io_count_drop(w, in_port, EW_DROP_PORT_DOWN);
        return EW_PORT_NONE;
    case EW_ACT_REPLY:
        /* An answer built by the core carries no offload state. */
        memset(buf, 0, eng->hdr_len);
        return in_port;
    case EW_ACT_DROP:
        break;
    }
    return EW_PORT_NONE;
}
