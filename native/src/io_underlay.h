/*
 * The overlay's underlay port: one UDP socket per worker (SO_REUSEPORT, bound
 * to the host's underlay address), registered as port EW_PORT_UNDERLAY.
 *
 * Encapsulation: VXLAN (RFC 7348) on UDP, default port 4789, the VPC's VNI
 * (table.h VPC_VNI). No outer Ethernet: the datagram is the 8-byte VXLAN
 * header then the inner frame. When the engine runs with vnet headers
 * (--offload on), the 12-byte virtio-net header travels between the two
 * (reserved flag bit EW_VXLAN_F_VNET), so GSO frames and checksum offload
 * survive the trip; both hosts must run the same offload mode (a mismatch is
 * a counted OVERLAY_MALFORMED drop).
 *
 * Per burst: recvmmsg() of up to EW_BURST datagrams straight into the frame
 * buffers (iovec: header apart, frame in place), ew_process_decap() each.
 * Sends are batched per burst: ew_underlay_batch_add() queues a frame
 * (header + frame gathered, no copy; the frame buffer must stay untouched
 * until the flush) and ew_underlay_batch_flush() hands the burst to the
 * kernel with sendmmsg() (one call per burst, more only after a failed
 * datagram), counting each datagram's TX or drop.
 */
#ifndef ENIWALL_IO_UNDERLAY_H
#define ENIWALL_IO_UNDERLAY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "io_worker.h"
#include "table_view.h"
#include "vxlan.h"

#define EW_OUT_ENCAP 0x80000000u /* worker verdict: encapsulate to REMOTE_ENIS[low bits] */

/* A UDP socket bound to addr:port (IPv4, host order), non-blocking,
 * SO_REUSEPORT; -1 with err. */
int ew_underlay_socket(uint32_t addr, uint16_t port, char *err, size_t errlen);

/* Up to EW_BURST datagrams to send together (on the worker's stack: no allocation). */
struct ew_underlay_batch {
    uint32_t n;
    uint32_t in_port[EW_BURST], frame_len[EW_BURST];
    uint8_t vx[EW_BURST][EW_VXLAN_HLEN];
    struct sockaddr_in to[EW_BURST];
    struct iovec iov[EW_BURST][2];
    struct mmsghdr mm[EW_BURST];
};

/* Queue the frame of buf (vnet header first when hdr_len) for the host owning
 * REMOTE_ENIS[remote]; without an underlay socket or with a bad index the
 * drop is counted on in_port at once. A full batch is flushed first. */
void ew_underlay_batch_add(struct ew_worker *w, struct ew_underlay_batch *b, int fd,
                           const struct ew_table_view *t, uint32_t remote, uint32_t in_port,
                           const uint8_t *buf, uint32_t frame_len);

/* Send what is queued (sendmmsg); counts TX on EW_PORT_UNDERLAY for each
 * datagram sent whole, the drop on its in_port for each other one. */
void ew_underlay_batch_flush(struct ew_worker *w, struct ew_underlay_batch *b, int fd);

/* Receive up to EW_BURST datagrams into bufs (EW_BURST buffers of buf_size)
 * and judge each: out[i] is the port to write bufs[i] to (lens[i] the frame
 * length), or EW_PORT_NONE (counted). Returns how many were received. */
uint32_t ew_underlay_recv(struct ew_worker *w, int fd, const struct ew_table_view *t, uint8_t *bufs,
                          uint32_t *lens, uint32_t *out);

#endif /* ENIWALL_IO_UNDERLAY_H */
