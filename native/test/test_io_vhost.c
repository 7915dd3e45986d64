/*
 * vhost-user ports in the epoll engine (io_vhost.c), C level: two ports, each
 * with a front-end in this test that speaks the protocol over the socket,
 * shares its "guest memory" (a memfd) and kicks with an eventfd.
 *  - a UDP frame A transmits to an allowed port lands in B's rx ring (bytes,
 *    num_buffers, used index, call eventfd); counters on both ports;
 *  - to a port no rule opens: SG_INGRESS on B, B's ring untouched;
 *  - a malformed tx chain (address outside the memory table) is returned to
 *    A's used ring and the ring keeps moving;
 *  - A disconnects, a new front-end connects to the same path and its frames
 *    flow again on the same port;
 *  - garbage on a control socket, and a memory table longer than its memfd:
 *    the connection is closed, the port waits for the next front-end;
 *  - refusals: a second worker, and a path with a regular file in the way;
 *  - closing the ports removes the socket files; no fd leaked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "eniwall/engine.h"
#include "frames.h"
#include "harness.h"
#include "tbuild.h"
#include "vhost_user.h"

#define GMEM  (1u << 20)
#define GBASE 0x100000000ull /* gpa = uva of the front-end's region */
#define NUM   16u
/* per queue q: desc at q*0x4000, avail at +0x1000, used at +0x2000; buffers from 0x10000 */
#define QOFF(q) ((uint64_t)(q)*0x4000u)

