/*
 * The worker module: what one worker thread is, and the pieces of its loop
 * both I/O backends share — the mailbox, the clock, the burst boundary and the
 * per-frame verdict.
 *
 * Dependencies run one way: engine.c (control) -> io_uring.c / io_epoll.c
 * (backends, io_backend.h) -> io_worker.c (this). Nothing here calls the
 * engine or a backend; the engine hands every worker a struct ew_shared and
 * never shows it anything else.
 */
#ifndef ENIWALL_IO_WORKER_H
#define ENIWALL_IO_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "eniwall/core.h"
#include "flowlog.h"

/* epoll: frames read from one ready port before the loop moves on, as in
 * DPDK / OVS. io_uring takes every completion that is ready instead. */
#define EW_BURST        32u
#define EW_SWEEP_EVERY  10u /* ms between conntrack sweep slices; also the longest wait */
#define EW_VNET_HDR_LEN 12u /* struct virtio_net_hdr_v1 (mergeable-buffer layout) */
#define EW_BUF_PLAIN    2048u
#define EW_BUF_GSO      (65536u + 1024u) /* 64 KB GSO frame + Ethernet + vnet header */

struct ew_capture; /* capture.h */

/* What every worker reads from the engine. The plain fields are set before the
 * workers start and never change; the atomics are the engine's levers. */
struct ew_shared {
    uint32_t hdr_len;         /* vnet header bytes in front of each frame (0 or 12) */
    uint32_t buf_size;        /* bytes per frame buffer, header included */
    uint32_t sweep_budget;    /* conntrack buckets per sweep slice */
    uint32_t flow_table_size; /* flow-sample entries per aggregation table, 0 = none */
    uint32_t hit_ring_slots;  /* rule hit ring per worker (eniwall/hits.h), 0 = none */
    bool passthrough;         /* benchmark null forwarder: port 2k <-> 2k+1, no core */
    struct ew_core *core;     /* NULL in passthrough mode */
    _Atomic(struct ew_table_view *) table;
    _Atomic int64_t clock_offset_ms;
    _Atomic bool stop;
    atomic_flag sweeping; /* one sweep slice at a time across workers */
    /* Captures (capture.h): captures_on counts the ports with one, so a worker
     * with none running pays one predictable branch per frame; capture[port]
     * is read only then. Freed by the engine after an epoch wait. */
    _Atomic uint32_t captures_on;
    _Atomic(struct ew_capture *) *capture; /* [EW_MAX_PORTS] */
    /* io_uring: reported by worker 0 before it acks its start */
    bool fixed_buffers;
    bool fixed_files;
};

/* EW_CMD_OPEN_STREAM: cmd_ptr is a struct ew_stream_port (io_stream.h) already
 * listening; epoll backend only (the engine refuses the others). */
enum ew_cmd_kind {
    EW_CMD_NONE = 0,
    EW_CMD_OPEN,
    EW_CMD_CLOSE,
    EW_CMD_OPEN_STREAM,
    EW_CMD_OPEN_VHOST /* cmd_fd: a vhost-user listening socket (io_vhost.h; epoll only) */
};

struct ew_worker {
    struct ew_shared *sh;
    uint32_t index;
    pthread_t thread;
    int wake_fd;                       /* eventfd: table swaps, commands, clock moves, stop */
    struct ew_worker_ctx ctx;          /* core, counters, now_ms */
    struct ew_port_counters *counters; /* [EW_MAX_PORTS] */
    _Atomic uint64_t epoch;            /* burst boundaries passed */
    /* Metrics: monotonic ns spent between a wait's return and the end of its
     * burst (sweep included); written by this worker only, read racily. */
    _Atomic uint64_t busy_ns;
    uint64_t burst_start_ns;
    uint64_t last_sweep_ms;
    struct ew_fl_worker fl; /* flow-sample double buffer (flowlog.h, io_flow.c) */
    void *backend;          /* io_uring.c / io_epoll.c private state */

