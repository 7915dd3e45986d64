/* Conntrack: TCP/UDP/ICMP/other state and timeouts with an injected clock,
 * symmetric hash, allowance, full table, bounded sweeps, flush, dump pages,
 * memory per entry. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conntrack.h"
#include "harness.h"
#include "parse.h"

#define S 1000u /* ms per second */

static const struct ew_ct_timeouts tmo = {.tcp_established = 350, .udp = 30, .udp_stream = 180};

static struct ew_ct_key key4(uint16_t zone, uint8_t proto, uint32_t src, uint32_t dst,
                             uint16_t sport, uint16_t dport) {
    struct ew_ct_key k;
    memset(&k, 0, sizeof k);
    k.zone = zone;
    k.family = 4;
    k.proto = proto;
    for (int i = 0; i < 4; i++) {
        k.src[i] = (uint8_t)(src >> (24 - 8 * i));
        k.dst[i] = (uint8_t)(dst >> (24 - 8 * i));
    }
    k.sport = sport;
    k.dport = dport;
    return k;
}

static struct ew_ct_key reversed(struct ew_ct_key k) {
    struct ew_ct_key r = k;
    memcpy(r.src, k.dst, 16);
    memcpy(r.dst, k.src, 16);
    r.sport = k.dport;
    r.dport = k.sport;
    return r;
}

/* The single entry of a one-entry table, via the dump API. */
static struct ew_ct_dump_entry only_entry(struct ew_ct *ct, uint64_t now) {
    struct ew_ct_dump_entry e[2];
    memset(e, 0, sizeof e);
    uint64_t cur = 0;
    uint32_t n = ew_ct_dump(ct, &cur, e, 2, now);
    CHECK_EQ(n, 1, "one entry in the table");
    return e[0];
}

static void test_symmetric_hash(void) {
    struct ew_ct *ct = ew_ct_create(1024, 0, 0xfeedface);
    struct ew_ct *other = ew_ct_create(1024, 0, 0x1234);
    int same_as_other_salt = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        struct ew_ct_key k = key4((uint16_t)(i % 5), 6, 0x0a000000u + i, 0x0a010000u + i * 7,
                                  (uint16_t)(1000 + i), (uint16_t)(80 + i % 3));
        struct ew_ct_key r = reversed(k);
        CHECK(ew_ct_hash(ct, &k) == ew_ct_hash(ct, &r), "hash(a,b) == hash(b,a) for key %u", i);
        same_as_other_salt += ew_ct_hash(ct, &k) == ew_ct_hash(other, &k);
    }
    CHECK(same_as_other_salt < 5, "the salt changes the hash (%d equal)", same_as_other_salt);
    ew_ct_destroy(ct);
    ew_ct_destroy(other);
}

/* Flows that differ only in their source port (a benchmark's or a busy
 * client's) must spread over the buckets: the bucket index takes the low
 * bits of the hash. 100,000 such flows over 2^17 buckets should leave no chain
 * much longer than a random hash would (expected max about 8). */
static void test_hash_spreads_ports(void) {
    enum { FLOWS = 100000, BITS = 17 };
    struct ew_ct *ct = ew_ct_create(1024, 0, 0x5eed);
    static uint16_t chain[1u << BITS];
    memset(chain, 0, sizeof chain);
    uint32_t longest = 0, used = 0;
    for (uint32_t i = 0; i < FLOWS; i++) {
        /* 64 source ports x many destination ports, one address pair */
        struct ew_ct_key k = key4(1, 17, 0x0a000a0au, 0x0a000a14u, (uint16_t)(1024 + i % 64),
                                  (uint16_t)(1000 + i / 64));
        uint32_t b = ew_ct_hash(ct, &k) & ((1u << BITS) - 1);
        used += chain[b] == 0;
        if (++chain[b] > longest) longest = chain[b];
    }
    CHECK(longest <= 16, "longest chain %u for port-only differences", longest);
    CHECK(used > (1u << BITS) / 2, "%u of %u buckets used", used, 1u << BITS);
    ew_ct_destroy(ct);
}

struct tcp_step {
    const char *name;
    bool reply;
    uint8_t flags;
    uint32_t advance_s;
    int want_hit;
    uint8_t want_state;
    uint32_t want_timeout_s;
};

#define SYN EW_TCP_SYN
#define ACK EW_TCP_ACK
#define FIN EW_TCP_FIN
#define RST EW_TCP_RST

