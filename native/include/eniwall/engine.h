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
 *  - Two I/O backends with the same pipeline (read -> ew_process() -> write),
 *    a "burst" being one turn of the worker loop: io_uring (io_uring.c:
 *    READS_PER_PORT (32) READs in flight per port, WRITE of the same buffer,
 *    re-armed READ on write completion; a burst is every completion ready after
 *    one wait, peeked CQE_BATCH (256) at a time) and epoll (io_epoll.c: a burst
 *    reads up to EW_BURST (32, io_worker.h) frames from each ready port, one
 *    write() each).
 *  - Table publication: the new table pointer is stored atomically; every
 *    worker bumps an epoch counter at each burst boundary and is woken through
 *    its eventfd, so once every epoch moved past the value read after the
 *    store, no worker still holds the old table and it is freed. Conntrack
 *    lives in the core and survives swaps.
 *  - Port set changes go through a per-worker mailbox (control thread posts,
 *    wakes the worker, waits for the ack); the worker applies them between
 *    bursts. The per-packet path takes no engine lock (conntrack's striped
 *    bucket locks are the only ones, see conntrack.h).
 *  - Files: engine.c (this API) -> io_uring.c / io_epoll.c / io_tap.c
 *    (src/io_backend.h) -> io_worker.c (src/io_worker.h: mailbox, clock,
 *    burst boundary, verdict); calls go that way only.
 *
 * Thread safety: open/close/load are serialised by an engine mutex and may be
 * called from any thread. Counter reads are racy by design (64-bit aligned
 * loads, summed over workers, while the workers add to them); the clock and
 * generation reads are atomic. ew_engine_destroy must not race any other call.
 */
#ifndef ENIWALL_ENGINE_H
#define ENIWALL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eniwall/core.h"
#include "eniwall/flowlog.h"
#include "eniwall/hits.h"

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
    uint32_t workers;        /* worker threads = queues per TAP, 1..EW_MAX_WORKERS */
    enum ew_io_mode io_mode; /* requested mode */
    bool vnet_hdr;           /* IFF_VNET_HDR + offloads: TCP moves as 64 KB GSO frames */
    bool passthrough;        /* benchmark null forwarder: no core, port 2k <-> 2k+1 */
    struct ew_core_config core;
    uint32_t sweep_budget; /* conntrack buckets per sweep slice, >= 1 */
    /* Flow samples (eniwall/flowlog.h): entries of each worker's two aggregation
     * tables; 0 = no tables (samples outside conntrack are all counted lost). */
    uint32_t flow_table_size;
    uint32_t capture_slots; /* records per worker in a capture ring, 1..65536 */
    /* Rule hit records (eniwall/hits.h) per worker ring, a power of two up to
     * EW_HIT_MAX_SLOTS; 0 = none recorded. */
    uint32_t hit_ring_slots;
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

/* Starts the workers. NULL and a one-line message in err on failure, also when
 * workers or sweep_budget is 0 (no defaults in C; the control plane owns them). */
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

/* ew_engine_open_tap with more say: the device is attached (or created) in
 * the network namespace netns_fd (-1: ours), EW_TAP_PERSIST makes it outlive
 * the engine (TUNSETPERSIST: a restarted daemon reopens it by name, its
 * connections never see the link go), want_port >= 0 asks for that port id
 * (conntrack zones are port ids; -1: lowest free). */
#define EW_TAP_PERSIST 1u
int ew_engine_open_tap_at(struct ew_engine *eng, const char *name, int netns_fd, unsigned flags,
                          int want_port, uint32_t *port, char *ifname, char *err, size_t errlen);
/* ew_engine_close_port; remove also clears a persistent device's
 * TUNSETPERSIST so it disappears (its ENI was deleted). */
int ew_engine_close_port_ex(struct ew_engine *eng, uint32_t port, bool remove);
/* Name of an open port, or NULL. Not synchronised with open/close: call it
 * from the thread that opens and closes ports. */
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
/* Flow samples since the previous drain (eniwall/flowlog.h): up to max
 * records into out, returns how many; lost[EW_MAX_PORTS] gets, per port, the
 * samples lost since the previous drain (full tables, entries freed before a
 * drain, records that did not fit in out). Conntrack deltas that do not fit
 * stay for the next drain. Waits (briefly) for each worker's next burst
 * boundary, never makes a worker wait. */
uint32_t ew_engine_flow_drain(struct ew_engine *eng, struct ew_flow_sample *out, uint32_t max,
                              uint64_t *lost);
/* The core, for conntrack queries (NULL in passthrough mode). */
struct ew_core *ew_engine_core(struct ew_engine *eng);

/* ---- packet capture (src/capture.h: rings, record layout, directions) ----
 * flags: 1 the frames the ENI sends (out), 2 the frames for it (in), 4 drops
 * only. One capture per port; closing the port ends it. Not in passthrough mode. */
