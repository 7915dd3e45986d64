/*
 * Engine control plane: lifecycle, the port set, table publication, counters
 * and the clock. Nothing here runs per packet; see engine.h for the design.
 */
#define EW_ENGINE_INTERNAL
#include "eniwall/engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SWEEP_BUDGET 16384u /* ~1 s per pass over 2M buckets at one slice per 10 ms */

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void wake(struct ew_worker *w) {
    uint64_t one = 1;
    /* A full eventfd counter still wakes the worker: ignore EAGAIN. */
    ssize_t n = write(w->wake_fd, &one, sizeof one);
    (void)n;
}

static void sleep_us(long us) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000L};
    nanosleep(&ts, NULL);
}

/* ---- worker mailbox (control side) ---- */

static int post_and_wait(struct ew_worker *w, enum ew_cmd_kind kind, uint32_t port, int fd) {
    pthread_mutex_lock(&w->mu);
    w->cmd = kind;
    w->cmd_port = port;
    w->cmd_fd = fd;
    w->cmd_done = false;
    atomic_store(&w->cmd_pending, 1);
    pthread_mutex_unlock(&w->mu);
    wake(w);
    pthread_mutex_lock(&w->mu);
    while (!w->cmd_done)
        pthread_cond_wait(&w->cv, &w->mu);
    int result = w->cmd_result;
    w->cmd = EW_CMD_NONE;
    pthread_mutex_unlock(&w->mu);
    return result;
}

void ew_worker_cmd_finish(struct ew_worker *w, int result) {
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->cmd_pending, 0);
    w->cmd_result = result;
    w->cmd_done = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void ew_worker_started(struct ew_worker *w, int result, const char *err) {
    pthread_mutex_lock(&w->mu);
    w->start_result = result;
    if (err) snprintf(w->start_err, sizeof w->start_err, "%s", err);
    w->started = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ---- lifecycle ---- */

static void stop_workers(struct ew_engine *eng, uint32_t running) {
    atomic_store(&eng->stop, true);
    for (uint32_t i = 0; i < running; i++) {
        wake(&eng->workers[i]);
        pthread_join(eng->workers[i].thread, NULL);
    }
}

static void free_workers(struct ew_engine *eng) {
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        struct ew_worker *w = &eng->workers[i];
        if (w->wake_fd >= 0) close(w->wake_fd);
        free(w->counters);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    free(eng->workers);
}

static int start_worker(struct ew_engine *eng, struct ew_worker *w, char *err, size_t errlen) {
    void *(*body)(void *) = eng->mode == EW_IO_URING ? ew_uring_worker_main : ew_epoll_worker_main;
    int rc = pthread_create(&w->thread, NULL, body, w);
    if (rc != 0) {
        set_err(err, errlen, "cannot start worker thread: %s", strerror(rc));
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->started)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    if (w->start_result != 0) {
        pthread_join(w->thread, NULL);
        set_err(err, errlen, "worker %u: %s", w->index, w->start_err);
        return -1;
    }
    return 0;
}

static int resolve_mode(struct ew_engine *eng, char *err, size_t errlen) {
    switch (eng->cfg.io_mode) {
    case EW_IO_EPOLL:
        eng->mode = EW_IO_EPOLL;
        return 0;
    case EW_IO_URING:
        if (!ew_uring_available()) {
            set_err(err, errlen, "io_uring requested but this kernel refuses to set up a ring");
            return -1;
        }
        eng->mode = EW_IO_URING;
        return 0;
    case EW_IO_AUTO:
        eng->mode = ew_uring_available() ? EW_IO_URING : EW_IO_EPOLL;
        return 0;
    }
    set_err(err, errlen, "unknown io mode %d", (int)eng->cfg.io_mode);
    return -1;
}

struct ew_engine *ew_engine_create(const struct ew_engine_config *cfg, char *err, size_t errlen) {
    struct ew_engine *eng = calloc(1, sizeof *eng);
    if (!eng) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    eng->cfg = *cfg;
    if (eng->cfg.workers == 0) eng->cfg.workers = 1;
    if (eng->cfg.workers > EW_MAX_WORKERS) {
        set_err(err, errlen, "workers must be 1..%u, got %u", EW_MAX_WORKERS, eng->cfg.workers);
        free(eng);
        return NULL;
    }
    if (eng->cfg.sweep_budget == 0) eng->cfg.sweep_budget = DEFAULT_SWEEP_BUDGET;
    eng->hdr_len = eng->cfg.vnet_hdr ? EW_VNET_HDR_LEN : 0;
    eng->buf_size = eng->cfg.vnet_hdr ? EW_BUF_GSO : EW_BUF_PLAIN;
    atomic_init(&eng->table, NULL);
    atomic_init(&eng->clock_offset_ms, 0);
    atomic_init(&eng->stop, false);
    atomic_flag_clear(&eng->sweeping);
    pthread_mutex_init(&eng->ctl, NULL);
    if (resolve_mode(eng, err, errlen) != 0) goto fail_engine;

    if (!eng->cfg.passthrough) {
        eng->core = ew_core_create(&eng->cfg.core, err, errlen);
        if (!eng->core) goto fail_engine;
    }

    eng->nworkers = eng->cfg.workers;
    eng->workers = calloc(eng->nworkers, sizeof *eng->workers);
    if (!eng->workers) {
        set_err(err, errlen, "out of memory");
        goto fail_core;
    }
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        struct ew_worker *w = &eng->workers[i];
        w->eng = eng;
        w->index = i;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        atomic_init(&w->epoch, 0);
        atomic_init(&w->cmd_pending, 0);
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->counters = calloc(EW_MAX_PORTS, sizeof *w->counters);
        if (w->wake_fd < 0 || !w->counters) {
            set_err(err, errlen, "cannot set up worker %u: %s", i, strerror(errno));
            eng->nworkers = i + 1;
            goto fail_workers;
        }
        w->ctx.core = eng->core;
        w->ctx.counters = w->counters;
    }
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        if (start_worker(eng, &eng->workers[i], err, errlen) != 0) {
            stop_workers(eng, i);
            goto fail_workers;
        }
    }
    return eng;

