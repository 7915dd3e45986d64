/*
 * epoll backend: level-triggered epoll over this worker's queue fd of every
 * port plus its wake eventfd. Each wakeup reads up to EW_BURST frames from every
 * ready port (stopping early at EAGAIN; a port with more is reported ready
 * again) into EW_BURST buffers, judges them together (ew_worker_judge_burst:
 * the core parses the burst and prefetches its conntrack lines before deciding
 * each), then writes each with one write() to the destination's queue fd owned
 * by this same worker; frames to remote ENIs leave in one sendmmsg() per burst
 * (io_underlay.h).
 * The portable fallback when io_uring is unavailable: one syscall per frame.
 *
 * QEMU stream ports (io_stream.h) live here too: the listening socket and the
 * guest's connection are two more fds in the same epoll set (tokens
 * TOK_LISTEN / TOK_CONN | port). A readable connection is read until EAGAIN
 * (ew_stream_port_rx); its frames are copied into the burst buffers and
 * judged EW_BURST at a time like a TAP's; frames for a stream port go out
 * through ew_stream_port_tx, and EPOLLOUT is armed only while a partly
 * written frame pends. The engine opens stream ports only with one worker
 * and no vnet header (engine.c), so the one worker owns every port.
 * A stream port in connect mode (QEMU is the server) has no listening socket:
 * while it is not connected, the worker's retry timerfd (TOK_TIMER, every
 * EW_STREAM_RETRY_MS, armed only while some connect-mode port is down) makes
 * one non-blocking connect() per such port; a connection made is served
 * exactly like an accepted one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "io_backend.h"
#include "io_stream.h"
#include "io_underlay.h"
#include "io_vhost.h"
#include "io_worker.h"

#define WAKE_TOKEN EW_MAX_PORTS /* epoll data for the eventfd; ports use their id */
#define MAX_EVENTS 64
/* Token bits above a port id: vhost-user ports use bits 16-23 (EW_VH_TOK_*,
 * io_vhost.h), stream ports bits 24-25. */
#define TOK_LISTEN          (1u << 24) /* | port: a stream port's listening socket */
#define TOK_CONN            (2u << 24) /* | port: a stream port's guest connection */
#define TOK_TIMER           (4u << 24) /* the connect-mode retry timerfd */
#define TOK_PORT            0x0ffffu
#define EW_STREAM_RETRY_MS  150
#define STREAM_SCRATCH      65536u
#define EW_VHOST_PER_WORKER 64u

struct epoll_worker {
    int ep;
    int fds[EW_MAX_PORTS]; /* this worker's queue fd per port, -1 when closed */
    uint8_t *bufs;         /* EW_BURST frame buffers of buf_size: read, judge, write in place */
    /* Stream ports (owned by the engine, served here): NULL for TAP ports. */
    struct ew_stream_port *streams[EW_MAX_PORTS];
    int conn_fd[EW_MAX_PORTS];    /* the connection fd registered in ep, -1: none */
    bool out_armed[EW_MAX_PORTS]; /* EPOLLOUT registered for conn_fd */
    uint8_t *scratch;             /* STREAM_SCRATCH bytes: ew_stream_port_rx's reads */
    uint32_t reading;             /* the stream port being read now, EW_PORT_NONE: none */
    int tfd;                      /* connect-mode retry timer (timerfd), in ep */
    bool timer_armed;
    /* vhost-user ports this worker serves (io_vhost.h), and their ids */
    struct ew_vhost_port *vh[EW_MAX_PORTS];
    uint32_t vh_ports[EW_VHOST_PER_WORKER], nvh;
};

static void forward(struct ew_worker *w, struct epoll_worker *st, const struct ew_table_view *t,
                    struct ew_underlay_batch *batch, const uint8_t *buf, uint32_t in_port,
                    uint32_t out_port, uint32_t frame_len);

/* Keep ep in step with the stream port's connection: the fd registered is the
 * one open (a closed fd left ep on its own), EPOLLOUT only while a frame pends. */
static void timer_set(struct epoll_worker *st, bool on) {
    if (on == st->timer_armed) return;
    const long ns = on ? EW_STREAM_RETRY_MS * 1000000L : 0;
    struct itimerspec its = {.it_interval = {0, ns}, .it_value = {0, ns}};
    if (timerfd_settime(st->tfd, 0, &its, NULL) == 0) st->timer_armed = on;
}