int ew_engine_capture_start(struct ew_engine *eng, uint32_t port, uint32_t flags, char *err,
                            size_t errlen);
/* -1 when the port has no capture. Returns after no worker can touch it. */
int ew_engine_capture_stop(struct ew_engine *eng, uint32_t port);
/* Move the records ready into buf (struct ew_cap_rec + frame bytes, each
 * padded to 8); *used their bytes, *lost the records lost to full rings since
 * the start. Returns the number of records, -1 when the port has no capture. */
int ew_engine_capture_drain(struct ew_engine *eng, uint32_t port, uint8_t *buf, size_t cap,
                            size_t *used, uint64_t *lost);
void ew_engine_stats(const struct ew_engine *eng, struct ew_engine_stats *out);
/* Rule hit records since the previous drain, every worker's ring in turn: up
 * to max into out, returns how many (records that do not fit stay for the next
 * drain); *lost the records lost to full rings meanwhile. Never makes a worker
 * wait. 0 when the engine records none (hit_ring_slots 0, passthrough). */
uint32_t ew_engine_hits_drain(struct ew_engine *eng, struct ew_hit_rec *out, uint32_t max,
                              uint64_t *lost);
/* Metrics: each worker's busy time in ns (from a wait's return to the end of
 * its burst) into out[0..max); returns how many were written (min(workers, max)). */
uint32_t ew_engine_worker_busy_ns(const struct ew_engine *eng, uint64_t *out, uint32_t max);

/* Overlay (io_underlay.h): open the underlay UDP socket on addr:port (IPv4,
 * host order; VXLAN's 4789 by default) as port EW_PORT_UNDERLAY, one
 * SO_REUSEPORT socket per worker. epoll backend only. Close it with
 * ew_engine_close_port(EW_PORT_UNDERLAY). -1 with err on failure. */
int ew_engine_open_underlay(struct ew_engine *eng, uint32_t addr, uint16_t port, char *err,
                            size_t errlen);

/* QEMU stream port (issue #12 item 2; io_stream.h): listen on the unix
 * socket path (absolute) that QEMU >= 7.2 joins with `-netdev stream,
 * server=off,addr.type=unix,addr.path=PATH`; frames carry a 4-byte
 * big-endian length. A stale socket file at path is replaced; any other file
 * there, or a live listener, is refused. The port outlives connections: a
 * guest that reconnects (a new QEMU) gets it back, a new connection replaces
 * the one in force. Closing the port (ew_engine_close_port) removes the
 * socket file. Needs the epoll backend, one worker and no vnet header; -1 with
 * err otherwise. want_port as in ew_engine_open_tap_at. */
int ew_engine_open_stream(struct ew_engine *eng, const char *path, int want_port, uint32_t *port,
                          char *err, size_t errlen);
/* connect false: ew_engine_open_stream. connect true: QEMU is the server
 * (`-netdev stream,server=on,addr.type=unix,addr.path=PATH`) and the port
 * connects to path, at once and then every ~150 ms (a timerfd in the worker's
 * loop) whenever it is not connected: at start, after the guest's QEMU
 * restarts, after a daemon restart. Nothing at path is created or removed;
 * path need not exist yet. */
int ew_engine_open_stream_mode(struct ew_engine *eng, const char *path, bool connect, int want_port,
                               uint32_t *port, char *err, size_t errlen);
struct ew_engine_stream_stats {
    bool connected;    /* a guest holds the connection now */
    bool connect_mode; /* eniwall connects (QEMU listens) */
    uint64_t accepts, replaced, resets;
    uint64_t connects, connect_fails; /* connect mode: made, and tries that found no listener */
    uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
    uint64_t rx_bad_len; /* zero / oversized length: connection reset */
    uint64_t tx_busy;    /* socket full with a frame already pending: dropped */
    uint64_t tx_no_peer; /* no guest connected: dropped */
};
/* -1 when port is not a stream port. */
int ew_engine_stream_stats(struct ew_engine *eng, uint32_t port,
                           struct ew_engine_stream_stats *out);
/* vhost-user (io_vhost.h): listen on the unix socket path (absolute; a stale
 * socket there is replaced) as back-end in server mode; a front-end (DPDK
 * virtio-user, QEMU vhost-user netdev) that connects, leaves and comes back
 * gets the same port. want_port >= 0 asks for that id (-1: lowest free).
 * epoll backend, one worker, no offload. Close with ew_engine_close_port (the
 * socket file goes). -1 with err on failure. */
int ew_engine_open_vhost(struct ew_engine *eng, const char *path, int want_port, uint32_t *port,
                         char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* ENIWALL_ENGINE_H */
