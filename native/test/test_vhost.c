/*
 * vhost-user without sockets: the message parser and state machine on a fake
 * memory table (ops->map hands out static buffers), and the split-virtqueue
 * walk on hand-built rings in that memory: good chains, mergeable rx buffers,
 * loops, out-of-range addresses, lengths running past a region, indirect and
 * wrong-direction descriptors, broken avail rings.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "vhost_user.h"

#define MEM_SIZE (1u << 20)
#define GPA0     0x100000ull
#define UVA0     0x7f0000000000ull
#define GPA1     0x400000ull
#define UVA1     0x7f1000000000ull

static uint8_t mem0[MEM_SIZE] __attribute__((aligned(4096)));
static uint8_t mem1[MEM_SIZE] __attribute__((aligned(4096)));
static int closed, mapped, unmapped, fail_map_fd = -1;

static void *fake_map(void *ctx, int fd, uint64_t len) {
    (void)ctx;
    if (fd == fail_map_fd || len > MEM_SIZE) return NULL;
    mapped++;
    return fd == 100 ? mem0 : fd == 101 ? mem1 : NULL;
}
static void fake_unmap(void *ctx, void *base, uint64_t len) {
    (void)ctx, (void)base, (void)len;
    unmapped++;
}
static void fake_close(void *ctx, int fd) {
    (void)ctx, (void)fd;
    closed++;
}
static const struct ew_vu_ops ops = {fake_map, fake_unmap, fake_close, NULL};

static enum ew_vu_drop send_msg(struct ew_vu_dev *d, uint32_t req, uint32_t flags,
                                const void *payload, uint32_t size, const int *fds, unsigned nfds,
                                struct ew_vu_reply *rp) {
    uint8_t buf[EW_VU_HDR_SIZE + EW_VU_MAX_PAYLOAD];
    memcpy(buf, &req, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    if (size) memcpy(buf + 12, payload, size);
    struct ew_vu_msg msg;
    size_t used = 0;
    enum ew_vu_drop r = ew_vu_msg_parse(buf, EW_VU_HDR_SIZE + size, &msg, &used);
    if (r != EW_VU_DROP_NONE) return r;
    CHECK_EQ(used, EW_VU_HDR_SIZE + size, "parse consumed the message");
    return ew_vu_handle(d, &msg, fds, nfds, rp);
}

static enum ew_vu_drop send_u64(struct ew_vu_dev *d, uint32_t req, uint64_t v, const int *fds,
                                unsigned nfds) {
    struct ew_vu_reply rp;
    return send_msg(d, req, 1, &v, 8, fds, nfds, &rp);
}

static enum ew_vu_drop send_state(struct ew_vu_dev *d, uint32_t req, uint32_t idx, uint32_t num,
                                  struct ew_vu_reply *rp) {
    uint32_t s[2] = {idx, num};
    return send_msg(d, req, 1, s, 8, NULL, 0, rp);
}

static uint64_t reply_value(const struct ew_vu_reply *rp) {
    uint64_t v;
    memcpy(&v, rp->buf + 12, 8);
    return v;
}

static void test_parse(void) {
    uint8_t b[64] = {0};
    struct ew_vu_msg m;
    size_t used = 0;
    CHECK_EQ(ew_vu_msg_parse(b, 11, &m, &used), EW_VU_DROP_MSG_SHORT, "short header");
    uint32_t req = 1, flags = 0, size = 0;
    memcpy(b, &req, 4);
    memcpy(b + 4, &flags, 4);
    CHECK_EQ(ew_vu_msg_parse(b, 12, &m, &used), EW_VU_DROP_MSG_VERSION, "version 0");
    flags = 1;
    memcpy(b + 4, &flags, 4);
    size = 100000;
    memcpy(b + 8, &size, 4);
    CHECK_EQ(ew_vu_msg_parse(b, 64, &m, &used), EW_VU_DROP_MSG_SIZE, "size too big");
    size = 8;
    memcpy(b + 8, &size, 4);
    CHECK_EQ(ew_vu_msg_parse(b, 19, &m, &used), EW_VU_DROP_MSG_SHORT, "payload incomplete");
    uint64_t v = 0x1234;
    memcpy(b + 12, &v, 8);
    CHECK_EQ(ew_vu_msg_parse(b, 40, &m, &used), EW_VU_DROP_NONE, "good");
    CHECK_EQ(used, 20, "used");
    CHECK_EQ(m.u.u64, 0x1234, "payload");
    CHECK(strcmp(ew_vu_drop_name(EW_VU_DROP_DESC_LOOP), "DESC_LOOP") == 0, "name");
}

struct memtab {
    uint32_t n, pad;
    uint64_t r[EW_VU_MAX_REGIONS][4];
};

static void setup(struct ew_vu_dev *d, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used,
                  bool enable) {
    ew_vu_dev_init(d, &ops);
    struct ew_vu_reply rp;
    CHECK_EQ(send_msg(d, EW_VU_SET_OWNER, 1, NULL, 0, NULL, 0, &rp), 0, "owner");
    CHECK_EQ(send_u64(d, EW_VU_SET_FEATURES, EW_VU_FEATURES, NULL, 0), 0, "features");
    struct memtab mt = {2, 0, {{GPA0, MEM_SIZE, UVA0, 0}, {GPA1, MEM_SIZE, UVA1, 0}}};
    int fds[2] = {100, 101};
    CHECK_EQ(send_msg(d, EW_VU_SET_MEM_TABLE, 1, &mt, 8 + 64, fds, 2, &rp), 0, "mem table");
    for (uint32_t q = 0; q < 2; q++) {
        CHECK_EQ(send_state(d, EW_VU_SET_VRING_NUM, q, num, &rp), 0, "num");
        CHECK_EQ(send_state(d, EW_VU_SET_VRING_BASE, q, 0, &rp), 0, "base");
        uint64_t a[5];
        uint32_t ai[2] = {q, 0};
        memcpy(a, ai, 8);
        a[1] = desc + q * 0x10000;
        a[2] = used + q * 0x10000;
        a[3] = avail + q * 0x10000;
        a[4] = 0;
        CHECK_EQ(send_msg(d, EW_VU_SET_VRING_ADDR, 1, a, 40, NULL, 0, &rp), 0, "addr");
        int kick = 200 + (int)q;
        CHECK_EQ(send_u64(d, EW_VU_SET_VRING_KICK, q, &kick, 1), 0, "kick");
        CHECK_EQ(send_u64(d, EW_VU_SET_VRING_CALL, q | 0x100u, NULL, 0), 0, "call (no fd)");
        if (enable) CHECK_EQ(send_state(d, EW_VU_SET_VRING_ENABLE, q, 1, &rp), 0, "enable");
    }
}

static void test_messages(void) {
    struct ew_vu_dev d;
    struct ew_vu_reply rp;
    ew_vu_dev_init(&d, &ops);
    CHECK_EQ(send_msg(&d, EW_VU_GET_FEATURES, 1, NULL, 0, NULL, 0, &rp), 0, "get features");
    CHECK_EQ(rp.len, 20, "reply len");
    CHECK_EQ(reply_value(&rp), EW_VU_FEATURES, "features offered");
    uint32_t rflags;
    memcpy(&rflags, rp.buf + 4, 4);
    CHECK_EQ(rflags, 5, "reply flags");
    CHECK_EQ(send_u64(&d, EW_VU_SET_FEATURES, 1ull << 28, NULL, 0), EW_VU_DROP_MSG_FEATURES,
             "indirect not offered");
    CHECK_EQ(d.drops[EW_VU_DROP_MSG_FEATURES], 1, "counted");
    CHECK_EQ(send_u64(&d, EW_VU_SET_FEATURES, EW_VU_FEATURES, NULL, 0), 0, "set features");
    CHECK_EQ(send_msg(&d, EW_VU_GET_PROTOCOL_FEATURES, 1, NULL, 0, NULL, 0, &rp), 0, "get pf");
    CHECK_EQ(reply_value(&rp), EW_VU_PROTOCOL_FEATURES, "protocol features");
    CHECK_EQ(send_u64(&d, EW_VU_SET_PROTOCOL_FEATURES, 1ull << EW_VU_PROTO_F_REPLY_ACK, NULL, 0), 0,
             "set pf");
    /* REPLY_ACK: a need-reply message gets a zero answer. */
    CHECK_EQ(send_msg(&d, EW_VU_SET_OWNER, 1 | EW_VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0, &rp), 0,
             "owner");
    CHECK_EQ(rp.len, 20, "ack sent");
    CHECK_EQ(reply_value(&rp), 0, "ack ok");
    CHECK_EQ(send_msg(&d, 77, 1, NULL, 0, NULL, 0, &rp), EW_VU_DROP_MSG_UNKNOWN, "unknown");

    /* Memory tables: overlap, count, fds, overflow, map failure close every fd. */
    int fds[2] = {100, 101};
    struct memtab mt = {2, 0, {{GPA0, MEM_SIZE, UVA0, 0}, {GPA0 + 4096, MEM_SIZE, UVA1, 0}}};
    closed = 0;
    CHECK_EQ(send_msg(&d, EW_VU_SET_MEM_TABLE, 1, &mt, 72, fds, 2, &rp), EW_VU_DROP_MSG_REGIONS,
             "overlap");
    CHECK_EQ(closed, 2, "fds closed on error");
    mt.r[1][0] = GPA1;
    CHECK_EQ(send_msg(&d, EW_VU_SET_MEM_TABLE, 1, &mt, 72, fds, 1, &rp), EW_VU_DROP_MSG_FDS,
             "fd count");
    CHECK_EQ(send_msg(&d, EW_VU_SET_MEM_TABLE, 1, &mt, 40, fds, 2, &rp), EW_VU_DROP_MSG_SIZE,
             "size vs count");
    mt.r[1][1] = UINT64_MAX;
    CHECK_EQ(send_msg(&d, EW_VU_SET_MEM_TABLE, 1, &mt, 72, fds, 2, &rp), EW_VU_DROP_MSG_REGIONS,
             "size overflow");
    mt.r[1][1] = MEM_SIZE;
    mt.n = 9;
    CHECK_EQ(send_msg(&d, EW_VU_SET_MEM_TABLE, 1, &mt, 72, fds, 2, &rp), EW_VU_DROP_MSG_REGIONS,
             "too many regions");
    mt.n = 2;
    fail_map_fd = 101;
    mapped = unmapped = 0;
    CHECK_EQ(send_msg(&d, EW_VU_SET_MEM_TABLE, 1, &mt, 72, fds, 2, &rp), EW_VU_DROP_MSG_MAP,
             "map failure");
    CHECK_EQ(mapped - unmapped, 0, "partial mapping undone");
    CHECK_EQ(d.mem.n, 0, "no table");
    fail_map_fd = -1;
    CHECK_EQ(send_msg(&d, EW_VU_SET_MEM_TABLE, 1, &mt, 72, fds, 2, &rp), 0, "good table");
    CHECK_EQ(d.mem.n, 2, "two regions");

    /* Translation. */
    CHECK(ew_vu_gpa(&d.mem, GPA0, 16) == mem0, "gpa0");
    CHECK(ew_vu_gpa(&d.mem, GPA1 + 10, 16) == mem1 + 10, "gpa1");
    CHECK(ew_vu_gpa(&d.mem, GPA0 + MEM_SIZE - 8, 16) == NULL, "straddles the end");
    CHECK(ew_vu_gpa(&d.mem, GPA0 + MEM_SIZE - 8, 8) != NULL, "ends at the end");
    CHECK(ew_vu_gpa(&d.mem, UINT64_MAX - 4, 16) == NULL, "wraps");
    CHECK(ew_vu_gpa(&d.mem, GPA0 + 8, UINT64_MAX) == NULL, "huge length");
    CHECK(ew_vu_gpa(&d.mem, 0, 1) == NULL, "below");
    CHECK(ew_vu_uva(&d.mem, UVA1 + 1, 1) == mem1 + 1, "uva");

    /* Rings. */
    CHECK_EQ(send_state(&d, EW_VU_SET_VRING_NUM, 0, 300, &rp), EW_VU_DROP_MSG_RING_NUM, "pow2");
    CHECK_EQ(send_state(&d, EW_VU_SET_VRING_NUM, 0, 65536, &rp), EW_VU_DROP_MSG_RING_NUM, "max");
    CHECK_EQ(send_state(&d, EW_VU_SET_VRING_NUM, 2, 256, &rp), EW_VU_DROP_MSG_INDEX, "index");
    CHECK_EQ(send_state(&d, EW_VU_SET_VRING_NUM, 0, 256, &rp), 0, "num");
    uint64_t a[5] = {0, UVA0 + MEM_SIZE - 16, UVA0 + 0x8000, UVA0 + 0x4000, 0};
    CHECK_EQ(send_msg(&d, EW_VU_SET_VRING_ADDR, 1, a, 40, NULL, 0, &rp), EW_VU_DROP_MSG_RING_ADDR,
             "desc table past the region");
    a[1] = UVA0 + 8;
    CHECK_EQ(send_msg(&d, EW_VU_SET_VRING_ADDR, 1, a, 40, NULL, 0, &rp), EW_VU_DROP_MSG_RING_ADDR,
             "misaligned");
    a[1] = UVA0;
    CHECK_EQ(send_msg(&d, EW_VU_SET_VRING_ADDR, 1, a, 40, NULL, 0, &rp), 0, "addr");
    CHECK(d.vring[0].desc != NULL, "resolved");
    CHECK(!ew_vring_ready(&d.vring[0]), "not enabled");
    int kick = 7;
    closed = 0;
    CHECK_EQ(send_u64(&d, EW_VU_SET_VRING_KICK, 0x100u, &kick, 1), EW_VU_DROP_MSG_FDS,
             "no-fd flag with an fd");
    CHECK_EQ(closed, 1, "closed");
    CHECK_EQ(send_u64(&d, EW_VU_SET_VRING_KICK, 0, &kick, 1), 0, "kick");
    CHECK_EQ(d.vring[0].kick_fd, 7, "kept");
    CHECK(!d.vring[0].enabled, "protocol features: waits for SET_VRING_ENABLE");
    CHECK_EQ(send_state(&d, EW_VU_SET_VRING_ENABLE, 0, 1, &rp), 0, "enable");
    CHECK(ew_vring_ready(&d.vring[0]), "ready");
    CHECK_EQ(send_state(&d, EW_VU_SET_VRING_BASE, 0, 42, &rp), 0, "base");
    CHECK_EQ(send_state(&d, EW_VU_GET_VRING_BASE, 0, 0, &rp), 0, "get base");
    CHECK_EQ(reply_value(&rp) >> 32, 42, "base reported");
    CHECK(!ew_vring_ready(&d.vring[0]), "stopped");
    CHECK_EQ(d.vring[0].kick_fd, -1, "kick closed");
    unmapped = 0;
    ew_vu_dev_reset(&d);
    CHECK_EQ(unmapped, 2, "reset unmaps");
}

