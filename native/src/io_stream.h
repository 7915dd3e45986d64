/*
 * A QEMU stream netdev port (issue #12 item 2): eniwall listens on a unix
 * stream socket, QEMU >= 7.2 connects to it as the client
 * (`-netdev stream,server=off,addr.type=unix,addr.path=PATH`), frames cross as
 * 4-byte big-endian length + frame (framing in stream_frame.h).
 *
 * The port outlives connections: a guest that disconnects and reconnects (a
 * new QEMU) gets the same port and counters back; a new connection replaces the
 * old one (QEMU holds one). Opening unlinks a stale socket file at the path (a
 * socket no one listens on) but refuses any other kind of file; closing removes
 * the socket file.
 *
 * Threading: the port belongs to one worker (its listening and connected fds
 * are in that worker's loop). Frames other workers send to it must be handed
 * over to the owner (the design keeps per-port SPSC rings for that, like the
 * TAP path's per-worker queues); these functions are not thread-safe.
 * All storage is inside the struct, allocated once at open: no allocation per
 * frame.
 */
#ifndef ENIWALL_IO_STREAM_H
#define ENIWALL_IO_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "stream_frame.h"

#define EW_STREAM_MAX_FRAME (65536u + 1024u)

struct ew_stream_stats {
    uint64_t rx_frames, rx_bytes;
    uint64_t tx_frames, tx_bytes;
    uint64_t rx_bad_len; /* zero / oversized length: frame dropped, connection reset */
    uint64_t tx_busy;    /* socket full with a frame already pending: dropped whole */
    uint64_t tx_no_peer; /* no guest connected: dropped */
    uint64_t tx_too_long;
    uint64_t accepts;       /* connections taken */
    uint64_t replaced;      /* a new connection replaced a live one */
    uint64_t resets;        /* connections ended (peer close, error, bad length) */
    uint64_t connects;      /* connect mode: connections made to the guest's listener */
    uint64_t connect_fails; /* connect mode: attempts that found no listener (retried) */
};

/* The port's owner (one worker) is the only writer of its stats; others read
 * them while it runs (ew_engine_stream_stats). Relaxed load + store, no
 * read-modify-write: plain moves on x86, and no data race for TSan. A guest is
 * connected while accepts + connects > resets (every connection ends with one
 * reset). */
static inline void ew_stream_count(uint64_t *c, uint64_t n) {
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
static inline uint64_t ew_stream_read(const uint64_t *c) {
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

struct ew_stream_port {
    int lfd; /* listening socket; -1 in connect mode */
    /* Connect mode: QEMU listens (`-netdev stream,server=on`) and the port
     * connects to path, again whenever it is not connected (the worker's retry
     * timer, io_epoll.c). The socket file is QEMU's: never unlinked here. */
    bool client;
    int cfd; /* the guest's connection, -1 while none */
    /* A write failed (guest gone): nothing more is sent, and the connection is
     * closed by ew_stream_port_reap, not by the failing write, which may run
     * inside ew_stream_port_rx's callback while the reader still uses cfd. */
    bool tx_dead;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct ew_stream_rx rx;
    struct ew_stream_tx tx;
    struct ew_stream_stats st;
    uint8_t rxbuf[EW_STREAM_MAX_FRAME];
    uint8_t pend[EW_STREAM_HDR + EW_STREAM_MAX_FRAME];
};

/* Listen on path (absolute). Returns 0 or -errno: -ENAMETOOLONG, -EINVAL (not
 * absolute), -EEXIST (something other than a stale socket at path),
 * -EADDRINUSE (a live listener there), or bind/listen's error. */
int ew_stream_port_open(struct ew_stream_port *p, const char *path);
/* Connect mode: only checks and keeps path (absolute, fits sun_path: -EINVAL,
 * -ENAMETOOLONG); nothing is opened until ew_stream_port_connect. */
int ew_stream_port_open_client(struct ew_stream_port *p, const char *path);
/* Connect mode, not connected: one non-blocking connect() to path. 1 connected
 * (counted in connects), 0 no listener / not ready (connect_fails; retry
 * later), 1 as well when already connected. */
int ew_stream_port_connect(struct ew_stream_port *p);
/* Closes both fds and unlinks the socket file (listen mode only). */
void ew_stream_port_close(struct ew_stream_port *p);
/* The listening fd is readable: take the connection (replacing any). Returns
 * 1 when a connection was taken, 0 when none was waiting, -errno on error. */
int ew_stream_port_accept(struct ew_stream_port *p);
/* The connection is readable: deliver its frames to fn. Returns frames
 * delivered, or -1 when the connection ended (closed, error, bad length;
 * counted, the port waits for the next one). */
int ew_stream_port_rx(struct ew_stream_port *p, uint8_t *scratch, size_t scratch_len,
                      ew_stream_frame_fn fn, void *ctx);
/* Send one frame to the guest: 0 sent (or its rest pending), -1 dropped
 * (counted). A write error marks the connection dead (tx_dead) but leaves it
 * open: ew_stream_port_reap closes it. */
int ew_stream_port_tx(struct ew_stream_port *p, const uint8_t *frame, uint32_t len);
/* The connection is writable: push the pending rest. 0, or -1 when it ended. */
int ew_stream_port_flush(struct ew_stream_port *p);
static inline int ew_stream_port_want_write(const struct ew_stream_port *p) {
    return p->cfd >= 0 && !p->tx_dead && ew_stream_tx_pending(&p->tx);
}
/* Close a connection a write found dead (a reset, counted); no-op otherwise.
 * Not from inside ew_stream_port_rx's callback. */
void ew_stream_port_reap(struct ew_stream_port *p);

#endif /* ENIWALL_IO_STREAM_H */
