/*
 * libFuzzer harness: the vhost-user message parser and state machine, then
 * the descriptor walk on whatever rings the messages set up. Input: u16
 * length of a message stream, the stream (each message preceded by one byte:
 * how many fds come with it), then the bytes of guest memory (one 64 KiB
 * region whose mapping is a global buffer, so ASan sees any access outside).
 * Checks: no crash or out-of-bounds access, reasons in range, popped frames
 * no longer than the buffer, every fd handed over closed exactly once (or
 * kept and closed by the reset), every mapping undone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhost_user.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "VERDICT VIOLATION: vhost: %s\n", #cond);                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define GUEST_SIZE 65536u
static uint8_t guest[GUEST_SIZE];
static long maps, unmaps, fds_given, fds_closed;
static uint8_t fd_open[1024];

static void *fz_map(void *ctx, int fd, uint64_t len) {
    (void)ctx, (void)fd;
    if (len > GUEST_SIZE) return NULL;
    maps++;
    return guest;
}
static void fz_unmap(void *ctx, void *base, uint64_t len) {
    (void)ctx, (void)len;
    REQUIRE(base == guest);
    unmaps++;
}
static void fz_close(void *ctx, int fd) {
    (void)ctx;
    REQUIRE(fd >= 0 && fd < 1024 && fd_open[fd]);
    fd_open[fd] = 0;
    fds_closed++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t mlen = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2, size -= 2;
    if (mlen > size) mlen = size;
    const uint8_t *msgs = data;
    memset(guest, 0, sizeof guest);
    memcpy(guest, data + mlen, size - mlen > GUEST_SIZE ? GUEST_SIZE : size - mlen);
    maps = unmaps = fds_given = fds_closed = 0;
    memset(fd_open, 0, sizeof fd_open);
    int next_fd = 3;

    static struct ew_vu_dev d;
    struct ew_vu_ops ops = {fz_map, fz_unmap, fz_close, NULL};
    ew_vu_dev_init(&d, &ops);
    size_t off = 0;
    while (off < mlen) {
        unsigned nfds = msgs[off++] % (EW_VU_MAX_FDS + 1);
        struct ew_vu_msg msg;
        size_t used = 0;
        enum ew_vu_drop r = ew_vu_msg_parse(msgs + off, mlen - off, &msg, &used);
        REQUIRE(r < EW_VU_DROP_COUNT);
        if (r != EW_VU_DROP_NONE) break;
        REQUIRE(used >= EW_VU_HDR_SIZE && used <= mlen - off);
        off += used;
        int fds[EW_VU_MAX_FDS];
        for (unsigned i = 0; i < nfds; i++) {
            if (next_fd >= 1024) next_fd = 3;
            while (fd_open[next_fd])
                next_fd = next_fd + 1 < 1024 ? next_fd + 1 : 3;
            fds[i] = next_fd;
            fd_open[next_fd++] = 1;
            fds_given++;
        }
        struct ew_vu_reply rp;
        r = ew_vu_handle(&d, &msg, fds, nfds, &rp);
        REQUIRE(r < EW_VU_DROP_COUNT);
        REQUIRE(rp.len == 0 || rp.len == EW_VU_HDR_SIZE + 8);
        if (r != EW_VU_DROP_NONE) ew_vu_dev_reset(&d);
    }

    static uint8_t buf[EW_VU_MAX_FRAME];
    static uint8_t frame[1514];
    for (int i = 0; i < 64; i++) {
        uint32_t len = 0;
        uint16_t head = 0;
        int r = ew_vring_pop(&d.vring[1], &d.mem, buf, sizeof buf, &len, &head);
        REQUIRE(r <= 1 && -r < EW_VU_DROP_COUNT);
        if (r == 1) REQUIRE(len <= sizeof buf);
        if (r != 0 && -r != EW_VU_DROP_RING_HEAD && -r != EW_VU_DROP_RING_AVAIL)
            REQUIRE(head < d.vring[1].num);
        if (r == 0) break;
    }
    ew_vring_flush(&d.vring[1]);
    for (int i = 0; i < 64; i++) {
        int r = ew_vring_rx_put(&d.vring[0], &d.mem, frame, (uint32_t)(60 + i * 23));
        REQUIRE(r == 1 || (r < 0 && -r < EW_VU_DROP_COUNT));
        if (r == -EW_VU_DROP_RX_NO_BUFFERS || -r == EW_VU_DROP_RING_AVAIL) break;
    }
    ew_vring_flush(&d.vring[0]);
    ew_vu_dev_reset(&d);
    REQUIRE(fds_closed == fds_given);
    REQUIRE(maps == unmaps);
    return 0;
}