/* Ring layout in mem0 (gpa GPA0, uva UVA0): vring q at +q*0x10000. */
#define DESC_OFF  0x0000u
#define AVAIL_OFF 0x2000u
#define USED_OFF  0x4000u
#define BUF_OFF   0x40000u

struct ring {
    struct ew_vring_desc *desc;
    uint16_t *avail, *used;
};

static struct ring ring_of(uint32_t q) {
    struct ring r;
    r.desc = (struct ew_vring_desc *)(mem0 + q * 0x10000 + DESC_OFF);
    r.avail = (uint16_t *)(mem0 + q * 0x10000 + AVAIL_OFF);
    r.used = (uint16_t *)(mem0 + q * 0x10000 + USED_OFF);
    return r;
}

static void set_desc(struct ring *r, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags,
                     uint16_t next) {
    r->desc[i].addr = gpa;
    r->desc[i].len = len;
    r->desc[i].flags = flags;
    r->desc[i].next = next;
}

static void post(struct ring *r, uint16_t head, uint32_t num) {
    r->avail[2 + (r->avail[1] & (num - 1))] = head;
    r->avail[1]++;
}

static struct ew_vring_used_elem used_elem(struct ring *r, uint16_t i, uint32_t num) {
    struct ew_vring_used_elem e;
    memcpy(&e, (uint8_t *)(r->used + 2) + 8 * (i & (num - 1)), 8);
    return e;
}