static void stream_sync(struct epoll_worker *st, uint32_t p) {
    struct ew_stream_port *sp = st->streams[p];
    /* Inside that port's own read a failed write's connection stays open
     * (the reader still uses the fd); stream_event reaps it afterwards. */
    if (st->reading != p) ew_stream_port_reap(sp);
    if (st->conn_fd[p] != sp->cfd) {
        /* An accept replaced it or the connection ended: the old fd is closed. */
        st->conn_fd[p] = -1;
        st->out_armed[p] = false;
        if (sp->cfd >= 0) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TOK_CONN | p};
            if (epoll_ctl(st->ep, EPOLL_CTL_ADD, sp->cfd, &ev) == 0) {
                st->conn_fd[p] = sp->cfd;
            } else { /* cannot watch it: refuse the connection (the guest may retry) */
                close(sp->cfd);
                sp->cfd = -1;
                ew_stream_count(&sp->st.resets, 1);
                ew_stream_rx_reset(&sp->rx);
                ew_stream_tx_reset(&sp->tx);
            }
        }
    }
    if (sp->client && sp->cfd < 0) timer_set(st, true); /* connect again */
    bool want = ew_stream_port_want_write(sp);
    if (st->conn_fd[p] >= 0 && want != st->out_armed[p]) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0u),
                                 .data.u32 = TOK_CONN | p};
        if (epoll_ctl(st->ep, EPOLL_CTL_MOD, st->conn_fd[p], &ev) == 0) st->out_armed[p] = want;
    }
}

static void stream_detach(struct epoll_worker *st, uint32_t p) {
    struct ew_stream_port *sp = st->streams[p];
    if (!sp) return;
    if (st->conn_fd[p] >= 0) epoll_ctl(st->ep, EPOLL_CTL_DEL, st->conn_fd[p], NULL);
    if (sp->lfd >= 0) epoll_ctl(st->ep, EPOLL_CTL_DEL, sp->lfd, NULL);
    st->conn_fd[p] = -1;
    st->out_armed[p] = false;
    st->streams[p] = NULL;
}

/* A frame judged for a stream port: to the guest, whole or dropped (counted). */
static void stream_send(struct ew_worker *w, struct epoll_worker *st, uint32_t in_port,
                        uint32_t out_port, const uint8_t *frame, uint32_t frame_len) {
    struct ew_stream_port *sp = st->streams[out_port];
    if (sp->cfd < 0 || sp->tx_dead) {
        ew_stream_count(&sp->st.tx_no_peer, 1);
        ew_worker_count_drop(w, in_port, EW_DROP_PORT_DOWN); /* no guest connected */
        return;
    }
    if (ew_stream_port_tx(sp, frame, frame_len) == 0)
        ew_worker_count_tx(w, out_port, frame_len);
    else
        ew_worker_count_drop(w, in_port, EW_DROP_TX_FAILED);
    stream_sync(st, out_port);
}

/* Frames of one connection read, gathered into bursts. */
struct stream_rx {
    struct ew_worker *w;
    struct epoll_worker *st;
    const struct ew_table_view *t;
    uint32_t port, n;
    uint32_t in_ports[EW_BURST], lens[EW_BURST], out[EW_BURST];
    uint8_t *bufs[EW_BURST];
};

static void stream_rx_flush(struct stream_rx *r) {
    if (r->n == 0) return;
    const uint32_t cap = r->w->sh->buf_size - r->w->sh->hdr_len;
    ew_worker_judge_burst(r->w, r->t, r->in_ports, r->bufs, r->lens, cap, r->n, r->out);
    struct ew_underlay_batch batch;
    batch.n = 0;
    for (uint32_t i = 0; i < r->n; i++)
        if (r->out[i] != EW_PORT_NONE)
            forward(r->w, r->st, r->t, &batch, r->bufs[i], r->port, r->out[i], r->lens[i]);
    if (batch.n > 0) ew_underlay_batch_flush(r->w, &batch, r->st->fds[EW_PORT_UNDERLAY]);
    r->n = 0;
}

static void stream_rx_frame(void *ctx, const uint8_t *frame, uint32_t len) {
    struct stream_rx *r = ctx;
    const uint32_t hdr = r->w->sh->hdr_len, size = r->w->sh->buf_size;
    if (len > size - hdr) {
        ew_worker_count_drop(r->w, r->port, EW_DROP_FRAME_TOO_BIG);
        return;
    }
    uint8_t *buf = r->st->bufs + (size_t)r->n * size;
    memset(buf, 0, hdr); /* (engine.c: no vnet header with stream ports; kept general) */
    memcpy(buf + hdr, frame, len);
    r->in_ports[r->n] = r->port;
    r->bufs[r->n] = buf;
    r->lens[r->n++] = len;
    if (r->n == EW_BURST) stream_rx_flush(r);
}

