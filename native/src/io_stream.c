/*
 * QEMU stream netdev port: listening socket, connection, framing. See io_stream.h.
 */
#include "io_stream.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void drop_conn(struct ew_stream_port *p) {
    if (p->cfd < 0) return;
    close(p->cfd);
    p->cfd = -1;
    p->st.resets++;
    ew_stream_rx_reset(&p->rx);
    ew_stream_tx_reset(&p->tx);
}

int ew_stream_port_open(struct ew_stream_port *p, const char *path) {
    p->lfd = -1;
    p->cfd = -1;
    memset(&p->st, 0, sizeof p->st);
    ew_stream_rx_init(&p->rx, p->rxbuf, EW_STREAM_MAX_FRAME);
    ew_stream_tx_init(&p->tx, p->pend, (uint32_t)sizeof p->pend);
    if (!path || path[0] != '/') return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof p->path) return -ENAMETOOLONG;
    memcpy(p->path, path, n + 1);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, n + 1);
    struct stat stt;
    if (lstat(path, &stt) == 0) {
        if (!S_ISSOCK(stt.st_mode)) return -EEXIST;
        /* A socket file: stale unless something still listens on it. */
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
        p->st.replaced++;
        drop_conn(p);
    }
    p->cfd = fd;
    p->st.accepts++;
    return 1;
}

struct rx_ctx {
    struct ew_stream_port *p;
    ew_stream_frame_fn fn;
    void *ctx;
};

static void count_rx(void *c, const uint8_t *f, uint32_t len) {
    struct rx_ctx *r = c;
    r->p->st.rx_frames++;
    r->p->st.rx_bytes += len;
    r->fn(r->ctx, f, len);
}

int ew_stream_port_rx(struct ew_stream_port *p, uint8_t *scratch, size_t scratch_len,
                      ew_stream_frame_fn fn, void *ctx) {
    if (p->cfd < 0) return -1;
    struct rx_ctx r = {p, fn, ctx};
    int n = ew_stream_rx_read(&p->rx, p->cfd, scratch, scratch_len, 64, count_rx, &r);
    if (n >= 0) return n;
    if (n == EW_STREAM_BAD_LEN) p->st.rx_bad_len++;
    drop_conn(p);
    return -1;
}

int ew_stream_port_tx(struct ew_stream_port *p, const uint8_t *frame, uint32_t len) {
    if (p->cfd < 0) {
        p->st.tx_no_peer++;
        return -1;
    }
    int s = ew_stream_tx_send(&p->tx, p->cfd, frame, len);
    switch (s) {
    case EW_STREAM_OK:
        p->st.tx_frames++;
        p->st.tx_bytes += len;
        return 0;
    case EW_STREAM_BUSY:
        p->st.tx_busy++;
        return -1;
    case EW_STREAM_BAD_LEN:
        p->st.tx_too_long++;
        return -1;
    default:
        drop_conn(p);
        p->st.tx_no_peer++;
        return -1;
    }
}

int ew_stream_port_flush(struct ew_stream_port *p) {
    if (p->cfd < 0) return -1;
    if (ew_stream_tx_flush(&p->tx, p->cfd) == EW_STREAM_OK) return 0;
    drop_conn(p);
    return -1;
}
