/*
 * The worker module (io_worker.h): mailbox, startup handshake, clock, burst
 * boundary (epoch bump for table quiescence + the periodic sweep slice), the
 * per-frame verdict (core or passthrough) and TX/drop counting. Calls the core
 * only; the engine and the backends call in.
 */
#include "io_worker.h"

#include "capture.h"
#include "eniwall/hits.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ---- lifecycle ---- */

int ew_worker_init(struct ew_worker *w, struct ew_shared *sh, uint32_t index) {
    w->sh = sh;
    w->index = index;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->epoch, 0);
    atomic_init(&w->busy_ns, 0);
    atomic_init(&w->cmd_pending, 0);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->counters = calloc(EW_MAX_PORTS, sizeof *w->counters);
    w->ctx.core = sh->core;
    w->ctx.counters = w->counters;
    w->ctx.ct_cache = ew_core_cache_create(sh->core); /* NULL without a core */
    if (w->wake_fd < 0 || !w->counters || (sh->core && !w->ctx.ct_cache)) {
        if (w->wake_fd >= 0) errno = ENOMEM;
        return -1;
    }
    atomic_init(&w->fl.req, 0);
    atomic_init(&w->fl.ack, 0);
    if (sh->core && sh->flow_table_size) {
        for (int i = 0; i < 2; i++) {
            w->fl.tab[i] = ew_fl_create(sh->flow_table_size);
            if (!w->fl.tab[i]) {
                errno = ENOMEM;
                return -1;
            }
        }
        w->ctx.fl = w->fl.tab[0];
    }
    if (sh->core && sh->hit_ring_slots) {
        w->ctx.hits = ew_hit_ring_create(sh->hit_ring_slots);
        if (!w->ctx.hits) {
            errno = ENOMEM;
            return -1;
        }
    }
    return 0;
}

