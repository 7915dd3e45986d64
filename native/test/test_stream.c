/*
 * QEMU stream framing (src/stream_frame.c) over a real AF_UNIX socketpair:
 * header and body split at every byte, several frames per read, zero and
 * oversized lengths rejected (the caller resets), peer close seen, and the
 * writer's whole-or-dropped rule under a full nonblocking socket buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io_stream.h"
#include "stream_frame.h"

#include <sys/un.h>

#define CAP 2048u
#define BIG 65536u

struct sink {
    uint32_t n;
    uint32_t lens[256];
    uint8_t first[256];
    uint8_t last[256];
    uint64_t bytes;
    int bad; /* a frame whose bytes do not match the pattern */
};

static uint8_t pattern(uint32_t seq, uint32_t i) {
    return (uint8_t)(seq * 31u + i * 7u + 1u);
}

static void on_frame(void *ctx, const uint8_t *f, uint32_t len) {
    struct sink *s = ctx;
    if (s->n < 256) {
        s->lens[s->n] = len;
        s->first[s->n] = f[0];
        s->last[s->n] = f[len - 1];
    }
    for (uint32_t i = 0; i < len; i++)
        if (f[i] != pattern(s->n, i)) s->bad = 1;
    s->n++;
    s->bytes += len;
}

/* Encode frame seq of len into out, return bytes written. */
static size_t encode(uint8_t *out, uint32_t seq, uint32_t len) {
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    for (uint32_t i = 0; i < len; i++)
        out[4 + i] = pattern(seq, i);
    return 4 + (size_t)len;
}

static void test_feed_splits(void) {
    static uint8_t buf[CAP], wire[3 * (CAP + 4)];
    size_t n = 0;
    n += encode(wire + n, 0, 60);
    n += encode(wire + n, 1, 1);
    n += encode(wire + n, 2, CAP);
    /* Every split point of the three-frame stream, fed in two pieces. */
    for (size_t cut = 0; cut <= n; cut++) {
        struct ew_stream_rx rx;
        struct sink s = {0};
        uint32_t got1 = 0, got2 = 0;
        ew_stream_rx_init(&rx, buf, CAP);
        int a = ew_stream_rx_feed(&rx, wire, cut, on_frame, &s, &got1);
        int b = ew_stream_rx_feed(&rx, wire + cut, n - cut, on_frame, &s, &got2);
        if (a != EW_STREAM_OK || b != EW_STREAM_OK || s.n != 3 || s.bad || got1 + got2 != 3) {
            CHECK(0, "split at %zu: a=%d b=%d frames=%u bad=%d", cut, a, b, s.n, s.bad);
            return;
        }
    }
    /* One byte at a time. */
    struct ew_stream_rx rx;
    struct sink s = {0};
    ew_stream_rx_init(&rx, buf, CAP);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(ew_stream_rx_feed(&rx, wire + i, 1, on_frame, &s, NULL), EW_STREAM_OK,
                 "byte feed");
    CHECK_EQ(s.n, 3, "frames byte by byte");
    CHECK_EQ(s.lens[0], 60, "len 0");
    CHECK_EQ(s.lens[1], 1, "len 1");
    CHECK_EQ(s.lens[2], CAP, "len 2 (exactly the capacity)");
    CHECK(!s.bad, "bytes intact");
}

static void test_bad_lengths(void) {
    static uint8_t buf[CAP], wire[CAP + 64];
    struct ew_stream_rx rx;
    struct sink s = {0};
    uint32_t got = 0;
    size_t n = encode(wire, 0, 10);
    memset(wire + n, 0, 4); /* length 0 */
    ew_stream_rx_init(&rx, buf, CAP);
    CHECK_EQ(ew_stream_rx_feed(&rx, wire, n + 4, on_frame, &s, &got), EW_STREAM_BAD_LEN, "zero");
    CHECK_EQ(got, 1, "the good frame before the bad header was delivered");
    CHECK_EQ(rx.bad_len, 0, "bad_len recorded");

    ew_stream_rx_reset(&rx);
    s = (struct sink){0};
    uint8_t big[4] = {0, 0, (uint8_t)((CAP + 1) >> 8), (uint8_t)(CAP + 1)};
    CHECK_EQ(ew_stream_rx_feed(&rx, big, 4, on_frame, &s, &got), EW_STREAM_BAD_LEN, "cap+1");
    CHECK_EQ(rx.bad_len, CAP + 1, "bad_len is the oversized length");
    CHECK_EQ(s.n, 0, "nothing delivered");
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    ew_stream_rx_reset(&rx);
    CHECK_EQ(ew_stream_rx_feed(&rx, huge, 4, on_frame, &s, &got), EW_STREAM_BAD_LEN, "4 GiB");
    /* After a reset the reader works again (a new connection). */
    ew_stream_rx_reset(&rx);
    n = encode(wire, 0, 100);
    CHECK_EQ(ew_stream_rx_feed(&rx, wire, n, on_frame, &s, &got), EW_STREAM_OK, "after reset");
    CHECK_EQ(s.n, 1, "frame after reset");
}

