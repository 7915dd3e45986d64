/*
 * QEMU stream netdev framing: see stream_frame.h.
 */
#include "stream_frame.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void ew_stream_rx_init(struct ew_stream_rx *rx, uint8_t *buf, uint32_t cap) {
    rx->buf = buf;
    rx->cap = cap;
    ew_stream_rx_reset(rx);
}

void ew_stream_rx_reset(struct ew_stream_rx *rx) {
    rx->need = 0;
    rx->have = 0;
    rx->hdr_have = 0;
    rx->bad_len = 0;
}

int ew_stream_rx_feed(struct ew_stream_rx *rx, const uint8_t *data, size_t len,
                      ew_stream_frame_fn fn, void *ctx, uint32_t *frames) {
    uint32_t n = 0;
    size_t off = 0;
    while (off < len) {
        if (rx->need == 0) {
            size_t take = EW_STREAM_HDR - rx->hdr_have;
            if (take > len - off) take = len - off;
            memcpy(rx->hdr + rx->hdr_have, data + off, take);
            rx->hdr_have += (uint32_t)take;
            off += take;
            if (rx->hdr_have < EW_STREAM_HDR) break;
            uint32_t flen = (uint32_t)rx->hdr[0] << 24 | (uint32_t)rx->hdr[1] << 16 |
                            (uint32_t)rx->hdr[2] << 8 | (uint32_t)rx->hdr[3];
            rx->hdr_have = 0;
            if (flen == 0 || flen > rx->cap) {
                rx->bad_len = flen;
                if (frames) *frames = n;
                return EW_STREAM_BAD_LEN;
            }
            rx->need = flen;
            rx->have = 0;
            continue;
        }
        size_t take = rx->need - rx->have;
        if (take > len - off) take = len - off;
        memcpy(rx->buf + rx->have, data + off, take);
        rx->have += (uint32_t)take;
        off += take;
        if (rx->have == rx->need) {
            fn(ctx, rx->buf, rx->need);
            n++;
            rx->need = 0;
            rx->have = 0;
        }
    }
    if (frames) *frames = n;
    return EW_STREAM_OK;
}

int ew_stream_rx_read(struct ew_stream_rx *rx, int fd, uint8_t *scratch, size_t scratch_len,
                      unsigned max_reads, ew_stream_frame_fn fn, void *ctx) {
    int total = 0;
    for (unsigned i = 0; i < max_reads; i++) {
        ssize_t r = read(fd, scratch, scratch_len);
        if (r == 0) return EW_STREAM_CLOSED;
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return EW_STREAM_CLOSED;
        }
        uint32_t got = 0;
        int st = ew_stream_rx_feed(rx, scratch, (size_t)r, fn, ctx, &got);
        total += (int)got;
        if (st != EW_STREAM_OK) return st;
        if ((size_t)r < scratch_len) break; /* drained */
    }
    return total;
}

void ew_stream_tx_init(struct ew_stream_tx *tx, uint8_t *pend, uint32_t pend_cap) {
    tx->pend = pend;
    tx->pend_cap = pend_cap;
    ew_stream_tx_reset(tx);
}

void ew_stream_tx_reset(struct ew_stream_tx *tx) {
    tx->pend_off = 0;
    tx->pend_len = 0;
}

int ew_stream_tx_flush(struct ew_stream_tx *tx, int fd) {
    while (tx->pend_off < tx->pend_len) {
        ssize_t w = send(fd, tx->pend + tx->pend_off, tx->pend_len - tx->pend_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return EW_STREAM_OK;
            return EW_STREAM_IO;
        }
        tx->pend_off += (uint32_t)w;
    }
    tx->pend_off = 0;
    tx->pend_len = 0;
    return EW_STREAM_OK;
}

int ew_stream_tx_send(struct ew_stream_tx *tx, int fd, const uint8_t *frame, uint32_t len) {
    if (len == 0 || len > tx->pend_cap - EW_STREAM_HDR || tx->pend_cap < EW_STREAM_HDR)
        return EW_STREAM_BAD_LEN;
    if (tx->pend_len) {
        int st = ew_stream_tx_flush(tx, fd);
        if (st != EW_STREAM_OK) return st;
        if (tx->pend_len) return EW_STREAM_BUSY;
    }
    uint8_t hdr[EW_STREAM_HDR] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                                  (uint8_t)len};
    struct iovec iov[2] = {{hdr, EW_STREAM_HDR}, {(void *)(uintptr_t)frame, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t w;
    do {
        w = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) return EW_STREAM_IO;
        w = 0;
    }
    size_t total = EW_STREAM_HDR + (size_t)len;
    if ((size_t)w == total) return EW_STREAM_OK;
    if (w == 0) return EW_STREAM_BUSY; /* nothing written: dropped whole, stream intact */
    /* Part written: the rest must follow, so it pends (the frame goes out whole). */
    size_t done = (size_t)w;
    uint32_t pl = 0;
    if (done < EW_STREAM_HDR) {
        memcpy(tx->pend, hdr + done, EW_STREAM_HDR - done);
        pl = (uint32_t)(EW_STREAM_HDR - done);
        memcpy(tx->pend + pl, frame, len);
        pl += len;
    } else {
        size_t body_done = done - EW_STREAM_HDR;
        memcpy(tx->pend, frame + body_done, len - body_done);
        pl = (uint32_t)(len - body_done);
    }
    tx->pend_off = 0;
    tx->pend_len = pl;
    return EW_STREAM_OK;
}