static void test_tx(void) {
    memset(mem0, 0, MEM_SIZE);
    struct ew_vu_dev d;
    const uint32_t num = 16;
    setup(&d, num, UVA0 + DESC_OFF, UVA0 + AVAIL_OFF, UVA0 + USED_OFF, true);
    struct ew_vring *vr = &d.vring[1];
    struct ring r = ring_of(1);
    CHECK(ew_vring_ready(vr), "tx ready");
    uint8_t buf[EW_VU_MAX_FRAME];
    uint32_t len = 0;
    uint16_t head = 0;
    CHECK_EQ(ew_vring_pop(vr, &d.mem, buf, sizeof buf, &len, &head), 0, "empty");

    /* Good chain: header descriptor + two data descriptors (second in region 1). */
    uint8_t *b = mem0 + BUF_OFF;
    for (int i = 0; i < 12; i++)
        b[i] = 0xee;
    for (int i = 0; i < 60; i++)
        b[100 + i] = (uint8_t)i;
    for (int i = 0; i < 40; i++)
        mem1[500 + i] = (uint8_t)(60 + i);
    set_desc(&r, 3, GPA0 + BUF_OFF, 12, EW_VRING_DESC_F_NEXT, 5);
    set_desc(&r, 5, GPA0 + BUF_OFF + 100, 60, EW_VRING_DESC_F_NEXT, 0);
    set_desc(&r, 0, GPA1 + 500, 40, 0, 0);
    post(&r, 3, num);
    CHECK_EQ(ew_vring_pop(vr, &d.mem, buf, sizeof buf, &len, &head), 1, "good chain");
    CHECK_EQ(len, 100, "frame length");
    CHECK_EQ(head, 3, "head");
    int ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= buf[i] == i;
    CHECK(ok, "frame bytes in order, header skipped");
    CHECK_EQ(r.used[1], 0, "not yet published");
    CHECK(ew_vring_flush(vr), "call wanted");
    CHECK_EQ(r.used[1], 1, "published");
    CHECK_EQ(used_elem(&r, 0, num).id, 3, "used id");

    /* Header and data in one descriptor. */
    set_desc(&r, 1, GPA0 + BUF_OFF, 112, 0, 0);
    post(&r, 1, num);
    CHECK_EQ(ew_vring_pop(vr, &d.mem, buf, sizeof buf, &len, &head), 1, "one descriptor");
    CHECK_EQ(len, 100, "len");
    ew_vring_flush(vr);

    struct {
        const char *what;
        int want;
    } bad[] = {
        {"loop", -EW_VU_DROP_DESC_LOOP},
        {"out of range", -EW_VU_DROP_DESC_ADDR},
        {"length past the region", -EW_VU_DROP_DESC_ADDR},
        {"indirect", -EW_VU_DROP_DESC_INDIRECT},
        {"write-only", -EW_VU_DROP_DESC_DIRECTION},
        {"next out of range", -EW_VU_DROP_DESC_NEXT},
        {"shorter than the header", -EW_VU_DROP_DESC_SHORT},
        {"too big", -EW_VU_DROP_DESC_TOO_BIG},
    };
    for (unsigned k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        switch (k) {
        case 0:
            set_desc(&r, 2, GPA0 + BUF_OFF, 12, EW_VRING_DESC_F_NEXT, 4);
            set_desc(&r, 4, GPA0 + BUF_OFF, 12, EW_VRING_DESC_F_NEXT, 2);
            break;
        case 1:
            set_desc(&r, 2, 0x10, 64, 0, 0);
            break;
        case 2:
            set_desc(&r, 2, GPA0 + MEM_SIZE - 32, 64, 0, 0);
            break;
        case 3:
            set_desc(&r, 2, GPA0 + BUF_OFF, 16, EW_VRING_DESC_F_INDIRECT, 0);
            break;
        case 4:
            set_desc(&r, 2, GPA0 + BUF_OFF, 64, EW_VRING_DESC_F_WRITE, 0);
            break;
        case 5:
            set_desc(&r, 2, GPA0 + BUF_OFF, 64, EW_VRING_DESC_F_NEXT, 16);
            break;
        case 6:
            set_desc(&r, 2, GPA0 + BUF_OFF, 8, 0, 0);
            break;
        case 7:
            set_desc(&r, 2, GPA0 + BUF_OFF, 12 + EW_VU_MAX_FRAME + 1, 0, 0);
            break;
        }
        post(&r, 2, num);
        uint16_t before = vr->last_used;
        CHECK_EQ(ew_vring_pop(vr, &d.mem, buf, sizeof buf, &len, &head), bad[k].want, bad[k].what);
        ew_vring_flush(vr);
        CHECK_EQ((uint16_t)(vr->last_used - before), 1, "dropped chain still returned");
        CHECK(ew_vring_ready(vr), "ring keeps going");
    }

    /* No interrupt wanted. */
    r.avail[0] = EW_VRING_AVAIL_F_NO_INTERRUPT;
    post(&r, 1, num);
    CHECK_EQ(ew_vring_pop(vr, &d.mem, buf, sizeof buf, &len, &head), 1, "pop");
    CHECK(!ew_vring_flush(vr), "no call");
    r.avail[0] = 0;

    /* Broken rings: head out of range, avail index running ahead. */
    r.avail[2 + (r.avail[1] & (num - 1))] = 99;
    r.avail[1]++;
    CHECK_EQ(ew_vring_pop(vr, &d.mem, buf, sizeof buf, &len, &head), -EW_VU_DROP_RING_HEAD,
             "head out of range");
    CHECK(!ew_vring_ready(vr), "broken");
    CHECK_EQ(ew_vring_pop(vr, &d.mem, buf, sizeof buf, &len, &head), 0, "broken ring is idle");
    vr->broken = false;
    r.avail[1] = (uint16_t)(vr->last_avail + num + 1);
    CHECK_EQ(ew_vring_pop(vr, &d.mem, buf, sizeof buf, &len, &head), -EW_VU_DROP_RING_AVAIL,
             "avail ahead");
    CHECK(!ew_vring_ready(vr), "broken");
    ew_vu_dev_reset(&d);
}

