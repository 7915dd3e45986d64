/*
 * The engine's QEMU stream ports (ew_engine_open_stream, io_epoll.c's hooks):
 * two stream ports, each joined by a client that speaks QEMU's framing (4-byte
 * big-endian length + frame) over the real unix socket, play two guests.
 * Checked: an allowed frame crosses from one guest to the other whole, a
 * refused one is counted SG_INGRESS and never arrives, ARP for the peer is
 * answered back on the sender's own connection, a guest that disconnects and
 * reconnects gets its port and counters back (accepts 2), a new connection
 * replaces a live one, a zero length resets the connection (rx_bad_len), an
 * oversized frame is counted FRAME_TOO_BIG, frames with no guest connected are
 * PORT_DOWN, closing the port removes the socket file, and an engine that
 * cannot serve a stream port (io_uring, vnet header, several workers) refuses
 * it with the reason. Connect mode (QEMU listens, the port connects): no
 * listener yet means retries at the timer's pace (no busy loop), the test's
 * listener gets the connection, frames cross both ways, and after the test
 * closes and listens again the port connects again by itself. Runs plain, under ASan + UBSan and
 * under TSan (the worker thread against the control thread's stats reads).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "eniwall/engine.h"
#include "frames.h"
#include "harness.h"
#include "tbuild.h"

static char dir[64], path_a[96], path_b[96], path_c[96];
static uint64_t gen;
static uint32_t cur_pa, cur_pb; /* the ports of the table in force */

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct ew_engine *engine(enum ew_io_mode mode, uint32_t workers, bool vnet, char *err,
                                size_t errlen) {
    struct ew_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = workers;
    cfg.io_mode = mode;
    cfg.vnet_hdr = vnet;
    cfg.core.conntrack_max = 1024;
    cfg.core.allowance_per_eni = 256;
    cfg.core.hash_salt = 0x42u;
    cfg.sweep_budget = 64;
    cfg.flow_table_size = 64;
    cfg.capture_slots = 16;
    return ew_engine_create(&cfg, err, errlen);
}

/* ENI 0 (10.0.1.10) on port pa, ENI 1 (10.0.1.11) on pb; ingress UDP 5000..5099 only. */
static void load(struct ew_engine *eng, uint32_t pa, uint32_t pb) {
    cur_pa = pa;
    cur_pb = pb;
    struct tb b;
    tb_init(&b);
    b.generation = ++gen;
    uint32_t vpc = tb_vpc(&b, "10.0.0.0", 16, NULL, 0);
    uint32_t sn = tb_subnet(&b, vpc, "10.0.1.0", 24, NULL, 0);
    uint32_t rs = tb_ruleset(&b);
    tb_rule(&b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, rs, EW_DIR_INGRESS, 17, 5000, 5099, "10.0.0.0/16");
    tb_eni(&b, sn, rs, pa, "10.0.1.10", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, sn, rs, pb, "10.0.1.11", NULL, EW_ENI_SRC_DST_CHECK);
    size_t len = 0;
    uint8_t *buf = tb_build(&b, &len);
    char err[256] = "";
    CHECK_EQ(ew_engine_load_table(eng, buf, len, gen, err, sizeof err), 0, err);
    free(buf);
}

/* A guest: a connection to the port's socket. */
static int guest(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "connect %s: %s\n", path, strerror(errno));
        exit(1);
    }
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_frame(int fd, const uint8_t *f, uint32_t len) {
    uint8_t hdr[4];
    uint32_t be = htonl(len);
    memcpy(hdr, &be, 4);
    CHECK(write(fd, hdr, 4) == 4 && write(fd, f, len) == (ssize_t)len, "guest write");
}

/* One frame from the port (waits up to ms); its length, or 0 when none came. */
static uint32_t recv_frame(int fd, uint8_t *out, uint32_t cap, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1) return 0;
    uint8_t hdr[4];
    if (recv(fd, hdr, 4, MSG_WAITALL) != 4) return 0;
    uint32_t len;
    memcpy(&len, hdr, 4);
    len = ntohl(len);
    if (len == 0 || len > cap) return 0;
    if (recv(fd, out, len, MSG_WAITALL) != (ssize_t)len) return 0;
    return len;
}

/* A port counter once the worker has passed a burst boundary: a table load
 * waits for one (quiesce), which orders the worker's plain counter writes
 * before this read. Call it once the stream stats show the frames were read. */
static uint64_t counter(struct ew_engine *eng, uint32_t port, bool drop, uint32_t k) {
    load(eng, cur_pa, cur_pb);
    struct ew_port_counters c;
    ew_engine_counters(eng, port, &c);
    return drop ? c.drop[k] : c.cnt[k];
}