static void stream_event(struct ew_worker *w, struct epoll_worker *st,
                         const struct ew_table_view *t, uint32_t token, uint32_t events) {
    uint32_t p = token & TOK_PORT;
    struct ew_stream_port *sp = p < EW_MAX_PORTS ? st->streams[p] : NULL;
    if (!sp) return; /* closed since the wait returned */
    if (token & TOK_LISTEN) {
        while (ew_stream_port_accept(sp) == 1) {
        }
        stream_sync(st, p);
        return;
    }
    if (st->conn_fd[p] < 0) return; /* an event of a connection already gone */
    if (events & EPOLLOUT) ew_stream_port_flush(sp);
    if (sp->cfd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        struct stream_rx r = {.w = w, .st = st, .t = t, .port = p, .n = 0};
        st->reading = p;
        ew_stream_port_rx(sp, st->scratch, STREAM_SCRATCH, stream_rx_frame, &r);
        stream_rx_flush(&r);
        st->reading = EW_PORT_NONE;
    }
    stream_sync(st, p);
}

/* The retry timer fired: one connect() per connect-mode port that is down. */
static void stream_retry(struct epoll_worker *st) {
    uint64_t ticks;
    ssize_t r = read(st->tfd, &ticks, sizeof ticks);
    (void)r;
    bool down = false;
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++) {
        struct ew_stream_port *sp = st->streams[p];
        if (!sp || !sp->client || sp->cfd >= 0) continue;
        ew_stream_port_connect(sp);
        stream_sync(st, p);
        down |= sp->cfd < 0;
    }
    if (!down) timer_set(st, false);
}

static int handle_command(struct ew_worker *w, struct epoll_worker *st) {
    uint32_t p = w->cmd_port;
    if (w->cmd == EW_CMD_OPEN_STREAM) {
        struct ew_stream_port *sp = w->cmd_ptr;
        memset(&w->counters[p], 0, sizeof w->counters[p]);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TOK_LISTEN | p};
        if (!sp->client && epoll_ctl(st->ep, EPOLL_CTL_ADD, sp->lfd, &ev) < 0) return -errno;
        st->streams[p] = sp;
        st->conn_fd[p] = -1;
        st->out_armed[p] = false;
        if (sp->client) { /* first try now; the timer retries while it fails */
            ew_stream_port_connect(sp);
            stream_sync(st, p);
        }
        return 0;
    }
    if (w->cmd == EW_CMD_CLOSE && st->streams[p]) {
        stream_detach(st, p); /* the engine closes and frees the port after the ack */
        return 0;
    }
    if (w->cmd == EW_CMD_OPEN_VHOST) {
        if (st->nvh == EW_VHOST_PER_WORKER) {
            close(w->cmd_fd);
            return -ENOSPC;
        }
        memset(&w->counters[p], 0, sizeof w->counters[p]);
        st->vh[p] = ew_vhost_open(st->ep, p, w->cmd_fd);
        if (!st->vh[p]) return -errno;
        st->vh_ports[st->nvh++] = p;
        return 0;
    }
    if (w->cmd == EW_CMD_CLOSE && st->vh[p]) {
        ew_vhost_close(st->vh[p]);
        st->vh[p] = NULL;
        for (uint32_t i = 0; i < st->nvh; i++)
            if (st->vh_ports[i] == p) st->vh_ports[i] = st->vh_ports[--st->nvh];
        return 0;
    }
    if (w->cmd == EW_CMD_OPEN) {
        memset(&w->counters[p], 0, sizeof w->counters[p]);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = p};
        if (epoll_ctl(st->ep, EPOLL_CTL_ADD, w->cmd_fd, &ev) < 0) {
            int e = errno;
            close(w->cmd_fd);
            return -e;
        }
        st->fds[p] = w->cmd_fd;
        return 0;
    }
    if (w->cmd == EW_CMD_CLOSE && st->fds[p] >= 0) {
        epoll_ctl(st->ep, EPOLL_CTL_DEL, st->fds[p], NULL);
        close(st->fds[p]);
        st->fds[p] = -1;
    }
    return 0;
}

