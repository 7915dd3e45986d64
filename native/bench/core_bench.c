/*
 * core_bench — the per-packet cost of the C core alone: no Node, no TAP, no
 * system calls. Frames built in memory go through ew_process() in bursts of
 * 32 against a table the real compiler wrote (bench/core/tables.ts) and a
 * conntrack populated first, as `make bench` populates it over TAPs.
 *
 *   core_bench --table F.table --params F.params [--packets N] [--runs R] [--api
 * burst|frame]
 *
 *   core_bench ... --workers W   (W threads, one per CPU, on one conntrack)
 *   core_bench ... --hits        (rule hit records on, as the daemon runs: eniwall/hits.h)
 *   core_bench ... --sweep B     (est only: time full conntrack sweep passes in
 *                                 slices of B buckets, the engine's sweepBudget,
 *                                 instead of frames; nothing expires)
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
 * --workers W: W threads share the core (conntrack, zones, pool) and the table
 * as the engine's workers do, each with its own counters, flow-sample table
 * and entry cache, each pinned to CPU w % ncpus and sending its own slice of
 * the flows (as RSS would split them over W queues). They start together; a
 * run's figure is the wall time over every worker's frames, so pps_per_worker
 * against the W=1 run is the scaling (1.0 = linear). The same command measures
 * a many-core machine unchanged. Not under callgrind (W = 1 there).
 *
 * Output: one JSON line per run set on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eniwall/core.h"
#include "eniwall/hits.h"
#include "flowlog.h"
#include "frames.h"

#define BURST       32
#define FRAME_CAP   256
#define UDP_PAYLOAD 18 /* 14 + 20 + 8 + 18 = 60 bytes: a minimum Ethernet frame */
#define SPORTS      50000u
#define SPORT_BASE  10000u
#define MAX_RUNS    15
#define MAX_WORKERS 64

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
    uint8_t (*burst)[FRAME_CAP]; /* [BURST]: where the "read" lands each frame */
    uint32_t sweep_budget;       /* --sweep: measure() runs one full sweep pass */
};

/* One full pass of the housekeeping sweep, in the engine's slices. */
static void sweep_pass(struct run_ctx *c) {
    uint32_t buckets = ew_core_ct_buckets(c->w.core);
    for (uint32_t done = 0; done < buckets; done += c->sweep_budget)
        ew_core_sweep(c->w.core, c->w.now_ms, c->sweep_budget);
}

/* Copies each frame into the burst buffer (as a read from the port would land
 * it), then processes the burst. Frames are rewritten in place (routed: MACs
 * and TTL), hence the copy from a pristine template every time. */
static void process_range(struct run_ctx *c, const struct frames *fs, uint32_t in_port,
                          uint64_t first, uint64_t count) {
    uint8_t(*burst)[FRAME_CAP] = c->burst;
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
    if (c->sweep_budget)
        sweep_pass(c);
    else
        process_range(c, fs, in_port, first, count);
}

/* One worker thread of a --workers run: waits for the start, sends its slice. */
struct worker_job {
    pthread_t thread;
    struct run_ctx *c;
    struct frames slice; /* a view into the frames: this worker's flows */
    uint32_t in_port, cpu;
    uint64_t first, count;
    pthread_barrier_t *start;
};