static const struct tcp_step handshake_and_close[] = {
    {"syn-ack", true, SYN | ACK, 1, 1, EW_CT_TCP_SYN_RECV, 60},
    {"ack", false, ACK, 1, 1, EW_CT_TCP_ESTABLISHED, 350},
    {"data after 349 s idle", false, ACK, 349, 1, EW_CT_TCP_ESTABLISHED, 350},
    {"fin from the client", false, FIN | ACK, 1, 1, EW_CT_TCP_FIN_WAIT, 120},
    {"ack from the server", true, ACK, 1, 1, EW_CT_TCP_CLOSE_WAIT, 60},
    {"fin from the server", true, FIN | ACK, 59, 1, EW_CT_TCP_LAST_ACK, 30},
    {"last ack", false, ACK, 29, 1, EW_CT_TCP_TIME_WAIT, 120},
    {"retransmitted ack in time-wait", false, ACK, 119, 1, EW_CT_TCP_TIME_WAIT, 120},
    {"time-wait expired", false, ACK, 121, 0, 0, 0},
};

static const struct tcp_step reset[] = {
    {"syn-ack", true, SYN | ACK, 0, 1, EW_CT_TCP_SYN_RECV, 60},
    {"rst from the server", true, RST, 0, 1, EW_CT_TCP_CLOSE, 10},
    {"data after rst is not tracked", false, ACK, 1, 0, 0, 0},
};

static const struct tcp_step established_idle[] = {
    {"syn-ack", true, SYN | ACK, 0, 1, EW_CT_TCP_SYN_RECV, 60},
    {"ack", false, ACK, 0, 1, EW_CT_TCP_ESTABLISHED, 350},
    {"idle 351 s", true, ACK, 351, 0, 0, 0},
};

static const struct tcp_step syn_sent_idle[] = {
    {"syn retransmit at 119 s", false, SYN, 119, 1, EW_CT_TCP_SYN_SENT, 120},
    {"syn-ack after 121 s", true, SYN | ACK, 121, 0, 0, 0},
};

static void run_tcp(const char *name, const struct tcp_step *steps, size_t n) {
    struct ew_ct *ct = ew_ct_create(64, 0, 1);
    struct ew_ct_key k = key4(3, EW_PROTO_TCP, 0x0a000001u, 0x0a000002u, 40000, 443);
    uint64_t now = 1000 * S;
    CHECK_EQ(ew_ct_insert(ct, &k, SYN, 60, &tmo, now), EW_CT_INSERTED, "syn opens");
    struct ew_ct_dump_entry e = only_entry(ct, now);
    CHECK(e.state == EW_CT_TCP_SYN_SENT && e.timeout_ms == 120 * S, "%s: syn-sent 120 s", name);
    for (size_t i = 0; i < n; i++) {
        const struct tcp_step *s = &steps[i];
        struct ew_ct_key pk = s->reply ? reversed(k) : k;
        now += (uint64_t)s->advance_s * S;
        int hit = ew_ct_track(ct, &pk, s->flags, 60, &tmo, now) == EW_CT_HIT;
        CHECK(hit == s->want_hit, "%s / %s: hit %d", name, s->name, hit);
        if (!s->want_hit) continue;
        e = only_entry(ct, now);
        CHECK(e.state == s->want_state, "%s / %s: state %u, want %u", name, s->name, e.state,
              s->want_state);
        CHECK(e.timeout_ms == s->want_timeout_s * S, "%s / %s: timeout %u ms", name, s->name,
              e.timeout_ms);
    }
    ew_ct_destroy(ct);
}

static void test_tcp(void) {
    run_tcp("handshake and close", handshake_and_close,
            sizeof handshake_and_close / sizeof handshake_and_close[0]);
    run_tcp("reset", reset, sizeof reset / sizeof reset[0]);
    run_tcp("established idle", established_idle,
            sizeof established_idle / sizeof established_idle[0]);
    run_tcp("syn-sent idle", syn_sent_idle, sizeof syn_sent_idle / sizeof syn_sent_idle[0]);

    /* A new SYN after RST is a new connection: a miss (rules judge it), then the
     * insert takes over the closed entry without growing the zone. */
    struct ew_ct *ct = ew_ct_create(64, 0, 1);
    struct ew_ct_key k = key4(3, EW_PROTO_TCP, 0x0a000001u, 0x0a000002u, 40000, 443);
    ew_ct_insert(ct, &k, SYN, 60, &tmo, 0);
    ew_ct_track(ct, &(struct ew_ct_key[]){reversed(k)}[0], RST, 40, &tmo, 0);
    CHECK_EQ(ew_ct_track(ct, &k, SYN, 60, &tmo, 1), EW_CT_MISS, "syn after rst misses");
    CHECK_EQ(ew_ct_insert(ct, &k, SYN, 60, &tmo, 1), EW_CT_INSERTED, "syn after rst reopens");
    CHECK_EQ(ew_ct_zone_count(ct, 3), 1, "reopened in place");
    CHECK_EQ(only_entry(ct, 1).state, EW_CT_TCP_SYN_SENT, "reopened state");
    ew_ct_destroy(ct);
}

