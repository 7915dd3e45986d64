/*
 * core_bench — the per-packet cost of the C core alone: no Node, no TAP, no
 * system calls. Frames built in memory go through ew_process() in bursts of
 * 32 against a table the real compiler wrote (bench/core/tables.ts) and a
 * conntrack populated first, as `make bench` populates it over TAPs.
 *
 *   core_bench --table F.table --params F.params [--packets N] [--runs R] [--api
 * burst|frame]
 *
 * --api: ew_process_burst() over each burst of 32 (the default; what both
 * I/O engines call, through ew_worker_judge_burst) or frame (ew_process()
 * alone, no prefetch: the A/B that shows what the burst path buys).
 *
 * Modes (params `mode`):
 *   est  `flows` UDP flows A -> B are primed (A -> B, then B -> A, so each is
 *        a tracked stream), then A -> B frames cycle over every flow in order.
 *   new  every measured frame is the first of a new UDP flow: a conntrack
 *        insert in A's egress zone and one in B's ingress zone.
 *
 * The measured loop is the function measure(): run under
 *   valgrind --tool=callgrind --toggle-collect=measure core_bench ...
 * only its instructions are counted, so instructions per packet repeat
 * exactly from run to run (same table bytes, fixed hash salt, same frames),
 * whatever else the machine does. Natively it prints nanoseconds per packet
 * (the median of --runs). Every measured frame must be forwarded: a harness
 * that timed drops would measure the wrong path, so any other verdict fails.
 *
 * Output: one JSON line per run set on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eniwall/core.h"
#include "flowlog.h"
#include "frames.h"

#define BURST       32
#define FRAME_CAP   256
#define UDP_PAYLOAD 18 /* 14 + 20 + 8 + 18 = 60 bytes: a minimum Ethernet frame */
#define SPORTS      50000u
#define SPORT_BASE  10000u
#define MAX_RUNS    15

struct params {
    char scenario[64];
    char mode[8];
    uint32_t flows, family, dport_lo, cross;
    uint32_t port[2];
    uint8_t mac[2][6], router_mac[2][6];
    char ip4[2][64], ip6[2][64];
};

static void die(const char *what) {
    fprintf(stderr, "core_bench: %s\n", what);
    exit(1);
}

static void parse_mac(const char *s, uint8_t out[6]) {
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        die("bad MAC in params");
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)v[i];
}

static uint32_t parse_u32(const char *s) {
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v > UINT32_MAX) die("bad number in params");
    return (uint32_t)v;
}

static void read_params(const char *path, struct params *p) {
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open params");
    char line[256];
    memset(p, 0, sizeof *p);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        int side = (k[0] == 'a' && k[1] == '_') ? 0 : (k[0] == 'b' && k[1] == '_') ? 1 : -1;
        if (strcmp(k, "scenario") == 0)
            snprintf(p->scenario, sizeof p->scenario, "%s", v);
        else if (strcmp(k, "mode") == 0)
            snprintf(p->mode, sizeof p->mode, "%s", v);
        else if (strcmp(k, "flows") == 0)
            p->flows = parse_u32(v);
        else if (strcmp(k, "family") == 0)
            p->family = parse_u32(v);
        else if (strcmp(k, "dport_lo") == 0)
            p->dport_lo = parse_u32(v);
        else if (strcmp(k, "cross") == 0)
            p->cross = parse_u32(v);
        else if (side >= 0 && strcmp(k + 2, "port") == 0)
            p->port[side] = parse_u32(v);
        else if (side >= 0 && strcmp(k + 2, "mac") == 0)
            parse_mac(v, p->mac[side]);
        else if (side >= 0 && strcmp(k + 2, "router_mac") == 0)
            parse_mac(v, p->router_mac[side]);
        else if (side >= 0 && strcmp(k + 2, "ip4") == 0)
            snprintf(p->ip4[side], 64, "%s", v);
        else if (side >= 0 && strcmp(k + 2, "ip6") == 0)
            snprintf(p->ip6[side], 64, "%s", v);
    }
    fclose(f);
    if (p->flows == 0 || (p->family != 4 && p->family != 6)) die("params: flows/family missing");
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open table");
    if (fseek(f, 0, SEEK_END) != 0) die("seek");
    long n = ftell(f);
    if (n <= 0) die("empty table");
    rewind(f);
    void *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die("read table");
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* One UDP frame from side `from` to the other, flow i (its source and destination ports). */
static uint32_t build_frame(const struct params *p, int from, uint32_t i, uint8_t *f) {
    int to = 1 - from;
    /* Routed: to the sender's subnet router; switched: to the peer. */
    struct fr_l2 l2 = fr_macs(p->mac[from], p->cross ? p->router_mac[from] : p->mac[to]);
    uint16_t a_port = (uint16_t)(SPORT_BASE + i % SPORTS);
    uint16_t b_port = (uint16_t)(p->dport_lo + i / SPORTS);
    uint16_t sport = from == 0 ? a_port : b_port, dport = from == 0 ? b_port : a_port;
    if (p->family == 4) return fr_udp4(f, l2, p->ip4[from], p->ip4[to], sport, dport, UDP_PAYLOAD);
    return fr_udp6(f, l2, p->ip6[from], p->ip6[to], sport, dport, UDP_PAYLOAD);
}

