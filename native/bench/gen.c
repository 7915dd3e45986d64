/*
 * gen — the benchmark's traffic generator (baselines/README.md, "Method").
 *
 * What: 64-byte Ethernet frames (60 B + FCS) carrying IPv4/UDP, sent with one
 * AF_PACKET socket per stream in sendmmsg() batches (64 by default) with
 * PACKET_QDISC_BYPASS, from the thread pinned to one CPU, for a duration.
 * Streams are sent round robin, one batch each, so one generator can offer
 * two ENIs' traffic at once (a measured flow next to a flood).
 *
 * Flows: flow i of a stream uses source port sport + i % sports and
 * destination port dport + i / sports; the stream cycles through its flows
 * frame by frame. flows=0 means "every frame a new connection": the flow
 * index never wraps (sport range x 65,535 destination ports, about 4.2e9).
 *
 * Usage: gen [-t seconds] [-c cpu] [-b batch] [-o once] -s SPEC [-s SPEC ...]
 *   SPEC: dev=IF,smac=aa:..,dmac=..,sip=A.B.C.D,dip=..,sport=N,sports=N,
 *         dport=N,flows=N,rate=PPS (0 = as fast as possible),swap=1 (ports swapped),
 *         start=N (first flow index)
 *   -o: send every flow of each stream exactly once, then exit (priming).
 * Prints one JSON line: {"seconds":..,"streams":[{"sent":..,"errors":..}]}.
 * It only sends on the device it is given, inside the caller's namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 4
#define MAX_BATCH   256
#define FRAME_LEN   60u /* 64 on the wire with the FCS */
#define PAYLOAD_LEN (FRAME_LEN - 14u - 20u - 8u)

struct stream {
    char dev[IF_NAMESIZE];
    uint8_t smac[6], dmac[6];
    struct in_addr sip, dip;
    uint32_t sport, sports, dport;
    uint64_t flows; /* 0 = endless new flows */
    uint64_t rate;  /* frames per second, 0 = unlimited */
    bool swap;      /* reply direction: the flow's ports swapped (priming from B) */
    uint64_t start; /* first flow index (new-flow runs must not repeat earlier ones) */
    int fd;
    struct sockaddr_ll addr;
    uint8_t frames[MAX_BATCH][FRAME_LEN];
    struct iovec iov[MAX_BATCH];
    struct mmsghdr msgs[MAX_BATCH];
    uint64_t next_flow;
    uint64_t sent;
    uint64_t errors;
};

static void die(const char *what) {
    fprintf(stderr, "gen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(const char *msg) {
    fprintf(stderr, "gen: %s\nusage: gen [-t s] [-c cpu] [-b batch] [-o] -s SPEC...\n", msg);
    exit(2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool parse_mac(const char *s, uint8_t mac[6]) {
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return false;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return true;
}

static uint64_t parse_u64(const char *key, const char *v) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0') {
        fprintf(stderr, "gen: %s: not a number: %s\n", key, v);
        exit(2);
    }
    return (uint64_t)n;
}

static void parse_spec(struct stream *st, char *spec) {
    memset(st, 0, sizeof *st);
    st->sport = 1024;
    st->dport = 9000;
    st->flows = 64;
    for (char *save = NULL, *kv = strtok_r(spec, ",", &save); kv != NULL;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL) usage("SPEC items are key=value");
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        bool ok = true;
        if (strcmp(k, "dev") == 0)
            ok = strlen(v) < sizeof st->dev && strcpy(st->dev, v) != NULL;
        else if (strcmp(k, "smac") == 0)
            ok = parse_mac(v, st->smac);
        else if (strcmp(k, "dmac") == 0)
            ok = parse_mac(v, st->dmac);
        else if (strcmp(k, "sip") == 0)
            ok = inet_pton(AF_INET, v, &st->sip) == 1;
        else if (strcmp(k, "dip") == 0)
            ok = inet_pton(AF_INET, v, &st->dip) == 1;
        else if (strcmp(k, "sport") == 0)
            st->sport = (uint32_t)parse_u64(k, v);
        else if (strcmp(k, "sports") == 0)
            st->sports = (uint32_t)parse_u64(k, v);
        else if (strcmp(k, "dport") == 0)
            st->dport = (uint32_t)parse_u64(k, v);
        else if (strcmp(k, "flows") == 0)
            st->flows = parse_u64(k, v);
        else if (strcmp(k, "rate") == 0)
            st->rate = parse_u64(k, v);
        else if (strcmp(k, "swap") == 0)
            st->swap = parse_u64(k, v) != 0;
        else if (strcmp(k, "start") == 0)
            st->start = parse_u64(k, v);
        else
            usage("unknown SPEC key");
        if (!ok) usage("bad SPEC value");
    }
    if (st->dev[0] == '\0') usage("SPEC needs dev=");
    st->next_flow = st->start;
    if (st->sports == 0) st->sports = st->flows == 0 ? 65536u - st->sport : (uint32_t)st->flows;
    if (st->sport + st->sports > 65536u) usage("sport + sports exceeds 65536");
}

static uint16_t ip_checksum(const void *hdr, size_t len) {
    const uint8_t *p = hdr;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return htons((uint16_t)~sum);
}