fail_workers:
    free_workers(eng);
fail_core:
    if (eng->core) ew_core_destroy(eng->core);
fail_engine:
    pthread_mutex_destroy(&eng->ctl);
    free(eng);
    return NULL;
}

void ew_engine_destroy(struct ew_engine *eng) {
    if (!eng) return;
    /* Workers close their own queue fds on the way out (the TAPs disappear). */
    stop_workers(eng, eng->nworkers);
    free_workers(eng);
    struct ew_table_view *t = atomic_load(&eng->table);
    if (t) ew_table_free(t);
    if (eng->core) ew_core_destroy(eng->core);
    pthread_mutex_destroy(&eng->ctl);
    free(eng);
}

/* ---- ports ---- */

static int lowest_free_port(const struct ew_engine *eng) {
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        if (!eng->port_open[p]) return (int)p;
    return -1;
}

int ew_engine_open_tap(struct ew_engine *eng, const char *name, uint32_t *port, char *ifname,
                       char *err, size_t errlen) {
    if (!name || strlen(name) >= EW_IFNAME_MAX) {
        set_err(err, errlen, "TAP name must be 1..%u characters", EW_IFNAME_MAX - 1);
        return -1;
    }
    pthread_mutex_lock(&eng->ctl);
    int rc = -1;
    int fds[EW_MAX_WORKERS];
    uint32_t nfds = 0, attached = 0;
    int free_port = lowest_free_port(eng);
    if (free_port < 0) {
        set_err(err, errlen, "all %u ports are in use", EW_MAX_PORTS);
        goto out;
    }
    uint32_t p = (uint32_t)free_port;
    char actual[EW_IFNAME_MAX];
    snprintf(actual, sizeof actual, "%s", name);
    bool multi = eng->nworkers > 1;
    /* io_uring wants blocking fds: on an O_NONBLOCK file a READ completes with
     * -EAGAIN instead of waiting on the TAP's poll queue. epoll wants them
     * non-blocking to drain until EAGAIN. */
    bool nonblock = eng->mode == EW_IO_EPOLL;
    for (; nfds < eng->nworkers; nfds++) {
        int fd = ew_tap_open_queue(actual, multi, eng->cfg.vnet_hdr, nonblock, actual, err, errlen);
        if (fd < 0) goto undo;
        fds[nfds] = fd;
    }
    for (; attached < eng->nworkers; attached++) {
        /* The worker owns the fd from here on, even when it fails. */
        int res = post_and_wait(&eng->workers[attached], EW_CMD_OPEN, p, fds[attached]);
        if (res != 0) {
            set_err(err, errlen, "worker %u cannot serve %s: %s", attached, actual, strerror(-res));
            attached++;
            goto undo_attached;
        }
    }
    eng->port_open[p] = true;
    snprintf(eng->port_name[p], EW_IFNAME_MAX, "%s", actual);
    *port = p;
    snprintf(ifname, EW_IFNAME_MAX, "%s", actual);
    rc = 0;
    goto out;

undo_attached:
    for (uint32_t i = 0; i < attached; i++)
        post_and_wait(&eng->workers[i], EW_CMD_CLOSE, p, -1);
    for (uint32_t i = attached; i < nfds; i++)
        close(fds[i]);
    goto out;
undo:
    for (uint32_t i = 0; i < nfds; i++)
        close(fds[i]);
out:
    pthread_mutex_unlock(&eng->ctl);
    return rc;
}