/* Polls the stream stats until pred holds (up to 2 s). */
static struct ew_engine_stream_stats
wait_stats(struct ew_engine *eng, uint32_t port,
           bool (*pred)(const struct ew_engine_stream_stats *, uint64_t), uint64_t arg) {
    struct ew_engine_stream_stats s;
    for (int i = 0; i < 200; i++) {
        CHECK_EQ(ew_engine_stream_stats(eng, port, &s), 0, "stream stats");
        if (pred(&s, arg)) break;
        sleep_ms(10);
    }
    return s;
}
static bool accepts_at_least(const struct ew_engine_stream_stats *s, uint64_t n) {
    return s->accepts >= n && s->connected;
}
static bool resets_at_least(const struct ew_engine_stream_stats *s, uint64_t n) {
    return s->resets >= n;
}
static bool rx_at_least(const struct ew_engine_stream_stats *s, uint64_t n) {
    return s->rx_frames >= n;
}

static void test_refusals(void) {
    char err[256] = "";
    struct ew_engine *eng = engine(EW_IO_EPOLL, 2, false, err, sizeof err);
    CHECK(eng != NULL, "%s", err);
    uint32_t port = 0;
    CHECK_EQ(ew_engine_open_stream(eng, path_a, -1, &port, err, sizeof err), -1, "two workers");
    CHECK(strstr(err, "--workers 1") && strstr(err, "several workers"), "%s", err);
    ew_engine_destroy(eng);
    eng = engine(EW_IO_EPOLL, 1, true, err, sizeof err);
    CHECK(eng != NULL, "%s", err);
    CHECK_EQ(ew_engine_open_stream(eng, path_a, -1, &port, err, sizeof err), -1, "vnet header");
    CHECK(strstr(err, "offload on") != NULL, "%s", err);
    ew_engine_destroy(eng);
    eng = engine(EW_IO_URING, 1, false, err, sizeof err);
    if (eng) { /* a kernel that refuses rings cannot run this case */
        CHECK_EQ(ew_engine_open_stream(eng, path_a, -1, &port, err, sizeof err), -1, "io_uring");
        CHECK(strstr(err, "--io epoll") && strstr(err, "io_uring"), "%s", err);
        ew_engine_destroy(eng);
    }
    struct stat st;
    CHECK(stat(path_a, &st) != 0, "no socket left by a refusal");
}