/* Frames to remote ENIs go into `batch`, sent together when the burst is done. */
static void forward(struct ew_worker *w, struct epoll_worker *st, const struct ew_table_view *t,
                    struct ew_underlay_batch *batch, const uint8_t *buf, uint32_t in_port,
                    uint32_t out_port, uint32_t frame_len) {
    if (out_port & EW_OUT_ENCAP) {
        ew_underlay_batch_add(w, batch, st->fds[EW_PORT_UNDERLAY], t, out_port & ~EW_OUT_ENCAP,
                              in_port, buf, frame_len);
        return;
    }
    if (st->streams[out_port]) {
        stream_send(w, st, in_port, out_port, buf + w->sh->hdr_len, frame_len);
        return;
    }
    if (st->vh[out_port]) {
        if (ew_vhost_send(st->vh[out_port], buf + w->sh->hdr_len, frame_len) == 0)
            ew_worker_count_tx(w, out_port, frame_len);
        else
            ew_worker_count_drop(w, in_port, EW_DROP_TX_FAILED);
        return;
    }
    int out_fd = st->fds[out_port];
    if (out_fd < 0) {
        ew_worker_count_drop(w, in_port, EW_DROP_PORT_DOWN);
        return;
    }
    size_t total = (size_t)w->sh->hdr_len + frame_len;
    if (write(out_fd, buf, total) == (ssize_t)total)
        ew_worker_count_tx(w, out_port, frame_len);
    else
        ew_worker_count_drop(w, in_port, EW_DROP_TX_FAILED);
}

static void drain_port(struct ew_worker *w, struct epoll_worker *st, const struct ew_table_view *t,
                       uint32_t port) {
    const uint32_t hdr = w->sh->hdr_len, cap = w->sh->buf_size - hdr;
    int fd = st->fds[port];
    if (fd < 0) return;
    if (port == EW_PORT_UNDERLAY) { /* the overlay's UDP socket: decapsulate a burst */
        uint32_t lens[EW_BURST], out[EW_BURST];
        uint32_t n = ew_underlay_recv(w, fd, t, st->bufs, lens, out);
        for (uint32_t i = 0; i < n; i++) /* decapsulated frames go to local ports only */
            if (out[i] != EW_PORT_NONE && !(out[i] & EW_OUT_ENCAP))
                forward(w, st, t, NULL, st->bufs + (size_t)i * w->sh->buf_size, EW_PORT_UNDERLAY,
                        out[i], lens[i]);
        return;
    }
    uint32_t in_ports[EW_BURST], lens[EW_BURST], out[EW_BURST], n = 0;
    uint8_t *bufs[EW_BURST];
    for (uint32_t i = 0; i < EW_BURST; i++) {
        uint8_t *buf = st->bufs + (size_t)n * w->sh->buf_size;
        ssize_t got = read(fd, buf, w->sh->buf_size);
        if (got < 0) break; /* EAGAIN: drained (errors: retried on the next wakeup) */
        if ((size_t)got < hdr) {
            ew_worker_count_drop(w, port, EW_DROP_TRUNCATED_ETH);
            continue;
        }
        in_ports[n] = port;
        bufs[n] = buf;
        lens[n++] = (uint32_t)got - hdr;
    }
    if (n == 0) return;
    ew_worker_judge_burst(w, t, in_ports, bufs, lens, cap, n, out);
    struct ew_underlay_batch batch;
    batch.n = 0;
    for (uint32_t i = 0; i < n; i++)
        if (out[i] != EW_PORT_NONE) forward(w, st, t, &batch, bufs[i], port, out[i], lens[i]);
    if (batch.n > 0) ew_underlay_batch_flush(w, &batch, st->fds[EW_PORT_UNDERLAY]);
}

