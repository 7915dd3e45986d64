/*
 * vhost-user port in the epoll engine: listening socket, one front-end, the
 * tx kick eventfd, frames per burst. See io_vhost.h.
 */
#include "io_vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define VQ_RX 0u /* the guest's receive queue: we write into it */
#define VQ_TX 1u /* the guest's transmit queue: we pop from it */

static void ep_add(struct ew_vhost_port *vp, int fd, uint32_t role) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = vp->port | role};
    epoll_ctl(vp->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* The kick fd may have changed with the last message: register the current one. */
static void kick_sync(struct ew_vhost_port *vp) {
    int k = vp->dev.vring[VQ_TX].kick_fd;
    if (vp->kick_reg >= 0) epoll_ctl(vp->ep, EPOLL_CTL_DEL, vp->kick_reg, NULL);
    vp->kick_reg = -1;
    if (k >= 0) {
        ep_add(vp, k, EW_VH_TOK_KICK);
        vp->kick_reg = k;
    }
    vp->tx_more = true; /* a (re)started ring may hold frames posted before the kick */
}

static void drop_conn(struct ew_vhost_port *vp) {
    if (vp->cfd < 0) return;
    if (vp->kick_reg >= 0) epoll_ctl(vp->ep, EPOLL_CTL_DEL, vp->kick_reg, NULL);
    vp->kick_reg = -1;
    epoll_ctl(vp->ep, EPOLL_CTL_DEL, vp->cfd, NULL);
    close(vp->cfd);
    vp->cfd = -1;
    ew_vu_dev_reset(&vp->dev);
    vp->tx_more = vp->dirty = false;
    vp->st.resets++;
}

struct ew_vhost_port *ew_vhost_open(int ep, uint32_t port, int lfd) {
    struct ew_vhost_port *vp = calloc(1, sizeof *vp);
    if (!vp) {
        close(lfd);
        errno = ENOMEM;
        return NULL;
    }
    vp->port = port;
    vp->ep = ep;
    vp->lfd = lfd;
    vp->cfd = vp->kick_reg = -1;
    ew_vu_dev_init(&vp->dev, &ew_vu_mmap_ops);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = port | EW_VH_TOK_LISTEN};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        int e = errno;
        close(lfd);
        free(vp);
        errno = e;
        return NULL;
    }
    return vp;
}

void ew_vhost_close(struct ew_vhost_port *vp) {
    if (!vp) return;
    drop_conn(vp);
    /* The socket file goes with the port. */
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    memset(&sa, 0, sizeof sa);
    if (getsockname(vp->lfd, (struct sockaddr *)&sa, &sl) == 0 && sa.sun_family == AF_UNIX &&
        sa.sun_path[0] == '/')
        unlink(sa.sun_path);
    epoll_ctl(vp->ep, EPOLL_CTL_DEL, vp->lfd, NULL);
    close(vp->lfd);
    free(vp);
}

static void accept_conn(struct ew_vhost_port *vp) {
    int fd = accept4(vp->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN or a transient error: the next event retries */
    drop_conn(vp);      /* a new front-end replaces the old one */
    /* Control messages are read whole with a blocking recv; a front-end that
     * stalls mid-message costs the worker at most this long, then is dropped. */
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    vp->cfd = fd;
    ep_add(vp, fd, EW_VH_TOK_CONN);
    vp->st.accepts++;
}

void ew_vhost_event(struct ew_vhost_port *vp, uint32_t role) {
    if (role == EW_VH_TOK_LISTEN) {
        accept_conn(vp);
    } else if (role == EW_VH_TOK_CONN) {
        if (vp->cfd < 0) return;
        if (ew_vu_sock_serve_one(vp->cfd, &vp->dev) != 0)
            drop_conn(vp); /* closed, refused or broken: wait for the next front-end */
        else
            kick_sync(vp);
    } else if (role == EW_VH_TOK_KICK) {
        uint64_t v;
        if (vp->kick_reg >= 0 && read(vp->kick_reg, &v, sizeof v) < 0 && errno != EAGAIN) return;
        vp->tx_more = true;
    }
}

uint32_t ew_vhost_pop(struct ew_vhost_port *vp, uint8_t *const *bufs, uint32_t hdr, uint32_t cap,
                      uint32_t *lens, uint32_t max) {
    struct ew_vring *vr = &vp->dev.vring[VQ_TX];
    uint32_t n = 0, tries = 0;
    vp->tx_more = false;
    if (vp->cfd < 0 || !ew_vring_ready(vr)) return 0;
    /* bounded: malformed chains count against the burst too */
    while (n < max && tries++ < max * 2) {
        uint32_t len = 0;
        uint16_t head;
        int r = ew_vring_pop(vr, &vp->dev.mem, bufs[n] + hdr, cap, &len, &head);
        if (r == 0) break;
        vp->dirty = true;
        if (r < 0) {
            vp->dev.drops[-r]++;
            if (vr->broken) break;
            continue;
        }
        if (hdr) memset(bufs[n], 0, hdr);
        lens[n++] = len;
    }
    if (n == max || tries > max * 2) vp->tx_more = true; /* more may wait: drain next turn */
    vp->st.tx_frames += n;
    return n;
}

int ew_vhost_send(struct ew_vhost_port *vp, const uint8_t *frame, uint32_t len) {
    struct ew_vring *vr = &vp->dev.vring[VQ_RX];
    if (vp->cfd < 0 || !ew_vring_ready(vr)) {
        vp->st.rx_no_buffers++;
        return -1;
    }
    int r = ew_vring_rx_put(vr, &vp->dev.mem, frame, len);
    if (r == 1) {
        vp->dirty = true;
        vp->st.rx_frames++;
        return 0;
    }
    if (r == -EW_VU_DROP_RX_NO_BUFFERS)
        vp->st.rx_no_buffers++;
    else
        vp->dirty = true; /* bad chains were returned to the used ring */
    if (-r > 0 && -r < EW_VU_DROP_COUNT) vp->dev.drops[-r]++;
    return -1;
}

static void flush_ring(struct ew_vring *vr) {
    if (!vr->used) return;
    if (ew_vring_flush(vr) && vr->call_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(vr->call_fd, &one, sizeof one);
        (void)w; /* a full eventfd counter already means "call pending" */
    }
}

void ew_vhost_burst_end(struct ew_vhost_port *vp) {
    if (!vp->dirty) return;
    vp->dirty = false;
    flush_ring(&vp->dev.vring[VQ_RX]);
    flush_ring(&vp->dev.vring[VQ_TX]);
}

int ew_vhost_listen(const char *path) {
    if (!path || path[0] != '/') return -EINVAL;
    int fd = ew_vu_listen(path);
    if (fd < 0) return fd;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return -e;
    }
    return fd;
}
