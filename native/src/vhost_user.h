/*
 * vhost-user backend, the pure half: the message parser and state machine
 * (vhost_user.c) and the split-virtqueue descriptor walk (vhost_vring.c).
 * Neither touches a socket: the caller reads a message and its SCM_RIGHTS fds,
 * hands them to ew_vu_handle(), and sends the reply it gets back. Mapping the
 * frontend's memory fds goes through ops->map/unmap (mmap in the engine, a
 * fake memory table in the tests and fuzz harnesses).
 *
 * Guest memory is untrusted. Every address a descriptor or a ring names is
 * translated through the memory table, and the whole [addr, addr + len) must
 * lie inside one region, or the frame is dropped with a counted reason
 * (enum ew_vu_drop). Descriptors are copied out of guest memory once before
 * they are checked (the guest may rewrite them concurrently). A chain longer
 * than the ring (a loop) or an indirect descriptor (VIRTIO_F_INDIRECT_DESC is
 * not offered) is malformed. A bad head index in the avail ring means the
 * ring itself is broken: the vring is marked broken and stops.
 *
 * Features offered: VIRTIO_F_VERSION_1, VIRTIO_NET_F_MRG_RXBUF,
 * VHOST_USER_F_PROTOCOL_FEATURES; protocol features: REPLY_ACK. The virtio
 * net header is therefore always 12 bytes (num_buffers present).
 */
#ifndef ENIWALL_VHOST_USER_H
#define ENIWALL_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EW_VU_MAX_REGIONS 8u
#define EW_VU_MAX_VRINGS  2u /* one rx (0), one tx (1): no multiqueue */
#define EW_VU_MAX_RING    32768u
#define EW_VU_HDR_SIZE    12u /* struct vhost_user_msg header */
#define EW_VU_MAX_PAYLOAD (8u + EW_VU_MAX_REGIONS * 32u)
#define EW_VU_MAX_FDS     EW_VU_MAX_REGIONS
#define EW_VU_NET_HDR_LEN 12u /* struct virtio_net_hdr_mrg_rxbuf */
#define EW_VU_MAX_FRAME   9216u

/* Requests (front-end to back-end). */
enum {
    EW_VU_GET_FEATURES = 1,
    EW_VU_SET_FEATURES = 2,
    EW_VU_SET_OWNER = 3,
    EW_VU_RESET_OWNER = 4,
    EW_VU_SET_MEM_TABLE = 5,
    EW_VU_SET_LOG_BASE = 6,
    EW_VU_SET_LOG_FD = 7,
    EW_VU_SET_VRING_NUM = 8,
    EW_VU_SET_VRING_ADDR = 9,
    EW_VU_SET_VRING_BASE = 10,
    EW_VU_GET_VRING_BASE = 11,
    EW_VU_SET_VRING_KICK = 12,
    EW_VU_SET_VRING_CALL = 13,
    EW_VU_SET_VRING_ERR = 14,
    EW_VU_GET_PROTOCOL_FEATURES = 15,
    EW_VU_SET_PROTOCOL_FEATURES = 16,
    EW_VU_GET_QUEUE_NUM = 17,
    EW_VU_SET_VRING_ENABLE = 18,
    EW_VU_SEND_RARP = 19,
    EW_VU_NET_SET_MTU = 20,
};

#define EW_VU_FLAG_VERSION    0x1u
#define EW_VU_FLAG_REPLY      0x4u
#define EW_VU_FLAG_NEED_REPLY 0x8u

#define EW_VIRTIO_NET_F_MRG_RXBUF    15
#define EW_VHOST_F_PROTOCOL_FEATURES 30
#define EW_VIRTIO_F_VERSION_1        32
#define EW_VU_PROTO_F_MQ             0
#define EW_VU_PROTO_F_REPLY_ACK      3

#define EW_VU_FEATURES                                                                             \
    ((1ull << EW_VIRTIO_NET_F_MRG_RXBUF) | (1ull << EW_VHOST_F_PROTOCOL_FEATURES) |                \
     (1ull << EW_VIRTIO_F_VERSION_1))
#define EW_VU_PROTOCOL_FEATURES (1ull << EW_VU_PROTO_F_REPLY_ACK)

