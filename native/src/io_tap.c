/*
 * TAP queues: /dev/net/tun with IFF_TAP|IFF_NO_PI, optionally IFF_MULTI_QUEUE
 * (one queue per worker) and IFF_VNET_HDR with TSO/USO offloads, so the kernel
 * hands us TCP/UDP as 64 KB GSO frames that we pass on unchanged instead of
 * MTU-sized segments. Devices are not persistent: they vanish when the last
 * queue fd is closed, while their kernel side may live in another namespace.
 */
#include "io_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
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

int ew_tap_open_queue(const char *name, bool multi_queue, bool vnet_hdr, bool nonblock,
                      char *ifname_out, char *err, size_t errlen) {
    int flags = O_RDWR | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0);
    int fd = open("/dev/net/tun", flags);
    if (fd < 0) {
        snprintf(err, errlen, "open /dev/net/tun: %s", strerror(errno));
        return -1;
    }
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
    snprintf(ifname_out, EW_IFNAME_MAX, "%s", ifr.ifr_name);
    return fd;
}