static void test_udp(void) {
    struct ew_ct *ct = ew_ct_create(64, 0, 1);
    struct ew_ct_key q = key4(1, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, 5000, 53);
    struct ew_ct_key r = reversed(q);
    uint64_t now = 0;
    ew_ct_insert(ct, &q, 0, 40, &tmo, now);
    struct ew_ct_dump_entry e = only_entry(ct, now);
    CHECK(e.state == EW_CT_UDP_SINGLE && e.timeout_ms == 30 * S, "udp single: 30 s");
    now += 29 * S;
    CHECK_EQ(ew_ct_track(ct, &q, 0, 40, &tmo, now), EW_CT_HIT, "second request within 30 s");
    CHECK_EQ(ew_ct_track(ct, &r, 0, 40, &tmo, now), EW_CT_HIT, "first response");
    e = only_entry(ct, now);
    CHECK(e.state == EW_CT_UDP_SINGLE && e.timeout_ms == 30 * S, "one exchange: still 30 s");
    ew_ct_track(ct, &q, 0, 40, &tmo, now);
    ew_ct_track(ct, &r, 0, 40, &tmo, now);
    e = only_entry(ct, now);
    CHECK(e.state == EW_CT_UDP_STREAM && e.timeout_ms == 180 * S, "two exchanges: stream 180 s");
    CHECK(e.packets_orig == 3 && e.packets_reply == 2 && e.bytes_orig == 120, "udp counters");
    CHECK_EQ(ew_ct_track(ct, &r, 0, 40, &tmo, now + 179 * S), EW_CT_HIT, "stream alive at 179 s");
    CHECK_EQ(ew_ct_track(ct, &r, 0, 40, &tmo, now + 179 * S + 181 * S), EW_CT_MISS,
             "stream expired after 181 s idle");

    struct ew_ct_key one = key4(1, EW_PROTO_UDP, 0x0a000001u, 0x0a000003u, 5001, 514);
    ew_ct_insert(ct, &one, 0, 40, &tmo, 0);
    CHECK_EQ(ew_ct_track(ct, &one, 0, 40, &tmo, 31 * S), EW_CT_MISS,
             "one-way udp expires after 30 s");
    ew_ct_destroy(ct);
}

static void test_icmp_and_other(void) {
    struct ew_ct *ct = ew_ct_create(64, 0, 1);
    struct ew_ct_key echo = key4(2, EW_PROTO_ICMP, 0x0a000001u, 0x08080808u, 77, 77);
    ew_ct_insert(ct, &echo, 0, 84, &tmo, 0);
    CHECK_EQ(only_entry(ct, 0).timeout_ms, 30 * S, "icmp echo 30 s");
    CHECK_EQ(ew_ct_track(ct, &(struct ew_ct_key[]){reversed(echo)}[0], 0, 84, &tmo, 29 * S),
             EW_CT_HIT, "echo reply by identifier");
    struct ew_ct_key other_id = echo;
    other_id.sport = other_id.dport = 78;
    CHECK_EQ(ew_ct_track(ct, &other_id, 0, 84, &tmo, 29 * S), EW_CT_MISS,
             "another identifier is another flow");
    CHECK_EQ(ew_ct_track(ct, &echo, 0, 84, &tmo, 60 * S), EW_CT_MISS, "echo expired after 31 s");

    struct ew_ct_key gre = key4(2, 47, 0x0a000001u, 0x0a000009u, 0, 0);
    ew_ct_insert(ct, &gre, 0, 100, &tmo, 0);
    CHECK_EQ(only_entry(ct, 0).timeout_ms, 600 * S, "other protocols 600 s");
    CHECK_EQ(ew_ct_track(ct, &(struct ew_ct_key[]){reversed(gre)}[0], 0, 100, &tmo, 599 * S),
             EW_CT_HIT, "same protocol back within 600 s");
    CHECK_EQ(ew_ct_track(ct, &gre, 0, 100, &tmo, 599 * S + 601 * S), EW_CT_MISS,
             "expired after 601 s idle");
    CHECK(ew_ct_exists(ct, &echo, 0) == false, "expired entries are gone");
    ew_ct_destroy(ct);
}