/* Why a message closed the connection or a frame was dropped. */
#define EW_VU_DROPS(X)                                                                             \
    X(0, NONE, "none")                                                                             \
    X(1, MSG_SHORT, "message shorter than its header or its size field")                           \
    X(2, MSG_VERSION, "message flags without version 1")                                           \
    X(3, MSG_SIZE, "payload size wrong for the request")                                           \
    X(4, MSG_UNKNOWN, "request not supported")                                                     \
    X(5, MSG_FDS, "wrong number of file descriptors")                                              \
    X(6, MSG_INDEX, "vring index out of range")                                                    \
    X(7, MSG_RING_NUM, "ring size not a power of two up to 32768")                                 \
    X(8, MSG_REGIONS, "memory table malformed (count, overlap, overflow)")                         \
    X(9, MSG_MAP, "memory region could not be mapped")                                             \
    X(10, MSG_RING_ADDR, "ring address not inside the memory table")                               \
    X(11, MSG_FEATURES, "features not offered")                                                    \
    X(12, DESC_ADDR, "descriptor outside the memory table")                                        \
    X(13, DESC_LOOP, "descriptor chain longer than the ring")                                      \
    X(14, DESC_INDIRECT, "indirect descriptor (not negotiated)")                                   \
    X(15, DESC_NEXT, "descriptor next index out of range")                                         \
    X(16, DESC_DIRECTION, "write-only descriptor in a tx chain or read-only in an rx chain")       \
    X(17, DESC_TOO_BIG, "frame longer than the maximum")                                           \
    X(18, DESC_SHORT, "chain shorter than the virtio net header")                                  \
    X(19, RING_HEAD, "avail ring head out of range (ring broken)")                                 \
    X(20, RING_AVAIL, "avail index ran more than the ring size ahead (ring broken)")               \
    X(21, RX_NO_BUFFERS, "no rx buffers posted by the guest")

#define EW_VU_DROP_ENUM_(n, name, text) EW_VU_DROP_##name = n,
enum ew_vu_drop { EW_VU_DROPS(EW_VU_DROP_ENUM_) EW_VU_DROP_COUNT };
#undef EW_VU_DROP_ENUM_

const char *ew_vu_drop_name(unsigned reason);

struct ew_vu_region {
    uint64_t gpa, size, uva, mmap_offset;
    uint8_t *host;    /* host address of gpa (mapping base + mmap_offset) */
    void *map_base;   /* what ops->map returned, for unmap */
    uint64_t map_len; /* size + mmap_offset */
};

struct ew_vu_mem {
    uint32_t n;
    struct ew_vu_region r[EW_VU_MAX_REGIONS];
};

/* Host pointer for [gpa, gpa + len) or NULL when it is not inside one region. */
void *ew_vu_gpa(const struct ew_vu_mem *m, uint64_t gpa, uint64_t len);
/* The same for a front-end virtual address (ring addresses are given so). */
void *ew_vu_uva(const struct ew_vu_mem *m, uint64_t uva, uint64_t len);

struct ew_vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
#define EW_VRING_DESC_F_NEXT          1u
#define EW_VRING_DESC_F_WRITE         2u
#define EW_VRING_DESC_F_INDIRECT      4u
#define EW_VRING_AVAIL_F_NO_INTERRUPT 1u

struct ew_vring_used_elem {
    uint32_t id;
    uint32_t len;
};

struct ew_vring {
    /* set by the messages */
    uint32_t num;
    uint64_t desc_uva, avail_uva, used_uva;
    uint16_t last_avail; /* next avail entry to take */
    uint16_t last_used;  /* shadow of used->idx */
    int kick_fd, call_fd;
    bool enabled, addr_set, broken;
    /* resolved when both the address and the memory table are known */
    volatile struct ew_vring_desc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[num] */
    volatile uint16_t *used;  /* flags, idx, then used elems at used + 2 */
    uint16_t pending;         /* used entries written, idx not yet published */
};

struct ew_vu_ops {
    void *(*map)(void *ctx, int fd, uint64_t len); /* NULL on failure */
    void (*unmap)(void *ctx, void *base, uint64_t len);
    void (*close_fd)(void *ctx, int fd);
    void *ctx;
};

struct ew_vu_dev {
    struct ew_vu_ops ops;
    uint64_t features, protocol_features;
    bool owner, features_set;
    struct ew_vu_mem mem;
    struct ew_vring vring[EW_VU_MAX_VRINGS];
    uint64_t drops[EW_VU_DROP_COUNT];
};

