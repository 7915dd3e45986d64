/*
 * Helper for test/qemu_stream.sh: runs one ew_stream_port on PATH for SECONDS,
 * accepting guests as they come (a reconnecting QEMU included), and prints the
 * port's counters and the number of IPv6 frames (the guest kernel's own
 * DAD/MLD/RS multicasts when eth0 comes up) as one line:
 *   accepts=N resets=N rx_frames=N rx_ipv6=N rx_bad_len=N
 * and, each time a guest's connection ends, "conn N ipv6=M" (that guest's
 * IPv6 frames). While a guest is connected it also sends it one 60-byte
 * broadcast frame (ethertype 0x88b5, local experimental) every 100 ms, which the
 * guest counts in eth0's rx_packets. Stops after SECONDS or on SIGTERM.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io_stream.h"

static unsigned long ipv6;
static volatile sig_atomic_t stop;

static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static void on_frame(void *ctx, const uint8_t *f, uint32_t len) {
    (void)ctx;
    if (len >= 14 && f[12] == 0x86 && f[13] == 0xdd) ipv6++;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    static struct ew_stream_port p;
    static uint8_t scratch[65536];
    if (argc != 3) {
        fprintf(stderr, "usage: stream_listen PATH SECONDS\n");
        return 2;
    }
    int rc = ew_stream_port_open(&p, argv[1]);
    if (rc != 0) {
        fprintf(stderr, "stream_listen: open %s: %d\n", argv[1], rc);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    printf("listening\n");
    fflush(stdout);
    double end = now() + atof(argv[2]);
    unsigned long conn_start = 0;
    static uint8_t bcast[60];
    memset(bcast, 0xff, 6);
    bcast[6] = 0x02; /* a locally administered source MAC */
    bcast[12] = 0x88;
    bcast[13] = 0xb5;
    double next_tx = 0;
    while (!stop && now() < end) {
        struct pollfd fds[2] = {{p.lfd, POLLIN, 0}, {p.cfd, POLLIN, 0}};
        if (p.cfd >= 0 && now() >= next_tx) {
            ew_stream_port_tx(&p, bcast, sizeof bcast);
            next_tx = now() + 0.1;
        }
        if (ew_stream_port_want_write(&p)) ew_stream_port_flush(&p);
        if (poll(fds, p.cfd >= 0 ? 2 : 1, 50) <= 0) continue;
        if (fds[0].revents & POLLIN) ew_stream_port_accept(&p);
        if (p.cfd >= 0 && fds[1].fd == p.cfd && fds[1].revents &&
            ew_stream_port_rx(&p, scratch, sizeof scratch, on_frame, NULL) < 0) {
            printf("conn %llu ipv6=%lu\n", (unsigned long long)p.st.resets, ipv6 - conn_start);
            fflush(stdout);
            conn_start = ipv6;
        }
    }
    printf("accepts=%llu resets=%llu rx_frames=%llu rx_ipv6=%lu rx_bad_len=%llu tx_frames=%llu\n",
           (unsigned long long)p.st.accepts, (unsigned long long)p.st.resets,
           (unsigned long long)p.st.rx_frames, ipv6, (unsigned long long)p.st.rx_bad_len,
           (unsigned long long)p.st.tx_frames);
    ew_stream_port_close(&p);
    return 0;
}
