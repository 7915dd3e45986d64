/*
 * eniwall engine — TAP ports, worker threads and table publication around the
 * per-packet core (core.h).
 *
 * What: the engine owns the TAP devices (one per ENI, "ports"), a set of worker
 * threads that move frames between them, the compiled table in force and the
 * clock the core sees. The N-API adapter (native/napi/addon.cc) is its only
 * user; everything here is control-plane speed except the worker loops.
 *
 * Design:
 *  - One worker thread per TAP queue: with N workers every TAP is opened N times
 *    with IFF_MULTI_QUEUE and worker i owns queue i of every port. A worker only
 *    ever writes to its own queue fd of the destination port, so no fd, buffer
 *    or counter is shared between workers.
 *  - Two I/O backends with the same pipeline (read burst -> ew_process() ->
 *    write): io_uring (io_uring.c: many READs in flight per port, WRITE of the
 *    same buffer, re-armed READ on write completion) and epoll (io_epoll.c:
 *    read until EAGAIN in bursts of 32, write()).
 *  - Table publication: the new table pointer is stored atomically; every
 *    worker bumps an epoch counter at each burst boundary and is woken through
 *    its eventfd, so once every epoch moved past the value read after the
 *    store, no worker still holds the old table and it is freed. Conntrack
 *    lives in the core and survives swaps.
 *  - Port set changes go through a per-worker mailbox (control thread posts,
 *    wakes the worker, waits for the ack); the worker applies them between
 *    bursts. The per-packet path takes no lock.
 *
 * Thread safety: all ew_engine_* calls are control-plane calls, serialised by
 * an engine mutex; they may be made from any one thread at a time or several.
 * Counter reads are racy by design (64-bit aligned loads, summed over workers).
 */
#ifndef ENIWALL_ENGINE_H
#define ENIWALL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eniwall/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EW_MAX_WORKERS 16u
#define EW_IFNAME_MAX  16u /* IFNAMSIZ, including the terminating NUL */

enum ew_io_mode {
    EW_IO_AUTO = 0,  /* io_uring when the kernel lets us set up a ring, else epoll */
    EW_IO_URING = 1, /* io_uring or fail */
    EW_IO_EPOLL = 2
};

struct ew_engine_config {
    uint32_t workers;        /* worker threads = queues per TAP, 1..EW_MAX_WORKERS; 0 = 1 */
    enum ew_io_mode io_mode; /* requested mode */
    bool vnet_hdr;           /* IFF_VNET_HDR + offloads: TCP moves as 64 KB GSO frames */
    bool passthrough;        /* benchmark null forwarder: no core, port 2k <-> 2k+1 */
    struct ew_core_config core;
    uint32_t sweep_budget; /* conntrack buckets per sweep slice; 0 = default */
};

struct ew_engine_stats {
    enum ew_io_mode io_mode; /* the mode in use: EW_IO_URING or EW_IO_EPOLL */
    uint32_t workers;
    bool vnet_hdr;
    bool passthrough;
    bool fixed_buffers; /* io_uring: registered buffers in use */
    bool fixed_files;   /* io_uring: registered files in use */
    uint32_t ports_open;
};

struct ew_engine;

/* Starts the workers. NULL and a one-line message in err on failure. */
struct ew_engine *ew_engine_create(const struct ew_engine_config *cfg, char *err, size_t errlen);
/* Stops the workers, closes every port (the TAPs disappear), frees everything. */
void ew_engine_destroy(struct ew_engine *eng);

/* Create a TAP named `name` (may contain %d) with one queue per worker and
 * start serving it. On success returns 0, the port id (< EW_MAX_PORTS, lowest
 * free) in *port and the kernel's name in ifname[EW_IFNAME_MAX]. */
int ew_engine_open_tap(struct ew_engine *eng, const char *name, uint32_t *port, char *ifname,
                       char *err, size_t errlen);
/* Stop serving a port, close its queues (the TAP disappears) and forget its
 * connections. Returns -1 when the port is not open. */
int ew_engine_close_port(struct ew_engine *eng, uint32_t port);
/* Name of an open port, or NULL. */
const char *ew_engine_port_name(const struct ew_engine *eng, uint32_t port);

/* Load, validate and publish a compiled table whose header must carry
 * `generation`; returns once every worker judges frames with it. -1 and the
 * loader's message on failure (the table in force stays). */
int ew_engine_load_table(struct ew_engine *eng, const void *buf, size_t len, uint64_t generation,
                         char *err, size_t errlen);
/* Generation of the table in force, 0 when none. */
uint64_t ew_engine_generation(const struct ew_engine *eng);

/* Sum of every worker's counters for a port. */
void ew_engine_counters(const struct ew_engine *eng, uint32_t port, struct ew_port_counters *out);