static void test_allowance_and_full(void) {
    struct ew_ct *ct = ew_ct_create(1000, 10, 9);
    for (uint16_t i = 0; i < 10; i++) {
        struct ew_ct_key k =
            key4(1, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, (uint16_t)(1000 + i), 53);
        CHECK_EQ(ew_ct_insert(ct, &k, 0, 40, &tmo, 0), EW_CT_INSERTED, "zone 1 within allowance");
    }
    struct ew_ct_key k = key4(1, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, 2000, 53);
    CHECK_EQ(ew_ct_insert(ct, &k, 0, 40, &tmo, 0), EW_CT_ALLOWANCE, "zone 1 over allowance");
    CHECK_EQ(ew_ct_insert(ct, &k, 0, 40, &tmo, 0), EW_CT_ALLOWANCE, "still over");
    CHECK_EQ(ew_ct_zone_exceeded(ct, 1), 2, "exceeded counter");
    CHECK_EQ(ew_ct_zone_count(ct, 1), 10, "zone 1 holds its allowance");
    for (uint16_t i = 0; i < 10; i++) {
        struct ew_ct_key k2 =
            key4(2, EW_PROTO_UDP, 0x0a000003u, 0x0a000002u, (uint16_t)(1000 + i), 53);
        CHECK_EQ(ew_ct_insert(ct, &k2, 0, 40, &tmo, 0), EW_CT_INSERTED, "zone 2 unaffected");
    }
    CHECK_EQ(ew_ct_zone_exceeded(ct, 2), 0, "zone 2 never exceeded");
    ew_ct_destroy(ct);

    ct = ew_ct_create(16, 0, 9);
    for (uint16_t i = 0; i < 16; i++) {
        struct ew_ct_key k3 = key4((uint16_t)(i % 4), 47, 0x0a000001u + i, 0x0a000002u, 0, 0);
        CHECK_EQ(ew_ct_insert(ct, &k3, 0, 40, &tmo, 0), EW_CT_INSERTED, "fill");
    }
    struct ew_ct_key k4 = key4(5, 47, 0x0b000001u, 0x0a000002u, 0, 0);
    CHECK_EQ(ew_ct_insert(ct, &k4, 0, 40, &tmo, 0), EW_CT_FULL, "table full");
    CHECK_EQ(ew_ct_zone_count(ct, 5), 0, "a refused insert holds nothing");
    ew_ct_sweep(ct, 601 * S, 16);
    CHECK_EQ(ew_ct_insert(ct, &k4, 0, 40, &tmo, 601 * S), EW_CT_INSERTED, "room after expiry");
    ew_ct_destroy(ct);
}

static void test_sweep(void) {
    enum { N = 300, BUCKETS = 1024, BUDGET = 256 };
    struct ew_ct *ct = ew_ct_create(BUCKETS, 0, 5);
    struct ew_ct_key keys[N];
    for (uint16_t i = 0; i < N; i++) {
        keys[i] = key4(1, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, (uint16_t)(1000 + i), 53);
        ew_ct_insert(ct, &keys[i], 0, 40, &tmo, 0);
    }
    /* Odd keys stay fresh; even keys are idle past 30 s at t = 40 s. */
    for (int i = 1; i < N; i += 2)
        ew_ct_track(ct, &keys[i], 0, 40, &tmo, 20 * S);
    uint32_t expected_left = N;
    for (int round = 0; round < BUCKETS / BUDGET; round++) {
        for (int i = 0; i < N; i += 2) {
            uint32_t b = ew_ct_hash(ct, &keys[i]) & (BUCKETS - 1);
            if (b / BUDGET == (uint32_t)round) expected_left--;
        }
        ew_ct_sweep(ct, 40 * S, BUDGET);
        CHECK_EQ(ew_ct_zone_count(ct, 1), expected_left, "a sweep frees only its buckets");
    }
    CHECK_EQ(ew_ct_zone_count(ct, 1), N / 2, "one full pass frees every idle entry");
    for (int i = 1; i < N; i += 2)
        CHECK(ew_ct_exists(ct, &keys[i], 40 * S), "fresh entry %d survives", i);
    ew_ct_destroy(ct);
}

/* A full table (as many entries as buckets: chains of 2, 3 and more, so the
 * sweep's prefetch ring sees heads and second entries) swept in odd-sized
 * slices: each slice frees exactly the idle entries of its buckets, at every
 * chain position, and nothing else. */
static void test_sweep_dense(void) {
    enum { N = 4096, BUDGET = 37 };
    struct ew_ct *ct = ew_ct_create(N, 0, 11);
    static struct ew_ct_key keys[N];
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = key4(1, EW_PROTO_UDP, 0x0a000001u + i / 1000u, 0x0a000002u,
                       (uint16_t)(1000 + i % 1000u), 53);
        CHECK(ew_ct_insert(ct, &keys[i], 0, 40, &tmo, 0) == EW_CT_INSERTED, "fill %u", i);
    }
    /* Every third key stays fresh; the others are idle past 30 s at t = 40 s. */
    for (uint32_t i = 0; i < N; i += 3)
        ew_ct_track(ct, &keys[i], 0, 40, &tmo, 20 * S);
    uint32_t longest = 0;
    for (uint32_t b = 0; b < N; b++) {
        uint32_t len = 0;
        for (uint32_t i = 0; i < N; i++)
            len += (ew_ct_hash(ct, &keys[i]) & (N - 1)) == b;
        if (len > longest) longest = len;
    }
    CHECK(longest >= 3, "the table has long chains (%u)", longest);
    uint32_t expected_left = N;
    for (uint32_t start = 0; start < N; start += BUDGET) {
        for (uint32_t i = 0; i < N; i++) {
            uint32_t b = ew_ct_hash(ct, &keys[i]) & (N - 1);
            if (i % 3 != 0 && b >= start && b < start + BUDGET) expected_left--;
        }
        ew_ct_sweep(ct, 40 * S, BUDGET);
        CHECK(ew_ct_zone_count(ct, 1) == expected_left, "slice at %u frees only its idle entries",
              start);
    }
    CHECK_EQ(ew_ct_zone_count(ct, 1), (N + 2) / 3, "one pass leaves just the fresh entries");
    for (uint32_t i = 0; i < N; i++)
        CHECK(ew_ct_exists(ct, &keys[i], 40 * S) == (i % 3 == 0), "entry %u", i);
    ew_ct_destroy(ct);
}

