/*
 * Manual interop probe (not in `make test`): serves one vhost-user socket in
 * server mode with the eniwall backend and counts the frames a front-end
 * (e.g. DPDK testpmd with --vdev net_virtio_user0,path=PATH) transmits.
 *   vu_serve PATH SECONDS
 * Prints each message result, then the frames popped and the drop reasons.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vhost_user.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: vu_serve PATH SECONDS\n");
        return 2;
    }
    int lfd = ew_vu_listen(argv[1]);
    if (lfd < 0) {
        fprintf(stderr, "listen: %d\n", lfd);
        return 1;
    }
    double end = now() + atof(argv[2]);
    struct ew_vu_dev d;
    ew_vu_dev_init(&d, &ew_vu_mmap_ops);
    static uint8_t buf[EW_VU_MAX_FRAME];
    unsigned long frames = 0, bytes = 0, bad[EW_VU_DROP_COUNT] = {0};
    int s = -1;
    while (now() < end) {
        if (s < 0) {
            struct pollfd p = {lfd, POLLIN, 0};
            if (poll(&p, 1, 100) == 1) s = ew_vu_accept(lfd);
            continue;
        }
        struct pollfd p = {s, POLLIN, 0};
        bool busy = ew_vring_ready(&d.vring[1]);
        if (poll(&p, 1, busy ? 0 : 100) == 1) {
            uint32_t req = 0;
            recv(s, &req, 4, MSG_PEEK);
            int r = ew_vu_sock_serve_one(s, &d);
            printf("msg %u -> %d\n", req, r);
            if (r != 0) {
                ew_vu_dev_reset(&d);
                close(s);
                s = -1;
            }
            continue;
        }
        for (int i = 0; i < 32; i++) {
            uint32_t len;
            uint16_t head;
            int r = ew_vring_pop(&d.vring[1], &d.mem, buf, sizeof buf, &len, &head);
            if (r == 0) break;
            if (r == 1) {
                frames++;
                bytes += len;
            } else {
                bad[-r]++;
            }
        }
        if (ew_vring_flush(&d.vring[1]) && d.vring[1].call_fd >= 0) {
            uint64_t one = 1;
            if (write(d.vring[1].call_fd, &one, 8) < 0) perror("call");
        }
    }
    printf("frames %lu bytes %lu\n", frames, bytes);
    for (unsigned q = 0; q < EW_VU_MAX_VRINGS; q++) {
        const struct ew_vring *vr = &d.vring[q];
        printf("vring %u: num %u ready %d enabled %d broken %d last_avail %u avail_idx %d\n", q,
               vr->num, ew_vring_ready(vr), vr->enabled, vr->broken, vr->last_avail,
               vr->avail ? vr->avail[1] : -1);
        if (vr->desc)
            printf("  desc[0] addr %#llx len %u flags %u; uva desc %#llx avail %#llx used %#llx\n",
                   (unsigned long long)vr->desc[0].addr, vr->desc[0].len, vr->desc[0].flags,
                   (unsigned long long)vr->desc_uva, (unsigned long long)vr->avail_uva,
                   (unsigned long long)vr->used_uva);
    }
    for (unsigned i = 0; i < d.mem.n; i++)
        printf("region %u: gpa %#llx size %#llx uva %#llx off %#llx\n", i,
               (unsigned long long)d.mem.r[i].gpa, (unsigned long long)d.mem.r[i].size,
               (unsigned long long)d.mem.r[i].uva, (unsigned long long)d.mem.r[i].mmap_offset);
    for (unsigned i = 1; i < EW_VU_DROP_COUNT; i++)
        if (bad[i]) printf("drop %s %lu\n", ew_vu_drop_name(i), bad[i]);
    ew_vu_dev_reset(&d);
    if (s >= 0) close(s);
    close(lfd);
    unlink(argv[1]);
    return 0;
}
