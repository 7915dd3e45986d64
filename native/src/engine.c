/*
 * Engine control plane: lifecycle, the port set, table publication, counters
 * and the clock. Nothing here runs per packet; see engine.h for the design.
 * Calls the backends (io_backend.h) and the worker module (io_worker.h); no
 * other file calls in here.
 */
#include "eniwall/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "io_backend.h"
#include "io_stream.h"
#include "io_underlay.h"
#include "io_vhost.h"
#include "io_worker.h"

struct ew_engine {
    struct ew_engine_config cfg;
    const struct ew_backend *backend; /* resolved from cfg.io_mode */
    struct ew_shared sh;              /* what the workers see */
    _Atomic uint64_t generation;      /* of the table in force */
    pthread_mutex_t ctl;              /* serialises control calls */
    struct ew_worker *workers;
    uint32_t nworkers;
    bool port_open[EW_MAX_PORTS];
    char port_name[EW_MAX_PORTS][EW_IFNAME_MAX];
    /* dup of a persistent port's first queue fd, plus one (0: none): how
     * close_port clears TUNSETPERSIST when the device is to go. */
    int port_ctl[EW_MAX_PORTS];
    /* QEMU stream ports (io_stream.h): allocated and listening here, served by
     * worker 0's epoll loop; NULL for every other port. */
    struct ew_stream_port *stream[EW_MAX_PORTS];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void sleep_us(long us) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000L};
    nanosleep(&ts, NULL);
}

/* Returns once every worker has passed a burst boundary: nothing it read
 * from sh before the call (a table, a capture) is still in use. Under ctl. */
static void quiesce(struct ew_engine *eng) {
    uint64_t seen[EW_MAX_WORKERS];
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        seen[i] = atomic_load(&eng->workers[i].epoch);
        ew_worker_wake(&eng->workers[i]);
    }
    for (uint32_t i = 0; i < eng->nworkers; i++)
        while (atomic_load(&eng->workers[i].epoch) <= seen[i])
            sleep_us(50);
}

/* ---- lifecycle ---- */

static void stop_workers(struct ew_engine *eng, uint32_t running) {
    atomic_store(&eng->sh.stop, true);
    for (uint32_t i = 0; i < running; i++) {
        ew_worker_wake(&eng->workers[i]);
        pthread_join(eng->workers[i].thread, NULL);
    }
}

static void free_workers(struct ew_engine *eng) {
    for (uint32_t i = 0; i < eng->nworkers; i++)
        ew_worker_fini(&eng->workers[i]);
    free(eng->workers);
}

