/*
 * io_uring backend: one ring per worker, READS_PER_PORT READs in flight on this
 * worker's queue of every port, each into its own buffer slot. A completed
 * READ is judged in place and becomes a WRITE of the same buffer to the
 * destination queue (the READs of one completion batch are judged together,
 * ew_worker_judge_burst, so the core prefetches their conntrack lines); the slot's READ is re-armed
 * when the WRITE completes (or at once when the frame was dropped). Completions are handled in
 * bursts, one io_uring_enter() per burst submits every queued WRITE and READ.
 *
 * Registered files (index = port id) and registered buffers (index = port id,
 * one region holding the port's slots) when the kernel takes them; the ring is
 * SINGLE_ISSUER|DEFER_TASKRUN when accepted (baselines/README.md: 797 kpps vs
 * 487 kpps for read/write + epoll).
 *
 * Closing a port: mark it CLOSING, cancel every request on its fd, keep serving
 * the other ports until the requests touching its fd or buffers are gone, then
 * release fd and buffers and ack the command.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io_backend.h"
#include "io_worker.h"

#define READS_PER_PORT 32u
#define SQ_ENTRIES     1024u
#define CQ_ENTRIES     8192u
#define CQE_BATCH      256u
#define STOP_DRAIN_MS  1000u

enum op { OP_READ = 1, OP_WRITE = 2, OP_WAKE = 3, OP_CANCEL = 4 };
enum port_state { PORT_CLOSED = 0, PORT_OPEN, PORT_CLOSING };

struct uport {
    uint8_t state;                      /* enum port_state */
    int fd;                             /* this worker's queue fd */
    uint32_t inflight;                  /* requests using this port's fd or buffers */
    uint8_t *bufs;                      /* READS_PER_PORT * buf_size */
    uint32_t out_port[READS_PER_PORT];  /* WRITE in flight: destination */
    uint32_t frame_len[READS_PER_PORT]; /* WRITE in flight: frame bytes, vnet header excluded */
};

struct uring_worker {
    struct io_uring ring;
    bool fixed_files;
    bool fixed_bufs;
    uint32_t closing; /* port being closed, or EW_PORT_NONE */
    uint64_t total_inflight;
    uint64_t wake_val; /* eventfd READ target */
    struct uport ports[EW_MAX_PORTS];
};

static inline uint64_t pack(enum op op, uint32_t port, uint32_t slot) {
    return ((uint64_t)op << 56) | ((uint64_t)port << 24) | slot;
}
static inline enum op op_of(uint64_t ud) {
    return (enum op)(ud >> 56);
}
static inline uint32_t port_of(uint64_t ud) {
    return (uint32_t)(ud >> 24) & 0xffffffu;
}
static inline uint32_t slot_of(uint64_t ud) {
    return (uint32_t)ud & 0xffffffu;
}

static bool available(void) {
    struct io_uring ring;
    if (io_uring_queue_init(8, &ring, 0) != 0) return false;
    io_uring_queue_exit(&ring);
    return true;
}

static struct io_uring_sqe *get_sqe(struct uring_worker *uw) {
    struct io_uring_sqe *sqe;
    /* SQ full: push what is queued to the kernel and take a fresh entry. */
    while ((sqe = io_uring_get_sqe(&uw->ring)) == NULL)
        io_uring_submit(&uw->ring);
    return sqe;
}

static void target_port(struct uring_worker *uw, struct io_uring_sqe *sqe, uint32_t port) {
    if (uw->fixed_files) {
        sqe->fd = (int)port;
        sqe->flags |= IOSQE_FIXED_FILE;
    }
}

static uint8_t *slot_buf(const struct ew_shared *sh, struct uport *up, uint32_t slot) {
    return up->bufs + (size_t)slot * sh->buf_size;
}

static void arm_read(struct ew_worker *w, struct uring_worker *uw, uint32_t port, uint32_t slot) {
    struct uport *up = &uw->ports[port];
    struct io_uring_sqe *sqe = get_sqe(uw);
    uint8_t *buf = slot_buf(w->sh, up, slot);
    if (uw->fixed_bufs)
        io_uring_prep_read_fixed(sqe, up->fd, buf, w->sh->buf_size, 0, (int)port);
    else
        io_uring_prep_read(sqe, up->fd, buf, w->sh->buf_size, 0);
    target_port(uw, sqe, port);
    io_uring_sqe_set_data64(sqe, pack(OP_READ, port, slot));
    up->inflight++;
    uw->total_inflight++;
}