void ew_worker_fini(struct ew_worker *w) {
    if (w->wake_fd >= 0) close(w->wake_fd);
    w->wake_fd = -1;
    free(w->counters);
    w->counters = NULL;
    /* The worker has stopped: its cached free entries go back to the table. */
    ew_core_cache_destroy(w->sh->core, w->ctx.ct_cache);
    w->ctx.ct_cache = NULL;
    ew_hit_ring_destroy(w->ctx.hits);
    w->ctx.hits = NULL;
    for (int i = 0; i < 2; i++) {
        ew_fl_destroy(w->fl.tab[i]);
        w->fl.tab[i] = NULL;
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

int ew_worker_start(struct ew_worker *w, void *(*body)(void *), char *err, size_t errlen) {
    int rc = pthread_create(&w->thread, NULL, body, w);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start worker thread: %s", strerror(rc));
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->started)
        pthread_cond_wait(&w->cv, &w->mu);
    int result = w->start_result;
    pthread_mutex_unlock(&w->mu);
    if (result != 0) {
        pthread_join(w->thread, NULL);
        snprintf(err, errlen, "worker %u: %s", w->index, w->start_err);
        return -1;
    }
    return 0;
}

void ew_worker_wake(struct ew_worker *w) {
    uint64_t one = 1;
    /* A full eventfd counter still wakes the worker: ignore EAGAIN. */
    ssize_t n = write(w->wake_fd, &one, sizeof one);
    (void)n;
}

void ew_worker_started(struct ew_worker *w, int result, const char *err) {
    pthread_mutex_lock(&w->mu);
    w->start_result = result;
    if (err) snprintf(w->start_err, sizeof w->start_err, "%s", err);
    w->started = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ---- mailbox ---- */

static int post(struct ew_worker *w, enum ew_cmd_kind kind, uint32_t port, int fd, void *ptr) {
    pthread_mutex_lock(&w->mu);
    w->cmd = kind;
    w->cmd_port = port;
    w->cmd_fd = fd;
    w->cmd_ptr = ptr;
    w->cmd_done = false;
    atomic_store(&w->cmd_pending, 1);
    pthread_mutex_unlock(&w->mu);
    ew_worker_wake(w);
    pthread_mutex_lock(&w->mu);
    while (!w->cmd_done)
        pthread_cond_wait(&w->cv, &w->mu);
    int result = w->cmd_result;
    w->cmd = EW_CMD_NONE;
    pthread_mutex_unlock(&w->mu);
    return result;
}

int ew_worker_post(struct ew_worker *w, enum ew_cmd_kind kind, uint32_t port, int fd) {
    return post(w, kind, port, fd, NULL);
}

int ew_worker_post_ptr(struct ew_worker *w, enum ew_cmd_kind kind, uint32_t port, void *ptr) {
    return post(w, kind, port, -1, ptr);
}

void ew_worker_cmd_finish(struct ew_worker *w, int result) {
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->cmd_pending, 0);
    w->cmd_result = result;
    w->cmd_done = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ---- clock ---- */

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ms_at(const struct ew_shared *sh, uint64_t ns) {
    int64_t off = atomic_load(&((struct ew_shared *)sh)->clock_offset_ms);
    return ns / 1000000u + (uint64_t)off;
}

uint64_t ew_clock_now_ms(const struct ew_shared *sh) {
    return clock_ms_at(sh, monotonic_ns());
}

/* ---- burst boundary ---- */

const struct ew_table_view *ew_worker_burst_begin(struct ew_worker *w) {
    w->burst_start_ns = monotonic_ns();
    w->ctx.now_ms = clock_ms_at(w->sh, w->burst_start_ns);
    if (w->fl.tab[0]) w->ctx.fl = ew_fl_worker_boundary(&w->fl);
    /* seq_cst (a plain load on x86): ordered after the previous epoch bump, so
     * a table published before the engine read that epoch is seen here. */
    return atomic_load(&w->sh->table);
}

/* Busy time of the burst that ends now: one clock read per burst, a relaxed
 * store (single writer), so a metrics read costs the workers nothing. */
static void account_busy(struct ew_worker *w) {
    uint64_t busy = atomic_load_explicit(&w->busy_ns, memory_order_relaxed);
    atomic_store_explicit(&w->busy_ns, busy + (monotonic_ns() - w->burst_start_ns),
                          memory_order_relaxed);
}

void ew_worker_burst_end(struct ew_worker *w) {
    struct ew_shared *sh = w->sh;
    /* seq_cst: pairs with the exchange + epoch read in ew_engine_load_table */
    atomic_fetch_add(&w->epoch, 1);
    if (!sh->core || w->ctx.now_ms - w->last_sweep_ms < EW_SWEEP_EVERY) {
        account_busy(w);
        return;
    }
    w->last_sweep_ms = w->ctx.now_ms;
    /* The sweep cursor lives in the core: one slice at a time, whoever is free. */
    if (!atomic_flag_test_and_set(&sh->sweeping)) {
        ew_core_sweep(sh->core, w->ctx.now_ms, sh->sweep_budget);
        atomic_flag_clear(&sh->sweeping);
    }
    account_busy(w);
}

/* ---- per frame ---- */

void ew_worker_count_tx(struct ew_worker *w, uint32_t port, uint32_t frame_len) {
    struct ew_port_counters *c = &w->counters[port];
    c->cnt[EW_CNT_TX_PACKETS]++;
    c->cnt[EW_CNT_TX_BYTES] += frame_len;
}

void ew_worker_count_drop(struct ew_worker *w, uint32_t port, enum ew_drop_reason reason) {
    w->counters[port].drop[reason]++;
}

/* The port a verdict writes to, or EW_PORT_NONE (counted). */
static uint32_t verdict_port(struct ew_worker *w, uint32_t in_port, uint8_t *buf,
                             const struct ew_verdict *v) {
    switch (v->action) {
    case EW_ACT_FORWARD:
        if (v->out_port < EW_MAX_PORTS) return v->out_port;
        ew_worker_count_drop(w, in_port, EW_DROP_PORT_DOWN);
        return EW_PORT_NONE;
    case EW_ACT_REPLY:
        /* An answer built by the core carries no offload state. */
        memset(buf, 0, w->sh->hdr_len);
        return in_port;
    case EW_ACT_ENCAP: /* io_underlay.h: the backend sends it to the owning host */
        return 0x80000000u | v->remote;
    case EW_ACT_DROP:
        break;
    }
    return EW_PORT_NONE;
}

/* ew_worker_judge with at least one capture running somewhere: the sender's
 * capture copies the frame before the core may rewrite it, the receiver's
 * after (what it is given). Records only into this worker's rings. */
static uint32_t judge_captured(struct ew_worker *w, const struct ew_table_view *t, uint32_t in_port,
                               uint8_t *buf, uint32_t *frame_len, uint32_t cap) {
    const struct ew_shared *sh = w->sh;
    uint8_t *frame = buf + sh->hdr_len;
    struct ew_capture *co = in_port < EW_MAX_PORTS
                                ? atomic_load_explicit(&sh->capture[in_port], memory_order_acquire)
                                : NULL;
    struct ew_cap_slot *so = NULL;
    if (co && (co->flags & EW_CAP_OUT)) {
        so = ew_capture_slot(co, w->index);
        if (so) ew_capture_fill(so, EW_CAP_OUT, frame, *frame_len);
    }
    struct ew_verdict v;
    ew_process(&w->ctx, t, in_port, frame, frame_len, cap, &v);
    if (co && ew_capture_wants(co, EW_CAP_OUT, &v)) {
        if (so) {
            ew_capture_verdict(so, t, in_port, &v);
            ew_capture_commit(co, w->index);
        } else {
            ew_capture_lose(co, w->index);
        }
    }
    uint32_t to = v.action == EW_ACT_FORWARD ? v.out_port
                  : v.action == EW_ACT_REPLY ? in_port
                                             : v.dst_port;
    struct ew_capture *ci =
        to < EW_MAX_PORTS ? atomic_load_explicit(&sh->capture[to], memory_order_acquire) : NULL;
    if (ci && ew_capture_wants(ci, EW_CAP_IN, &v)) {
        struct ew_cap_slot *si = ew_capture_slot(ci, w->index);
        if (si) {
            ew_capture_fill(si, EW_CAP_IN, frame, *frame_len);
            ew_capture_verdict(si, t, in_port, &v);
            ew_capture_commit(ci, w->index);
        } else {
            ew_capture_lose(ci, w->index);
        }
    }
    return verdict_port(w, in_port, buf, &v);
}

uint32_t ew_worker_judge(struct ew_worker *w, const struct ew_table_view *t, uint32_t in_port,
                         uint8_t *buf, uint32_t *frame_len, uint32_t cap) {
    const struct ew_shared *sh = w->sh;
    if (sh->passthrough) {
        struct ew_port_counters *c = &w->counters[in_port];
        c->cnt[EW_CNT_RX_PACKETS]++;
        c->cnt[EW_CNT_RX_BYTES] += *frame_len;
        return in_port ^ 1u;
    }
    if (__builtin_expect(atomic_load_explicit(&sh->captures_on, memory_order_relaxed) != 0, 0))
        return judge_captured(w, t, in_port, buf, frame_len, cap);
    struct ew_verdict v;
    ew_process(&w->ctx, t, in_port, buf + sh->hdr_len, frame_len, cap, &v);
    return verdict_port(w, in_port, buf, &v);
}

void ew_worker_judge_burst(struct ew_worker *w, const struct ew_table_view *t,
                           const uint32_t *in_ports, uint8_t *const *bufs, uint32_t *frame_lens,
                           uint32_t cap, uint32_t n, uint32_t *out) {
    const struct ew_shared *sh = w->sh;
    if (sh->passthrough ||
        __builtin_expect(atomic_load_explicit(&sh->captures_on, memory_order_relaxed) != 0, 0)) {
        for (uint32_t i = 0; i < n; i++)
            out[i] = ew_worker_judge(w, t, in_ports[i], bufs[i], &frame_lens[i], cap);
        return;
    }
    while (n > 0) {
        uint32_t m = n < EW_PROCESS_BURST ? n : EW_PROCESS_BURST;
        uint8_t *frames[EW_PROCESS_BURST];
        struct ew_verdict v[EW_PROCESS_BURST];
        for (uint32_t i = 0; i < m; i++)
            frames[i] = bufs[i] + sh->hdr_len;
        ew_process_burst(&w->ctx, t, in_ports, frames, frame_lens, cap, m, v);
        for (uint32_t i = 0; i < m; i++)
            out[i] = verdict_port(w, in_ports[i], bufs[i], &v[i]);
        in_ports += m;
        bufs += m;
        frame_lens += m;
        out += m;
        n -= m;
    }
}