static void test_ports(void) {
    char err[256] = "";
    struct ew_engine *eng = engine(EW_IO_EPOLL, 1, false, err, sizeof err);
    CHECK(eng != NULL, "%s", err);
    if (!eng) return;
    uint32_t pa = 99, pb = 99, px = 0;
    CHECK_EQ(ew_engine_open_stream(eng, path_a, -1, &pa, err, sizeof err), 0, err);
    CHECK_EQ(ew_engine_open_stream(eng, path_b, 7, &pb, err, sizeof err), 0, err);
    CHECK(pa == 0 && pb == 7, "ports %u %u", pa, pb);
    CHECK_EQ(ew_engine_open_stream(eng, path_a, -1, &px, err, sizeof err), -1, "a live listener");
    CHECK(strstr(err, "already listens") != NULL, "%s", err);
    CHECK_EQ(ew_engine_open_stream(eng, "rel.sock", -1, &px, err, sizeof err), -1, "relative");
    struct ew_engine_stream_stats s;
    CHECK_EQ(ew_engine_stream_stats(eng, 3, &s), -1, "not a stream port");
    load(eng, pa, pb);

    uint8_t f[4096], got[4096];
    uint8_t ma[6], mb[6];
    fr_eni_mac(0, ma);
    fr_eni_mac(1, mb);

    /* No guest on B yet: PORT_DOWN on the sender. */
    int a = guest(path_a);
    wait_stats(eng, pa, accepts_at_least, 1);
    uint32_t n = fr_udp4(f, fr_macs(ma, mb), "10.0.1.10", "10.0.1.11", 40000, 5001, 32);
    send_frame(a, f, n);
    wait_stats(eng, pa, rx_at_least, 1);
    CHECK_EQ(counter(eng, pa, true, EW_DROP_PORT_DOWN), 1, "no guest on B: PORT_DOWN");

    /* Another open on A's live path is refused without touching its guest. */
    CHECK_EQ(ew_engine_open_stream(eng, path_a, -1, &px, err, sizeof err), -1,
             "live, with a guest");
    s = wait_stats(eng, pa, accepts_at_least, 1);
    CHECK(s.accepts == 1 && s.replaced == 0 && s.connected, "the guest kept its connection");

    int b = guest(path_b);
    wait_stats(eng, pb, accepts_at_least, 1);
    /* Allowed: arrives whole. Refused (6001): counted, never arrives. */
    send_frame(a, f, n);
    uint32_t m = recv_frame(b, got, sizeof got, 2000);
    CHECK_EQ(m, n, "allowed frame delivered");
    CHECK_MEM(got, f, n, "delivered unchanged");
    uint32_t r = fr_udp4(f, fr_macs(ma, mb), "10.0.1.10", "10.0.1.11", 40001, 6001, 32);
    send_frame(a, f, r);
    CHECK_EQ(recv_frame(b, got, sizeof got, 300), 0, "refused frame not delivered");
    wait_stats(eng, pa, rx_at_least, 3);
    CHECK_EQ(counter(eng, pb, true, EW_DROP_SG_INGRESS), 1, "SG_INGRESS on B");
    CHECK(counter(eng, pa, false, EW_CNT_RX_PACKETS) >= 3, "RX counted on A");
    CHECK_EQ(counter(eng, pb, false, EW_CNT_TX_PACKETS), 1, "TX counted on B");

    /* ARP for B's address: the reply goes back on A's own connection. */
    uint32_t q = fr_arp(f, ma, 1, "10.0.1.10", "10.0.1.11");
    send_frame(a, f, q);
    m = recv_frame(a, got, sizeof got, 2000);
    CHECK(m >= 42 && got[20] == 0 && got[21] == 2, "ARP reply to A (len %u)", m);
    CHECK_MEM(got + 22, mb, 6, "B's MAC in the reply");

    /* Oversized (3000 > 2048-byte buffers): counted, connection kept. */
    uint32_t big = 3000; /* a frame's head, then filler: dropped before it is parsed */
    fr_udp4(f, fr_macs(ma, mb), "10.0.1.10", "10.0.1.11", 40002, 5002, 32);
    memset(f + 100, 0xab, big - 100);
    send_frame(a, f, big);
    wait_stats(eng, pa, rx_at_least, 5);
    CHECK_EQ(counter(eng, pa, true, EW_DROP_FRAME_TOO_BIG), 1, "oversized frame");

    /* Disconnect and come back: the same port and counters. */
    uint64_t rx_before = counter(eng, pa, false, EW_CNT_RX_PACKETS);
    close(a);
    wait_stats(eng, pa, resets_at_least, 1);
    a = guest(path_a);
    s = wait_stats(eng, pa, accepts_at_least, 2);
    CHECK_EQ(s.accepts, 2, "reconnected");
    n = fr_udp4(f, fr_macs(ma, mb), "10.0.1.10", "10.0.1.11", 40003, 5003, 16);
    send_frame(a, f, n);
    CHECK_EQ(recv_frame(b, got, sizeof got, 2000), n, "delivered after the reconnect");
    CHECK(counter(eng, pa, false, EW_CNT_RX_PACKETS) > rx_before, "counters kept");

    /* A second connection replaces the live one. */
    int a2 = guest(path_a);
    s = wait_stats(eng, pa, accepts_at_least, 3);
    CHECK_EQ(s.replaced, 1, "replaced");
    send_frame(a2, f, n);
    CHECK_EQ(recv_frame(b, got, sizeof got, 2000), n, "the new connection carries frames");
    uint8_t one;
    CHECK(recv(a, &one, 1, 0) == 0, "the replaced connection was closed");
    close(a);

    /* A zero length is a protocol error: the connection is reset. */
    uint64_t resets = s.resets;
    uint8_t zero[4] = {0, 0, 0, 0};
    CHECK(write(a2, zero, 4) == 4, "write");
    s = wait_stats(eng, pa, resets_at_least, resets + 1);
    CHECK_EQ(s.rx_bad_len, 1, "rx_bad_len");
    CHECK(!s.connected, "reset");
    close(a2);
    close(b);

    CHECK_EQ(ew_engine_close_port(eng, pa), 0, "close A");
    struct stat st;
    CHECK(stat(path_a, &st) != 0, "socket file removed on close");
    CHECK_EQ(ew_engine_stream_stats(eng, pa, &s), -1, "closed");
    ew_engine_destroy(eng); /* B still open: the engine closes it */
    CHECK(stat(path_b, &st) != 0, "socket file removed by destroy");
}

/* The test's listener playing QEMU with server=on; the accepted connection
 * (waits up to ms), or -1. */
static int listener(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 4) == 0,
          "listen %s", path);
    return fd;
}
static int take(int lfd, int ms) {
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1) return -1;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    struct timeval tv = {.tv_sec = 2};
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}
static bool connects_at_least(const struct ew_engine_stream_stats *s, uint64_t n) {
    return s->connects >= n && s->connected;
}
static bool fails_at_least(const struct ew_engine_stream_stats *s, uint64_t n) {
    return s->connect_fails >= n;
}

