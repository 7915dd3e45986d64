/*
 * A vhost-user port (issue #12 item 3) served by the epoll engine: eniwall is
 * the back-end in server mode (it listens, the front-end — DPDK virtio-user,
 * QEMU — connects). The message handling, memory table and descriptor walk are
 * vhost_user.c / vhost_vring.c; this file is the port around them: the
 * listening socket, one front-end connection, the tx kick eventfd in the
 * worker's epoll set, and the frames moved per burst.
 *
 * Threading: the port belongs to one worker (the engine opens it only with
 * one worker). Everything here runs on that worker's thread; the struct is
 * allocated once when the port opens: no allocation per frame.
 *
 * Virtqueues: 0 is the guest's receive queue (we write frames into it), 1 its
 * transmit queue (we pop frames from it). Used entries are published once per
 * burst (ew_vhost_burst_end), with a call on the call eventfd when the guest
 * wants one.
 *
 * A front-end that disconnects leaves the port open (its id, counters and
 * conntrack zone stay); the next connection negotiates afresh. A new
 * connection while one is live replaces it.
 */
#ifndef ENIWALL_IO_VHOST_H
#define ENIWALL_IO_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost_user.h"

/* epoll tokens: port id in the low 16 bits, the fd's role above. */
#define EW_VH_TOK_LISTEN (1u << 16)
#define EW_VH_TOK_CONN   (2u << 16)
#define EW_VH_TOK_KICK   (3u << 16)
#define EW_VH_TOK_MASK   (0xffu << 16)

struct ew_vhost_stats {
    uint64_t accepts, resets;      /* connections taken / ended */
    uint64_t rx_frames, tx_frames; /* rx: to the guest; tx: from it */
    uint64_t rx_no_buffers;        /* the guest posted no room: frame dropped */
};

struct ew_vhost_port {
    uint32_t port;
    int ep;       /* the worker's epoll set */
    int lfd;      /* listening socket (non-blocking) */
    int cfd;      /* the front-end, -1 while none */
    int kick_reg; /* tx kick fd registered in ep, -1 none */
    bool tx_more; /* the tx ring had more than one burst: drain again */
    bool dirty;   /* used entries pending on a ring */
    struct ew_vu_dev dev;
    struct ew_vhost_stats st;
};

/* Worker side: take over the listening fd lfd as port `port` (calloc'd here,
 * at open, once). NULL with errno on failure (lfd is then closed). */
struct ew_vhost_port *ew_vhost_open(int ep, uint32_t port, int lfd);
/* Closes the connection, the listening fd, unmaps guest memory, frees. */
void ew_vhost_close(struct ew_vhost_port *vp);
/* An event on one of the port's fds (token role): accept, serve one control
 * message, or note a kick. */
void ew_vhost_event(struct ew_vhost_port *vp, uint32_t role);
/* Pops up to max frames the guest transmitted into bufs[i] + hdr (hdr bytes
 * of zeroed vnet header in front when hdr > 0), lens[i] the frame length.
 * Malformed chains are skipped and counted in dev.drops. Returns how many. */
uint32_t ew_vhost_pop(struct ew_vhost_port *vp, uint8_t *const *bufs, uint32_t hdr, uint32_t cap,
                      uint32_t *lens, uint32_t max);
/* Writes one frame into the guest's receive queue: 0, or -1 when it could not
 * (no connection, no buffers, a bad chain; counted). */
int ew_vhost_send(struct ew_vhost_port *vp, const uint8_t *frame, uint32_t len);
/* Publishes the used entries written this burst and calls the guest. */
void ew_vhost_burst_end(struct ew_vhost_port *vp);

/* Engine side: the listening socket for path (absolute; a stale socket there
 * is replaced, another file refused with -EEXIST), non-blocking; fd or -errno. */
int ew_vhost_listen(const char *path);

#endif /* ENIWALL_IO_VHOST_H */