static void arm_write(struct ew_worker *w, struct uring_worker *uw, uint32_t port, uint32_t slot,
                      uint32_t out_port, uint32_t frame_len) {
    struct uport *up = &uw->ports[port], *dst = &uw->ports[out_port];
    struct io_uring_sqe *sqe = get_sqe(uw);
    uint8_t *buf = slot_buf(w->sh, up, slot);
    unsigned total = w->sh->hdr_len + frame_len;
    if (uw->fixed_bufs)
        io_uring_prep_write_fixed(sqe, dst->fd, buf, total, 0, (int)port);
    else
        io_uring_prep_write(sqe, dst->fd, buf, total, 0);
    target_port(uw, sqe, out_port);
    io_uring_sqe_set_data64(sqe, pack(OP_WRITE, port, slot));
    up->out_port[slot] = out_port;
    up->frame_len[slot] = frame_len;
    /* Counted on both: closing either must wait for this request. */
    up->inflight++;
    dst->inflight++;
    uw->total_inflight++;
}

static void arm_wake(struct ew_worker *w, struct uring_worker *uw) {
    struct io_uring_sqe *sqe = get_sqe(uw);
    io_uring_prep_read(sqe, w->wake_fd, &uw->wake_val, sizeof uw->wake_val, 0);
    io_uring_sqe_set_data64(sqe, pack(OP_WAKE, 0, 0));
    uw->total_inflight++;
}

static bool read_error_is_transient(int res) {
    return res == -EAGAIN || res == -EINTR || res == -ENOBUFS;
}

/* The READs of one completion batch that carry a frame to judge: judged
 * together (ew_worker_judge_burst) once the whole batch has been looked at. */
struct pending_reads {
    uint32_t n;
    uint32_t port[CQE_BATCH], slot[CQE_BATCH], len[CQE_BATCH];
    uint8_t *buf[CQE_BATCH];
};

static void on_read(struct ew_worker *w, struct uring_worker *uw, uint32_t port, uint32_t slot,
                    int res, struct pending_reads *pr) {
    struct uport *up = &uw->ports[port];
    up->inflight--;
    if (up->state != PORT_OPEN) return;
    if (res < 0) {
        /* A persistent error would spin: that slot stays idle instead. */
        if (read_error_is_transient(res)) arm_read(w, uw, port, slot);
        return;
    }
    const uint32_t hdr = w->sh->hdr_len;
    if ((uint32_t)res < hdr) {
        ew_worker_count_drop(w, port, EW_DROP_TRUNCATED_ETH);
        arm_read(w, uw, port, slot);
        return;
    }
    uint32_t i = pr->n++;
    pr->port[i] = port;
    pr->slot[i] = slot;
    pr->len[i] = (uint32_t)res - hdr;
    pr->buf[i] = slot_buf(w->sh, up, slot);
}

/* Judge the batch's frames, then WRITE each to its port or re-arm its READ.
 * Ports cannot change state within a batch (commands run between batches). */
static void judge_pending(struct ew_worker *w, struct uring_worker *uw,
                          const struct ew_table_view *t, struct pending_reads *pr) {
    uint32_t out[CQE_BATCH];
    ew_worker_judge_burst(w, t, pr->port, pr->buf, pr->len, w->sh->buf_size - w->sh->hdr_len, pr->n,
                          out);
    for (uint32_t i = 0; i < pr->n; i++) {
        uint32_t port = pr->port[i], slot = pr->slot[i];
        if (out[i] == EW_PORT_NONE) {
            arm_read(w, uw, port, slot);
        } else if (out[i] & 0x80000000u) { /* overlay: epoll backend only (io_underlay.h) */
            ew_worker_count_drop(w, port, EW_DROP_OVERLAY_NO_UNDERLAY);
            arm_read(w, uw, port, slot);
        } else if (uw->ports[out[i]].state != PORT_OPEN) {
            ew_worker_count_drop(w, port, EW_DROP_PORT_DOWN);
            arm_read(w, uw, port, slot);
        } else {
            arm_write(w, uw, port, slot, out[i], pr->len[i]);
        }
    }
    pr->n = 0;
}

static void on_write(struct ew_worker *w, struct uring_worker *uw, uint32_t port, uint32_t slot,
                     int res) {
    struct uport *up = &uw->ports[port];
    uint32_t out = up->out_port[slot], len = up->frame_len[slot];
    up->inflight--;
    uw->ports[out].inflight--;
    if (res == (int)(w->sh->hdr_len + len))
        ew_worker_count_tx(w, out, len);
    else
        ew_worker_count_drop(w, port, res == -ECANCELED ? EW_DROP_PORT_DOWN : EW_DROP_TX_FAILED);
    if (up->state == PORT_OPEN) arm_read(w, uw, port, slot);
}