static void test_connect_mode(void) {
    char err[256] = "";
    struct ew_engine *eng = engine(EW_IO_EPOLL, 1, false, err, sizeof err);
    CHECK(eng != NULL, "%s", err);
    if (!eng) return;
    uint32_t pa = 99, pb = 99, px = 0;
    CHECK_EQ(ew_engine_open_stream_mode(eng, "rel.sock", true, -1, &px, err, sizeof err), -1,
             "relative path refused in connect mode");
    /* Nothing listens on path_c yet: the port is open and retries. */
    CHECK_EQ(ew_engine_open_stream_mode(eng, path_c, true, -1, &pa, err, sizeof err), 0, err);
    CHECK_EQ(ew_engine_open_stream(eng, path_b, -1, &pb, err, sizeof err), 0, err);
    load(eng, pa, pb);
    struct ew_engine_stream_stats s = wait_stats(eng, pa, fails_at_least, 2);
    CHECK(s.connect_mode && !s.connected && s.connect_fails >= 2, "retrying (%llu fails)",
          (unsigned long long)s.connect_fails);
    uint64_t f0 = s.connect_fails;
    sleep_ms(1000);
    ew_engine_stream_stats(eng, pa, &s);
    uint64_t per_s = s.connect_fails - f0;
    CHECK(per_s >= 3 && per_s <= 12, "retries paced by the timer: %llu in 1 s",
          (unsigned long long)per_s);
    struct stat st;
    CHECK(stat(path_c, &st) != 0, "connect mode creates no file");

    uint8_t f[2048], got[2048], ma[6], mb[6];
    fr_eni_mac(0, ma);
    fr_eni_mac(1, mb);
    int b = guest(path_b);
    wait_stats(eng, pb, accepts_at_least, 1);
    for (int round = 1; round <= 2; round++) {
        int l = listener(path_c);
        int a = take(l, 2000);
        CHECK(a >= 0, "round %d: the engine connected to the listener", round);
        if (a < 0) break;
        s = wait_stats(eng, pa, connects_at_least, (uint64_t)round);
        CHECK_EQ(s.connects, (uint64_t)round, "connects");
        CHECK(s.connected, "connected");
        uint32_t n = fr_udp4(f, fr_macs(ma, mb), "10.0.1.10", "10.0.1.11", 41000, 5010, 24);
        send_frame(a, f, n);
        CHECK_EQ(recv_frame(b, got, sizeof got, 2000), n, "A to B");
        n = fr_udp4(f, fr_macs(mb, ma), "10.0.1.11", "10.0.1.10", 41001, 5011, 24);
        send_frame(b, f, n);
        CHECK_EQ(recv_frame(a, got, sizeof got, 2000), n, "B to A");
        CHECK_MEM(got, f, n, "B to A unchanged");
        /* QEMU goes away (listener and connection): frames for A are PORT_DOWN. */
        close(a);
        close(l);
        unlink(path_c);
        wait_stats(eng, pa, resets_at_least, (uint64_t)round);
        uint64_t down = counter(eng, pb, true, EW_DROP_PORT_DOWN);
        send_frame(b, f, n);
        wait_stats(eng, pb, rx_at_least, (uint64_t)round * 2);
        CHECK_EQ(counter(eng, pb, true, EW_DROP_PORT_DOWN), down + 1,
                 "PORT_DOWN while QEMU is gone");
    }
    close(b);
    int l = listener(path_c); /* closing a connect-mode port leaves QEMU's file alone */
    int a = take(l, 2000);
    CHECK(a >= 0, "connected a third time");
    CHECK_EQ(ew_engine_close_port(eng, pa), 0, "close A");
    CHECK(stat(path_c, &st) == 0, "QEMU's socket file kept");
    uint8_t one;
    CHECK(a < 0 || recv(a, &one, 1, 0) == 0, "connection closed with the port");
    if (a >= 0) close(a);
    close(l);
    unlink(path_c);
    ew_engine_destroy(eng);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(dir, sizeof dir, "/tmp/ew-estream-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path_a, sizeof path_a, "%s/a.sock", dir);
    snprintf(path_b, sizeof path_b, "%s/b.sock", dir);
    snprintf(path_c, sizeof path_c, "%s/c.sock", dir);
    test_refusals();
    test_ports();
    test_connect_mode();
    unlink(path_a);
    unlink(path_b);
    rmdir(dir);
    return harness_report("test_engine_stream");
}