static void test_rx(void) {
    memset(mem0, 0, MEM_SIZE);
    struct ew_vu_dev d;
    const uint32_t num = 8;
    setup(&d, num, UVA0 + DESC_OFF, UVA0 + AVAIL_OFF, UVA0 + USED_OFF, true);
    struct ew_vring *vr = &d.vring[0];
    struct ring r = ring_of(0);
    uint8_t frame[200];
    for (int i = 0; i < 200; i++)
        frame[i] = (uint8_t)(i * 3);

    CHECK_EQ(ew_vring_rx_put(vr, &d.mem, frame, 60), -EW_VU_DROP_RX_NO_BUFFERS, "no buffers");

    /* One big buffer. */
    set_desc(&r, 0, GPA0 + BUF_OFF, 2048, EW_VRING_DESC_F_WRITE, 0);
    post(&r, 0, num);
    CHECK_EQ(ew_vring_rx_put(vr, &d.mem, frame, 200), 1, "rx one buffer");
    CHECK(ew_vring_flush(vr), "call");
    CHECK_EQ(used_elem(&r, 0, num).len, 212, "used len with header");
    uint16_t nb;
    memcpy(&nb, mem0 + BUF_OFF + 10, 2);
    CHECK_EQ(nb, 1, "num_buffers");
    CHECK_MEM(mem0 + BUF_OFF + 12, frame, 200, "frame bytes");

    /* Mergeable: three 100-byte buffers for a 200-byte frame. */
    for (uint16_t i = 1; i <= 3; i++) {
        set_desc(&r, i, GPA0 + BUF_OFF + 0x1000u * i, 100, EW_VRING_DESC_F_WRITE, 0);
        post(&r, i, num);
    }
    CHECK_EQ(ew_vring_rx_put(vr, &d.mem, frame, 200), 1, "rx merged");
    ew_vring_flush(vr);
    memcpy(&nb, mem0 + BUF_OFF + 0x1000 + 10, 2);
    CHECK_EQ(nb, 3, "num_buffers 3");
    CHECK_MEM(mem0 + BUF_OFF + 0x1000 + 12, frame, 88, "first part");
    CHECK_MEM(mem0 + BUF_OFF + 0x2000, frame + 88, 100, "second part");
    CHECK_MEM(mem0 + BUF_OFF + 0x3000, frame + 188, 12, "third part");
    CHECK_EQ(used_elem(&r, 3, num).len, 12, "third used len");

    /* Too few buffers: nothing consumed. */
    set_desc(&r, 4, GPA0 + BUF_OFF, 50, EW_VRING_DESC_F_WRITE, 0);
    post(&r, 4, num);
    uint16_t la = vr->last_avail;
    CHECK_EQ(ew_vring_rx_put(vr, &d.mem, frame, 200), -EW_VU_DROP_RX_NO_BUFFERS, "too few");
    CHECK_EQ(vr->last_avail, la, "nothing taken");
    CHECK_EQ(ew_vring_rx_put(vr, &d.mem, frame, 30), 1, "small frame fits");

    /* Read-only buffer in an rx chain; out-of-range buffer. */
    set_desc(&r, 5, GPA0 + BUF_OFF, 2048, 0, 0);
    post(&r, 5, num);
    uint16_t lu = vr->last_used;
    CHECK_EQ(ew_vring_rx_put(vr, &d.mem, frame, 60), -EW_VU_DROP_DESC_DIRECTION, "read-only");
    ew_vring_flush(vr);
    CHECK_EQ((uint16_t)(vr->last_used - lu), 2, "returned (with the earlier frame)");
    set_desc(&r, 6, GPA1 + MEM_SIZE - 10, 2048, EW_VRING_DESC_F_WRITE, 0);
    post(&r, 6, num);
    CHECK_EQ(ew_vring_rx_put(vr, &d.mem, frame, 60), -EW_VU_DROP_DESC_ADDR, "out of range");
    CHECK_EQ(ew_vring_rx_put(vr, &d.mem, frame, EW_VU_MAX_FRAME + 1), -EW_VU_DROP_DESC_TOO_BIG,
             "frame too big");
    ew_vu_dev_reset(&d);
}

