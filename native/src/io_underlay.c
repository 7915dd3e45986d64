/* The overlay's underlay port; see io_underlay.h. */
#include "io_underlay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int ew_underlay_socket(uint32_t addr, uint16_t port, char *err, size_t errlen) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "underlay socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    /* Let the underlay fragment what exceeds its MTU rather than fail the
     * send: the ENI MTU (1500 - 50) is the fast path, not a hard limit. */
    int pmtu = IP_PMTUDISC_DONT;
    int buf = 4 << 20;
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr)};
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(err, errlen, "underlay %s:%u: %s", inet_ntoa(sa.sin_addr), port, strerror(errno));
        close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf); /* best effort */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    return fd;
}

void ew_underlay_batch_add(struct ew_worker *w, struct ew_underlay_batch *b, int fd,
                           const struct ew_table_view *t, uint32_t remote, uint32_t in_port,
                           const uint8_t *buf, uint32_t frame_len) {
    if (fd < 0 || !t || remote >= t->n_remotes) {
        ew_worker_count_drop(w, in_port, EW_DROP_OVERLAY_NO_UNDERLAY);
        return;
    }
    if (b->n == EW_BURST) ew_underlay_batch_flush(w, b, fd);
    const struct ew_remote_eni *r = &t->remotes[remote];
    const struct ew_underlay_host *h = &t->hosts[r->host];
    uint32_t hdr_len = w->sh->hdr_len, i = b->n++;
    ew_vxlan_encode(b->vx[i], t->vpc_vni[t->enis[r->eni].vpc], hdr_len != 0);
    b->to[i] = (struct sockaddr_in){
        .sin_family = AF_INET, .sin_port = htons(h->port), .sin_addr.s_addr = htonl(h->addr)};
    b->iov[i][0] = (struct iovec){.iov_base = b->vx[i], .iov_len = EW_VXLAN_HLEN};
    b->iov[i][1] = (struct iovec){.iov_base = (void *)buf, .iov_len = (size_t)hdr_len + frame_len};
    b->mm[i].msg_hdr = (struct msghdr){.msg_name = &b->to[i],
                                       .msg_namelen = sizeof b->to[i],
                                       .msg_iov = b->iov[i],
                                       .msg_iovlen = 2};
    b->mm[i].msg_len = 0;
    b->in_port[i] = in_port;
    b->frame_len[i] = frame_len;
}

void ew_underlay_batch_flush(struct ew_worker *w, struct ew_underlay_batch *b, int fd) {
    const uint32_t n = b->n, whole = EW_VXLAN_HLEN + w->sh->hdr_len;
    uint32_t i = 0;
    b->n = 0;
    while (i < n) {
        int sent = sendmmsg(fd, &b->mm[i], n - i, MSG_DONTWAIT);
        if (sent > 0) {
            for (uint32_t j = i; j < i + (uint32_t)sent; j++) {
                if (b->mm[j].msg_len == whole + b->frame_len[j])
                    ew_worker_count_tx(w, EW_PORT_UNDERLAY, b->frame_len[j]);
                else
                    ew_worker_count_drop(w, b->in_port[j], EW_DROP_TX_FAILED);
            }
            i += (uint32_t)sent;
            continue;
        }
        /* Datagram i failed (sendmmsg reports the first failure of a call this way). */
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
            /* The socket is full: the rest of the burst would fail the same way. */
            for (; i < n; i++)
                ew_worker_count_drop(w, b->in_port[i], EW_DROP_TX_FAILED);
            break;
        }
        ew_worker_count_drop(w, b->in_port[i],
                             e == EMSGSIZE ? EW_DROP_OVERLAY_NO_UNDERLAY : EW_DROP_TX_FAILED);
        i++;
    }
}

uint32_t ew_underlay_recv(struct ew_worker *w, int fd, const struct ew_table_view *t, uint8_t *bufs,
                          uint32_t *lens, uint32_t *out) {
    const uint32_t hdr_len = w->sh->hdr_len, size = w->sh->buf_size;
    uint8_t vx[EW_BURST][EW_VXLAN_HLEN];
    struct iovec iov[EW_BURST][2];
    struct sockaddr_in from[EW_BURST];
    struct mmsghdr mm[EW_BURST];
    for (uint32_t i = 0; i < EW_BURST; i++) {
        iov[i][0] = (struct iovec){.iov_base = vx[i], .iov_len = EW_VXLAN_HLEN};
        iov[i][1] = (struct iovec){.iov_base = bufs + (size_t)i * size, .iov_len = size};
        mm[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                        .msg_namelen = sizeof from[i],
                                        .msg_iov = iov[i],
                                        .msg_iovlen = 2};
        mm[i].msg_len = 0;
    }
    int got = recvmmsg(fd, mm, EW_BURST, MSG_DONTWAIT, NULL);
    if (got <= 0) return 0;
    for (uint32_t i = 0; i < (uint32_t)got; i++) {
        uint8_t *buf = bufs + (size_t)i * size;
        uint32_t n = mm[i].msg_len, vni;
        bool vnet;
        out[i] = EW_PORT_NONE;
        lens[i] = 0;
        if ((mm[i].msg_hdr.msg_flags & MSG_TRUNC) || n < EW_VXLAN_HLEN + hdr_len ||
            !ew_vxlan_decode(vx[i], n, &vni, &vnet) || vnet != (hdr_len != 0) ||
            mm[i].msg_hdr.msg_namelen != sizeof from[i] || from[i].sin_family != AF_INET) {
            struct ew_port_counters *c = &w->counters[EW_PORT_UNDERLAY];
            c->cnt[EW_CNT_RX_PACKETS]++;
            c->cnt[EW_CNT_RX_BYTES] += n;
            ew_worker_count_drop(w, EW_PORT_UNDERLAY, EW_DROP_OVERLAY_MALFORMED);
            continue;
        }
        uint32_t frame_len = n - EW_VXLAN_HLEN - hdr_len;
        struct ew_verdict v;
        ew_process_decap(&w->ctx, t, ntohl(from[i].sin_addr.s_addr), vni, buf + hdr_len, &frame_len,
                         size - hdr_len, &v);
        if (v.action == EW_ACT_FORWARD && v.out_port < EW_MAX_PORTS) {
            out[i] = v.out_port;
            lens[i] = frame_len;
        }
    }
    return (uint32_t)got;
}
