/*
 * The engine under real traffic, no Node: workers on real TAPs while the
 * control thread swaps tables, closes and reopens a port, and moves the clock
 * so conntrack sweeps run on one worker while the other looks flows up. Built
 * plain, under ASan + UBSan and under TSan (native/Makefile).
 *
 * The harness unshares into a fresh network namespace of its own first: the
 * TAPs' kernel sides live there, nothing else does, and the kernel removes it
 * (and the TAPs) when the process exits, whichever way it exits. Frames enter
 * through AF_PACKET sockets on the kernel side of a TAP (the kernel hands them
 * to the engine's queue fds) and leave through the kernel side of the
 * destination TAP, where a receiver counts them.
 *
 * ENIs (one subnet): A (port of "ewa"), B ("ewb"), D ("ewd", closed and
 * reopened) and E ("ewe", closed once, while the table still binds it). A
 * sends to B (allowed, allowed only by the second table, always refused), to
 * D and E (allowed) and ARP requests for the router; B sends to A. D's and
 * E's kernel sides send nothing.
 *
 * What must add up, at every quiescent point:
 *   frames sent (sendto succeeded)          == RX summed over ports
 *   RX summed over ports                    == TX + every drop, summed over ports
 *   TX of A and B                           == frames their receivers got + socket drops
 *   ARP requests sent                       == ARP replies counted
 * Documented losses: none in this traffic. (io_uring discards a frame read on
 * a port while that port closes; D and E never send, so it cannot happen here.)
 * D's counters restart when it is reopened: they are banked after each close,
 * when no worker touches them any more (the table unbinds D first).
 * Counter reads happen only after a table load: its epoch wait orders every
 * worker's earlier counter writes before the read (reads during traffic are
 * racy by design, engine.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "eniwall/engine.h"
#include "frames.h"
#include "harness.h"
#include "tbuild.h"

enum { ENI_A = 0, ENI_B = 1, ENI_D = 2, ENI_E = 3, NPORTS = 4 };
enum { K_AB, K_AB6000, K_AB7000, K_AD, K_AE, K_ARP, K_BA, K_KINDS };

#define NFLOWS     64 /* source ports per kind */
#define FRAME_MAX  128
#define SWAPS      40
#define CHURNS     12
#define CLOCK_HOPS 12

struct frame {
    uint8_t kind;
    uint8_t len;
    uint8_t buf[FRAME_MAX];
};

struct link {
    char ifname[EW_IFNAME_MAX];
    uint32_t port;
    int tx_sock, rx_sock;
};

struct sender {
    pthread_t thread;
    int sock;
    const struct frame *frames;
    uint32_t nframes;
    uint64_t sent[K_KINDS];
};

struct receiver {
    pthread_t thread;
    int sock;
    uint64_t got;
    uint64_t sock_drops;
};

struct totals {
    uint64_t rx, tx, drops;
    uint64_t drop[EW_DROP_COUNT];
    uint64_t cnt[EW_CNT_COUNT];
};

static _Atomic bool traffic_stop;
static _Atomic bool receivers_stop;
static _Atomic uint64_t last_delivery_ms; /* when a receiver last got a frame */

static struct frame frames_a[K_KINDS * NFLOWS], frames_b[NFLOWS];
static uint64_t gen;
static struct ew_port_counters banked_d; /* D's counters from before each reopen */
static bool d_bound = true;              /* the table binds D's ENI to its port */

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *what) {
    fprintf(stderr, "test_engine: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return; /* no IPv6 in this kernel: nothing to quiet */
    fputs(text, f);
    fclose(f);
}

/* ---- namespace, links and sockets ---- */

static void enter_private_netns(void) {
    if (unshare(CLONE_NEWNET) != 0) die("unshare(CLONE_NEWNET) (run as root)");
    /* No router solicitations, MLD or DAD from the kernel sides: every frame
     * the engine reads is one this harness sent. */
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
}

static void link_up(const char *ifname) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS");
    ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS");
    close(s);
}