/* The frames a vhost-user guest transmitted: one burst, judged together. */
static void drain_vhost(struct ew_worker *w, struct epoll_worker *st, const struct ew_table_view *t,
                        uint32_t port) {
    const uint32_t hdr = w->sh->hdr_len, cap = w->sh->buf_size - hdr;
    uint32_t in_ports[EW_BURST], lens[EW_BURST], out[EW_BURST];
    uint8_t *bufs[EW_BURST];
    for (uint32_t i = 0; i < EW_BURST; i++) {
        bufs[i] = st->bufs + (size_t)i * w->sh->buf_size;
        in_ports[i] = port;
    }
    uint32_t n = ew_vhost_pop(st->vh[port], bufs, hdr, cap, lens, EW_BURST);
    if (n == 0) return;
    ew_worker_judge_burst(w, t, in_ports, bufs, lens, cap, n, out);
    struct ew_underlay_batch batch;
    batch.n = 0;
    for (uint32_t i = 0; i < n; i++)
        if (out[i] != EW_PORT_NONE) forward(w, st, t, &batch, bufs[i], port, out[i], lens[i]);
    if (batch.n > 0) ew_underlay_batch_flush(w, &batch, st->fds[EW_PORT_UNDERLAY]);
}

static void drain_wake(struct ew_worker *w) {
    uint64_t v;
    ssize_t n = read(w->wake_fd, &v, sizeof v);
    (void)n;
}

static void run(struct ew_worker *w, struct epoll_worker *st) {
    struct epoll_event events[MAX_EVENTS];
    bool vh_busy = false; /* a vhost tx ring had more than a burst: do not sleep */
    while (!ew_worker_stopping(w)) {
        int n = epoll_wait(st->ep, events, MAX_EVENTS, vh_busy ? 0 : (int)EW_SWEEP_EVERY);
        if (ew_worker_cmd_pending(w)) ew_worker_cmd_finish(w, handle_command(w, st));
        const struct ew_table_view *t = ew_worker_burst_begin(w);
        for (int i = 0; i < n; i++) {
            uint32_t token = events[i].data.u32;
            if (token == WAKE_TOKEN)
                drain_wake(w);
            else if (token == TOK_TIMER)
                stream_retry(st);
            else if (token & (TOK_LISTEN | TOK_CONN))
                stream_event(w, st, t, token, events[i].events);
            else if (token & EW_VH_TOK_MASK) {
                struct ew_vhost_port *vp = st->vh[token & 0xffffu];
                if (vp) ew_vhost_event(vp, token & EW_VH_TOK_MASK);
            } else
                drain_port(w, st, t, token);
        }
        vh_busy = false;
        for (uint32_t i = 0; i < st->nvh; i++) {
            struct ew_vhost_port *vp = st->vh[st->vh_ports[i]];
            if (vp->tx_more) drain_vhost(w, st, t, st->vh_ports[i]);
            vh_busy |= vp->tx_more;
        }
        for (uint32_t i = 0; i < st->nvh; i++)
            ew_vhost_burst_end(st->vh[st->vh_ports[i]]);
        ew_worker_burst_end(w);
    }
}

static void *worker_main(void *arg) {
    struct ew_worker *w = arg;
    struct epoll_worker *st = calloc(1, sizeof *st);
    if (!st) {
        ew_worker_started(w, -1, "out of memory");
        return NULL;
    }
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++) {
        st->fds[p] = -1;
        st->conn_fd[p] = -1;
    }
    st->bufs = malloc((size_t)EW_BURST * w->sh->buf_size);
    st->scratch = malloc(STREAM_SCRATCH);
    st->reading = EW_PORT_NONE;
    st->ep = epoll_create1(EPOLL_CLOEXEC);
    st->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WAKE_TOKEN};
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = TOK_TIMER};
    if (!st->bufs || !st->scratch || st->ep < 0 || st->tfd < 0 ||
        epoll_ctl(st->ep, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0 ||
        epoll_ctl(st->ep, EPOLL_CTL_ADD, st->tfd, &tev) < 0) {
        ew_worker_started(w, -1, strerror(errno));
        if (st->tfd >= 0) close(st->tfd);
        if (st->ep >= 0) close(st->ep);
        free(st->scratch);
        free(st->bufs);
        free(st);
        return NULL;
    }
    w->backend = st;
    ew_worker_started(w, 0, NULL);
    run(w, st);
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        if (st->fds[p] >= 0) close(st->fds[p]);
    for (uint32_t i = 0; i < st->nvh; i++)
        ew_vhost_close(st->vh[st->vh_ports[i]]);
    close(st->tfd);
    close(st->ep); /* stream ports are the engine's: it closes them after the join */
    free(st->scratch);
    free(st->bufs);
    free(st);
    w->backend = NULL;
    return NULL;
}

static bool available(void) {
    return true;
}

const struct ew_backend ew_backend_epoll = {
    .mode = EW_IO_EPOLL,
    .nonblocking_fds = true,
    .available = available,
    .worker_main = worker_main,
};