struct fe {
    int s, memfd, kick[2], call[2];
    uint8_t *g;
    uint16_t tx_avail, rx_avail;
};

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void fe_send(struct fe *f, uint32_t req, const void *payload, uint32_t size, const int *fds,
                    unsigned nfds) {
    uint8_t buf[EW_VU_HDR_SIZE + EW_VU_MAX_PAYLOAD];
    uint32_t flags = EW_VU_FLAG_VERSION;
    memcpy(buf, &req, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    if (size) memcpy(buf + 12, payload, size);
    struct iovec iov = {buf, EW_VU_HDR_SIZE + size};
    union {
        struct cmsghdr h;
        uint8_t b[CMSG_SPACE(sizeof(int) * 8)];
    } ctl;
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (nfds) {
        mh.msg_control = ctl.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    CHECK(sendmsg(f->s, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len, "front-end send %u", req);
}

static void fe_u64(struct fe *f, uint32_t req, uint64_t v, const int *fds, unsigned nfds) {
    fe_send(f, req, &v, 8, fds, nfds);
}

static void fe_state(struct fe *f, uint32_t req, uint32_t idx, uint32_t num) {
    uint32_t st[2] = {idx, num};
    fe_send(f, req, st, 8, NULL, 0);
}

static int connect_to(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s", path);
    return fd;
}

/* Connects and negotiates both queues (no protocol features: a ring starts on its kick). */
static void fe_open(struct fe *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->s = connect_to(path);
    f->memfd = memfd_create("ew-test-fe", MFD_CLOEXEC);
    CHECK(f->memfd >= 0 && ftruncate(f->memfd, GMEM) == 0, "memfd");
    f->g = mmap(NULL, GMEM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    CHECK(f->g != MAP_FAILED, "front-end mapping");
    fe_send(f, EW_VU_GET_FEATURES, NULL, 0, NULL, 0);
    uint8_t rb[20];
    CHECK(recv(f->s, rb, sizeof rb, MSG_WAITALL) == 20, "features reply");
    fe_u64(f, EW_VU_SET_OWNER, 0, NULL, 0);
    fe_u64(f, EW_VU_SET_FEATURES,
           (1ull << EW_VIRTIO_F_VERSION_1) | (1ull << EW_VIRTIO_NET_F_MRG_RXBUF), NULL, 0);
    uint64_t mt[5] = {1, GBASE, GMEM, GBASE, 0};
    fe_send(f, EW_VU_SET_MEM_TABLE, mt, 40, &f->memfd, 1);
    for (uint32_t q = 0; q < 2; q++) {
        fe_state(f, EW_VU_SET_VRING_NUM, q, NUM);
        uint64_t a[5] = {q, GBASE + QOFF(q), GBASE + QOFF(q) + 0x2000, GBASE + QOFF(q) + 0x1000, 0};
        fe_send(f, EW_VU_SET_VRING_ADDR, a, 40, NULL, 0);
        fe_state(f, EW_VU_SET_VRING_BASE, q, 0);
        f->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        f->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        fe_u64(f, EW_VU_SET_VRING_CALL, q, &f->call[q], 1);
        fe_u64(f, EW_VU_SET_VRING_KICK, q, &f->kick[q], 1);
    }
}

static void fe_close(struct fe *f) {
    close(f->s);
    for (int q = 0; q < 2; q++) {
        close(f->kick[q]);
        close(f->call[q]);
    }
    munmap(f->g, GMEM);
    close(f->memfd);
}

static volatile uint16_t *avail_of(struct fe *f, uint32_t q) {
    return (volatile uint16_t *)(f->g + QOFF(q) + 0x1000);
}
static volatile uint16_t *used_of(struct fe *f, uint32_t q) {
    return (volatile uint16_t *)(f->g + QOFF(q) + 0x2000);
}
static struct ew_vring_desc *desc_of(struct fe *f, uint32_t q) {
    return (struct ew_vring_desc *)(f->g + QOFF(q));
}

/* Posts NUM rx buffers of 2048 bytes (write-only) on queue 0. */
static void fe_post_rx(struct fe *f) {
    for (uint16_t i = 0; i < NUM; i++) {
        struct ew_vring_desc *d = &desc_of(f, 0)[i];
        d->addr = GBASE + 0x10000 + (uint64_t)i * 2048;
        d->len = 2048;
        d->flags = EW_VRING_DESC_F_WRITE;
        d->next = 0;
        avail_of(f, 0)[2 + i] = i;
    }
    __atomic_store_n(&avail_of(f, 0)[1], (uint16_t)NUM, __ATOMIC_RELEASE);
}

/* Transmits one frame on queue 1 (a zero virtio-net header first); gpa: override the address. */
static void fe_tx(struct fe *f, const uint8_t *frame, uint32_t len, uint64_t gpa) {
    uint16_t slot = (uint16_t)(f->tx_avail % NUM);
    uint8_t *buf = f->g + 0x30000 + (size_t)slot * 2048;
    memset(buf, 0, EW_VU_NET_HDR_LEN);
    memcpy(buf + EW_VU_NET_HDR_LEN, frame, len);
    struct ew_vring_desc *d = &desc_of(f, 1)[slot];
    d->addr = gpa ? gpa : GBASE + 0x30000 + (uint64_t)slot * 2048;
    d->len = EW_VU_NET_HDR_LEN + len;
    d->flags = 0;
    d->next = 0;
    avail_of(f, 1)[2 + slot] = slot;
    f->tx_avail++;
    __atomic_store_n(&avail_of(f, 1)[1], f->tx_avail, __ATOMIC_RELEASE);
    uint64_t one = 1;
    CHECK(write(f->kick[1], &one, 8) == 8, "kick");
}

static bool wait_used(struct fe *f, uint32_t q, uint16_t want) {
    for (int i = 0; i < 200; i++) {
        if (__atomic_load_n(&used_of(f, q)[1], __ATOMIC_ACQUIRE) == want) return true;
        sleep_ms(10);
    }
    return false;
}

static uint64_t cnt(struct ew_engine *eng, uint32_t port, unsigned c) {
    struct ew_port_counters pc;
    ew_engine_counters(eng, port, &pc);
    return pc.cnt[c];
}
static uint64_t drop(struct ew_engine *eng, uint32_t port, unsigned r) {
    struct ew_port_counters pc;
    ew_engine_counters(eng, port, &pc);
    return pc.drop[r];
}

static void load_table(struct ew_engine *eng) {
    struct tb b;
    tb_init(&b);
    b.generation = 1;
    uint32_t vpc = tb_vpc(&b, "10.0.0.0", 16, NULL, 0);
    uint32_t sn = tb_subnet(&b, vpc, "10.0.1.0", 24, NULL, 0);
    uint32_t rs = tb_ruleset(&b);
    tb_rule(&b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, rs, EW_DIR_INGRESS, 17, 5000, 5000, "10.0.0.0/16");
    tb_eni(&b, sn, rs, 0, "10.0.1.10", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, sn, rs, 1, "10.0.1.11", NULL, EW_ENI_SRC_DST_CHECK);
    size_t len = 0;
    uint8_t *buf = tb_build(&b, &len);
    char err[256] = "";
    CHECK_EQ(ew_engine_load_table(eng, buf, len, 1, err, sizeof err), 0, "table");
    free(buf);
}

static struct ew_engine *engine(uint32_t workers, char *err, size_t errlen) {
    struct ew_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = workers;
    cfg.io_mode = EW_IO_EPOLL;
    cfg.core.conntrack_max = 4096;
    cfg.core.allowance_per_eni = 4096;
    cfg.core.hash_salt = 7;
    cfg.sweep_budget = 1024;
    cfg.capture_slots = 64;
    return ew_engine_create(&cfg, err, errlen);
}

int main(void) {
    char dir[] = "/tmp/ew-vhost-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    char pa[128], pb[128], pf[128];
    snprintf(pa, sizeof pa, "%s/a.sock", dir);
    snprintf(pb, sizeof pb, "%s/b.sock", dir);
    snprintf(pf, sizeof pf, "%s/file", dir);
    int before = open_fds();
    char err[256] = "";

    /* Refusals. */
    struct ew_engine *two = engine(2, err, sizeof err);
    CHECK(two != NULL, "two workers: %s", err);
    uint32_t port = 99;
    CHECK_EQ(ew_engine_open_vhost(two, pa, -1, &port, err, sizeof err), -1, "two workers refused");
    CHECK(strstr(err, "one worker") != NULL, "reason: %s", err);
    ew_engine_destroy(two);
    struct ew_engine *eng = engine(1, err, sizeof err);
    CHECK(eng != NULL, "engine: %s", err);
    int ff = open(pf, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(ff);
    CHECK_EQ(ew_engine_open_vhost(eng, pf, -1, &port, err, sizeof err), -1, "a file is in the way");
    CHECK(strstr(err, "not a socket") != NULL, "reason: %s", err);
    CHECK_EQ(ew_engine_open_vhost(eng, "relative.sock", -1, &port, err, sizeof err), -1,
             "relative path refused");

    uint32_t a = 9, b = 9;
    CHECK_EQ(ew_engine_open_vhost(eng, pa, -1, &a, err, sizeof err), 0, "open a");
    CHECK_EQ(ew_engine_open_vhost(eng, pb, -1, &b, err, sizeof err), 0, "open b");
    CHECK(a == 0 && b == 1, "ports %u %u", a, b);
    load_table(eng);

    struct fe fa, fb;
    fe_open(&fa, pa);
    fe_open(&fb, pb);
    fe_post_rx(&fb);
    sleep_ms(50); /* the worker serves the set-up messages */

    /* 1. Allowed: A -> B:5000 lands in B's rx ring. */
    uint8_t f[256];
    uint32_t n =
        fr_udp4(f, fr_macs(fr_mac(0), fr_mac(1)), "10.0.1.10", "10.0.1.11", 4000, 5000, 40);
    fe_tx(&fa, f, n, 0);
    CHECK(wait_used(&fa, 1, 1), "A's tx chain returned");
    CHECK(wait_used(&fb, 0, 1), "B received the frame");
    uint8_t *rx = fb.g + 0x10000;
    uint16_t nb;
    memcpy(&nb, rx + 10, 2);
    CHECK_EQ(nb, 1, "num_buffers");
    CHECK_MEM(rx + EW_VU_NET_HDR_LEN, f, n, "frame bytes in B's buffer");
    struct ew_vring_used_elem *ue = (struct ew_vring_used_elem *)(fb.g + QOFF(0) + 0x2000 + 4);
    CHECK_EQ(ue[0].len, EW_VU_NET_HDR_LEN + n, "used length");
    uint64_t calls = 0;
    CHECK(read(fb.call[0], &calls, 8) == 8 && calls >= 1, "B was called");
    CHECK_EQ(cnt(eng, a, EW_CNT_RX_PACKETS), 1, "A rx");
    CHECK_EQ(cnt(eng, b, EW_CNT_TX_PACKETS), 1, "B tx");

    /* 2. Refused: to B:6000. */
    n = fr_udp4(f, fr_macs(fr_mac(0), fr_mac(1)), "10.0.1.10", "10.0.1.11", 4000, 6000, 40);
    fe_tx(&fa, f, n, 0);
    CHECK(wait_used(&fa, 1, 2), "A's second chain returned");
    sleep_ms(30);
    CHECK_EQ(drop(eng, b, EW_DROP_SG_INGRESS), 1, "SG_INGRESS on B");
    CHECK_EQ(used_of(&fb, 0)[1], 1, "nothing more in B's ring");

    /* 3. A chain outside the memory table: returned, the ring moves on. */
    fe_tx(&fa, f, n, GBASE + GMEM - 8);
    CHECK(wait_used(&fa, 1, 3), "malformed chain returned");
    n = fr_udp4(f, fr_macs(fr_mac(0), fr_mac(1)), "10.0.1.10", "10.0.1.11", 4001, 5000, 40);
    fe_tx(&fa, f, n, 0);
    CHECK(wait_used(&fb, 0, 2), "the next good frame arrives");
    CHECK_EQ(cnt(eng, a, EW_CNT_RX_PACKETS), 3, "A rx: the malformed one never reached the core");

    /* 4. A goes, a new front-end comes back on the same path and port. */
    fe_close(&fa);
    sleep_ms(50);
    fe_open(&fa, pa);
    sleep_ms(50);
    n = fr_udp4(f, fr_macs(fr_mac(0), fr_mac(1)), "10.0.1.10", "10.0.1.11", 4002, 5000, 40);
    fe_tx(&fa, f, n, 0);
    CHECK(wait_used(&fb, 0, 3), "frames after the reconnect");
    CHECK_EQ(cnt(eng, a, EW_CNT_RX_PACKETS), 4, "same port, counters kept");

    /* 5. Garbage on B's control socket: B is dropped, then a frame for B is a counted drop. */
    uint32_t junk[3] = {EW_VU_GET_FEATURES, 0x7, 0};
    CHECK(send(fb.s, junk, sizeof junk, MSG_NOSIGNAL) == sizeof junk, "junk");
    sleep_ms(50);
    n = fr_udp4(f, fr_macs(fr_mac(0), fr_mac(1)), "10.0.1.10", "10.0.1.11", 4003, 5000, 40);
    fe_tx(&fa, f, n, 0);
    CHECK(wait_used(&fa, 1, 2), "A's chain returned");
    sleep_ms(30);
    CHECK_EQ(drop(eng, a, EW_DROP_TX_FAILED), 1, "no guest on B: TX_FAILED on the sender");
    char c;
    CHECK(recv(fb.s, &c, 1, 0) == 0, "B's connection was closed by the back-end");

    /* 6. A memory table longer than its memfd (it would fault past the end): refused, the
     * connection closed, the engine unharmed. */
    fe_close(&fb);
    struct fe fx;
    memset(&fx, 0, sizeof fx);
    fx.s = connect_to(pb);
    fx.memfd = memfd_create("ew-test-short", MFD_CLOEXEC);
    CHECK(fx.memfd >= 0 && ftruncate(fx.memfd, 4096) == 0, "short memfd");
    uint64_t mt[5] = {1, GBASE, GMEM, GBASE, 0};
    fe_send(&fx, EW_VU_SET_MEM_TABLE, mt, 40, &fx.memfd, 1);
    struct pollfd pfd = {fx.s, POLLIN, 0};
    CHECK(poll(&pfd, 1, 2000) == 1 && recv(fx.s, &c, 1, 0) == 0, "refused: connection closed");
    close(fx.s);
    close(fx.memfd);
    fe_open(&fb, pb);
    fe_post_rx(&fb);
    sleep_ms(50);
    n = fr_udp4(f, fr_macs(fr_mac(0), fr_mac(1)), "10.0.1.10", "10.0.1.11", 4004, 5000, 40);
    fe_tx(&fa, f, n, 0);
    CHECK(wait_used(&fb, 0, 1), "B back after the refused table");

    fe_close(&fa);
    fe_close(&fb);
    CHECK_EQ(ew_engine_close_port(eng, a), 0, "close a");
    struct stat st;
    CHECK(stat(pa, &st) != 0 && errno == ENOENT, "a's socket file removed");
    ew_engine_destroy(eng);
    CHECK(stat(pb, &st) != 0 && errno == ENOENT, "b's socket file removed at destroy");
    unlink(pf);
    rmdir(dir);
    CHECK_EQ(open_fds(), before, "no fd leaked");
    return harness_report("test_io_vhost");
}