int ew_engine_close_port(struct ew_engine *eng, uint32_t port) {
    pthread_mutex_lock(&eng->ctl);
    if (port >= EW_MAX_PORTS || !eng->port_open[port]) {
        pthread_mutex_unlock(&eng->ctl);
        return -1;
    }
    for (uint32_t i = 0; i < eng->nworkers; i++)
        post_and_wait(&eng->workers[i], EW_CMD_CLOSE, port, -1);
    eng->port_open[port] = false;
    eng->port_name[port][0] = '\0';
    if (eng->core) ew_core_flush_port(eng->core, port);
    pthread_mutex_unlock(&eng->ctl);
    return 0;
}

const char *ew_engine_port_name(const struct ew_engine *eng, uint32_t port) {
    if (port >= EW_MAX_PORTS || !eng->port_open[port]) return NULL;
    return eng->port_name[port];
}

/* ---- table publication ---- */

int ew_engine_load_table(struct ew_engine *eng, const void *buf, size_t len, uint64_t generation,
                         char *err, size_t errlen) {
    struct ew_table_view *t = ew_table_load(buf, len, err, errlen);
    if (!t) return -1;
    if (ew_table_generation(t) != generation) {
        set_err(err, errlen, "table carries generation %llu, caller asked for %llu",
                (unsigned long long)ew_table_generation(t), (unsigned long long)generation);
        ew_table_free(t);
        return -1;
    }
    pthread_mutex_lock(&eng->ctl);
    struct ew_table_view *old = atomic_exchange(&eng->table, t);
    /* Any burst that started before the exchange ends with an epoch bump
     * after the value read here; the next one loads the new table. */
    uint64_t seen[EW_MAX_WORKERS];
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        seen[i] = atomic_load(&eng->workers[i].epoch);
        wake(&eng->workers[i]);
    }
    for (uint32_t i = 0; i < eng->nworkers; i++)
        while (atomic_load(&eng->workers[i].epoch) <= seen[i])
            sleep_us(50);
    pthread_mutex_unlock(&eng->ctl);
    if (old) ew_table_free(old);
    return 0;
}

uint64_t ew_engine_generation(const struct ew_engine *eng) {
    struct ew_table_view *t = atomic_load(&((struct ew_engine *)eng)->table);
    return t ? ew_table_generation(t) : 0;
}

int ew_engine_trace(struct ew_engine *eng, const struct ew_trace_query *q, struct ew_trace *out) {
    if (!eng->core) return -1;
    /* Under ctl the table cannot be swapped, so it cannot be freed under us. */
    pthread_mutex_lock(&eng->ctl);
    const struct ew_table_view *t = atomic_load(&eng->table);
    int r = t ? ew_trace(eng->core, t, q, ew_engine_now_ms(eng), out) : -1;
    pthread_mutex_unlock(&eng->ctl);
    return r;
}

/* ---- counters, clock, stats ---- */

void ew_engine_counters(const struct ew_engine *eng, uint32_t port, struct ew_port_counters *out) {
    memset(out, 0, sizeof *out);
    if (port >= EW_MAX_PORTS) return;
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        const struct ew_port_counters *c = &eng->workers[i].counters[port];
        for (uint32_t k = 0; k < EW_CNT_COUNT; k++)
            out->cnt[k] += c->cnt[k];
        for (uint32_t k = 0; k < EW_DROP_COUNT; k++)
            out->drop[k] += c->drop[k];
    }
}

uint64_t ew_engine_now_ms(const struct ew_engine *eng) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    int64_t off = atomic_load(&((struct ew_engine *)eng)->clock_offset_ms);
    return ms + (uint64_t)off;
}

void ew_engine_advance_clock(struct ew_engine *eng, uint64_t ms) {
    atomic_fetch_add(&eng->clock_offset_ms, (int64_t)ms);
    for (uint32_t i = 0; i < eng->nworkers; i++)
        wake(&eng->workers[i]);
}

struct ew_core *ew_engine_core(struct ew_engine *eng) {
    return eng->core;
}

void ew_engine_stats(const struct ew_engine *eng, struct ew_engine_stats *out) {
    memset(out, 0, sizeof *out);
    out->io_mode = eng->mode;
    out->workers = eng->nworkers;
    out->vnet_hdr = eng->cfg.vnet_hdr;
    out->passthrough = eng->cfg.passthrough;
    out->fixed_buffers = eng->fixed_buffers;
    out->fixed_files = eng->fixed_files;
    uint32_t n = 0;
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        n += eng->port_open[p] ? 1u : 0u;
    out->ports_open = n;
}