/* The engine's clock (ms): monotonic time plus the test offset. */
uint64_t ew_engine_now_ms(const struct ew_engine *eng);
/* Tests: move the clock forward so idle timeouts expire without sleeping. */
void ew_engine_advance_clock(struct ew_engine *eng, uint64_t ms);

/* ew_trace() against the table in force and the live conntrack, at the engine's
 * clock (`check`). -1 when no table is loaded, in passthrough mode, or for a bad query. */
int ew_engine_trace(struct ew_engine *eng, const struct ew_trace_query *q, struct ew_trace *out);
/* The core, for conntrack queries (NULL in passthrough mode). */
struct ew_core *ew_engine_core(struct ew_engine *eng);
void ew_engine_stats(const struct ew_engine *eng, struct ew_engine_stats *out);

#ifdef EW_ENGINE_INTERNAL
/* ---- internal: shared by engine.c and the io_*.c backends only ---- */
#include <pthread.h>
#include <stdatomic.h>

#define EW_BURST        32u /* frames per burst, as in DPDK / OVS */
#define EW_SWEEP_EVERY  10u /* ms between conntrack sweep slices */
#define EW_VNET_HDR_LEN 12u /* struct virtio_net_hdr_v1 (mergeable-buffer layout) */
#define EW_BUF_PLAIN    2048u
#define EW_BUF_GSO      (65536u + 1024u) /* 64 KB GSO frame + Ethernet + vnet header */

enum ew_cmd_kind { EW_CMD_NONE = 0, EW_CMD_OPEN, EW_CMD_CLOSE };

struct ew_worker {
    struct ew_engine *eng;
    uint32_t index;
    pthread_t thread;
    int wake_fd;                       /* eventfd: table swaps, commands, stop */
    struct ew_worker_ctx ctx;          /* core, counters, now_ms */
    struct ew_port_counters *counters; /* [EW_MAX_PORTS] */
    _Atomic uint64_t epoch;            /* burst boundaries passed */
    uint64_t last_sweep_ms;
    void *backend; /* io_uring.c / io_epoll.c private state */

    /* mailbox: written by the control thread under mu, applied by the worker */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int cmd_pending; /* checked once per burst without the lock */
    enum ew_cmd_kind cmd;
    uint32_t cmd_port;
    int cmd_fd;
    bool cmd_done;
    int cmd_result;

    /* startup handshake */
    bool started;
    int start_result;
    char start_err[160];
};

struct ew_engine {
    struct ew_engine_config cfg;
    enum ew_io_mode mode; /* resolved: URING or EPOLL */
    uint32_t hdr_len;     /* vnet header bytes in front of each frame (0 or 12) */
    uint32_t buf_size;    /* bytes per frame buffer, header included */
    struct ew_core *core;
    _Atomic(struct ew_table_view *) table;
    _Atomic int64_t clock_offset_ms;
    _Atomic bool stop;
    atomic_flag sweeping; /* one sweep slice at a time across workers */
    bool fixed_buffers;   /* reported by io_uring workers */
    bool fixed_files;
    pthread_mutex_t ctl; /* serialises control calls */
    struct ew_worker *workers;
    uint32_t nworkers;
    bool port_open[EW_MAX_PORTS];
    char port_name[EW_MAX_PORTS][EW_IFNAME_MAX];
};

/* io_tap.c: open one queue of a TAP; returns the fd or -1 with err. */
int ew_tap_open_queue(const char *name, bool multi_queue, bool vnet_hdr, bool nonblock,
                      char *ifname_out, char *err, size_t errlen);

/* io_frame.c: what to do with one frame read on in_port. Returns the port to
 * write it to (in_port itself for a reply, whose vnet header is then zeroed) or
 * EW_PORT_NONE when it was dropped (already counted). */
uint32_t ew_io_judge(struct ew_worker *w, const struct ew_table_view *t, uint32_t in_port,
                     uint8_t *buf, uint32_t *frame_len, uint32_t cap);
/* Start of a burst: clock and table for this burst. */
const struct ew_table_view *ew_io_burst_begin(struct ew_worker *w);
/* End of a burst: epoch bump (table quiescence) and the periodic sweep slice. */
void ew_io_burst_end(struct ew_worker *w);
void ew_io_count_tx(struct ew_worker *w, uint32_t port, uint32_t frame_len);
void ew_io_count_drop(struct ew_worker *w, uint32_t port, enum ew_drop_reason reason);
/* Worker side of the mailbox: finish the pending command. */
void ew_worker_cmd_finish(struct ew_worker *w, int result);
void ew_worker_started(struct ew_worker *w, int result, const char *err);

/* Backends: the worker thread bodies. */
void *ew_uring_worker_main(void *arg);
void *ew_epoll_worker_main(void *arg);
/* Can this kernel set up a ring at all (auto mode)? */
bool ew_uring_available(void);
#endif /* EW_ENGINE_INTERNAL */

#ifdef __cplusplus
}
#endif

#endif /* ENIWALL_ENGINE_H */