struct frames {
    uint8_t *data; /* n * FRAME_CAP */
    uint32_t *len;
    uint32_t n;
};

static void frames_alloc(struct frames *fs, uint32_t n) {
    fs->data = malloc((size_t)n * FRAME_CAP);
    fs->len = malloc((size_t)n * sizeof *fs->len);
    fs->n = n;
    if (!fs->data || !fs->len) die("out of memory (frames)");
}

struct run_ctx {
    bool burst_api; /* ew_process_burst (default) */
    struct ew_worker_ctx w;
    const struct ew_table_view *t;
    const struct params *p;
    uint64_t forwarded, other;
};

/* Copies each frame into the burst buffer (as a read from the port would land
 * it), then processes the burst. Frames are rewritten in place (routed: MACs
 * and TTL), hence the copy from a pristine template every time. */
static void process_range(struct run_ctx *c, const struct frames *fs, uint32_t in_port,
                          uint64_t first, uint64_t count) {
    static uint8_t burst[BURST][FRAME_CAP];
    uint8_t *ptrs[BURST];
    for (uint32_t k = 0; k < BURST; k++)
        ptrs[k] = burst[k];
    uint32_t len[BURST];
    for (uint64_t done = 0; done < count;) {
        uint32_t n = count - done < BURST ? (uint32_t)(count - done) : BURST;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t idx = (uint32_t)((first + done + k) % fs->n);
            len[k] = fs->len[idx];
            memcpy(burst[k], fs->data + (size_t)idx * FRAME_CAP, len[k]);
        }
        struct ew_verdict vs[BURST];
        if (c->burst_api) {
            uint32_t in_ports[BURST];
            for (uint32_t k = 0; k < n; k++)
                in_ports[k] = in_port;
            ew_process_burst(&c->w, c->t, in_ports, ptrs, len, FRAME_CAP, n, vs);
        } else {
            for (uint32_t k = 0; k < n; k++)
                ew_process(&c->w, c->t, in_port, burst[k], &len[k], FRAME_CAP, &vs[k]);
        }
        for (uint32_t k = 0; k < n; k++) {
            if (vs[k].action == EW_ACT_FORWARD)
                c->forwarded++;
            else
                c->other++;
        }
        done += n;
    }
}

/* The measured part: callgrind's --toggle-collect names this function. */
__attribute__((noinline)) void measure(struct run_ctx *c, const struct frames *fs, uint32_t in_port,
                                       uint64_t first, uint64_t count);