static int resolve_backend(struct ew_engine *eng, char *err, size_t errlen) {
    switch (eng->cfg.io_mode) {
    case EW_IO_EPOLL:
        eng->backend = &ew_backend_epoll;
        return 0;
    case EW_IO_URING:
        if (!ew_backend_uring.available()) {
            set_err(err, errlen, "io_uring requested but this kernel refuses to set up a ring");
            return -1;
        }
        eng->backend = &ew_backend_uring;
        return 0;
    case EW_IO_AUTO:
        eng->backend = ew_backend_uring.available() ? &ew_backend_uring : &ew_backend_epoll;
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
    /* No defaults here (DEFAULT_OPTIONS in src/dataplane/dataplane.ts owns them): 0 is refused. */
    if (eng->cfg.workers == 0 || eng->cfg.workers > EW_MAX_WORKERS) {
        set_err(err, errlen, "workers must be 1..%u, got %u", EW_MAX_WORKERS, eng->cfg.workers);
        free(eng);
        return NULL;
    }
    if (eng->cfg.sweep_budget == 0) {
        set_err(err, errlen, "sweep_budget must be at least 1");
        free(eng);
        return NULL;
    }
    if (eng->cfg.capture_slots == 0 || eng->cfg.capture_slots > EW_CAP_MAX_SLOTS) {
        set_err(err, errlen, "capture_slots must be 1..%u, got %u", EW_CAP_MAX_SLOTS,
                eng->cfg.capture_slots);
        free(eng);
        return NULL;
    }
    uint32_t hs = eng->cfg.hit_ring_slots;
    if (hs > EW_HIT_MAX_SLOTS || (hs & (hs - 1)) != 0) {
        set_err(err, errlen, "hit_ring_slots must be 0 or a power of two up to %u, got %u",
                EW_HIT_MAX_SLOTS, hs);
        free(eng);
        return NULL;
    }
    eng->sh.capture = calloc(EW_MAX_PORTS, sizeof *eng->sh.capture);
    if (!eng->sh.capture) {
        set_err(err, errlen, "out of memory");
        free(eng);
        return NULL;
    }
    struct ew_shared *sh = &eng->sh;
    sh->hdr_len = eng->cfg.vnet_hdr ? EW_VNET_HDR_LEN : 0;
    sh->buf_size = eng->cfg.vnet_hdr ? EW_BUF_GSO : EW_BUF_PLAIN;
    sh->sweep_budget = eng->cfg.sweep_budget;
    sh->flow_table_size = eng->cfg.flow_table_size;
    sh->hit_ring_slots = eng->cfg.hit_ring_slots;
    sh->passthrough = eng->cfg.passthrough;
    atomic_init(&sh->table, NULL);
    atomic_init(&sh->clock_offset_ms, 0);
    atomic_init(&sh->stop, false);
    atomic_flag_clear(&sh->sweeping);
    atomic_init(&sh->captures_on, 0);
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        atomic_init(&sh->capture[p], NULL);
    atomic_init(&eng->generation, 0);
    pthread_mutex_init(&eng->ctl, NULL);
    if (resolve_backend(eng, err, errlen) != 0) goto fail_engine;

    if (!eng->cfg.passthrough) {
        sh->core = ew_core_create(&eng->cfg.core, err, errlen);
        if (!sh->core) goto fail_engine;
    }

    eng->nworkers = eng->cfg.workers;
    eng->workers = calloc(eng->nworkers, sizeof *eng->workers);
    if (!eng->workers) {
        set_err(err, errlen, "out of memory");
        goto fail_core;
    }
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        if (ew_worker_init(&eng->workers[i], sh, i) != 0) {
            set_err(err, errlen, "cannot set up worker %u: %s", i, strerror(errno));
            eng->nworkers = i + 1;
            goto fail_workers;
        }
    }
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        if (ew_worker_start(&eng->workers[i], eng->backend->worker_main, err, errlen) != 0) {
            stop_workers(eng, i);
            goto fail_workers;
        }
    }
    return eng;

fail_workers:
    free_workers(eng);
fail_core:
    if (sh->core) ew_core_destroy(sh->core);
fail_engine:
    pthread_mutex_destroy(&eng->ctl);
    free(eng->sh.capture);
    free(eng);
    return NULL;
}

void ew_engine_destroy(struct ew_engine *eng) {
    if (!eng) return;
    /* Workers close their own queue fds on the way out (the TAPs disappear). */
    stop_workers(eng, eng->nworkers);
    free_workers(eng);
    struct ew_table_view *t = atomic_load(&eng->sh.table);
    if (t) ew_table_free(t);
    if (eng->sh.core) ew_core_destroy(eng->sh.core);
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        ew_capture_destroy(atomic_load(&eng->sh.capture[p]));
    free(eng->sh.capture);
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        if (eng->port_ctl[p] > 0) close(eng->port_ctl[p] - 1);
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        if (eng->stream[p]) { /* the workers are gone: nothing serves it */
            ew_stream_port_close(eng->stream[p]);
            free(eng->stream[p]);
        }
    pthread_mutex_destroy(&eng->ctl);
    free(eng);
}

/* ---- ports ---- */

static int lowest_free_port(const struct ew_engine *eng) {
    for (uint32_t p = 0; p < EW_PORT_UNDERLAY; p++) /* the last id is the underlay's */
        if (!eng->port_open[p]) return (int)p;
    return -1;
}