static void on_cqe(struct ew_worker *w, struct uring_worker *uw, const struct io_uring_cqe *cqe,
                   struct pending_reads *pr) {
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    switch (op_of(ud)) {
    case OP_READ:
        uw->total_inflight--;
        on_read(w, uw, port_of(ud), slot_of(ud), cqe->res, pr);
        break;
    case OP_WRITE:
        uw->total_inflight--;
        on_write(w, uw, port_of(ud), slot_of(ud), cqe->res);
        break;
    case OP_WAKE:
        uw->total_inflight--;
        if (!ew_worker_stopping(w)) arm_wake(w, uw);
        break;
    case OP_CANCEL:
        uw->total_inflight--;
        break;
    }
}

/* ---- port set changes (mailbox commands) ---- */

static int open_port(struct ew_worker *w, struct uring_worker *uw, uint32_t port, int fd) {
    struct uport *up = &uw->ports[port];
    void *mem = NULL;
    size_t bytes = (size_t)READS_PER_PORT * w->sh->buf_size;
    if (posix_memalign(&mem, 4096, bytes) != 0) {
        close(fd);
        return -ENOMEM;
    }
    if (uw->fixed_files) {
        int rc = io_uring_register_files_update(&uw->ring, port, &fd, 1);
        if (rc < 0) {
            free(mem);
            close(fd);
            return rc;
        }
    }
    if (uw->fixed_bufs) {
        struct iovec iov = {.iov_base = mem, .iov_len = bytes};
        int rc = io_uring_register_buffers_update_tag(&uw->ring, port, &iov, NULL, 1);
        if (rc < 0) {
            int none = -1;
            if (uw->fixed_files) io_uring_register_files_update(&uw->ring, port, &none, 1);
            free(mem);
            close(fd);
            return rc;
        }
    }
    memset(&w->counters[port], 0, sizeof w->counters[port]);
    up->fd = fd;
    up->bufs = mem;
    up->inflight = 0;
    up->state = PORT_OPEN;
    for (uint32_t s = 0; s < READS_PER_PORT; s++)
        arm_read(w, uw, port, s);
    return 0;
}

static void begin_close(struct uring_worker *uw, uint32_t port) {
    struct uport *up = &uw->ports[port];
    up->state = PORT_CLOSING;
    uw->closing = port;
    struct io_uring_sqe *sqe = get_sqe(uw);
    unsigned flags = IORING_ASYNC_CANCEL_ALL;
    if (uw->fixed_files) {
        io_uring_prep_cancel_fd(sqe, (int)port, flags | IORING_ASYNC_CANCEL_FD_FIXED);
    } else {
        io_uring_prep_cancel_fd(sqe, up->fd, flags);
    }
    io_uring_sqe_set_data64(sqe, pack(OP_CANCEL, port, 0));
    uw->total_inflight++;
}

static void release_port(struct uring_worker *uw, uint32_t port) {
    struct uport *up = &uw->ports[port];
    if (uw->fixed_files) {
        int none = -1;
        io_uring_register_files_update(&uw->ring, port, &none, 1);
    }
    if (uw->fixed_bufs) {
        struct iovec iov = {.iov_base = NULL, .iov_len = 0};
        io_uring_register_buffers_update_tag(&uw->ring, port, &iov, NULL, 1);
    }
    close(up->fd);
    free(up->bufs);
    memset(up, 0, sizeof *up);
    up->fd = -1;
}

/* Finish a close once nothing in flight touches the port any more. */
static void try_finish_close(struct ew_worker *w, struct uring_worker *uw) {
    if (uw->closing == EW_PORT_NONE || uw->ports[uw->closing].inflight != 0) return;
    release_port(uw, uw->closing);
    uw->closing = EW_PORT_NONE;
    ew_worker_cmd_finish(w, 0);
}

static void handle_command(struct ew_worker *w, struct uring_worker *uw) {
    if (uw->closing != EW_PORT_NONE) return; /* the pending close is acked later */
    uint32_t port = w->cmd_port;
    if (w->cmd == EW_CMD_OPEN) {
        ew_worker_cmd_finish(w, open_port(w, uw, port, w->cmd_fd));
    } else if (w->cmd == EW_CMD_CLOSE && uw->ports[port].state == PORT_OPEN) {
        begin_close(uw, port);
    } else if (w->cmd == EW_CMD_OPEN_STREAM) {
        ew_worker_cmd_finish(w, -EOPNOTSUPP); /* stream ports are epoll's (engine.c refuses) */
    } else {
        ew_worker_cmd_finish(w, 0);
    }
}