__attribute__((noinline)) void measure(struct run_ctx *c, const struct frames *fs, uint32_t in_port,
                                       uint64_t first, uint64_t count) {
    process_range(c, fs, in_port, first, count);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *table_path = NULL, *params_path = NULL;
    uint64_t packets = 0;
    int runs = 5;
    const char *api = "burst";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
            table_path = argv[++i];
        else if (strcmp(argv[i], "--params") == 0 && i + 1 < argc)
            params_path = argv[++i];
        else if (strcmp(argv[i], "--packets") == 0 && i + 1 < argc)
            packets = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--api") == 0 && i + 1 < argc)
            api = argv[++i];
        else {
            fprintf(stderr, "usage: core_bench --table F.table --params F.params [--packets N] "
                            "[--runs R] [--api burst|frame]\n");
            return 2;
        }
    }
    if (!table_path || !params_path || runs < 1 || runs > MAX_RUNS) die("bad arguments");
    if (strcmp(api, "burst") != 0 && strcmp(api, "frame") != 0) die("--api burst|frame");
    struct params p;
    read_params(params_path, &p);
    bool fresh = strcmp(p.mode, "new") == 0;
    /* est: every flow at least twice per run; new: as many new flows as asked. */
    if (packets == 0)
        packets = fresh ? p.flows : (p.flows * 2u > 2000000u ? p.flows * 2u : 2000000u);
    if (fresh && packets * (uint64_t)runs > p.flows) packets = p.flows / (uint64_t)runs;

    char err[256];
    size_t tlen;
    void *tbuf = read_file(table_path, &tlen);
    struct ew_table_view *t = ew_table_load(tbuf, tlen, err, sizeof err);
    if (!t) die(err);
    free(tbuf);
    /* Two entries per flow (A's egress zone, B's ingress zone), with slack. */
    uint32_t ct_max = p.flows * 2u + 65536u;
    struct ew_core_config cfg = {
        .conntrack_max = ct_max, .allowance_per_eni = ct_max, .hash_salt = 0x9e3779b97f4a7c15ull};
    struct ew_core *core = ew_core_create(&cfg, err, sizeof err);
    if (!core) die(err);
    struct ew_port_counters *counters = calloc(EW_MAX_PORTS, sizeof *counters);
    struct ew_fl_table *fl = ew_fl_create(16384);
    if (!counters || !fl) die("out of memory");

    struct frames fwd, rev;
    frames_alloc(&fwd, p.flows);
    for (uint32_t i = 0; i < p.flows; i++)
        fwd.len[i] = build_frame(&p, 0, i, fwd.data + (size_t)i * FRAME_CAP);

    /* A worker entry cache, as each engine worker has. */
    struct run_ctx c = {.w = {.core = core,
                              .counters = counters,
                              .now_ms = 1000,
                              .fl = fl,
                              .ct_cache = ew_core_cache_create(core)},
                        .t = t,
                        .p = &p,
                        .burst_api = strcmp(api, "burst") == 0};
    if (!fresh) {
        frames_alloc(&rev, p.flows);
        for (uint32_t i = 0; i < p.flows; i++)
            rev.len[i] = build_frame(&p, 1, i, rev.data + (size_t)i * FRAME_CAP);
        process_range(&c, &fwd, p.port[0], 0, p.flows);
        process_range(&c, &rev, p.port[1], 0, p.flows);
        if (c.other != 0) die("priming: some frames were not forwarded (wrong table/params?)");
        free(rev.data);
        free(rev.len);
    }
    double ns[MAX_RUNS];
    uint64_t first = 0;
    for (int r = 0; r < runs; r++) {
        c.forwarded = c.other = 0;
        uint64_t t0 = now_ns();
        measure(&c, &fwd, p.port[0], first, packets);
        uint64_t t1 = now_ns();
        if (c.other != 0 || c.forwarded != packets) {
            fprintf(stderr, "core_bench: run %d: %llu of %llu frames not forwarded\n", r,
                    (unsigned long long)c.other, (unsigned long long)packets);
            return 1;
        }
        ns[r] = (double)(t1 - t0) / (double)packets;
        /* new: the next run takes flows never seen; est: the same flows again. */
        if (fresh) first += packets;
        /* Flow-sample tables fill up; a real worker hands them over between drains. */
        ew_fl_destroy(fl);
        fl = ew_fl_create(16384);
        if (!fl) die("out of memory");
        c.w.fl = fl;
    }
    qsort(ns, (size_t)runs, sizeof ns[0], cmp_double);
    printf("{\"scenario\":\"%s\",\"api\":\"%s\",\"mode\":\"%s\",\"flows\":%u,\"packets\":%llu,"
           "\"runs\":%d,"
           "\"ns_per_packet\":%.2f,\"ns_min\":%.2f,\"ns_max\":%.2f,\"ct_entries_a\":%u}\n",
           p.scenario, api, p.mode, p.flows, (unsigned long long)packets, runs, ns[runs / 2], ns[0],
           ns[runs - 1], ew_core_ct_count(core, p.port[0]));
    ew_fl_destroy(fl);
    free(fwd.data);
    free(fwd.len);
    free(counters);
    ew_core_cache_destroy(core, c.w.ct_cache);
    ew_core_destroy(core);
    ew_table_free(t);
    return 0;
}