static void *worker_run(void *arg) {
    struct worker_job *j = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j->cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    pthread_barrier_wait(j->start);
    process_range(j->c, &j->slice, j->in_port, j->first, j->count);
    return NULL;
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
    uint32_t workers = 1;
    bool hits = false;
    uint32_t sweep_budget = 0;
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
        else if (strcmp(argv[i], "--hits") == 0)
            hits = true;
        else if (strcmp(argv[i], "--sweep") == 0 && i + 1 < argc)
            sweep_budget = (uint32_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            workers = (uint32_t)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: core_bench --table F.table --params F.params [--packets N] "
                            "[--runs R] [--api burst|frame] [--workers W] [--hits] [--sweep B]\n");
            return 2;
        }
    }
    if (!table_path || !params_path || runs < 1 || runs > MAX_RUNS || workers < 1 ||
        workers > MAX_WORKERS)
        die("bad arguments");
    if (strcmp(api, "burst") != 0 && strcmp(api, "frame") != 0) die("--api burst|frame");
    struct params p;
    read_params(params_path, &p);
    bool fresh = strcmp(p.mode, "new") == 0;
    if (sweep_budget && (fresh || workers != 1)) die("--sweep: est scenarios, one worker");
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
    /* A worker entry cache, counters and flow-sample table per worker, as each
     * engine worker has; worker 0 primes. */
    struct run_ctx *ctx = calloc(workers, sizeof *ctx);
    if (!ctx) die("out of memory");
    for (uint32_t w = 0; w < workers; w++) {
        ctx[w] = (struct run_ctx){
            .w = {.core = core,
                  .counters = w == 0 ? counters : calloc(EW_MAX_PORTS, sizeof *counters),
                  .now_ms = 1000,
                  .fl = w == 0 ? fl : ew_fl_create(16384),
                  .ct_cache = ew_core_cache_create(core)},
            .t = t,
            .p = &p,
            .burst_api = strcmp(api, "burst") == 0,
            .burst = malloc(sizeof(uint8_t[BURST][FRAME_CAP]))};
        if (!ctx[w].w.counters || !ctx[w].w.fl || !ctx[w].burst) die("out of memory");
        /* The daemon's ring size; drained after each run as its 1 s drain would. */
        if (hits && !(ctx[w].w.hits = ew_hit_ring_create(65536))) die("out of memory (hits)");
    }
    struct run_ctx *c = &ctx[0];
    if (!fresh) {
        frames_alloc(&rev, p.flows);
        for (uint32_t i = 0; i < p.flows; i++)
            rev.len[i] = build_frame(&p, 1, i, rev.data + (size_t)i * FRAME_CAP);
        process_range(c, &fwd, p.port[0], 0, p.flows);
        process_range(c, &rev, p.port[1], 0, p.flows);
        if (c->other != 0) die("priming: some frames were not forwarded (wrong table/params?)");
        free(rev.data);
        free(rev.len);
    }
    /* Each worker's slice of the flows and its share of the packets. */
    struct worker_job jobs[MAX_WORKERS];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t total = 0;
    for (uint32_t w = 0; w < workers; w++) {
        uint32_t lo = (uint32_t)((uint64_t)p.flows * w / workers);
        uint32_t hi = (uint32_t)((uint64_t)p.flows * (w + 1) / workers);
        if (hi == lo) die("more workers than flows");
        uint64_t count = packets / workers;
        if (fresh && count * (uint64_t)runs > hi - lo) count = (hi - lo) / (uint64_t)runs;
        jobs[w] = (struct worker_job){
            .c = &ctx[w],
            .slice = {.data = fwd.data + (size_t)lo * FRAME_CAP, .len = fwd.len + lo, .n = hi - lo},
            .in_port = p.port[0],
            .cpu = (uint32_t)(w % (uint32_t)(ncpu > 0 ? ncpu : 1)),
            .count = count};
        total += count;
    }
    if (sweep_budget) {
        c->sweep_budget = sweep_budget;
        uint32_t entries = ew_core_ct_count(core, p.port[0]) + ew_core_ct_count(core, p.port[1]);
        uint32_t buckets = ew_core_ct_buckets(core);
        double pass_ns[MAX_RUNS];
        for (int r = 0; r < runs; r++) {
            uint64_t t0 = now_ns();
            measure(c, &fwd, p.port[0], 0, 0);
            pass_ns[r] = (double)(now_ns() - t0);
        }
        if (ew_core_ct_count(core, p.port[0]) + ew_core_ct_count(core, p.port[1]) != entries)
            die("--sweep: the sweep freed live entries");
        qsort(pass_ns, (size_t)runs, sizeof pass_ns[0], cmp_double);
        double med = pass_ns[runs / 2];
        uint32_t slices = (buckets + sweep_budget - 1) / sweep_budget;
        printf("{\"scenario\":\"%s\",\"mode\":\"sweep\",\"flows\":%u,\"entries\":%u,"
               "\"buckets\":%u,\"sweep_budget\":%u,\"runs\":%d,\"ns_per_entry\":%.2f,"
               "\"ns_min\":%.2f,\"ns_max\":%.2f,\"ns_per_slice\":%.0f}\n",
               p.scenario, p.flows, entries, buckets, sweep_budget, runs, med / entries,
               pass_ns[0] / entries, pass_ns[runs - 1] / entries, med / slices);
        runs = 0; /* no frame runs; the common teardown below */
    }
    double ns[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        for (uint32_t w = 0; w < workers; w++)
            ctx[w].forwarded = ctx[w].other = 0;
        uint64_t t0, t1;
        if (workers == 1) {
            t0 = now_ns();
            measure(c, &jobs[0].slice, p.port[0], jobs[0].first, jobs[0].count);
            t1 = now_ns();
        } else {
            pthread_barrier_t start;
            pthread_barrier_init(&start, NULL, workers + 1);
            for (uint32_t w = 0; w < workers; w++) {
                jobs[w].start = &start;
                if (pthread_create(&jobs[w].thread, NULL, worker_run, &jobs[w]) != 0)
                    die("pthread_create");
            }
            pthread_barrier_wait(&start);
            t0 = now_ns();
            for (uint32_t w = 0; w < workers; w++)
                pthread_join(jobs[w].thread, NULL);
            t1 = now_ns();
            pthread_barrier_destroy(&start);
        }
        for (uint32_t w = 0; w < workers; w++) {
            if (ctx[w].other != 0 || ctx[w].forwarded != jobs[w].count) {
                fprintf(stderr, "core_bench: run %d worker %u: %llu of %llu frames not forwarded\n",
                        r, w, (unsigned long long)ctx[w].other, (unsigned long long)jobs[w].count);
                return 1;
            }
            /* new: the next run takes flows never seen; est: the same flows again. */
            if (fresh) jobs[w].first += jobs[w].count;
            /* Flow-sample tables fill up; a real worker hands them over between drains. */
            ew_fl_destroy(ctx[w].w.fl);
            ctx[w].w.fl = ew_fl_create(16384);
            if (ctx[w].w.hits) {
                static struct ew_hit_rec sink[4096];
                while (ew_hit_drain(ctx[w].w.hits, sink, 4096, NULL) > 0) {
                }
            }
            if (!ctx[w].w.fl) die("out of memory");
        }
        ns[r] = (double)(t1 - t0) / (double)total;
    }
    if (runs > 0) {
        qsort(ns, (size_t)runs, sizeof ns[0], cmp_double);
        /* ns_per_packet: wall time over every worker's frames (W = 1: one
         * worker's cost); pps_per_worker: what each worker delivered. */
        double med = ns[runs / 2];
        printf("{\"scenario\":\"%s\",\"api\":\"%s\",\"mode\":\"%s\",\"flows\":%u,\"packets\":%llu,"
               "\"runs\":%d,\"workers\":%u,"
               "\"ns_per_packet\":%.2f,\"ns_min\":%.2f,\"ns_max\":%.2f,\"pps\":%.0f,"
               "\"pps_per_worker\":%.0f,\"ct_entries_a\":%u}\n",
               p.scenario, api, p.mode, p.flows, (unsigned long long)total, runs, workers, med,
               ns[0], ns[runs - 1], 1e9 / med, 1e9 / med / workers,
               ew_core_ct_count(core, p.port[0]));
    }
    for (uint32_t w = 0; w < workers; w++) {
        ew_fl_destroy(ctx[w].w.fl);
        if (w > 0) free(ctx[w].w.counters);
        free(ctx[w].burst);
        ew_hit_ring_destroy(ctx[w].w.hits);
        ew_core_cache_destroy(core, ctx[w].w.ct_cache);
    }
    free(ctx);
    free(fwd.data);
    free(fwd.len);
    free(counters);
    ew_core_destroy(core);
    ew_table_free(t);
    return 0;
}