struct ew_vu_msg {
    uint32_t request, flags, size;
    union {
        uint64_t u64;
        struct {
            uint32_t index, num;
        } state;
        struct {
            uint32_t index, flags;
            uint64_t desc, used, avail, log;
        } addr;
        struct {
            uint32_t nregions, padding;
            struct {
                uint64_t gpa, size, uva, mmap_offset;
            } region[EW_VU_MAX_REGIONS];
        } mem;
        uint8_t raw[EW_VU_MAX_PAYLOAD];
    } u;
};

/*
 * Parses one message from buf (header + payload). Returns EW_VU_DROP_NONE
 * with *used = the bytes consumed, EW_VU_DROP_MSG_SHORT when more bytes are
 * needed, or another reason (the connection must then be closed).
 */
enum ew_vu_drop ew_vu_msg_parse(const uint8_t *buf, size_t len, struct ew_vu_msg *msg,
                                size_t *used);

/* A reply to send back (len 0: none). */
struct ew_vu_reply {
    uint32_t len;
    uint8_t buf[EW_VU_HDR_SIZE + 8];
};

void ew_vu_dev_init(struct ew_vu_dev *d, const struct ew_vu_ops *ops);
/* Unmaps the memory, closes the eventfds, back to the state after init. */
void ew_vu_dev_reset(struct ew_vu_dev *d);

/*
 * Applies a parsed message. fds are owned by the device afterwards (kept or
 * closed through ops->close_fd), whatever the result. A reason other than
 * NONE is counted and means: close the connection (the device is then reset
 * by the caller with ew_vu_dev_reset).
 */
enum ew_vu_drop ew_vu_handle(struct ew_vu_dev *d, const struct ew_vu_msg *msg, const int *fds,
                             unsigned nfds, struct ew_vu_reply *reply);

/* True when the vring can move frames (address resolved, enabled, not broken). */
bool ew_vring_ready(const struct ew_vring *vr);

/*
 * TX (guest to us): takes the next avail chain and copies the frame (after
 * the virtio net header) into buf. Returns 1 with *len, *head set; 0 when the
 * ring is empty; -reason for a dropped chain (the chain is still returned to
 * the used ring, *head set) or for a broken ring (RING_*: nothing to return,
 * the vring is marked broken).
 */
int ew_vring_pop(struct ew_vring *vr, const struct ew_vu_mem *m, uint8_t *buf, uint32_t cap,
                 uint32_t *len, uint16_t *head);

/* Writes a used element (published by ew_vring_flush). */
void ew_vring_push_used(struct ew_vring *vr, uint16_t head, uint32_t len);

/* Publishes the pending used entries; true when the guest wants a call. */
bool ew_vring_flush(struct ew_vring *vr);

/*
 * RX (us to guest): writes a virtio net header + frame into as many avail
 * chains as needed (MRG_RXBUF), returning 1, or -reason (RX_NO_BUFFERS when
 * the guest posted too few buffers: nothing consumed; DESC_*: the chains
 * taken are returned with length 0). Call ew_vring_flush after a batch.
 */
int ew_vring_rx_put(struct ew_vring *vr, const struct ew_vu_mem *m, const uint8_t *frame,
                    uint32_t len);

/* ops for real memory fds: mmap(MAP_SHARED), munmap, close (vhost_sock.c). */
extern const struct ew_vu_ops ew_vu_mmap_ops;

/*
 * Serves one message on a blocking Unix stream socket (vhost_sock.c): 0 when
 * handled (reply sent), 1 when the front-end closed the connection,
 * -reason (enum ew_vu_drop) for a refused message, -(EW_VU_DROP_COUNT +
 * errno) for a socket error. Anything but 0 means: reset the device
 * (ew_vu_dev_reset) and wait for the front-end to connect again.
 */
int ew_vu_sock_serve_one(int sock, struct ew_vu_dev *d);

/*
 * Server mode: listens on path (a stale socket there is replaced, any other
 * file is refused with -EEXIST); returns the listening fd or -errno.
 * ew_vu_accept takes the next front-end (one at a time): fd or -errno.
 */
int ew_vu_listen(const char *path);
int ew_vu_accept(int listen_fd);

#endif /* ENIWALL_VHOST_USER_H */