/* Builds the constant part of every frame of the stream; ports vary per frame. */
static void build_frames(struct stream *st) {
    uint8_t tmpl[FRAME_LEN];
    memset(tmpl, 0, sizeof tmpl);
    struct ether_header *eth = (struct ether_header *)tmpl;
    memcpy(eth->ether_dhost, st->dmac, 6);
    memcpy(eth->ether_shost, st->smac, 6);
    eth->ether_type = htons(ETHERTYPE_IP);
    struct iphdr *ip = (struct iphdr *)(tmpl + 14);
    ip->version = 4;
    ip->ihl = 5;
    ip->tot_len = htons((uint16_t)(FRAME_LEN - 14u));
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->saddr = st->sip.s_addr;
    ip->daddr = st->dip.s_addr;
    ip->check = ip_checksum(ip, 20);
    struct udphdr *udp = (struct udphdr *)(tmpl + 34);
    udp->len = htons((uint16_t)(8u + PAYLOAD_LEN));
    udp->check = 0; /* optional in IPv4 */
    for (unsigned i = 0; i < MAX_BATCH; i++) {
        memcpy(st->frames[i], tmpl, FRAME_LEN);
        st->iov[i] = (struct iovec){.iov_base = st->frames[i], .iov_len = FRAME_LEN};
        st->msgs[i].msg_hdr = (struct msghdr){.msg_name = &st->addr,
                                              .msg_namelen = sizeof st->addr,
                                              .msg_iov = &st->iov[i],
                                              .msg_iovlen = 1};
    }
}

static void open_socket(struct stream *st) {
    /* Protocol 0: this socket receives nothing, so it costs nothing on rx. */
    st->fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (st->fd < 0) die("socket(AF_PACKET)");
    int one = 1;
    if (setsockopt(st->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0)
        die("PACKET_QDISC_BYPASS");
    unsigned idx = if_nametoindex(st->dev);
    if (idx == 0) die(st->dev);
    st->addr = (struct sockaddr_ll){.sll_family = AF_PACKET,
                                    .sll_protocol = htons(ETH_P_IP),
                                    .sll_ifindex = (int)idx,
                                    .sll_halen = 6};
    memcpy(st->addr.sll_addr, st->dmac, 6);
}

/* Writes the ports of the next n flows into the batch; false when a one-shot
 * stream has sent every flow. */
static unsigned fill_batch(struct stream *st, unsigned n, bool once) {
    unsigned k = 0;
    for (; k < n; k++) {
        if (once && st->next_flow >= st->flows) break;
        uint64_t f = st->next_flow++;
        if (!once && st->flows != 0 && st->next_flow >= st->flows) st->next_flow = 0;
        uint32_t sport = st->sport + (uint32_t)(f % st->sports);
        uint32_t dport = st->dport + (uint32_t)((f / st->sports) % (65536u - st->dport));
        struct udphdr *udp = (struct udphdr *)(st->frames[k] + 34);
        udp->source = htons((uint16_t)(st->swap ? dport : sport));
        udp->dest = htons((uint16_t)(st->swap ? sport : dport));
    }
    return k;
}

static void send_batch(struct stream *st, unsigned n) {
    unsigned done = 0;
    while (done < n) {
        int r = sendmmsg(st->fd, st->msgs + done, n - done, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            /* ENOBUFS and friends: the frame is lost at the sender; count it. */
            st->errors++;
            done++;
            continue;
        }
        done += (unsigned)r;
        st->sent += (uint64_t)r;
    }
}

int main(int argc, char **argv) {
    static struct stream streams[MAX_STREAMS];
    unsigned nstreams = 0, batch = 64;
    double seconds = 5.0;
    int cpu = 0;
    bool once = false;
    int opt;
    while ((opt = getopt(argc, argv, "t:c:b:os:")) != -1) {
        switch (opt) {
        case 't':
            seconds = atof(optarg);
            break;
        case 'c':
            cpu = atoi(optarg);
            break;
        case 'b':
            batch = (unsigned)atoi(optarg);
            break;
        case 'o':
            once = true;
            break;
        case 's':
            if (nstreams == MAX_STREAMS) usage("too many streams");
            parse_spec(&streams[nstreams++], optarg);
            break;
        default:
            usage("bad option");
        }
    }
    if (nstreams == 0) usage("no stream");
    if (batch == 0 || batch > MAX_BATCH) usage("batch must be 1..256");
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((unsigned)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
    }
    for (unsigned i = 0; i < nstreams; i++) {
        if (once && streams[i].flows == 0) usage("-o needs flows > 0");
        build_frames(&streams[i]);
        open_socket(&streams[i]);
    }

    double start = now_s(), now = start;
    for (unsigned iter = 0;; iter++) {
        /* The clock is read every 16 rounds: a vDSO call per batch is noise, but not free. */
        if ((iter & 15u) == 0) {
            now = now_s();
            if (!once && now - start >= seconds) break;
        }
        bool any = false, pending = false;
        for (unsigned i = 0; i < nstreams; i++) {
            struct stream *st = &streams[i];
            unsigned n = batch;
            if (st->rate != 0) {
                double allowed = (now - start) * (double)st->rate - (double)(st->sent + st->errors);
                if (allowed < 1.0) {
                    pending = true;
                    continue;
                }
                if (allowed < (double)n) n = (unsigned)allowed;
            }
            n = fill_batch(st, n, once);
            if (n == 0) continue;
            send_batch(st, n);
            any = true;
        }
        if (!any) {
            if (!pending) break; /* every one-shot stream is done */
            now = now_s();       /* only rate-limited streams: wait for tokens */
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    double elapsed = now_s() - start;

    printf("{\"seconds\":%.6f,\"streams\":[", elapsed);
    for (unsigned i = 0; i < nstreams; i++)
        printf("%s{\"sent\":%llu,\"errors\":%llu}", i ? "," : "",
               (unsigned long long)streams[i].sent, (unsigned long long)streams[i].errors);
    printf("]}\n");
    return 0;
}