static void test_flush_and_dump(void) {
    struct ew_ct *ct = ew_ct_create(4096, 0, 5);
    for (uint16_t i = 0; i < 50; i++) {
        struct ew_ct_key a =
            key4(1, EW_PROTO_TCP, 0x0a000001u, 0x0a000002u, (uint16_t)(1000 + i), 80);
        struct ew_ct_key b =
            key4(2, EW_PROTO_TCP, 0x0a000002u, 0x0a000001u, (uint16_t)(1000 + i), 80);
        ew_ct_insert(ct, &a, SYN, 60, &tmo, 0);
        ew_ct_insert(ct, &b, SYN, 60, &tmo, 0);
    }
    uint8_t seen[50] = {0};
    struct ew_ct_dump_entry page[7];
    uint64_t cursor = 0;
    uint32_t total = 0, pages = 0;
    do {
        uint32_t n = ew_ct_dump(ct, &cursor, page, 7, 5 * S);
        CHECK(n <= 7, "page size");
        for (uint32_t i = 0; i < n; i++) {
            if (page[i].zone == 1) seen[page[i].sport - 1000]++;
            CHECK(page[i].idle_ms == 5 * S && page[i].state == EW_CT_TCP_SYN_SENT &&
                      page[i].dport == 80 && page[i].family == 4 && page[i].proto == 6,
                  "dump fields");
        }
        total += n;
        pages++;
    } while (cursor != 0 && pages < 100);
    CHECK_EQ(total, 100, "every entry dumped once");
    int once = 0;
    for (int i = 0; i < 50; i++)
        once += seen[i] == 1;
    CHECK_EQ(once, 50, "no entry repeated or missed");
    CHECK(pages >= 15, "pagination used (%u pages)", pages);

    ew_ct_flush_zone(ct, 1);
    CHECK_EQ(ew_ct_zone_count(ct, 1), 0, "zone 1 flushed");
    CHECK_EQ(ew_ct_zone_count(ct, 2), 50, "zone 2 kept");
    struct ew_ct_key b0 = key4(2, EW_PROTO_TCP, 0x0a000002u, 0x0a000001u, 1000, 80);
    CHECK(ew_ct_exists(ct, &b0, 0), "zone 2 entry still found");
    ew_ct_destroy(ct);
}

static void test_memory(void) {
    struct ew_ct *ct = ew_ct_create(1000000, 0, 1);
    CHECK(ct != NULL, "1,000,000 entries allocate");
    if (!ct) return;
    size_t bytes = ew_ct_memory_bytes(ct);
    CHECK(bytes / 1000000 <= 128, "%zu bytes per entry", bytes / 1000000);
    /* 96 B entry + one 4-byte bucket word (head and lock) per 1-2 entries. */
    CHECK(bytes / 1000000 <= 104, "%zu bytes per entry: entry + bucket words", bytes / 1000000);
    ew_ct_destroy(ct);
    /* Bucket words hold index + 1 in 31 bits. */
    CHECK(ew_ct_create(0x7fffffffu, 0, 1) == NULL, "capacity beyond 31-bit heads is refused");
}

/* Two workers and a sweeper hammer one small table: no deadlock, no lost
 * entries (zone counts equal what a dump finds), clean under ASan. */
struct hammer {
    struct ew_ct *ct;
    uint16_t zone;
    uint64_t seed;
};

static void *hammer_run(void *arg) {
    struct hammer *h = arg;
    uint64_t x = h->seed;
    for (uint32_t i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct ew_ct_key k =
            key4(h->zone, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, (uint16_t)(x % 3000), 53);
        uint64_t now = i / 100 * S;
        if (ew_ct_track(h->ct, &k, 0, 40, &tmo, now) == EW_CT_MISS)
            ew_ct_insert(h->ct, &k, 0, 40, &tmo, now);
        if (h->zone == 1 && i % 1000 == 0) ew_ct_sweep(h->ct, now, 512);
    }
    return NULL;
}

