/*
 * The I/O backends as the engine sees them: a worker thread body and whether
 * the kernel can run it, plus opening TAP queues (io_tap.c). Each backend is
 * one file (io_uring.c, io_epoll.c) built on the worker module (io_worker.h)
 * and calls nothing in engine.c.
 */
#ifndef ENIWALL_IO_BACKEND_H
#define ENIWALL_IO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "eniwall/engine.h"

struct ew_backend {
    enum ew_io_mode mode;
    /* Queue fds opened O_NONBLOCK. io_uring wants blocking fds: on an
     * O_NONBLOCK file a READ completes with -EAGAIN instead of waiting on the
     * TAP's poll queue. epoll wants them non-blocking to drain until EAGAIN. */
    bool nonblocking_fds;
    bool (*available)(void);      /* can this kernel run it at all (auto mode)? */
    void *(*worker_main)(void *); /* thread body; arg: struct ew_worker * */
};

extern const struct ew_backend ew_backend_uring;
extern const struct ew_backend ew_backend_epoll;

/* io_tap.c: open one queue of a TAP; returns the fd or -1 with err.
 * ifname_out: EW_IFNAME_MAX bytes. */
int ew_tap_open_queue(const char *name, bool multi_queue, bool vnet_hdr, bool nonblock,
                      char *ifname_out, char *err, size_t errlen);
/* The same, opened inside the network namespace netns_fd (-1: the caller's),
 * where a device of that name is attached (reopened) or created; persist sets
 * TUNSETPERSIST so the device outlives its fds. */
int ew_tap_open_queue_at(const char *name, int netns_fd, bool persist, bool multi_queue,
                         bool vnet_hdr, bool nonblock, char *ifname_out, char *err, size_t errlen);
/* TUNSETPERSIST on a queue fd: 0 or -1 with err. */
int ew_tap_set_persist(int fd, bool persist, char *err, size_t errlen);

#endif /* ENIWALL_IO_BACKEND_H */