static void set_nonblock(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Drain fd into rx; returns frames delivered. */
static int drain(struct ew_stream_rx *rx, int fd, struct sink *s) {
    static uint8_t scratch[777]; /* odd size: reads split frames */
    int r = ew_stream_rx_read(rx, fd, scratch, sizeof scratch, 1u << 20, on_frame, s);
    return r;
}

static void test_socketpair_writer(void) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    set_nonblock(sv[0]);
    set_nonblock(sv[1]);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);

    /* Frames up to 64 KiB (GSO-sized) against a few-KiB socket buffer: the
     * kernel takes a frame in pieces, so partial writes really happen. */
    static uint8_t rbuf[BIG], pend[BIG + 4], frame[BIG];
    struct ew_stream_rx rx;
    struct ew_stream_tx tx;
    struct sink s = {0};
    ew_stream_rx_init(&rx, rbuf, BIG);
    ew_stream_tx_init(&tx, pend, sizeof pend);

    CHECK_EQ(ew_stream_tx_send(&tx, sv[0], frame, 0), EW_STREAM_BAD_LEN, "tx len 0");
    CHECK_EQ(ew_stream_tx_send(&tx, sv[0], frame, BIG + 1), EW_STREAM_BAD_LEN, "tx too long");

    /* Send without reading until the socket is full: each frame is either
     * accepted (whole or pending) or dropped as BUSY with nothing written. */
    uint32_t seq = 0, accepted = 0, busy = 0, partial = 0;
    for (int i = 0; i < 400; i++) {
        uint32_t len = 200u + (uint32_t)(i * 7919) % (BIG - 200u);
        for (uint32_t k = 0; k < len; k++)
            frame[k] = pattern(seq, k);
        int st = ew_stream_tx_send(&tx, sv[0], frame, len);
        if (st == EW_STREAM_OK) {
            accepted++;
            seq++;
            if (ew_stream_tx_pending(&tx)) partial++;
        } else {
            CHECK_EQ(st, EW_STREAM_BUSY, "full socket: busy");
            busy++;
        }
    }
    CHECK(busy > 0, "the small buffer filled (busy=%u)", busy);
    CHECK(partial > 0, "at least one frame went out in part and pended");
    /* Read and flush alternately until everything accepted arrived. */
    for (int round = 0; round < 10000 && (s.n < accepted || ew_stream_tx_pending(&tx)); round++) {
        int r = drain(&rx, sv[1], &s);
        CHECK(r >= 0, "reader status %d", r);
        if (r < 0) break;
        CHECK_EQ(ew_stream_tx_flush(&tx, sv[0]), EW_STREAM_OK, "flush");
    }
    CHECK_EQ(s.n, accepted, "every accepted frame arrived whole, in order");
    CHECK(!s.bad, "frame contents intact (no half frame spliced)");
    CHECK(!ew_stream_tx_pending(&tx), "nothing left pending");

    /* Peer close: the reader sees it; the writer reports an I/O error. */
    close(sv[0]);
    CHECK_EQ(drain(&rx, sv[1], &s), EW_STREAM_CLOSED, "reader sees close");
    for (uint32_t k = 0; k < 64; k++)
        frame[k] = 0;
    CHECK_EQ(ew_stream_tx_send(&tx, sv[1], frame, 64), EW_STREAM_IO, "send to closed peer");
    close(sv[1]);
}

static void test_socket_bad_header(void) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    set_nonblock(sv[1]);
    static uint8_t rbuf[CAP], wire[64];
    struct ew_stream_rx rx;
    struct sink s = {0};
    ew_stream_rx_init(&rx, rbuf, CAP);
    size_t n = encode(wire, 0, 20);
    wire[n] = 0x7f; /* an absurd length */
    wire[n + 1] = wire[n + 2] = wire[n + 3] = 0;
    CHECK(write(sv[0], wire, n + 4) == (ssize_t)(n + 4), "write");
    CHECK_EQ(drain(&rx, sv[1], &s), EW_STREAM_BAD_LEN, "bad header over the socket");
    CHECK_EQ(s.n, 1, "good frame before it delivered");
    close(sv[0]);
    close(sv[1]);
}