/* ---- the loop ---- */

static void process_completions(struct ew_worker *w, struct uring_worker *uw,
                                const struct ew_table_view *t) {
    struct io_uring_cqe *cqes[CQE_BATCH];
    static _Thread_local struct pending_reads pr; /* 4 KiB: off the stack, one per worker */
    unsigned n;
    while ((n = io_uring_peek_batch_cqe(&uw->ring, cqes, CQE_BATCH)) > 0) {
        for (unsigned i = 0; i < n; i++)
            on_cqe(w, uw, cqes[i], &pr);
        io_uring_cq_advance(&uw->ring, n);
        judge_pending(w, uw, t, &pr);
        if (n < CQE_BATCH) break;
    }
}

static void run(struct ew_worker *w, struct uring_worker *uw) {
    struct __kernel_timespec tick = {.tv_sec = 0, .tv_nsec = (long long)EW_SWEEP_EVERY * 1000000};
    while (!ew_worker_stopping(w)) {
        if (ew_worker_cmd_pending(w)) handle_command(w, uw);
        struct io_uring_cqe *cqe = NULL;
        io_uring_submit_and_wait_timeout(&uw->ring, &cqe, 1, &tick, NULL);
        const struct ew_table_view *t = ew_worker_burst_begin(w);
        process_completions(w, uw, t);
        try_finish_close(w, uw);
        ew_worker_burst_end(w);
    }
}

/* Cancel everything and wait (bounded) so the kernel no longer writes into
 * buffers we are about to free. */
static void drain_all(struct ew_worker *w, struct uring_worker *uw) {
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        if (uw->ports[p].state == PORT_OPEN) uw->ports[p].state = PORT_CLOSING; /* no re-arming */
    struct io_uring_sqe *sqe = get_sqe(uw);
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, pack(OP_CANCEL, 0, 0));
    uw->total_inflight++;
    struct __kernel_timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
    for (uint32_t waited = 0; uw->total_inflight > 0 && waited < STOP_DRAIN_MS; waited += 10) {
        struct io_uring_cqe *cqe = NULL;
        io_uring_submit_and_wait_timeout(&uw->ring, &cqe, 1, &tick, NULL);
        process_completions(w, uw, ew_worker_burst_begin(w));
    }
}

static int setup_ring(struct uring_worker *uw, char *err, size_t errlen) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = CQ_ENTRIES;
    int rc = io_uring_queue_init_params(SQ_ENTRIES, &uw->ring, &p);
    if (rc == -EINVAL) { /* kernel < 6.1: no SINGLE_ISSUER / DEFER_TASKRUN */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(SQ_ENTRIES, &uw->ring, &p);
    }
    if (rc < 0) {
        snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-rc));
        return -1;
    }
    uw->fixed_files = io_uring_register_files_sparse(&uw->ring, EW_MAX_PORTS) == 0;
    uw->fixed_bufs = io_uring_register_buffers_sparse(&uw->ring, EW_MAX_PORTS) == 0;
    return 0;
}

static void *worker_main(void *arg) {
    struct ew_worker *w = arg;
    struct uring_worker *uw = calloc(1, sizeof *uw);
    char err[128];
    if (!uw) {
        ew_worker_started(w, -1, "out of memory");
        return NULL;
    }
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        uw->ports[p].fd = -1;
    uw->closing = EW_PORT_NONE;
    /* Created on the worker thread: SINGLE_ISSUER binds the ring to it. */
    if (setup_ring(uw, err, sizeof err) != 0) {
        free(uw);
        ew_worker_started(w, -1, err);
        return NULL;
    }
    if (w->index == 0) {
        w->sh->fixed_files = uw->fixed_files;
        w->sh->fixed_buffers = uw->fixed_bufs;
    }
    w->backend = uw;
    arm_wake(w, uw);
    ew_worker_started(w, 0, NULL);
    run(w, uw);
    drain_all(w, uw);
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        if (uw->ports[p].state != PORT_CLOSED) release_port(uw, p);
    io_uring_queue_exit(&uw->ring);
    free(uw);
    w->backend = NULL;
    return NULL;
}

const struct ew_backend ew_backend_uring = {
    .mode = EW_IO_URING,
    .nonblocking_fds = false,
    .available = available,
    .worker_main = worker_main,
};
