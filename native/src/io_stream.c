/*
 * QEMU stream netdev port: listening socket, connection, framing. See io_stream.h.
 */
#include "io_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void drop_conn(struct ew_stream_port *p) {
    if (p->cfd < 0) return;
    close(p->cfd);
    p->cfd = -1;
    p->tx_dead = false;
    ew_stream_count(&p->st.resets, 1);
    ew_stream_rx_reset(&p->rx);
    ew_stream_tx_reset(&p->tx);
}

/* Is a socket of this network namespace listening on path? /proc/net/unix
 * lists every bound unix socket with its flags (__SO_ACCEPTCON, 0x10000, for
 * a listener). Asked before any connect() probe, because a probe that
 * reaches a live eniwall port would be accepted there and replace the
 * guest's connection. 1 listening, 0 not seen, -1 unreadable. */
static int listening_here(const char *path) {
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f) return -1;
    char line[512];
    int found = 0;
    size_t n = strlen(path);
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long flags = 0;
        int off = 0;
        /* Num: RefCount Protocol Flags Type St Inode Path */
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &off) != 1 || off == 0) continue;
        const char *q = line + off;
        found = (flags & 0x10000ul) && strncmp(q, path, n) == 0 && (q[n] == '\n' || q[n] == '\0');
    }
    fclose(f);
    return found;
}

static int port_init(struct ew_stream_port *p, const char *path, bool client) {
    p->lfd = -1;
    p->cfd = -1;
    p->tx_dead = false;
    p->client = client;
    memset(&p->st, 0, sizeof p->st);
    ew_stream_rx_init(&p->rx, p->rxbuf, EW_STREAM_MAX_FRAME);
    ew_stream_tx_init(&p->tx, p->pend, (uint32_t)sizeof p->pend);
    if (!path || path[0] != '/') return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof p->path) return -ENAMETOOLONG;
    memcpy(p->path, path, n + 1);
    return 0;
}

int ew_stream_port_open_client(struct ew_stream_port *p, const char *path) {
    return port_init(p, path, true);
}

int ew_stream_port_connect(struct ew_stream_port *p) {
    if (p->cfd >= 0) return 1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, p->path, sizeof sa.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* A unix connect() completes at once or fails (ENOENT, ECONNREFUSED;
     * EAGAIN when the listener's backlog is full): no EINPROGRESS to wait on. */
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0) close(fd);
        ew_stream_count(&p->st.connect_fails, 1);
        return 0;
    }
    p->cfd = fd;
    p->tx_dead = false;
    ew_stream_rx_reset(&p->rx);
    ew_stream_tx_reset(&p->tx);
    ew_stream_count(&p->st.connects, 1);
    return 1;
}

int ew_stream_port_open(struct ew_stream_port *p, const char *path) {
    int e = port_init(p, path, false);
    if (e != 0) return e;
    size_t n = strlen(path);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, n + 1);
    struct stat stt;
    if (lstat(path, &stt) == 0) {
        if (!S_ISSOCK(stt.st_mode)) return -EEXIST;
        /* A socket file: stale unless something still listens on it. A
         * listener in another namespace is not in our /proc/net/unix: the
         * connect() probe finds it (and only it, so no live port of ours is
         * disturbed). */
        if (listening_here(path) == 1) return -EADDRINUSE;
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) return -errno;
        int live = connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(probe);
        if (live) return -EADDRINUSE;
        if (unlink(path) != 0 && errno != ENOENT) return -errno;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    p->lfd = fd;
    return 0;
}

void ew_stream_port_close(struct ew_stream_port *p) {
    if (p->cfd >= 0) close(p->cfd);
    p->cfd = -1;
    if (p->lfd >= 0) {
        close(p->lfd);
        p->lfd = -1;
        unlink(p->path);
    }
}

int ew_stream_port_accept(struct ew_stream_port *p) {
    int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        return -errno;
    }
    if (p->cfd >= 0) {
        ew_stream_count(&p->st.replaced, 1);
        drop_conn(p);
    }
    p->cfd = fd;
    p->tx_dead = false;
    ew_stream_count(&p->st.accepts, 1);
    return 1;
}

struct rx_ctx {
    struct ew_stream_port *p;
    ew_stream_frame_fn fn;
    void *ctx;
};

static void count_rx(void *c, const uint8_t *f, uint32_t len) {
    struct rx_ctx *r = c;
    ew_stream_count(&r->p->st.rx_frames, 1);
    ew_stream_count(&r->p->st.rx_bytes, len);
    r->fn(r->ctx, f, len);
}

int ew_stream_port_rx(struct ew_stream_port *p, uint8_t *scratch, size_t scratch_len,
                      ew_stream_frame_fn fn, void *ctx) {
    if (p->cfd < 0) return -1;
    struct rx_ctx r = {p, fn, ctx};
    int n = ew_stream_rx_read(&p->rx, p->cfd, scratch, scratch_len, 64, count_rx, &r);
    if (n >= 0) return n;
    if (n == EW_STREAM_BAD_LEN) ew_stream_count(&p->st.rx_bad_len, 1);
    drop_conn(p);
    return -1;
}

void ew_stream_port_reap(struct ew_stream_port *p) {
    if (p->tx_dead) drop_conn(p);
}

int ew_stream_port_tx(struct ew_stream_port *p, const uint8_t *frame, uint32_t len) {
    if (p->cfd < 0 || p->tx_dead) {
        ew_stream_count(&p->st.tx_no_peer, 1);
        return -1;
    }
    int s = ew_stream_tx_send(&p->tx, p->cfd, frame, len);
    switch (s) {
    case EW_STREAM_OK:
        ew_stream_count(&p->st.tx_frames, 1);
        ew_stream_count(&p->st.tx_bytes, len);
        return 0;
    case EW_STREAM_BUSY:
        ew_stream_count(&p->st.tx_busy, 1);
        return -1;
    case EW_STREAM_BAD_LEN:
        ew_stream_count(&p->st.tx_too_long, 1);
        return -1;
    default:
        p->tx_dead = true; /* closed by ew_stream_port_reap */
        ew_stream_count(&p->st.tx_no_peer, 1);
        return -1;
    }
}

int ew_stream_port_flush(struct ew_stream_port *p) {
    if (p->cfd < 0) return -1;
    if (ew_stream_tx_flush(&p->tx, p->cfd) == EW_STREAM_OK) return 0;
    drop_conn(p);
    return -1;
}