static void test_concurrency(void) {
    struct ew_ct *ct = ew_ct_create(4096, 2048, 77);
    struct hammer hs[2] = {{ct, 1, 0x1234567}, {ct, 2, 0x7654321}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer_run, &hs[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    struct ew_ct_dump_entry page[64];
    uint64_t cursor = 0, dumped = 0;
    do
        dumped += ew_ct_dump(ct, &cursor, page, 64, 0);
    while (cursor);
    uint32_t held = ew_ct_zone_count(ct, 1) + ew_ct_zone_count(ct, 2);
    CHECK(held > 0 && dumped == held, "zone counts %u match the entries found %lu", held,
          (unsigned long)dumped);
    ew_ct_destroy(ct);
}

/* ---- find-or-insert (ew_ct_track_hold) and per-worker entry caches ---- */

/* The one-pass API as judge() drives it: track_hold, then insert_held or release. */
static enum ew_ct_insert_result open_with(struct ew_ct *ct, struct ew_ct_cache *c,
                                          const struct ew_ct_key *k, uint8_t flags, uint64_t now) {
    struct ew_ct_hold h;
    if (ew_ct_track_hold(ct, k, ew_ct_hash(ct, k), flags, 40, &tmo, now, EW_CT_FL_OFF, c, &h) ==
        EW_CT_HIT)
        return EW_CT_EXISTS;
    return ew_ct_insert_held(ct, k, &h, flags, 40, &tmo, EW_CT_FL_OFF, c);
}

static void test_track_hold(void) {
    struct ew_ct *ct = ew_ct_create(64, 0, 3);
    struct ew_ct_key k = key4(1, EW_PROTO_TCP, 0x0a000001u, 0x0a000002u, 1000, 80);
    struct ew_ct_key r = reversed(k);
    struct ew_ct_hold h;
    /* A miss holds the bucket: release frees it (the next call would spin forever if not). */
    CHECK_EQ(ew_ct_track_hold(ct, &k, ew_ct_hash(ct, &k), EW_TCP_SYN, 40, &tmo, 0, EW_CT_FL_OFF,
                              NULL, &h),
             EW_CT_MISS, "no entry yet");
    ew_ct_release(ct, &h);
    CHECK_EQ(ew_ct_zone_count(ct, 1), 0, "a released miss holds nothing");
    CHECK_EQ(open_with(ct, NULL, &k, EW_TCP_SYN, 0), EW_CT_INSERTED, "SYN opens");
    CHECK_EQ(only_entry(ct, 0).state, EW_CT_TCP_SYN_SENT, "SYN_SENT");
    CHECK_EQ(open_with(ct, NULL, &r, EW_TCP_SYN | EW_TCP_ACK, 1), EW_CT_EXISTS,
             "the SYN-ACK is a hit (reply direction)");
    CHECK_EQ(only_entry(ct, 1).state, EW_CT_TCP_SYN_RECV, "hit advanced the state");
    CHECK_EQ(ew_ct_track(ct, &k, EW_TCP_RST, 40, &tmo, 2), EW_CT_HIT, "RST closes");
    /* A closed entry: the SYN misses and the held insert takes the entry over (count unchanged). */
    CHECK_EQ(open_with(ct, NULL, &k, EW_TCP_SYN, 3), EW_CT_INSERTED, "new SYN reuses the key");
    struct ew_ct_dump_entry e = only_entry(ct, 3);
    CHECK_EQ(e.state, EW_CT_TCP_SYN_SENT, "reinitialised");
    CHECK_EQ(e.packets_orig, 1, "counters restarted");
    CHECK_EQ(ew_ct_zone_count(ct, 1), 1, "still one entry in the zone");
    /* Expired entries met by a held lookup are unlinked (into the cache when given). */
    struct ew_ct_cache *c = ew_ct_cache_create();
    CHECK_EQ(ew_ct_track_hold(ct, &k, ew_ct_hash(ct, &k), EW_TCP_ACK, 40, &tmo, 1000 * S,
                              EW_CT_FL_OFF, c, &h),
             EW_CT_MISS, "expired: miss");
    ew_ct_release(ct, &h);
    CHECK_EQ(ew_ct_zone_count(ct, 1), 0, "the expired entry was freed");
    CHECK_EQ(ew_ct_cache_count(c), 1, "into the worker's cache");
    ew_ct_cache_destroy(ct, c);
    ew_ct_destroy(ct);
}

/* Allowances stay exact with caches; table-full keeps the documented bound
 * (conntrack.h) and flushing a cache returns every entry it held. */
static void test_caches(void) {
    enum { CAP = 65536 }; /* cache_batch 64 */
    struct ew_ct *ct = ew_ct_create(CAP, 100, 11);
    struct ew_ct_cache *a = ew_ct_cache_create(), *b = ew_ct_cache_create();
    CHECK(a && b, "caches created");
    for (uint16_t i = 0; i < 100; i++) {
        struct ew_ct_key k = key4(1, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, (uint16_t)(1 + i), 53);
        CHECK_EQ(open_with(ct, i % 2 ? a : b, &k, 0, 0), EW_CT_INSERTED, "within the allowance");
    }
    struct ew_ct_key over = key4(1, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, 999, 53);
    CHECK_EQ(open_with(ct, a, &over, 0, 0), EW_CT_ALLOWANCE, "exactly at the allowance");
    CHECK_EQ(ew_ct_zone_count(ct, 1), 100, "the zone holds its allowance");
    CHECK_EQ(ew_ct_zone_exceeded(ct, 1), 1, "one refusal counted");
    CHECK(ew_ct_cache_count(a) > 0 && ew_ct_cache_count(a) <= 128, "a holds a batch (%u)",
          ew_ct_cache_count(a));
    ew_ct_destroy(ct);
    ew_ct_cache_destroy(NULL, a); /* no table left: just freed */
    ew_ct_cache_destroy(NULL, b);

    /* Table full: b fills the table while a holds its stock. */
    ct = ew_ct_create(CAP, 0, 12);
    a = ew_ct_cache_create();
    b = ew_ct_cache_create();
    struct ew_ct_key ka = key4(2, 47, 0x0b000001u, 0x0a000002u, 0, 0);
    CHECK_EQ(open_with(ct, a, &ka, 0, 0), EW_CT_INSERTED, "a opens one");
    uint32_t stocked = ew_ct_cache_count(a), n = 0;
    CHECK_EQ(stocked, 63, "a took a batch of 64 and used one");
    for (uint32_t i = 0; i < CAP; i++) {
        struct ew_ct_key k = key4(3, 47, 0x0c000000u + i, 0x0a000002u, 0, 0);
        if (open_with(ct, b, &k, 0, 0) != EW_CT_INSERTED) break;
        n++;
    }
    CHECK(n == CAP - 1 - stocked, "b got every entry but a's stock (%u)", n);
    CHECK(CAP - 1 - n <= 2 * 64, "within the bound of 2 batches per other cache");
    struct ew_ct_key kb = key4(3, 47, 0x0d000000u, 0x0a000002u, 0, 0);
    CHECK_EQ(open_with(ct, b, &kb, 0, 0), EW_CT_FULL, "full for b");
    CHECK_EQ(ew_ct_zone_count(ct, 3), n, "a refused insert holds nothing");
    ew_ct_cache_flush(ct, a);
    CHECK_EQ(ew_ct_cache_count(a), 0, "flush empties a");
    uint32_t more = 0;
    for (uint32_t i = 0; i < 200; i++) {
        struct ew_ct_key k = key4(4, 47, 0x0e000000u + i, 0x0a000002u, 0, 0);
        if (open_with(ct, NULL, &k, 0, 0) != EW_CT_INSERTED) break;
        more++;
    }
    CHECK_EQ(more, stocked, "a's flushed stock is back in the pool, no more, no less");
    /* Expiry frees through b's cache; the sweep and destroy give everything back. */
    ew_ct_sweep(ct, 700 * S, CAP);
    CHECK_EQ(ew_ct_zone_count(ct, 3), 0, "swept");
    ew_ct_cache_destroy(ct, a);
    ew_ct_cache_destroy(ct, b);
    uint32_t all = 0;
    for (uint32_t i = 0; i < CAP + 1; i++) {
        struct ew_ct_key k = key4(5, 47, 0x0f000000u + i, 0x0a000002u, 0, 0);
        if (ew_ct_insert(ct, &k, 0, 40, &tmo, 700 * S) != EW_CT_INSERTED) break;
        all++;
    }
    CHECK_EQ(all, CAP, "after sweep and cache destroy the whole table is free again");
    ew_ct_destroy(ct);
}

/* Two workers with their own caches and a sweeper: no lost or doubled
 * entries (TSan: no race on the pool or the caches). */
struct hammer_c {
    struct ew_ct *ct;
    struct ew_ct_cache *cache;
    uint16_t zone;
    uint64_t seed;
};

static void *hammer_cached(void *arg) {
    struct hammer_c *h = arg;
    uint64_t x = h->seed;
    for (uint32_t i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct ew_ct_key k =
            key4(h->zone, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, (uint16_t)(x % 3000), 53);
        uint64_t now = i / 100 * S;
        (void)open_with(h->ct, h->cache, &k, 0, now);
        if (h->zone == 1 && i % 1000 == 0) ew_ct_sweep(h->ct, now, 512);
    }
    return NULL;
}

static void test_concurrency_caches(void) {
    enum { CAP = 8192 };
    struct ew_ct *ct = ew_ct_create(CAP, 3000, 78);
    struct hammer_c hs[2] = {{ct, ew_ct_cache_create(), 1, 0x1234567},
                             {ct, ew_ct_cache_create(), 2, 0x7654321}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer_cached, &hs[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    struct ew_ct_dump_entry page[64];
    uint64_t cursor = 0, dumped = 0;
    do
        dumped += ew_ct_dump(ct, &cursor, page, 64, 0);
    while (cursor);
    uint32_t held = ew_ct_zone_count(ct, 1) + ew_ct_zone_count(ct, 2);
    CHECK(held > 0 && dumped == held, "cached: zone counts %u match the entries found %lu", held,
          (unsigned long)dumped);
    for (int i = 0; i < 2; i++)
        ew_ct_cache_destroy(ct, hs[i].cache);
    uint32_t room = 0;
    for (uint32_t i = 0; i < CAP; i++) {
        struct ew_ct_key k = key4(9, 47, 0x0f000000u + i, 0x0a000002u, 0, 0);
        if (ew_ct_insert(ct, &k, 0, 40, &tmo, 0) != EW_CT_INSERTED) break;
        room++;
    }
    CHECK(room + held == CAP, "every entry is either live or free (%u free)", room);
    ew_ct_destroy(ct);
}

/* ew_ct_create_shared: a region left by an earlier table is adopted (its salt
 * with it, connections hit), a corrupt or incompatible one discarded. */
static void test_shared_region(void) {
    char path[64], warn[256];
    snprintf(path, sizeof path, "/dev/shm/ewct-test-%d.ct", (int)getpid());
    unlink(path);
    long adopted = 99;
    struct ew_ct *ct = ew_ct_create_shared(1024, 0, 7, path, &adopted, warn, sizeof warn);
    CHECK(ct && adopted == 0, "a new region starts empty (%ld)", adopted);
    uint64_t now = 1000 * S;
    for (uint32_t i = 0; i < 100; i++) {
        struct ew_ct_key k =
            key4(2, EW_PROTO_UDP, 0x0a000001u, 0x0a000002u, (uint16_t)(1000 + i), 53);
        CHECK(ew_ct_insert(ct, &k, 0, 60, &tmo, now) == EW_CT_INSERTED, "insert %u", i);
    }
    ew_ct_destroy(ct);

    ct = ew_ct_create_shared(1024, 0, 8, path, &adopted, warn, sizeof warn);
    CHECK(ct && adopted == 100, "100 connections adopted (%ld: %s)", adopted, warn);
    CHECK_EQ(ew_ct_zone_count(ct, 2), 100u, "zone count rebuilt");
    struct ew_ct_key k = key4(2, EW_PROTO_UDP, 0x0a000002u, 0x0a000001u, 53, 1050);
    CHECK_EQ(ew_ct_track(ct, &k, 0, 60, &tmo, now + S), EW_CT_HIT, "a reply hits the old entry");
    struct ew_ct_key fresh = key4(2, EW_PROTO_UDP, 0x0a000001u, 0x0a000003u, 9, 53);
    CHECK_EQ(ew_ct_insert(ct, &fresh, 0, 60, &tmo, now), EW_CT_INSERTED, "new entries still fit");
    ew_ct_destroy(ct);

    /* Corrupt every bucket head: the walk refuses it, nothing is trusted. */
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    uint8_t junk[4096];
    memset(junk, 0xfe, sizeof junk);
    CHECK(pwrite(fd, junk, sizeof junk, st.st_size - (off_t)sizeof junk) == (ssize_t)sizeof junk,
          "corrupt the buckets");
    close(fd);
    ct = ew_ct_create_shared(1024, 0, 9, path, &adopted, warn, sizeof warn);
    CHECK(ct && adopted == -1 && strstr(warn, "out of range"), "corrupt region discarded: %s",
          warn);
    CHECK_EQ(ew_ct_zone_count(ct, 2), 0u, "nothing adopted");
    ew_ct_destroy(ct);

    /* Another capacity: incompatible, discarded. */
    ct = ew_ct_create_shared(2048, 0, 9, path, &adopted, warn, sizeof warn);
    CHECK(ct && adopted == -1, "another layout is discarded: %s", warn);
    ew_ct_destroy(ct);
    unlink(path);
}

int main(void) {
    test_symmetric_hash();
    test_hash_spreads_ports();
    test_concurrency();
    test_concurrency_caches();
    test_track_hold();
    test_caches();
    test_tcp();
    test_udp();
    test_icmp_and_other();
    test_allowance_and_full();
    test_sweep();
    test_sweep_dense();
    test_flush_and_dump();
    test_shared_region();
    test_memory();
    return harness_report("test_conntrack");
}
