/*
 * Flow-sample drain (flowlog.h has the design): the control thread's half of
 * the per-worker double buffer, then the conntrack deltas. Runs under the
 * engine's control mutex (ew_engine_flow_drain), so one drain at a time.
 */
#include <time.h>

#include "core_internal.h"
#include "eniwall/engine.h"
#include "io_worker.h"

static int64_t wall_offset_ms(const struct ew_shared *sh) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return wall - (int64_t)ew_clock_now_ms(sh);
}

uint32_t ew_flow_drain_workers(struct ew_worker *ws, uint32_t n, struct ew_core *core,
                               struct ew_flow_sample *out, uint32_t max, uint64_t *lost) {
    if (!core || n == 0) return 0;
    int64_t off = wall_offset_ms(ws[0].sh);
    uint32_t want[EW_MAX_WORKERS] = {0};
    for (uint32_t i = 0; i < n; i++) {
        struct ew_fl_worker *fw = &ws[i].fl;
        if (!fw->tab[0]) continue;
        /* Only this thread writes req: a plain read-modify-write is enough. */
        want[i] = atomic_load_explicit(&fw->req, memory_order_relaxed) + 1u;
        atomic_store_explicit(&fw->req, want[i], memory_order_release);
        ew_worker_wake(&ws[i]);
    }
    uint32_t got = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct ew_fl_worker *fw = &ws[i].fl;
        if (!fw->tab[0]) continue;
        /* Workers run until the engine is destroyed, which never races a drain. */
        while (atomic_load_explicit(&fw->ack, memory_order_acquire) != want[i]) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        /* After switch k the worker uses tab[k & 1]; the other one is ours. */
        struct ew_fl_table *old = fw->tab[(want[i] & 1u) ^ 1u];
        got += ew_fl_collect(old, out + got, max - got, off, lost);
    }
    got += ew_ct_flow_drain(core->ct, out + got, max - got, off, lost);
    return got;
}