int ew_engine_open_tap(struct ew_engine *eng, const char *name, uint32_t *port, char *ifname,
                       char *err, size_t errlen) {
    return ew_engine_open_tap_at(eng, name, -1, 0, -1, port, ifname, err, errlen);
}

int ew_engine_open_tap_at(struct ew_engine *eng, const char *name, int netns_fd, unsigned flags,
                          int want_port, uint32_t *port, char *ifname, char *err, size_t errlen) {
    bool persist = (flags & EW_TAP_PERSIST) != 0;
    if (!name || strlen(name) >= EW_IFNAME_MAX) {
        set_err(err, errlen, "TAP name must be 1..%u characters", EW_IFNAME_MAX - 1);
        return -1;
    }
    pthread_mutex_lock(&eng->ctl);
    int rc = -1;
    int fds[EW_MAX_WORKERS];
    uint32_t nfds = 0, attached = 0;
    int free_port = want_port < 0 ? lowest_free_port(eng) : want_port;
    if (want_port >= (int)EW_MAX_PORTS || (want_port >= 0 && eng->port_open[want_port])) {
        set_err(err, errlen, "port %d is not free", want_port);
        goto out;
    }
    if (free_port < 0) {
        set_err(err, errlen, "all %u ports are in use", EW_MAX_PORTS);
        goto out;
    }
    uint32_t p = (uint32_t)free_port;
    char actual[EW_IFNAME_MAX];
    snprintf(actual, sizeof actual, "%s", name);
    bool multi = eng->nworkers > 1;
    bool nonblock = eng->backend->nonblocking_fds;
    for (; nfds < eng->nworkers; nfds++) {
        int fd = ew_tap_open_queue_at(actual, netns_fd, persist, multi, eng->cfg.vnet_hdr, nonblock,
                                      actual, err, errlen);
        if (fd < 0) goto undo;
        fds[nfds] = fd;
    }
    int ctl = -1;
    if (persist) {
        ctl = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
        if (ctl < 0) {
            set_err(err, errlen, "dup: %s", strerror(errno));
            goto undo;
        }
    }
    for (; attached < eng->nworkers; attached++) {
        /* The worker owns the fd from here on, even when it fails. */
        int res = ew_worker_post(&eng->workers[attached], EW_CMD_OPEN, p, fds[attached]);
        if (res != 0) {
            set_err(err, errlen, "worker %u cannot serve %s: %s", attached, actual, strerror(-res));
            attached++;
            if (ctl >= 0) close(ctl);
            goto undo_attached;
        }
    }
    eng->port_open[p] = true;
    eng->port_ctl[p] = ctl + 1;
    snprintf(eng->port_name[p], EW_IFNAME_MAX, "%s", actual);
    *port = p;
    snprintf(ifname, EW_IFNAME_MAX, "%s", actual);
    rc = 0;
    goto out;

undo_attached:
    for (uint32_t i = 0; i < attached; i++)
        ew_worker_post(&eng->workers[i], EW_CMD_CLOSE, p, -1);
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

/* Unpublish, wait until no worker holds it, free. -1 when there is none. */
static int capture_stop_locked(struct ew_engine *eng, uint32_t port) {
    struct ew_capture *c = atomic_exchange(&eng->sh.capture[port], NULL);
    if (!c) return -1;
    atomic_fetch_sub(&eng->sh.captures_on, 1);
    quiesce(eng);
    ew_capture_destroy(c);
    return 0;
}

int ew_engine_close_port(struct ew_engine *eng, uint32_t port) {
    return ew_engine_close_port_ex(eng, port, false);
}

int ew_engine_close_port_ex(struct ew_engine *eng, uint32_t port, bool remove) {
    pthread_mutex_lock(&eng->ctl);
    if (port >= EW_MAX_PORTS || !eng->port_open[port]) {
        pthread_mutex_unlock(&eng->ctl);
        return -1;
    }
    for (uint32_t i = 0; i < eng->nworkers; i++)
        ew_worker_post(&eng->workers[i], EW_CMD_CLOSE, port, -1);
    capture_stop_locked(eng, port);
    if (eng->stream[port]) { /* no worker watches its fds any more */
        ew_stream_port_close(eng->stream[port]);
        free(eng->stream[port]);
        eng->stream[port] = NULL;
    }
    /* A persistent port kept for the next daemon keeps its connections too
     * (conntrack in shared memory, adopted by that daemon). */
    bool keep = eng->port_ctl[port] > 0 && !remove;
    if (eng->port_ctl[port] > 0) {
        /* Workers have closed their queues; this is the device's last fd. */
        if (remove) ew_tap_set_persist(eng->port_ctl[port] - 1, false, NULL, 0);
        close(eng->port_ctl[port] - 1);
        eng->port_ctl[port] = 0;
    }
    eng->port_open[port] = false;
    eng->port_name[port][0] = '\0';
    if (eng->sh.core && !keep) ew_core_flush_port(eng->sh.core, port);
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
    struct ew_table_view *old = atomic_exchange(&eng->sh.table, t);
    atomic_store(&eng->generation, generation);
    /* Any burst that started before the exchange ends with an epoch bump
     * after the value read here; the next one loads the new table. */
    quiesce(eng);
    pthread_mutex_unlock(&eng->ctl);
    if (old) ew_table_free(old);
    return 0;
}

uint64_t ew_engine_generation(const struct ew_engine *eng) {
    /* Its own atomic: the table it came from may be freed by a concurrent load. */
    return atomic_load(&((struct ew_engine *)eng)->generation);
}

int ew_engine_trace(struct ew_engine *eng, const struct ew_trace_query *q, struct ew_trace *out) {
    if (!eng->sh.core) return -1;
    /* Under ctl the table cannot be swapped, so it cannot be freed under us. */
    pthread_mutex_lock(&eng->ctl);
    const struct ew_table_view *t = atomic_load(&eng->sh.table);
    int r = t ? ew_trace(eng->sh.core, t, q, ew_engine_now_ms(eng), out) : -1;
    pthread_mutex_unlock(&eng->ctl);
    return r;
}

/* ---- flow samples ---- */

uint32_t ew_engine_flow_drain(struct ew_engine *eng, struct ew_flow_sample *out, uint32_t max,
                              uint64_t *lost) {
    /* Under ctl: one drain at a time (the double-buffer hand-off has one drainer). */
    pthread_mutex_lock(&eng->ctl);
    uint32_t n = ew_flow_drain_workers(eng->workers, eng->nworkers, eng->sh.core, out, max, lost);
    pthread_mutex_unlock(&eng->ctl);
    return n;
}

uint32_t ew_engine_hits_drain(struct ew_engine *eng, struct ew_hit_rec *out, uint32_t max,
                              uint64_t *lost) {
    /* Under ctl: each ring has one consumer. */
    pthread_mutex_lock(&eng->ctl);
    uint32_t n = 0;
    uint64_t total_lost = 0;
    for (uint32_t i = 0; i < eng->nworkers; i++) {
        struct ew_hit_ring *r = eng->workers[i].ctx.hits;
        if (!r) continue;
        uint64_t l = 0;
        n += ew_hit_drain(r, out + n, max - n, &l);
        total_lost += l;
    }
    pthread_mutex_unlock(&eng->ctl);
    if (lost) *lost = total_lost;
    return n;
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
    return ew_clock_now_ms(&eng->sh);
}

void ew_engine_advance_clock(struct ew_engine *eng, uint64_t ms) {
    atomic_fetch_add(&eng->sh.clock_offset_ms, (int64_t)ms);
    for (uint32_t i = 0; i < eng->nworkers; i++)
        ew_worker_wake(&eng->workers[i]);
}

struct ew_core *ew_engine_core(struct ew_engine *eng) {
    return eng->sh.core;
}

void ew_engine_stats(const struct ew_engine *eng, struct ew_engine_stats *out) {
    memset(out, 0, sizeof *out);
    out->io_mode = eng->backend->mode;
    out->workers = eng->nworkers;
    out->vnet_hdr = eng->cfg.vnet_hdr;
    out->passthrough = eng->cfg.passthrough;
    out->fixed_buffers = eng->sh.fixed_buffers;
    out->fixed_files = eng->sh.fixed_files;
    uint32_t n = 0;
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        n += eng->port_open[p] ? 1u : 0u;
    out->ports_open = n;
}

uint32_t ew_engine_worker_busy_ns(const struct ew_engine *eng, uint64_t *out, uint32_t max) {
    uint32_t n = eng->nworkers < max ? eng->nworkers : max;
    for (uint32_t i = 0; i < n; i++)
        out[i] = atomic_load_explicit(&eng->workers[i].busy_ns, memory_order_relaxed);
    return n;
}

/* ---- capture ---- */

int ew_engine_capture_start(struct ew_engine *eng, uint32_t port, uint32_t flags, char *err,
                            size_t errlen) {
    if (eng->cfg.passthrough) {
        set_err(err, errlen, "no capture in passthrough mode");
        return -1;
    }
    if (port >= EW_MAX_PORTS || (flags & ~(EW_CAP_OUT | EW_CAP_IN | EW_CAP_DROPS_ONLY)) ||
        !(flags & (EW_CAP_OUT | EW_CAP_IN))) {
        set_err(err, errlen, "bad capture port %u or flags %#x", port, flags);
        return -1;
    }
    pthread_mutex_lock(&eng->ctl);
    int rc = -1;
    if (!eng->port_open[port]) {
        set_err(err, errlen, "port %u is not open", port);
    } else if (atomic_load(&eng->sh.capture[port])) {
        set_err(err, errlen, "port %u already has a capture", port);
    } else {
        struct ew_capture *c =
            ew_capture_create(port, flags, eng->nworkers, eng->cfg.capture_slots);
        if (!c) {
            set_err(err, errlen, "out of memory for %u capture records", eng->cfg.capture_slots);
        } else {
            /* pointer first: a worker that sees the count reads it with acquire */
            atomic_store_explicit(&eng->sh.capture[port], c, memory_order_release);
            atomic_fetch_add(&eng->sh.captures_on, 1);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&eng->ctl);
    return rc;
}

int ew_engine_capture_stop(struct ew_engine *eng, uint32_t port) {
    if (port >= EW_MAX_PORTS) return -1;
    pthread_mutex_lock(&eng->ctl);
    int rc = capture_stop_locked(eng, port);
    pthread_mutex_unlock(&eng->ctl);
    return rc;
}

int ew_engine_capture_drain(struct ew_engine *eng, uint32_t port, uint8_t *buf, size_t cap,
                            size_t *used, uint64_t *lost) {
    *used = 0;
    *lost = 0;
    if (port >= EW_MAX_PORTS) return -1;
    /* Under ctl: stop (which frees) cannot run meanwhile, and this is the one consumer. */
    pthread_mutex_lock(&eng->ctl);
    struct ew_capture *c = atomic_load(&eng->sh.capture[port]);
    int n = -1;
    if (c) {
        n = (int)ew_capture_drain(c, buf, cap, used);
        *lost = ew_capture_lost(c);
    }
    pthread_mutex_unlock(&eng->ctl);
    return n;
}

/* ---- overlay underlay port (io_underlay.h) ---- */

int ew_engine_open_underlay(struct ew_engine *eng, uint32_t addr, uint16_t port, char *err,
                            size_t errlen) {
    pthread_mutex_lock(&eng->ctl);
    int rc = -1;
    uint32_t attached = 0;
    if (eng->backend->mode != EW_IO_EPOLL) {
        set_err(err, errlen, "the overlay needs the epoll I/O backend (--io epoll)");
        goto out;
    }
    if (eng->cfg.passthrough) {
        set_err(err, errlen, "no overlay in passthrough mode");
        goto out;
    }
    if (eng->port_open[EW_PORT_UNDERLAY]) {
        set_err(err, errlen, "the underlay port is already open");
        goto out;
    }
    for (; attached < eng->nworkers; attached++) {
        int fd = ew_underlay_socket(addr, port, err, errlen);
        if (fd < 0) goto undo;
        int res = ew_worker_post(&eng->workers[attached], EW_CMD_OPEN, EW_PORT_UNDERLAY, fd);
        if (res != 0) {
            set_err(err, errlen, "worker %u cannot serve the underlay: %s", attached,
                    strerror(-res));
            attached++;
            goto undo;
        }
    }
    eng->port_open[EW_PORT_UNDERLAY] = true;
    snprintf(eng->port_name[EW_PORT_UNDERLAY], EW_IFNAME_MAX, "underlay");
    rc = 0;
    goto out;
undo:
    for (uint32_t i = 0; i < attached; i++)
        ew_worker_post(&eng->workers[i], EW_CMD_CLOSE, EW_PORT_UNDERLAY, -1);
out:
    pthread_mutex_unlock(&eng->ctl);
    return rc;
}

/* ---- QEMU stream ports (io_stream.h) ---- */

int ew_engine_open_stream(struct ew_engine *eng, const char *path, int want_port, uint32_t *port,
                          char *err, size_t errlen) {
    return ew_engine_open_stream_mode(eng, path, false, want_port, port, err, errlen);
}

int ew_engine_open_stream_mode(struct ew_engine *eng, const char *path, bool connect, int want_port,
                               uint32_t *port, char *err, size_t errlen) {
    if (!path) {
        set_err(err, errlen, "QEMU socket path missing");
        return -1;
    }
    pthread_mutex_lock(&eng->ctl);
    int rc = -1;
    struct ew_stream_port *sp = NULL;
    /* A stream carries plain frames: TSO frames from TAPs (vnet header) would
     * need segmenting, and several workers would hand frames to the owner
     * through SPSC rings; neither is built. */
    bool uring = eng->backend->mode != EW_IO_EPOLL, vnet = eng->cfg.vnet_hdr,
         many = eng->nworkers != 1;
    if (eng->cfg.passthrough) {
        set_err(err, errlen, "QEMU socket %s: no QEMU socket ports in passthrough mode", path);
        goto out;
    }
    if (uring || vnet || many) {
        set_err(err, errlen,
                "QEMU socket %s: a QEMU socket port needs the daemon run with --io epoll "
                "--offload off --workers 1 (this one runs%s%s%s)",
                path, uring ? " io_uring" : "", vnet ? " offload on" : "",
                many ? " several workers" : "");
        goto out;
    }
    int p = want_port < 0 ? lowest_free_port(eng) : want_port;
    if (want_port >= (int)EW_PORT_UNDERLAY || (want_port >= 0 && eng->port_open[want_port])) {
        set_err(err, errlen, "port %d is not free", want_port);
        goto out;
    }
    if (p < 0) {
        set_err(err, errlen, "all %u ports are in use", EW_MAX_PORTS);
        goto out;
    }
    sp = calloc(1, sizeof *sp);
    if (!sp) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    int e = connect ? ew_stream_port_open_client(sp, path) : ew_stream_port_open(sp, path);
    if (e != 0) {
        const char *why = e == -EEXIST       ? "a file that is not a socket is in the way"
                          : e == -EADDRINUSE ? "something already listens on it"
                          : e == -EINVAL     ? "the path must be absolute"
                          : e == -ENAMETOOLONG
                              ? "the path is too long for a unix socket (107 bytes at most)"
                              : strerror(-e);
        set_err(err, errlen, "QEMU socket %s: %s", path, why);
        ew_stream_port_close(sp);
        goto out;
    }
    int res = ew_worker_post_ptr(&eng->workers[0], EW_CMD_OPEN_STREAM, (uint32_t)p, sp);
    if (res != 0) {
        set_err(err, errlen, "the worker cannot serve %s: %s", path, strerror(-res));
        ew_stream_port_close(sp);
        goto out;
    }
    eng->stream[p] = sp;
    sp = NULL;
    eng->port_open[p] = true;
    snprintf(eng->port_name[p], EW_IFNAME_MAX, "qemu-stream");
    *port = (uint32_t)p;
    rc = 0;
out:
    free(sp);
    pthread_mutex_unlock(&eng->ctl);
    return rc;
}

int ew_engine_stream_stats(struct ew_engine *eng, uint32_t port,
                           struct ew_engine_stream_stats *out) {
    memset(out, 0, sizeof *out);
    if (port >= EW_MAX_PORTS) return -1;
    pthread_mutex_lock(&eng->ctl); /* the port cannot be freed meanwhile */
    const struct ew_stream_port *sp = eng->stream[port];
    int rc = -1;
    if (sp) {
        /* The worker writes these while we read (relaxed atomics, io_stream.h). */
        const struct ew_stream_stats *s = &sp->st;
        out->accepts = ew_stream_read(&s->accepts);
        out->replaced = ew_stream_read(&s->replaced);
        out->resets = ew_stream_read(&s->resets);
        out->connects = ew_stream_read(&s->connects);
        out->connect_fails = ew_stream_read(&s->connect_fails);
        out->connect_mode = sp->client;
        out->connected = out->accepts + out->connects > out->resets;
        out->rx_frames = ew_stream_read(&s->rx_frames);
        out->rx_bytes = ew_stream_read(&s->rx_bytes);
        out->tx_frames = ew_stream_read(&s->tx_frames);
        out->tx_bytes = ew_stream_read(&s->tx_bytes);
        out->rx_bad_len = ew_stream_read(&s->rx_bad_len);
        out->tx_busy = ew_stream_read(&s->tx_busy);
        out->tx_no_peer = ew_stream_read(&s->tx_no_peer);
        rc = 0;
    }
    pthread_mutex_unlock(&eng->ctl);
    return rc;
}

/* ---- vhost-user ports (io_vhost.h) ---- */

int ew_engine_open_vhost(struct ew_engine *eng, const char *path, int want_port, uint32_t *port,
                         char *err, size_t errlen) {
    pthread_mutex_lock(&eng->ctl);
    int rc = -1;
    if (eng->backend->mode != EW_IO_EPOLL) {
        set_err(err, errlen, "vhost-user ports need the epoll I/O backend (--io epoll)");
        goto out;
    }
    if (eng->nworkers != 1) {
        set_err(err, errlen, "vhost-user ports need one worker (--workers 1)");
        goto out;
    }
    if (eng->cfg.vnet_hdr || eng->cfg.passthrough) {
        set_err(err, errlen, "vhost-user ports need --offload off and no passthrough");
        goto out;
    }
    int free_port = want_port < 0 ? lowest_free_port(eng) : want_port;
    if (want_port >= (int)EW_PORT_UNDERLAY || (want_port >= 0 && eng->port_open[want_port])) {
        set_err(err, errlen, "port %d is not free", want_port);
        goto out;
    }
    if (free_port < 0) {
        set_err(err, errlen, "all %u ports are in use", EW_MAX_PORTS);
        goto out;
    }
    int fd = ew_vhost_listen(path);
    if (fd < 0) {
        set_err(err, errlen, "cannot listen on %s: %s", path ? path : "(null)",
                fd == -EEXIST ? "a file that is not a socket is in the way" : strerror(-fd));
        goto out;
    }
    uint32_t p = (uint32_t)free_port;
    int res = ew_worker_post(&eng->workers[0], EW_CMD_OPEN_VHOST, p, fd);
    if (res != 0) {
        set_err(err, errlen, "the worker cannot serve %s: %s", path, strerror(-res));
        unlink(path);
        goto out;
    }
    eng->port_open[p] = true;
    snprintf(eng->port_name[p], EW_IFNAME_MAX, "vhost%u", p);
    *port = p;
    rc = 0;
out:
    pthread_mutex_unlock(&eng->ctl);
    return rc;
}