static int packet_socket(const char *ifname, bool sender) {
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (s < 0) die("socket(AF_PACKET)");
    int one = 1, big = 8 << 20;
    if (sender) {
        /* Straight to the TAP driver: a full TAP queue fails the sendto
         * (ENOBUFS, retried) instead of dropping silently in a qdisc. */
        if (setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0)
            die("PACKET_QDISC_BYPASS");
    } else {
        setsockopt(s, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
        setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    }
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = sender ? 0 : htons(ETH_P_ALL); /* a sender receives nothing */
    sll.sll_ifindex = (int)if_nametoindex(ifname);
    if (sll.sll_ifindex == 0 || bind(s, (struct sockaddr *)&sll, sizeof sll) < 0)
        die("bind(AF_PACKET)");
    return s;
}

static void open_link(struct ew_engine *eng, struct link *l, const char *name, bool rx) {
    char err[256] = "";
    if (ew_engine_open_tap(eng, name, &l->port, l->ifname, err, sizeof err) != 0) {
        fprintf(stderr, "test_engine: open %s: %s\n", name, err);
        exit(1);
    }
    link_up(l->ifname);
    l->tx_sock = packet_socket(l->ifname, true);
    l->rx_sock = rx ? packet_socket(l->ifname, false) : -1;
}

static void close_link_sockets(struct link *l) {
    if (l->tx_sock >= 0) close(l->tx_sock);
    if (l->rx_sock >= 0) close(l->rx_sock);
    l->tx_sock = l->rx_sock = -1;
}

/* ---- tables and frames ---- */

/* A, B, D and E on ports 0..3 (the engine hands out the lowest free id); D
 * unbound (no port) while d_bound is false. */
static int load_table(struct ew_engine *eng, bool allow6000) {
    static struct tb b;
    tb_init(&b);
    b.generation = ++gen;
    uint32_t vpc = tb_vpc(&b, "10.0.0.0", 16, NULL, 0);
    uint32_t sn = tb_subnet(&b, vpc, "10.0.1.0", 24, NULL, 0);
    uint32_t rs = tb_ruleset(&b);
    tb_rule(&b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, rs, EW_DIR_INGRESS, 17, 5000, 5099, "10.0.0.0/16");
    if (allow6000) tb_rule(&b, rs, EW_DIR_INGRESS, 17, 6000, 6000, "10.0.0.0/16");
    /* A and B have flow logs (phase 4 drains their samples under traffic). */
    tb_eni(&b, sn, rs, 0, "10.0.1.10", NULL, EW_ENI_SRC_DST_CHECK | EW_ENI_FLOW_LOG);
    tb_eni(&b, sn, rs, 1, "10.0.1.11", NULL, EW_ENI_SRC_DST_CHECK | EW_ENI_FLOW_LOG);
    tb_eni(&b, sn, rs, d_bound ? 2 : EW_PORT_NONE, "10.0.1.12", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, sn, rs, 3, "10.0.1.13", NULL, EW_ENI_SRC_DST_CHECK);
    size_t len = 0;
    uint8_t *buf = tb_build(&b, &len);
    char err[256] = "";
    int rc = ew_engine_load_table(eng, buf, len, gen, err, sizeof err);
    if (rc != 0) fprintf(stderr, "test_engine: table %llu: %s\n", (unsigned long long)gen, err);
    free(buf);
    return rc;
}

static void build_frames(void) {
    uint8_t ma[6], mb[6], md[6], me[6];
    fr_eni_mac(ENI_A, ma);
    fr_eni_mac(ENI_B, mb);
    fr_eni_mac(ENI_D, md);
    fr_eni_mac(ENI_E, me);
    for (uint32_t i = 0; i < NFLOWS; i++) {
        uint16_t sport = (uint16_t)(20000 + i);
        uint16_t dport = (uint16_t)(5000 + i % 8);
        for (uint32_t k = 0; k < K_KINDS; k++) {
            struct frame *f = k == K_BA ? &frames_b[i] : &frames_a[k * NFLOWS + i];
            uint32_t len = 0;
            switch (k) {
            case K_AB:
                len = fr_udp4(f->buf, fr_macs(ma, mb), "10.0.1.10", "10.0.1.11", sport, dport, 18);
                break;
            case K_AB6000:
                len = fr_udp4(f->buf, fr_macs(ma, mb), "10.0.1.10", "10.0.1.11", sport, 6000, 18);
                break;
            case K_AB7000:
                len = fr_udp4(f->buf, fr_macs(ma, mb), "10.0.1.10", "10.0.1.11", sport, 7000, 18);
                break;
            case K_AD:
                len = fr_udp4(f->buf, fr_macs(ma, md), "10.0.1.10", "10.0.1.12", sport, dport, 18);
                break;
            case K_AE:
                len = fr_udp4(f->buf, fr_macs(ma, me), "10.0.1.10", "10.0.1.13", sport, dport, 18);
                break;
            case K_ARP:
                len = fr_arp(f->buf, ma, 1, "10.0.1.10", "10.0.1.1");
                break;
            case K_BA:
                len = fr_udp4(f->buf, fr_macs(mb, ma), "10.0.1.11", "10.0.1.10", sport, dport, 18);
                break;
            }
            if (len > FRAME_MAX) abort();
            f->kind = (uint8_t)k;
            f->len = (uint8_t)len;
        }
    }
}

/* ---- traffic threads ---- */

static void *sender_main(void *arg) {
    struct sender *s = arg;
    uint32_t i = 0;
    while (!atomic_load(&traffic_stop)) {
        const struct frame *f = &s->frames[i % s->nframes];
        /* Interleave kinds: frame i takes kind i % kinds, flow i / kinds. */
        if (send(s->sock, f->buf, f->len, 0) == (ssize_t)f->len) {
            s->sent[f->kind]++;
            i++;
        } else if (errno == ENOBUFS || errno == EAGAIN) {
            sleep_ms(1); /* the TAP queue is full: let the workers catch up */
        } else {
            die("send");
        }
        if (i % 64 == 0) sched_yield();
    }
    return NULL;
}

static void *receiver_main(void *arg) {
    struct receiver *r = arg;
    uint8_t buf[2048];
    for (;;) {
        bool stopping = atomic_load(&receivers_stop);
        struct pollfd p = {.fd = r->sock, .events = POLLIN};
        if (poll(&p, 1, stopping ? 0 : 20) <= 0) {
            if (stopping) break;
            continue;
        }
        while (recv(r->sock, buf, sizeof buf, MSG_DONTWAIT) > 0)
            r->got++;
        atomic_store(&last_delivery_ms, mono_ms());
    }
    struct tpacket_stats st;
    socklen_t sl = sizeof st;
    if (getsockopt(r->sock, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
        r->sock_drops += st.tp_drops;
    return NULL;
}

/* Frames of one sender in kind-interleaved order, so every kind flows all the time. */
static uint32_t interleave(const struct frame *src, uint32_t kinds, struct frame *out) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < NFLOWS; i++)
        for (uint32_t k = 0; k < kinds; k++)
            out[n++] = src[k * NFLOWS + i];
    return n;
}

/* ---- counters ---- */

static void add_counters(struct ew_port_counters *acc, const struct ew_port_counters *c) {
    for (uint32_t k = 0; k < EW_CNT_COUNT; k++)
        acc->cnt[k] += c->cnt[k];
    for (uint32_t k = 0; k < EW_DROP_COUNT; k++)
        acc->drop[k] += c->drop[k];
}

static void read_port(struct ew_engine *eng, uint32_t port, struct ew_port_counters *out) {
    ew_engine_counters(eng, port, out);
    if (port == ENI_D) add_counters(out, &banked_d);
}

static void totals_of(struct ew_engine *eng, struct totals *t) {
    memset(t, 0, sizeof *t);
    for (uint32_t p = 0; p < NPORTS; p++) {
        struct ew_port_counters c;
        read_port(eng, p, &c);
        t->rx += c.cnt[EW_CNT_RX_PACKETS];
        t->tx += c.cnt[EW_CNT_TX_PACKETS];
        for (uint32_t k = 0; k < EW_DROP_COUNT; k++) {
            t->drops += c.drop[k];
            t->drop[k] += c.drop[k];
        }
        for (uint32_t k = 0; k < EW_CNT_COUNT; k++)
            t->cnt[k] += c.cnt[k];
    }
}

/* Once the senders stopped: wait until nothing has come out of the engine
 * for a while (every queue holds frames that get forwarded, so a worker with
 * a backlog keeps delivering), then a table load orders the workers' counter
 * writes before the read. A second read must agree. */
static void quiesce(struct ew_engine *eng, bool allow6000, struct totals *t) {
    uint64_t start = mono_ms();
    while (mono_ms() - atomic_load(&last_delivery_ms) < 300 && mono_ms() - start < 20000)
        sleep_ms(20);
    CHECK_EQ(load_table(eng, allow6000), 0, "barrier table");
    totals_of(eng, t);
    sleep_ms(50);
    struct totals again;
    CHECK_EQ(load_table(eng, allow6000), 0, "barrier table");
    totals_of(eng, &again);
    CHECK(again.rx == t->rx && again.tx == t->tx && again.drops == t->drops,
          "counters still moving after 300 ms without a delivery");
}

/* ---- one run ---- */

struct run {
    struct ew_engine *eng;
    struct link a, b, d, e;
    struct sender sa, sb;
    struct receiver ra, rb;
    struct frame order_a[K_KINDS * NFLOWS];
    uint64_t sent[K_KINDS];
    uint64_t got_a, got_b, sock_drops; /* receivers' frames and socket-buffer losses */
};

static void start_traffic(struct run *r) {
    /* Orders the counter reads before it ahead of the workers' next writes:
     * every worker loads this table (an acquire) before it judges a frame. */
    CHECK_EQ(load_table(r->eng, false), 0, "table before traffic");
    atomic_store(&traffic_stop, false);
    atomic_store(&receivers_stop, false);
    memset(r->sa.sent, 0, sizeof r->sa.sent);
    memset(r->sb.sent, 0, sizeof r->sb.sent);
    r->ra = (struct receiver){.sock = r->a.rx_sock};
    r->rb = (struct receiver){.sock = r->b.rx_sock};
    r->sa.sock = r->a.tx_sock;
    r->sa.frames = r->order_a;
    r->sa.nframes = interleave(frames_a, K_BA, r->order_a);
    r->sb.sock = r->b.tx_sock;
    r->sb.frames = frames_b;
    r->sb.nframes = NFLOWS;
    pthread_create(&r->ra.thread, NULL, receiver_main, &r->ra);
    pthread_create(&r->rb.thread, NULL, receiver_main, &r->rb);
    pthread_create(&r->sa.thread, NULL, sender_main, &r->sa);
    pthread_create(&r->sb.thread, NULL, sender_main, &r->sb);
}

static void stop_traffic(struct run *r, bool allow6000, struct totals *t) {
    atomic_store(&traffic_stop, true);
    pthread_join(r->sa.thread, NULL);
    pthread_join(r->sb.thread, NULL);
    quiesce(r->eng, allow6000, t);
    sleep_ms(50); /* the last frames written reach the receivers */
    atomic_store(&receivers_stop, true);
    pthread_join(r->ra.thread, NULL);
    pthread_join(r->rb.thread, NULL);
    for (uint32_t k = 0; k < K_KINDS; k++)
        r->sent[k] += r->sa.sent[k] + r->sb.sent[k];
    r->got_a += r->ra.got;
    r->got_b += r->rb.got;
    r->sock_drops += r->ra.sock_drops + r->rb.sock_drops;
}

static uint64_t sent_total(const struct run *r) {
    uint64_t n = 0;
    for (uint32_t k = 0; k < K_KINDS; k++)
        n += r->sent[k];
    return n;
}

/* The invariants of the header comment, over everything so far. */
static void check_accounting(struct run *r, const struct totals *t, const char *phase) {
    struct ew_port_counters ca, cb;
    read_port(r->eng, r->a.port, &ca);
    read_port(r->eng, r->b.port, &cb);
    char what[160];
    snprintf(what, sizeof what, "%s: frames sent == RX", phase);
    CHECK_EQ(t->rx, sent_total(r), what);
    snprintf(what, sizeof what, "%s: RX == TX + drops", phase);
    CHECK_EQ(t->rx, t->tx + t->drops, what);
    /* A receiver that falls behind loses frames in its socket buffer; the
     * kernel counts those (PACKET_STATISTICS), so the sum is still exact. */
    snprintf(what, sizeof what, "%s: TX(A) + TX(B) == received + receiver socket drops", phase);
    CHECK_EQ(ca.cnt[EW_CNT_TX_PACKETS] + cb.cnt[EW_CNT_TX_PACKETS],
             r->got_a + r->got_b + r->sock_drops, what);
    snprintf(what, sizeof what, "%s: ARP replies == ARP requests", phase);
    CHECK_EQ(ca.cnt[EW_CNT_ARP_REPLIES], r->sent[K_ARP], what);
    if (harness_failures) {
        fprintf(stderr, "  %s: rx %llu tx %llu drops %llu;", phase, (unsigned long long)t->rx,
                (unsigned long long)t->tx, (unsigned long long)t->drops);
        for (uint32_t k = 0; k < EW_DROP_COUNT; k++)
            if (t->drop[k]) fprintf(stderr, " drop[%u]=%llu", k, (unsigned long long)t->drop[k]);
        fputc('\n', stderr);
    }
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool run_config(enum ew_io_mode mode, uint32_t workers, bool vnet_hdr, const char *name) {
    struct ew_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = workers;
    cfg.io_mode = mode;
    cfg.vnet_hdr = vnet_hdr;
    cfg.core.conntrack_max = 65536;
    cfg.core.allowance_per_eni = 16384;
    cfg.core.hash_salt = 0x1234567u;
    cfg.sweep_budget = 4096; /* a full pass every 16 slices (~160 ms) */
    cfg.flow_table_size = 1024;
    cfg.capture_slots = 64;
    char err[256] = "";
    static struct run r;
    memset(&r, 0, sizeof r);
    memset(&banked_d, 0, sizeof banked_d);
    d_bound = true;
    uint64_t created_ns = mono_ns();
    r.eng = ew_engine_create(&cfg, err, sizeof err);
    if (!r.eng) {
        if (mode == EW_IO_URING && strstr(err, "refuses")) {
            printf("  %s: skipped (%s)\n", name, err);
            return true;
        }
        fprintf(stderr, "test_engine: %s: %s\n", name, err);
        return false;
    }
    open_link(r.eng, &r.a, "ewa", true);
    open_link(r.eng, &r.b, "ewb", true);
    open_link(r.eng, &r.d, "ewd", false);
    open_link(r.eng, &r.e, "ewe", false);
    CHECK(r.a.port == 0 && r.b.port == 1 && r.d.port == 2 && r.e.port == 3, "ports %u %u %u %u",
          r.a.port, r.b.port, r.d.port, r.e.port);
    CHECK_EQ(load_table(r.eng, false), 0, "first table");
    struct totals t;

    /* 1. Table swaps under traffic: port 6000 flips between refused and allowed. */
    start_traffic(&r);
    for (int i = 0; i < SWAPS; i++) {
        CHECK_EQ(load_table(r.eng, i % 2 == 0), 0, "swap");
        CHECK_EQ(ew_engine_generation(r.eng), gen, "generation in force after a load");
        sleep_ms(10);
    }
    stop_traffic(&r, false, &t);
    check_accounting(&r, &t, "swaps");
    {
        struct ew_port_counters cb;
        read_port(r.eng, r.b.port, &cb);
        /* 7000 is always refused; 6000 is refused by the first table and
         * allowed by every other one (after which conntrack keeps its flows
         * open whatever the table says). */
        CHECK(cb.drop[EW_DROP_SG_INGRESS] >= r.sent[K_AB7000], "7000 refused");
        CHECK(cb.cnt[EW_CNT_TX_PACKETS] > r.sent[K_AB], "6000 allowed once a table allows it");
    }

    /* 2. Ports closed while A sends to them. D is closed and reopened the way
     * the driver does it: unbound in the table first, so no verdict counts on
     * D while it is closed, and its counters (which the reopen restarts) can
     * be banked. E is closed once while still bound: frames judged for it
     * meet a closed port in the backend (PORT_DOWN), and in-flight writes to
     * it are cancelled. */
    start_traffic(&r);
    for (int i = 0; i < CHURNS; i++) {
        sleep_ms(15);
        if (i == CHURNS / 2) {
            CHECK_EQ(ew_engine_close_port(r.eng, r.e.port), 0, "close E");
            close_link_sockets(&r.e);
            CHECK_EQ(ew_engine_close_port(r.eng, r.e.port), -1, "close E twice");
        }
        d_bound = false;
        CHECK_EQ(load_table(r.eng, false), 0, "table without D");
        CHECK_EQ(ew_engine_close_port(r.eng, r.d.port), 0, "close D");
        close_link_sockets(&r.d);
        /* The close waited for every worker, and no verdict names D's port. */
        struct ew_port_counters cd;
        ew_engine_counters(r.eng, r.d.port, &cd);
        add_counters(&banked_d, &cd);
        CHECK_EQ(ew_engine_port_name(r.eng, r.d.port) == NULL, 1, "closed port has no name");
        sleep_ms(10);
        uint32_t old = r.d.port;
        open_link(r.eng, &r.d, "ewd", false);
        CHECK_EQ(r.d.port, old, "D reopens on its port id");
        d_bound = true;
        CHECK_EQ(load_table(r.eng, false), 0, "table with D");
    }
    stop_traffic(&r, false, &t);
    check_accounting(&r, &t, "port churn");
    CHECK(t.drop[EW_DROP_PORT_DOWN] > 0, "frames to closed ports count PORT_DOWN");

    /* 3. Conntrack expiry: every hop ages all flows past the UDP timeout, so
     * sweep slices (on whichever worker is free) unlink entries while the
     * other worker looks them up and reinserts; the control thread dumps. */
    struct ew_core *core = ew_engine_core(r.eng);
    struct ew_port_counters ca0;
    read_port(r.eng, r.a.port, &ca0);
    start_traffic(&r);
    static struct ew_ct_dump_entry page[256];
    for (int i = 0; i < CLOCK_HOPS; i++) {
        sleep_ms(25);
        ew_engine_advance_clock(r.eng, 31000); /* UDP idle timeout is 30 s */
        uint64_t cursor = 0;
        do {
            uint32_t n = ew_core_ct_dump(core, &cursor, page, 256, ew_engine_now_ms(r.eng));
            CHECK(n <= 256, "dump page size %u", n);
        } while (cursor != 0);
        CHECK(ew_core_ct_count(core, r.a.port) <= 65536 / 4, "zone A within its allowance");
    }
    stop_traffic(&r, false, &t);
    check_accounting(&r, &t, "conntrack expiry");
    {
        struct ew_port_counters ca;
        read_port(r.eng, r.a.port, &ca);
        /* A's zone holds at most 6 * NFLOWS distinct flows (five kinds out,
         * one in): more CT_NEW than that means expired entries were swept or
         * unlinked and opened again. */
        uint64_t opened = ca.cnt[EW_CNT_CT_NEW] - ca0.cnt[EW_CNT_CT_NEW];
        CHECK(opened > 6 * NFLOWS, "flows reopened after expiry: %llu", (unsigned long long)opened);
    }

    /* 4. Flow drains under traffic: the control thread drains while the
     * workers sample (TSan: the double-buffer hand-off and the conntrack
     * walk). Every packet is accounted for exactly once: A's egress samples
     * (all ACCEPT: its group lets everything out) sum to the UDP frames A sent,
     * B's SG_INGRESS REJECT samples to B's SG_INGRESS drops, each plus the
     * samples the drains reported lost. */
    {
        static struct ew_flow_sample fs[8192];
        static uint64_t lost[EW_MAX_PORTS];
        /* The earlier phases sampled too: drain them away first (quiesced). */
        (void)ew_engine_flow_drain(r.eng, fs, 8192, lost);
        (void)ew_engine_flow_drain(r.eng, fs, 8192, lost);
        memset(lost, 0, sizeof lost);
        struct ew_port_counters a0, b0, a1, b1;
        read_port(r.eng, r.a.port, &a0);
        read_port(r.eng, r.b.port, &b0);
        uint64_t a_egress = 0, b_reject = 0, other = 0, drains = 0;
        start_traffic(&r);
        for (int i = 0; i < 2 * CLOCK_HOPS + 1; i++) {
            if (i < 2 * CLOCK_HOPS) sleep_ms(10);
            if (i == 2 * CLOCK_HOPS) stop_traffic(&r, false, &t);
            uint32_t n = ew_engine_flow_drain(r.eng, fs, 8192, lost);
            drains++;
            for (uint32_t k = 0; k < n; k++) {
                const struct ew_flow_sample *x = &fs[k];
                if (x->port == r.a.port && x->dir == EW_DIR_EGRESS) {
                    CHECK(x->action == EW_FLOW_ACCEPT, "A's egress is always ACCEPT");
                    a_egress += x->packets;
                } else if (x->port == r.b.port && x->action == EW_FLOW_REJECT &&
                           x->reason == EW_DROP_SG_INGRESS) {
                    b_reject += x->packets;
                } else {
                    other += x->packets;
                }
                CHECK(x->port == r.a.port || x->port == r.b.port, "samples only for A and B");
                CHECK(x->first_ms <= x->last_ms && x->first_ms > 1600000000000ull,
                      "wall-clock times");
            }
        }
        /* stop_traffic quiesced: one more drain takes what the last burst left. */
        uint32_t n = ew_engine_flow_drain(r.eng, fs, 8192, lost);
        for (uint32_t k = 0; k < n; k++) {
            if (fs[k].port == r.a.port && fs[k].dir == EW_DIR_EGRESS)
                a_egress += fs[k].packets;
            else if (fs[k].port == r.b.port && fs[k].action == EW_FLOW_REJECT)
                b_reject += fs[k].packets;
        }
        read_port(r.eng, r.a.port, &a1);
        read_port(r.eng, r.b.port, &b1);
        uint64_t a_udp = (a1.cnt[EW_CNT_RX_PACKETS] - a0.cnt[EW_CNT_RX_PACKETS]) -
                         (a1.cnt[EW_CNT_ARP_REPLIES] - a0.cnt[EW_CNT_ARP_REPLIES]);
        uint64_t b_refused = b1.drop[EW_DROP_SG_INGRESS] - b0.drop[EW_DROP_SG_INGRESS];
        CHECK(a_udp > 0 && b_refused > 0, "traffic flowed (%llu, %llu)", (unsigned long long)a_udp,
              (unsigned long long)b_refused);
        CHECK_EQ(a_egress + lost[r.a.port], a_udp, "A's egress samples == A's UDP frames");
        CHECK_EQ(b_reject + lost[r.b.port], b_refused,
                 "B's REJECT samples == B's SG_INGRESS drops");
        CHECK(other > 0, "the other directions were sampled too");
        check_accounting(&r, &t, "flow drains");
        printf("  %s: %llu flow drains under traffic, %llu + %llu packets sampled\n", name,
               (unsigned long long)drains, (unsigned long long)a_egress,
               (unsigned long long)b_reject);
    }

    /* 5. Captures under traffic: the workers fill their rings while the
     * control thread drains, and the capture is stopped (and freed) while
     * frames still flow; errors for a closed port and a second capture. */
    {
        char err[256] = "";
        CHECK_EQ(ew_engine_capture_start(r.eng, r.e.port, 1, err, sizeof err), -1,
                 "no capture on a closed port");
        CHECK_EQ(ew_engine_capture_start(r.eng, r.a.port, 8, err, sizeof err), -1, "bad flags");
        CHECK_EQ(ew_engine_capture_start(r.eng, r.a.port, 3, err, sizeof err), 0, "capture on A");
        CHECK_EQ(ew_engine_capture_start(r.eng, r.a.port, 1, err, sizeof err), -1,
                 "one capture per port");
        CHECK_EQ(ew_engine_capture_start(r.eng, r.b.port, 2 | 4, err, sizeof err), 0,
                 "drops-only capture on B");
        static uint8_t cbuf[1u << 18];
        size_t used;
        uint64_t lost = 0, lost_b = 0;
        CHECK_EQ(ew_engine_capture_drain(r.eng, r.d.port, cbuf, sizeof cbuf, &used, &lost), -1,
                 "no capture on D");
        uint64_t got_a = 0, got_b = 0, bad = 0;
        start_traffic(&r);
        for (int i = 0; i < 40; i++) {
            sleep_ms(3);
            int n = ew_engine_capture_drain(r.eng, r.a.port, cbuf, sizeof cbuf, &used, &lost);
            got_a += n > 0 ? (uint64_t)n : 0;
            for (size_t off = 0; off < used;) {
                const struct ew_cap_rec *rec =
                    (const struct ew_cap_rec *)(const void *)(cbuf + off);
                bad += rec->dir == 1 ? rec->in_port != r.a.port : rec->dir != 2;
                off += (sizeof *rec + rec->cap_len + 7u) & ~(size_t)7u;
            }
            n = ew_engine_capture_drain(r.eng, r.b.port, cbuf, sizeof cbuf, &used, &lost_b);
            got_b += n > 0 ? (uint64_t)n : 0;
            for (size_t off = 0; off < used;) {
                const struct ew_cap_rec *rec =
                    (const struct ew_cap_rec *)(const void *)(cbuf + off);
                bad += rec->action != EW_ACT_DROP || rec->dst_port != r.b.port;
                off += (sizeof *rec + rec->cap_len + 7u) & ~(size_t)7u;
            }
        }
        CHECK_EQ(ew_engine_capture_stop(r.eng, r.a.port), 0, "stop A under traffic");
        CHECK_EQ(ew_engine_capture_stop(r.eng, r.a.port), -1, "stop A twice");
        stop_traffic(&r, false, &t);
        CHECK_EQ(ew_engine_capture_stop(r.eng, r.b.port), 0, "stop B");
        CHECK(got_a > 0, "A's frames captured (%llu, %llu lost)", (unsigned long long)got_a,
              (unsigned long long)lost);
        CHECK(got_b > 0, "B's refused frames captured (%llu)", (unsigned long long)got_b);
        CHECK_EQ(bad, 0, "records name the captured port, drops only where asked");
    }

    struct ew_engine_stats st;
    ew_engine_stats(r.eng, &st);
    CHECK_EQ(st.io_mode, mode, "io mode in use");
    CHECK_EQ(st.workers, workers, "workers");
    CHECK_EQ(st.ports_open, 3, "ports open (E stays closed)");
    {
        /* Busy time (metrics): every worker moved frames, and no worker was
         * busy longer than the engine has existed. */
        uint64_t busy[EW_MAX_WORKERS];
        uint64_t alive = mono_ns() - created_ns;
        CHECK_EQ(ew_engine_worker_busy_ns(r.eng, busy, EW_MAX_WORKERS), workers, "busy per worker");
        CHECK_EQ(ew_engine_worker_busy_ns(r.eng, busy, 1), 1, "max bounds the copy");
        ew_engine_worker_busy_ns(r.eng, busy, EW_MAX_WORKERS);
        for (uint32_t i = 0; i < workers; i++) {
            CHECK(busy[i] > 0 && busy[i] <= alive, "worker %u busy %llu ns of %llu", i,
                  (unsigned long long)busy[i], (unsigned long long)alive);
        }
    }
    close_link_sockets(&r.a);
    close_link_sockets(&r.b);
    close_link_sockets(&r.d);
    close_link_sockets(&r.e);
    ew_engine_destroy(r.eng);
    printf("  %s: %llu frames in, %llu out, %llu dropped (%llu PORT_DOWN), %llu lost in "
           "receiver sockets\n",
           name, (unsigned long long)t.rx, (unsigned long long)t.tx, (unsigned long long)t.drops,
           (unsigned long long)t.drop[EW_DROP_PORT_DOWN], (unsigned long long)r.sock_drops);
    return true;
}

/* No defaults in C: 0 workers or a 0 sweep budget is refused before any thread
 * or TAP exists, with a message naming the field. */
static void test_config_refuses_zero(void) {
    struct ew_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.io_mode = EW_IO_EPOLL;
    cfg.core.conntrack_max = 64;
    cfg.core.allowance_per_eni = 16;
    cfg.sweep_budget = 64;
    cfg.capture_slots = 16;
    char err[256] = "";
    CHECK(ew_engine_create(&cfg, err, sizeof err) == NULL, "workers 0 refused");
    CHECK(strstr(err, "workers") != NULL, "the message names workers");
    cfg.workers = 1;
    cfg.sweep_budget = 0;
    err[0] = '\0';
    CHECK(ew_engine_create(&cfg, err, sizeof err) == NULL, "sweep_budget 0 refused");
    CHECK(strstr(err, "sweep_budget") != NULL, "the message names sweep_budget");
    cfg.sweep_budget = 64;
    cfg.capture_slots = 0;
    err[0] = '\0';
    CHECK(ew_engine_create(&cfg, err, sizeof err) == NULL, "capture_slots 0 refused");
    CHECK(strstr(err, "capture_slots") != NULL, "the message names capture_slots");
    cfg.capture_slots = 16;
    cfg.core.allowance_per_eni = 0;
    err[0] = '\0';
    CHECK(ew_engine_create(&cfg, err, sizeof err) == NULL, "allowance_per_eni 0 refused");
    CHECK(strstr(err, "allowance_per_eni") != NULL, "the core's refusal reaches the caller");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_config_refuses_zero();
    enter_private_netns();
    build_frames();
    CHECK(run_config(EW_IO_URING, 2, false, "io_uring, 2 workers"), "io_uring run");
    CHECK(run_config(EW_IO_EPOLL, 2, false, "epoll, 2 workers"), "epoll run");
    CHECK(run_config(EW_IO_URING, 1, true, "io_uring, 1 worker, vnet header"), "vnet run");
    return harness_report("test_engine");
}
