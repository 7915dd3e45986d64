/*
 * libFuzzer harness: the QEMU stream reader (ew_stream_rx_feed). The input's
 * first byte picks the reader's capacity, the second the split pattern; the
 * rest is the byte stream from the peer. An independent one-pass oracle parses
 * the same stream; the reader fed in pieces must deliver exactly the oracle's
 * frames (count, lengths, bytes) and stop with BAD_LEN at the same header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_frame.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "VERDICT VIOLATION: ew_stream_rx: %s\n", #cond);                       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAXF 1024u

struct expect {
    const uint8_t *stream;
    size_t off[MAXF];
    uint32_t len[MAXF];
    uint32_t n;   /* oracle frames */
    uint32_t got; /* frames seen by the callback */
};

static void on_frame(void *ctx, const uint8_t *f, uint32_t len) {
    struct expect *e = ctx;
    REQUIRE(e->got < e->n);
    REQUIRE(len == e->len[e->got]);
    REQUIRE(memcmp(f, e->stream + e->off[e->got], len) == 0);
    e->got++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t buf[4096];
    static struct expect e;
    if (size < 2) return 0;
    uint32_t cap = 1u + (uint32_t)data[0] * 16u; /* 1..4081 */
    uint32_t seed = data[1];
    const uint8_t *s = data + 2;
    size_t n = size - 2;

    /* Oracle. */
    memset(&e, 0, sizeof e);
    e.stream = s;
    size_t pos = 0;
    int oracle_bad = 0;
    uint32_t oracle_bad_len = 0;
    while (n - pos >= 4 && e.n < MAXF) {
        uint32_t l = (uint32_t)s[pos] << 24 | (uint32_t)s[pos + 1] << 16 |
                     (uint32_t)s[pos + 2] << 8 | s[pos + 3];
        if (l == 0 || l > cap) {
            oracle_bad = 1;
            oracle_bad_len = l;
            break;
        }
        if (n - pos - 4 < l) break;
        e.off[e.n] = pos + 4;
        e.len[e.n] = l;
        e.n++;
        pos += 4 + (size_t)l;
    }
    if (e.n == MAXF) return 0; /* beyond what the oracle tracks */

    struct ew_stream_rx rx;
    ew_stream_rx_init(&rx, buf, cap);
    size_t off = 0;
    int st = EW_STREAM_OK;
    uint32_t total = 0;
    while (off < n) {
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 16) % 300u;
        if (chunk > n - off) chunk = n - off;
        uint32_t got = 0;
        st = ew_stream_rx_feed(&rx, s + off, chunk, on_frame, &e, &got);
        total += got;
        REQUIRE(st == EW_STREAM_OK || st == EW_STREAM_BAD_LEN);
        if (st != EW_STREAM_OK) break;
        off += chunk;
    }
    REQUIRE(total == e.got);
    REQUIRE(e.got == e.n);
    REQUIRE((st == EW_STREAM_BAD_LEN) == oracle_bad);
    if (oracle_bad) REQUIRE(rx.bad_len == oracle_bad_len);
    REQUIRE(rx.need <= cap && rx.have <= rx.need && rx.hdr_have < EW_STREAM_HDR);
    return 0;
}
