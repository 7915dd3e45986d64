/*
 * epoll backend: level-triggered epoll over this worker's queue fd of every
 * port plus its wake eventfd. Each wakeup reads up to EW_BURST frames from every
 * ready port (stopping early at EAGAIN; a port with more is reported ready
 * again) into EW_BURST buffers, judges them together (ew_worker_judge_burst:
 * the core parses the burst and prefetches its conntrack lines before deciding
 * each), then writes each with one write() to the destination's queue fd owned
 * by this same worker.
 * The portable fallback when io_uring is unavailable: one syscall per frame.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io_backend.h"
#include "io_underlay.h"
#include "io_vhost.h"
#include "io_worker.h"

#define WAKE_TOKEN          EW_MAX_PORTS /* epoll data for the eventfd; ports use their id */
#define MAX_EVENTS          64
#define EW_VHOST_PER_WORKER 64u

struct epoll_worker {
    int ep;
    int fds[EW_MAX_PORTS]; /* this worker's queue fd per port, -1 when closed */
    uint8_t *bufs;         /* EW_BURST frame buffers of buf_size: read, judge, write in place */
    /* vhost-user ports this worker serves (io_vhost.h), and their ids */
    struct ew_vhost_port *vh[EW_MAX_PORTS];
    uint32_t vh_ports[EW_VHOST_PER_WORKER], nvh;
};

static int handle_command(struct ew_worker *w, struct epoll_worker *st) {
    uint32_t p = w->cmd_port;
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

static void forward(struct ew_worker *w, struct epoll_worker *st, const struct ew_table_view *t,
                    const uint8_t *buf, uint32_t in_port, uint32_t out_port, uint32_t frame_len) {
    if (out_port & EW_OUT_ENCAP) {
        ew_underlay_send(w, st->fds[EW_PORT_UNDERLAY], t, out_port & ~EW_OUT_ENCAP, in_port, buf,
                         frame_len);
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
        for (uint32_t i = 0; i < n; i++)
            if (out[i] != EW_PORT_NONE)
                forward(w, st, t, st->bufs + (size_t)i * w->sh->buf_size, EW_PORT_UNDERLAY, out[i],
                        lens[i]);
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
    for (uint32_t i = 0; i < n; i++)
        if (out[i] != EW_PORT_NONE) forward(w, st, t, bufs[i], port, out[i], lens[i]);
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
    for (uint32_t i = 0; i < n; i++)
        if (out[i] != EW_PORT_NONE) forward(w, st, t, bufs[i], port, out[i], lens[i]);
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
    for (uint32_t p = 0; p < EW_MAX_PORTS; p++)
        st->fds[p] = -1;
    st->bufs = malloc((size_t)EW_BURST * w->sh->buf_size);
    st->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WAKE_TOKEN};
    if (!st->bufs || st->ep < 0 || epoll_ctl(st->ep, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0) {
        ew_worker_started(w, -1, strerror(errno));
        if (st->ep >= 0) close(st->ep);
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
    close(st->ep);
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
