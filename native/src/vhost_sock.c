/*
 * vhost-user over a Unix stream socket: reads one message and the fds that
 * come with it (SCM_RIGHTS), applies it with ew_vu_handle() and writes the
 * reply. Memory fds are mapped with mmap(MAP_SHARED) (ew_vu_mmap_ops). Blocking
 * socket: a message is read whole (MSG_WAITALL); the control path only, never
 * the per-frame path.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhost_user.h"

static void *vu_mmap(void *ctx, int fd, uint64_t len) {
    (void)ctx;
    /* A region longer than its file would fault (SIGBUS) on the first access
     * past the end: refused. (A front-end that shrinks the file later still
     * can; see the README.) */
    struct stat st;
    if (len == 0 || fstat(fd, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size < len)
        return NULL;
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void vu_munmap(void *ctx, void *base, uint64_t len) {
    (void)ctx;
    munmap(base, (size_t)len);
}

static void vu_close(void *ctx, int fd) {
    (void)ctx;
    close(fd);
}

const struct ew_vu_ops ew_vu_mmap_ops = {vu_mmap, vu_munmap, vu_close, NULL};

int ew_vu_sock_serve_one(int sock, struct ew_vu_dev *d) {
    uint8_t buf[EW_VU_HDR_SIZE + EW_VU_MAX_PAYLOAD];
    union {
        struct cmsghdr h;
        uint8_t b[CMSG_SPACE(sizeof(int) * EW_VU_MAX_FDS * 2)];
    } ctl;
    struct iovec iov = {buf, EW_VU_HDR_SIZE};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof ctl.b;
    ssize_t n = recvmsg(sock, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC);
    if (n == 0) return 1;
    if (n < 0) return -(int)EW_VU_DROP_COUNT - errno;
    int fds[EW_VU_MAX_FDS * 2];
    unsigned nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && nfds < EW_VU_MAX_FDS * 2; i++)
            memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    enum ew_vu_drop r = EW_VU_DROP_NONE;
    if ((size_t)n < EW_VU_HDR_SIZE || (mh.msg_flags & MSG_CTRUNC)) r = EW_VU_DROP_MSG_SHORT;
    uint32_t size = 0;
    if (r == EW_VU_DROP_NONE) {
        memcpy(&size, buf + 8, 4);
        if (size > EW_VU_MAX_PAYLOAD) r = EW_VU_DROP_MSG_SIZE;
    }
    if (r == EW_VU_DROP_NONE && size) {
        ssize_t m = recv(sock, buf + EW_VU_HDR_SIZE, size, MSG_WAITALL);
        if (m != (ssize_t)size) r = EW_VU_DROP_MSG_SHORT;
    }
    struct ew_vu_msg msg;
    size_t used = 0;
    if (r == EW_VU_DROP_NONE) r = ew_vu_msg_parse(buf, EW_VU_HDR_SIZE + size, &msg, &used);
    if (r != EW_VU_DROP_NONE) {
        for (unsigned i = 0; i < nfds; i++)
            close(fds[i]);
        d->drops[r]++;
        return -(int)r;
    }
    /* More fds than any message takes: the extra ones are closed here. */
    for (unsigned i = EW_VU_MAX_FDS; i < nfds; i++)
        close(fds[i]);
    struct ew_vu_reply rp;
    r = ew_vu_handle(d, &msg, fds, nfds < EW_VU_MAX_FDS ? nfds : EW_VU_MAX_FDS, &rp);
    if (r != EW_VU_DROP_NONE) return -(int)r;
    if (rp.len && send(sock, rp.buf, rp.len, MSG_NOSIGNAL) != (ssize_t)rp.len)
        return -(int)EW_VU_DROP_COUNT - errno;
    return 0;
}

int ew_vu_listen(const char *path) {
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sa.sun_path) return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, n + 1);
    /* Server mode: a socket left by an earlier run is replaced, anything else is not. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return -EEXIST;
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int ew_vu_accept(int listen_fd) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    return fd < 0 ? -errno : fd;
}
