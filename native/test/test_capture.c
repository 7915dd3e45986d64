/* Capture rings (src/capture.h): wrap-around, a full ring refuses and counts,
 * drops-only and direction filters, the drain's layout and buffer limit, the
 * verdict fields (NACL id and rule), and one producer thread racing the
 * consumer (run under TSan by make test-tsan). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "harness.h"

static uint8_t out[1u << 20];

static void put(struct ew_capture *c, uint32_t ring, uint8_t tag, uint32_t len, bool *kept) {
    uint8_t frame[3000];
    memset(frame, tag, sizeof frame);
    struct ew_verdict v = {EW_ACT_FORWARD, 2, 0, 0, EW_INDEX_NONE, 2, 0};
    struct ew_cap_slot *s = ew_capture_slot(c, ring);
    *kept = s != NULL;
    if (!s) {
        ew_capture_lose(c, ring);
        return;
    }
    ew_capture_fill(s, EW_CAP_OUT, frame, len);
    ew_capture_verdict(s, NULL, 1, &v);
    ew_capture_commit(c, ring);
}

static const struct ew_cap_rec *rec_at(size_t off) {
    return (const struct ew_cap_rec *)(const void *)(out + off);
}

static void test_wrap_and_loss(void) {
    struct ew_capture *c = ew_capture_create(1, EW_CAP_OUT, 1, 4);
    CHECK(c != NULL, "created");
    bool kept;
    uint8_t next = 0, expect = 0;
    size_t used;
    /* Ten rounds of three records through four slots: head and tail wrap. */
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 3; i++) {
            put(c, 0, next++, 60, &kept);
            CHECK(kept, "room in the ring");
        }
        uint32_t n = ew_capture_drain(c, out, sizeof out, &used);
        CHECK_EQ(n, 3, "three records drained");
        CHECK_EQ(used, 3 * ((EW_CAP_REC_SIZE + 60 + 7) / 8 * 8), "padded to 8");
        for (size_t off = 0; off < used; off += (EW_CAP_REC_SIZE + 60 + 7) / 8 * 8) {
            const struct ew_cap_rec *r = rec_at(off);
            CHECK_EQ(r->cap_len, 60, "cap_len");
            CHECK_EQ(out[off + EW_CAP_REC_SIZE], expect, "records come out in order");
            CHECK_EQ(r->out_port, 2, "verdict's port");
            CHECK_EQ(r->action, EW_ACT_FORWARD, "verdict's action");
            expect++;
        }
    }
    CHECK_EQ(ew_capture_lost(c), 0, "nothing lost while drained");
    /* Full: four kept, the fifth and sixth refused and counted, the ring untouched. */
    for (int i = 0; i < 6; i++) {
        put(c, 0, (uint8_t)(100 + i), 60, &kept);
        CHECK(kept == (i < 4), "record %d kept only while there is room", i);
    }
    CHECK_EQ(ew_capture_lost(c), 2, "two records lost to the full ring");
    CHECK_EQ(ew_capture_drain(c, out, sizeof out, &used), 4, "the four kept ones");
    CHECK_EQ(out[EW_CAP_REC_SIZE], 100, "oldest first; the new ones were dropped");
    /* Snap length and a drain buffer too small for everything. */
    put(c, 0, 7, 2500, &kept);
    put(c, 0, 8, 2500, &kept);
    CHECK_EQ(ew_capture_drain(c, out, EW_CAP_REC_SIZE + EW_CAP_SNAP, &used), 1,
             "only what fits is taken");
    CHECK_EQ(rec_at(0)->cap_len, EW_CAP_SNAP, "snapped");
    CHECK_EQ(rec_at(0)->orig_len, 2500, "original length kept");
    CHECK_EQ(ew_capture_drain(c, out, sizeof out, &used), 1, "the rest on the next drain");
    CHECK_EQ(out[EW_CAP_REC_SIZE], 8, "the second one");
    ew_capture_destroy(c);
}

