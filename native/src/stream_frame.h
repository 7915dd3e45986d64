/*
 * QEMU stream netdev framing (issue #12 item 2): QEMU >= 7.2's
 * `-netdev stream` (and the older `-netdev socket`) carries each Ethernet frame
 * as a 4-byte big-endian length followed by that many bytes. This file holds
 * the framing alone, separable from the I/O engine so that it is unit-tested
 * over a socketpair (native/test/test_stream.c) and fuzzed
 * (native/fuzz/fuzz_stream.c):
 *
 *   - ew_stream_rx: a reader that never trusts the peer. Bytes arrive in any
 *     split (partial header, partial body, several frames per read); a length
 *     of zero or above the buffer's capacity is a protocol error: the caller
 *     counts a drop and resets the connection (the stream cannot be resynced).
 *   - ew_stream_tx: a writer for a nonblocking socket. A frame is written whole
 *     or dropped-and-counted, never half: when the kernel takes only part of a
 *     frame, the rest goes into a per-port pending buffer (one frame at most)
 *     and is flushed on the next writable event before anything else. A frame
 *     offered while the pending buffer is still busy is dropped (EW_STREAM_BUSY).
 *
 * Both use caller-provided storage: nothing is allocated per frame (or at all).
 */
#ifndef ENIWALL_STREAM_FRAME_H
#define ENIWALL_STREAM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define EW_STREAM_HDR 4u

enum ew_stream_status {
    EW_STREAM_OK = 0,
    EW_STREAM_BAD_LEN = -1, /* zero or oversized length: reset the connection */
    EW_STREAM_BUSY = -2,    /* a previous frame is still pending: this one dropped */
    EW_STREAM_IO = -3,      /* write error other than EAGAIN (errno kept): reset */
};

/* Called once per complete frame; frame points into the reader's buffer and is
 * valid until the callback returns. */
typedef void (*ew_stream_frame_fn)(void *ctx, const uint8_t *frame, uint32_t len);

struct ew_stream_rx {
    uint8_t *buf;  /* caller storage, cap bytes */
    uint32_t cap;  /* the largest frame accepted */
    uint32_t need; /* body length of the frame being read, 0 while in the header */
    uint32_t have; /* body bytes read so far */
    uint32_t hdr_have;
    uint8_t hdr[EW_STREAM_HDR];
    uint32_t bad_len; /* the offending length after EW_STREAM_BAD_LEN */
};

void ew_stream_rx_init(struct ew_stream_rx *rx, uint8_t *buf, uint32_t cap);
/* Back to "expecting a header" (a new connection). */
void ew_stream_rx_reset(struct ew_stream_rx *rx);
/* Consume len bytes, calling fn for each complete frame. Returns EW_STREAM_OK,
 * or EW_STREAM_BAD_LEN at the first bad header (the rest of data is not
 * consumed; the reader must be reset before reuse). *frames counts the frames
 * delivered by this call. */
int ew_stream_rx_feed(struct ew_stream_rx *rx, const uint8_t *data, size_t len,
                      ew_stream_frame_fn fn, void *ctx, uint32_t *frames);
/* read() from fd until EAGAIN (or max_reads reads), feeding the reader through
 * scratch. Returns frames delivered (>= 0), EW_STREAM_BAD_LEN, or -4 when the
 * peer closed the connection or read failed (errno kept): reset in both cases. */
#define EW_STREAM_CLOSED (-4)
int ew_stream_rx_read(struct ew_stream_rx *rx, int fd, uint8_t *scratch, size_t scratch_len,
                      unsigned max_reads, ew_stream_frame_fn fn, void *ctx);

struct ew_stream_tx {
    uint8_t *pend; /* caller storage, pend_cap >= EW_STREAM_HDR + largest frame */
    uint32_t pend_cap;
    uint32_t pend_off; /* bytes of pend already written */
    uint32_t pend_len; /* bytes in pend; 0 = idle */
};

void ew_stream_tx_init(struct ew_stream_tx *tx, uint8_t *pend, uint32_t pend_cap);
void ew_stream_tx_reset(struct ew_stream_tx *tx);
static inline int ew_stream_tx_pending(const struct ew_stream_tx *tx) {
    return tx->pend_len != 0;
}
/* Send one frame on the nonblocking fd: EW_STREAM_OK when written whole or its
 * rest is now pending (it will go out, whole, on ew_stream_tx_flush),
 * EW_STREAM_BUSY when a previous frame still pends (dropped, nothing written),
 * EW_STREAM_BAD_LEN for len 0 or larger than the pending buffer allows,
 * EW_STREAM_IO on a write error. */
int ew_stream_tx_send(struct ew_stream_tx *tx, int fd, const uint8_t *frame, uint32_t len);
/* Write what pends. EW_STREAM_OK (maybe still pending: check
 * ew_stream_tx_pending) or EW_STREAM_IO. */
int ew_stream_tx_flush(struct ew_stream_tx *tx, int fd);

#endif /* ENIWALL_STREAM_FRAME_H */