static int open_fds(void) {
    int n = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

static void sock_send(int s, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
                      const int *fds, unsigned nfds) {
    uint8_t buf[EW_VU_HDR_SIZE + EW_VU_MAX_PAYLOAD];
    memcpy(buf, &req, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    if (size) memcpy(buf + 12, payload, size);
    struct iovec iov = {buf, EW_VU_HDR_SIZE + size};
    union {
        struct cmsghdr h;
        uint8_t b[CMSG_SPACE(sizeof(int) * EW_VU_MAX_FDS)];
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
    CHECK(sendmsg(s, &mh, 0) == (ssize_t)(EW_VU_HDR_SIZE + size), "sendmsg");
}

static void test_socket(void) {
    int before = open_fds();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    int memfd = memfd_create("ew-test-guest", MFD_CLOEXEC);
    CHECK(memfd >= 0 && ftruncate(memfd, MEM_SIZE) == 0, "memfd");
    uint8_t *g = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    CHECK(g != MAP_FAILED, "frontend mapping");
    struct ew_vu_dev d;
    ew_vu_dev_init(&d, &ew_vu_mmap_ops);

    sock_send(sv[0], EW_VU_GET_FEATURES, 1, NULL, 0, NULL, 0);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), 0, "served");
    uint8_t rb[20];
    CHECK(recv(sv[0], rb, sizeof rb, MSG_WAITALL) == 20, "reply read");
    uint64_t feat;
    memcpy(&feat, rb + 12, 8);
    CHECK_EQ(feat, EW_VU_FEATURES, "features over the socket");
    uint64_t f = EW_VU_FEATURES;
    sock_send(sv[0], EW_VU_SET_FEATURES, 1, &f, 8, NULL, 0);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), 0, "set features");
    /* Region at offset 4096 of the memfd: mmap_offset is honoured. */
    uint64_t mt[5] = {1, GPA0, MEM_SIZE - 4096, UVA0, 4096};
    sock_send(sv[0], EW_VU_SET_MEM_TABLE, 1, mt, 40, &memfd, 1);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), 0, "mem table");
    CHECK_EQ(d.mem.n, 1, "one region mapped");
    uint8_t *gm = g + 4096; /* gpa GPA0, uva UVA0 */
    uint32_t st[2] = {1, 16};
    sock_send(sv[0], EW_VU_SET_VRING_NUM, 1, st, 8, NULL, 0);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), 0, "num");
    uint64_t a[5] = {1, UVA0, UVA0 + 0x2000, UVA0 + 0x1000, 0};
    sock_send(sv[0], EW_VU_SET_VRING_ADDR, 1, a, 40, NULL, 0);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), 0, "addr");
    int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    uint64_t q = 1;
    sock_send(sv[0], EW_VU_SET_VRING_KICK, 1, &q, 8, &kick, 1);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), 0, "kick");
    close(kick);
    CHECK(d.vring[1].kick_fd >= 0 && d.vring[1].kick_fd != kick, "kick fd received");
    st[1] = 1;
    sock_send(sv[0], EW_VU_SET_VRING_ENABLE, 1, st, 8, NULL, 0);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), 0, "enable");

    /* A frame written by the front-end through its own mapping. */
    struct ew_vring_desc *desc = (struct ew_vring_desc *)gm;
    uint16_t *avail = (uint16_t *)(gm + 0x1000);
    desc[0].addr = GPA0 + 0x8000;
    desc[0].len = 12 + 64;
    desc[0].flags = 0;
    for (int i = 0; i < 64; i++)
        gm[0x8000 + 12 + i] = (uint8_t)(0xa0 + i);
    avail[2] = 0;
    avail[1] = 1;
    uint8_t buf[EW_VU_MAX_FRAME];
    uint32_t len = 0;
    uint16_t head = 9;
    CHECK_EQ(ew_vring_pop(&d.vring[1], &d.mem, buf, sizeof buf, &len, &head), 1, "pop via mmap");
    CHECK_EQ(len, 64, "len");
    CHECK_EQ(buf[63], 0xa0 + 63, "bytes");
    ew_vring_flush(&d.vring[1]);
    CHECK_EQ(((uint16_t *)(gm + 0x2000))[1], 1, "used idx seen by the front-end");

    /* A refused message, then the front-end goes away. */
    sock_send(sv[0], 99, 1, NULL, 0, NULL, 0);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), -EW_VU_DROP_MSG_UNKNOWN, "unknown refused");
    close(sv[0]);
    CHECK_EQ(ew_vu_sock_serve_one(sv[1], &d), 1, "peer closed");
    ew_vu_dev_reset(&d);
    close(sv[1]);
    munmap(g, MEM_SIZE);
    close(memfd);
    CHECK_EQ(open_fds(), before, "no fd leaked (kick and memory fds closed by the reset)");
}

