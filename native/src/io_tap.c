/*
 * TAP queues: /dev/net/tun with IFF_TAP|IFF_NO_PI, optionally IFF_MULTI_QUEUE
 * (one queue per worker) and IFF_VNET_HDR with TSO/USO offloads, so the kernel
 * hands us TCP/UDP as 64 KB GSO frames that we pass on unchanged instead of
 * MTU-sized segments. A device opened with persist set (TUNSETPERSIST) outlives
 * its queue fds, so a restarted daemon reopens it by name and the connections of
 * the instance behind it never see the link go away; without persist it vanishes
 * when the last queue fd is closed. Its kernel side may live in another network
 * namespace: a tun fd binds to the namespace of the thread that opened
 * /dev/net/tun, so a device that was moved is reopened by opening the tun file
 * inside that namespace (setns on the calling thread, then back).
 */
#include "io_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "io_worker.h" /* EW_VNET_HDR_LEN */

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

/* Offloads in order of preference: USO needs kernel 6.2; fall back to TCP only,
 * then checksum only. */
static const unsigned offload_sets[] = {
    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6,
    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
    TUN_F_CSUM,
};

static int setup_vnet(int fd, char *err, size_t errlen) {
    int hdr = (int)EW_VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
        snprintf(err, errlen, "TUNSETVNETHDRSZ: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof offload_sets / sizeof offload_sets[0]; i++)
        if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offload_sets[i]) == 0) return 0;
    snprintf(err, errlen, "TUNSETOFFLOAD: %s", strerror(errno));
    return -1;
}

/* open("/dev/net/tun") inside the namespace netns_fd (-1: ours). */
static int open_tun_in(int netns_fd, int flags, char *err, size_t errlen) {
    if (netns_fd < 0) {
        int fd = open("/dev/net/tun", flags);
        if (fd < 0) snprintf(err, errlen, "open /dev/net/tun: %s", strerror(errno));
        return fd;
    }
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        snprintf(err, errlen, "open /proc/thread-self/ns/net: %s", strerror(errno));
        return -1;
    }
    if (setns(netns_fd, CLONE_NEWNET) != 0) {
        snprintf(err, errlen, "setns into the TAP's namespace: %s", strerror(errno));
        close(self);
        return -1;
    }
    int fd = open("/dev/net/tun", flags);
    int saved = errno;
    if (setns(self, CLONE_NEWNET) != 0) {
        /* Cannot happen short of a kernel bug; a thread left in the wrong
         * namespace must not carry on. */
        abort();
    }
    close(self);
    if (fd < 0) snprintf(err, errlen, "open /dev/net/tun: %s", strerror(saved));
    return fd;
}

int ew_tap_set_persist(int fd, bool persist, char *err, size_t errlen) {
    if (ioctl(fd, TUNSETPERSIST, persist ? 1UL : 0UL) < 0) {
        snprintf(err, errlen, "TUNSETPERSIST: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int ew_tap_open_queue(const char *name, bool multi_queue, bool vnet_hdr, bool nonblock,
                      char *ifname_out, char *err, size_t errlen) {
    return ew_tap_open_queue_at(name, -1, false, multi_queue, vnet_hdr, nonblock, ifname_out, err,
                                errlen);
}

int ew_tap_open_queue_at(const char *name, int netns_fd, bool persist, bool multi_queue,
                         bool vnet_hdr, bool nonblock, char *ifname_out, char *err, size_t errlen) {
    int flags = O_RDWR | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0);
    int fd = open_tun_in(netns_fd, flags, err, errlen);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    short ifflags = IFF_TAP | IFF_NO_PI;
    if (multi_queue) ifflags |= IFF_MULTI_QUEUE;
    if (vnet_hdr) ifflags |= IFF_VNET_HDR;
    ifr.ifr_flags = ifflags;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "TUNSETIFF %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    if (vnet_hdr && setup_vnet(fd, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    if (persist && ew_tap_set_persist(fd, true, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    snprintf(ifname_out, EW_IFNAME_MAX, "%s", ifr.ifr_name);
    return fd;
}