static int client(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Poll the port's rx a few times (the data is already in the socket). */
static int port_rx(struct ew_stream_port *p, struct sink *s) {
    static uint8_t scratch[1500];
    return ew_stream_port_rx(p, scratch, sizeof scratch, on_frame, s);
}

static void test_port(void) {
    static struct ew_stream_port port;
    char path[64];
    snprintf(path, sizeof path, "/tmp/ew-stream-%d-%ld.sock", getpid(), (long)random());
    static uint8_t wire[3 * 2000];

    CHECK_EQ(ew_stream_port_open(&port, "relative.sock"), -EINVAL, "relative path refused");

    /* A regular file at the path is not ours to remove. */
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "create file");
    if (f) fclose(f);
    CHECK_EQ(ew_stream_port_open(&port, path), -EEXIST, "regular file refused");
    unlink(path);

    /* A stale socket (bound, its owner gone) is replaced. */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
    CHECK(bind(stale, (struct sockaddr *)&sa, sizeof sa) == 0, "stale bind");
    close(stale);
    CHECK_EQ(ew_stream_port_open(&port, path), 0, "open over a stale socket");
    /* A second port on a live listener is refused. */
    static struct ew_stream_port other;
    CHECK_EQ(ew_stream_port_open(&other, path), -EADDRINUSE, "live listener kept");

    /* That refusal found the listener in /proc/net/unix, without a connect
     * probe: a probe would have been accepted here and replaced a guest. */
    CHECK_EQ(ew_stream_port_accept(&port), 0, "no probe connection to accept");
    CHECK_EQ(port.st.accepts, 0, "the live port saw nothing");
    CHECK_EQ(ew_stream_port_tx(&port, wire, 60), -1, "tx with no guest dropped");
    CHECK_EQ(port.st.tx_no_peer, 1, "tx_no_peer counted");

    /* Guest 1 connects and sends two frames, then a bad length. */
    int g1 = client(path);
    CHECK(g1 >= 0, "guest 1 connects");
    CHECK_EQ(ew_stream_port_accept(&port), 1, "accept guest 1");
    struct sink s = {0};
    size_t n = encode(wire, 0, 100);
    n += encode(wire + n, 1, 1514);
    CHECK(write(g1, wire, n) == (ssize_t)n, "guest 1 write");
    CHECK_EQ(port_rx(&port, &s), 2, "two frames from guest 1");
    CHECK(!s.bad, "intact");

    /* Port -> guest: framed on the wire. */
    for (uint32_t k = 0; k < 300; k++)
        wire[k] = (uint8_t)k;
    CHECK_EQ(ew_stream_port_tx(&port, wire, 300), 0, "tx to guest 1");
    uint8_t got[400];
    ssize_t r = read(g1, got, sizeof got);
    CHECK_EQ(r, 304, "guest reads header + frame");
    CHECK(got[0] == 0 && got[1] == 0 && got[2] == 1 && got[3] == 44, "length 300 big-endian");
    CHECK_MEM(got + 4, wire, 300, "frame bytes");

    uint8_t bad[4] = {0xff, 0, 0, 0};
    CHECK(write(g1, bad, 4) == 4, "bad header write");
    CHECK_EQ(port_rx(&port, &s), -1, "bad length ends the connection");
    CHECK_EQ(port.st.rx_bad_len, 1, "rx_bad_len counted");
    CHECK(port.cfd < 0, "connection closed");
    CHECK(read(g1, got, sizeof got) == 0, "guest 1 sees EOF");
    close(g1);

    /* Guest 2 (a new QEMU) gets the same port back; counters persist. */
    int g2 = client(path);
    CHECK(g2 >= 0, "guest 2 connects");
    CHECK_EQ(ew_stream_port_accept(&port), 1, "accept guest 2");
    s = (struct sink){0};
    n = encode(wire, 0, 60);
    CHECK(write(g2, wire, n) == (ssize_t)n, "guest 2 write");
    CHECK_EQ(port_rx(&port, &s), 1, "frame from guest 2");
    CHECK_EQ(port.st.rx_frames, 3, "rx_frames across connections");
    CHECK_EQ(port.st.accepts, 2, "guest 1 + guest 2");

    /* Guest 3 connects while guest 2 is still connected: it replaces it. */
    int g3 = client(path);
    CHECK_EQ(ew_stream_port_accept(&port), 1, "accept guest 3");
    CHECK_EQ(port.st.replaced, 1, "replaced counted");
    CHECK(read(g2, got, sizeof got) == 0, "guest 2 dropped");
    close(g2);
    /* Guest 3 leaves: clean close, the port waits. */
    close(g3);
    CHECK_EQ(port_rx(&port, &s), -1, "peer close seen");
    CHECK_EQ(port.st.resets, 3, "guests 1-3 ended");

    ew_stream_port_close(&port);
    struct stat stt;
    CHECK(lstat(path, &stt) != 0 && errno == ENOENT, "socket file removed on close");
}

int main(void) {
    test_feed_splits();
    test_bad_lengths();
    test_socketpair_writer();
    test_socket_bad_header();
    test_port();
    return harness_report("test_stream");
}