static void test_filters_and_arguments(void) {
    CHECK(ew_capture_create(EW_MAX_PORTS, EW_CAP_OUT, 1, 4) == NULL, "port out of range");
    CHECK(ew_capture_create(1, EW_CAP_DROPS_ONLY, 1, 4) == NULL, "no direction");
    CHECK(ew_capture_create(1, EW_CAP_OUT, 1, 0) == NULL, "no slots");
    CHECK(ew_capture_create(1, EW_CAP_OUT, 1, EW_CAP_MAX_SLOTS + 1) == NULL, "too many slots");
    CHECK(ew_capture_create(1, EW_CAP_OUT, 0, 4) == NULL, "no rings");
    struct ew_capture *c = ew_capture_create(1, EW_CAP_IN | EW_CAP_DROPS_ONLY, 2, 4);
    struct ew_verdict fwd = {EW_ACT_FORWARD, 1, 0, 0, EW_INDEX_NONE, 1, 0};
    struct ew_verdict drop = {
        EW_ACT_DROP, EW_PORT_NONE, EW_DROP_SG_INGRESS, 0, EW_INDEX_NONE, 1, 0};
    CHECK(!ew_capture_wants(c, EW_CAP_IN, &fwd), "drops only: a forward is not kept");
    CHECK(ew_capture_wants(c, EW_CAP_IN, &drop), "drops only: a drop is kept");
    CHECK(!ew_capture_wants(c, EW_CAP_OUT, &drop), "direction not asked for");
    /* Two rings: the drain takes from both. */
    for (uint32_t ring = 0; ring < 2; ring++) {
        struct ew_cap_slot *s = ew_capture_slot(c, ring);
        uint8_t f[64] = {(uint8_t)ring};
        ew_capture_fill(s, EW_CAP_IN, f, sizeof f);
        ew_capture_verdict(s, NULL, 0, &drop);
        ew_capture_commit(c, ring);
    }
    size_t used;
    CHECK_EQ(ew_capture_drain(c, out, sizeof out, &used), 2, "one record from each ring");
    CHECK_EQ(rec_at(0)->reason, EW_DROP_SG_INGRESS, "drop reason");
    CHECK_EQ(rec_at(0)->out_port, EW_PORT_NONE, "a drop goes nowhere");
    CHECK_EQ(rec_at(0)->dst_port, 1, "but was for port 1");
    CHECK_EQ(rec_at(0)->dir, EW_CAP_IN, "direction");
    CHECK(rec_at(0)->ts_ns > 1700000000ull * 1000000000ull, "a wall-clock timestamp");
    ew_capture_destroy(c);
}

/* One producer fills as fast as it can while the consumer drains: every
 * sequence number comes out once, in order, or is counted as lost. */
#define RACE_N 200000u
static struct ew_capture *race_c;

static void *producer(void *arg) {
    (void)arg;
    for (uint32_t i = 0; i < RACE_N; i++) {
        struct ew_cap_slot *s = ew_capture_slot(race_c, 0);
        if (!s) {
            ew_capture_lose(race_c, 0);
            continue;
        }
        ew_capture_fill(s, EW_CAP_OUT, (const uint8_t *)&i, sizeof i);
        struct ew_verdict v = {EW_ACT_DROP, EW_PORT_NONE, 1, 0, EW_INDEX_NONE, EW_PORT_NONE, 0};
        ew_capture_verdict(s, NULL, 0, &v);
        ew_capture_commit(race_c, 0);
    }
    return NULL;
}

static void test_race(void) {
    race_c = ew_capture_create(1, EW_CAP_OUT, 1, 64);
    pthread_t th;
    pthread_create(&th, NULL, producer, NULL);
    uint64_t got = 0, bad = 0;
    int64_t last = -1;
    static uint8_t buf[16 * 48];
    for (;;) {
        size_t used;
        uint32_t n = ew_capture_drain(race_c, buf, sizeof buf, &used);
        for (size_t off = 0; off < used; off += 48) {
            uint32_t seq;
            memcpy(&seq, buf + off + EW_CAP_REC_SIZE, sizeof seq);
            if ((int64_t)seq <= last) bad++;
            last = seq;
        }
        got += n;
        if (n == 0 && got + ew_capture_lost(race_c) == RACE_N) break;
    }
    pthread_join(th, NULL);
    CHECK_EQ(bad, 0, "sequence numbers strictly increase");
    CHECK_EQ(got + ew_capture_lost(race_c), RACE_N, "every record kept or counted lost");
    CHECK(got > 0, "some records made it (%llu)", (unsigned long long)got);
    ew_capture_destroy(race_c);
}

int main(void) {
    test_wrap_and_loss();
    test_filters_and_arguments();
    test_race();
    return harness_report("test_capture");
}