    /* mailbox: written by the control thread under mu, applied by the worker */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int cmd_pending; /* checked once per burst without the lock */
    enum ew_cmd_kind cmd;
    uint32_t cmd_port;
    int cmd_fd;
    void *cmd_ptr; /* EW_CMD_OPEN_STREAM's port */
    bool cmd_done;
    int cmd_result;

    /* startup handshake */
    bool started;
    int start_result;
    char start_err[160];
};

/* ---- lifecycle (control thread) ---- */
/* Mutex, condition, eventfd and counters; -1 with errno on failure (then
 * ew_worker_fini still applies). */
int ew_worker_init(struct ew_worker *w, struct ew_shared *sh, uint32_t index);
void ew_worker_fini(struct ew_worker *w);
/* Starts the thread running body (a backend's worker_main) and waits for its
 * start ack; -1 with the reason in err when either fails (thread joined). */
int ew_worker_start(struct ew_worker *w, void *(*body)(void *), char *err, size_t errlen);
void ew_worker_wake(struct ew_worker *w);

/* ---- mailbox ---- */
/* Control side: post a command, wake the worker, wait for its result. */
int ew_worker_post(struct ew_worker *w, enum ew_cmd_kind kind, uint32_t port, int fd);
/* The same with a pointer (EW_CMD_OPEN_STREAM). */
int ew_worker_post_ptr(struct ew_worker *w, enum ew_cmd_kind kind, uint32_t port, void *ptr);
static inline bool ew_worker_cmd_pending(struct ew_worker *w) {
    return atomic_load_explicit(&w->cmd_pending, memory_order_acquire) != 0;
}
/* Worker side: the pending command is done (result for ew_worker_post). */
void ew_worker_cmd_finish(struct ew_worker *w, int result);
/* Worker side: start ack, once, before the loop (result != 0: the thread exits). */
void ew_worker_started(struct ew_worker *w, int result, const char *err);

/* ---- clock ---- */
/* Monotonic ms plus the test offset: the engine's clock. */
uint64_t ew_clock_now_ms(const struct ew_shared *sh);

/* ---- the loop's shared steps (worker thread) ---- */
/* Start of a burst: clock and table for this burst. */
const struct ew_table_view *ew_worker_burst_begin(struct ew_worker *w);
/* End of a burst: epoch bump (table quiescence) and the periodic sweep slice. */
void ew_worker_burst_end(struct ew_worker *w);
static inline bool ew_worker_stopping(const struct ew_worker *w) {
    return atomic_load_explicit(&w->sh->stop, memory_order_relaxed);
}
/* What to do with one frame read on in_port. Returns the port to write it to
 * (in_port itself for a reply, whose vnet header is then zeroed) or
 * EW_PORT_NONE when it was dropped (already counted). */
uint32_t ew_worker_judge(struct ew_worker *w, const struct ew_table_view *t, uint32_t in_port,
                         uint8_t *buf, uint32_t *frame_len, uint32_t cap);
/* ew_worker_judge for n frames of one completion batch (frame i read on
 * in_ports[i] into bufs[i]): the same verdicts in order, through the core's
 * burst path (ew_process_burst: parse all, prefetch conntrack, decide each)
 * unless a capture runs or the engine is the passthrough forwarder. */
void ew_worker_judge_burst(struct ew_worker *w, const struct ew_table_view *t,
                           const uint32_t *in_ports, uint8_t *const *bufs, uint32_t *frame_lens,
                           uint32_t cap, uint32_t n, uint32_t *out);
void ew_worker_count_tx(struct ew_worker *w, uint32_t port, uint32_t frame_len);
void ew_worker_count_drop(struct ew_worker *w, uint32_t port, enum ew_drop_reason reason);

/* ---- flow samples (io_flow.c; control thread) ---- */
/* Switch every worker to its other aggregation table (non-blocking for them:
 * they switch at their next burst boundary), copy out the old ones, then the
 * conntrack deltas; see flowlog.h. Returns the samples written to out. */
uint32_t ew_flow_drain_workers(struct ew_worker *ws, uint32_t n, struct ew_core *core,
                               struct ew_flow_sample *out, uint32_t max, uint64_t *lost);

#endif /* ENIWALL_IO_WORKER_H */