static int connect_to(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect");
    return fd;
}

/* Server mode: the front-end goes away and comes back; a stale socket is replaced. */
static void test_reconnect(void) {
    int before = open_fds();
    char path[64];
    snprintf(path, sizeof path, "/tmp/ew-vu-test-%d-%ld.sock", (int)getpid(), (long)time(NULL));
    int lfd = ew_vu_listen(path);
    CHECK(lfd >= 0, "listen: %d", lfd);
    close(lfd);
    lfd = ew_vu_listen(path); /* the socket file left behind is replaced */
    CHECK(lfd >= 0, "listen again: %d", lfd);
    struct ew_vu_dev d;
    ew_vu_dev_init(&d, &ew_vu_mmap_ops);
    for (int round = 0; round < 2; round++) {
        int c = connect_to(path);
        int s = ew_vu_accept(lfd);
        CHECK(s >= 0, "accept");
        uint64_t f = EW_VU_FEATURES;
        sock_send(c, EW_VU_SET_FEATURES, 1, &f, 8, NULL, 0);
        CHECK_EQ(ew_vu_sock_serve_one(s, &d), 0, "features on this connection");
        CHECK(d.features_set, "features set");
        close(c);
        CHECK_EQ(ew_vu_sock_serve_one(s, &d), 1, "front-end gone");
        ew_vu_dev_reset(&d);
        CHECK(!d.features_set, "reset for the next front-end");
        close(s);
    }
    close(lfd);
    char notsock[80];
    snprintf(notsock, sizeof notsock, "%s.file", path);
    int ff = open(notsock, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(ff);
    CHECK_EQ(ew_vu_listen(notsock), -EEXIST, "a regular file is not replaced");
    unlink(notsock);
    unlink(path);
    CHECK_EQ(open_fds(), before, "no fd leaked");
}

int main(void) {
    test_parse();
    test_messages();
    test_tx();
    test_rx();
    test_socket();
    test_reconnect();
    return harness_report("test_vhost");
}
