/*
 * vhost-user message parser and device state machine (see vhost_user.h).
 * Pure: no socket, no mmap of its own (ops->map), so the tests and the fuzz
 * harness drive it with a fake memory table.
 */
#include "vhost_user.h"

#include <string.h>

#define EW_VU_DROP_NAME_(n, name, text) [n] = #name,
static const char *const vu_drop_names[EW_VU_DROP_COUNT] = {EW_VU_DROPS(EW_VU_DROP_NAME_)};
#undef EW_VU_DROP_NAME_

const char *ew_vu_drop_name(unsigned reason) {
    return reason < EW_VU_DROP_COUNT ? vu_drop_names[reason] : "?";
}

static void *region_lookup(const struct ew_vu_mem *m, uint64_t a, uint64_t len, bool uva) {
    for (uint32_t i = 0; i < m->n; i++) {
        const struct ew_vu_region *r = &m->r[i];
        uint64_t base = uva ? r->uva : r->gpa;
        if (a < base) continue;
        uint64_t off = a - base;
        if (off >= r->size || len > r->size - off) continue;
        return r->host + off;
    }
    return NULL;
}

void *ew_vu_gpa(const struct ew_vu_mem *m, uint64_t gpa, uint64_t len) {
    return region_lookup(m, gpa, len, false);
}

void *ew_vu_uva(const struct ew_vu_mem *m, uint64_t uva, uint64_t len) {
    return region_lookup(m, uva, len, true);
}

enum ew_vu_drop ew_vu_msg_parse(const uint8_t *buf, size_t len, struct ew_vu_msg *msg,
                                size_t *used) {
    if (len < EW_VU_HDR_SIZE) return EW_VU_DROP_MSG_SHORT;
    memcpy(&msg->request, buf, 4);
    memcpy(&msg->flags, buf + 4, 4);
    memcpy(&msg->size, buf + 8, 4);
    if ((msg->flags & 0x3u) != EW_VU_FLAG_VERSION) return EW_VU_DROP_MSG_VERSION;
    if (msg->size > EW_VU_MAX_PAYLOAD) return EW_VU_DROP_MSG_SIZE;
    if (len - EW_VU_HDR_SIZE < msg->size) return EW_VU_DROP_MSG_SHORT;
    memset(&msg->u, 0, sizeof msg->u);
    memcpy(msg->u.raw, buf + EW_VU_HDR_SIZE, msg->size);
    *used = EW_VU_HDR_SIZE + (size_t)msg->size;
    return EW_VU_DROP_NONE;
}

static void close_fd(struct ew_vu_dev *d, int *fd) {
    if (*fd >= 0 && d->ops.close_fd) d->ops.close_fd(d->ops.ctx, *fd);
    *fd = -1;
}

static void mem_unmap(struct ew_vu_dev *d, struct ew_vu_mem *m) {
    for (uint32_t i = 0; i < m->n; i++)
        if (d->ops.unmap) d->ops.unmap(d->ops.ctx, m->r[i].map_base, m->r[i].map_len);
    m->n = 0;
}

static void vring_init(struct ew_vring *vr) {
    memset(vr, 0, sizeof *vr);
    vr->kick_fd = vr->call_fd = -1;
}

void ew_vu_dev_init(struct ew_vu_dev *d, const struct ew_vu_ops *ops) {
    memset(d, 0, sizeof *d);
    d->ops = *ops;
    for (unsigned i = 0; i < EW_VU_MAX_VRINGS; i++)
        vring_init(&d->vring[i]);
}

void ew_vu_dev_reset(struct ew_vu_dev *d) {
    mem_unmap(d, &d->mem);
    for (unsigned i = 0; i < EW_VU_MAX_VRINGS; i++) {
        close_fd(d, &d->vring[i].kick_fd);
        close_fd(d, &d->vring[i].call_fd);
        vring_init(&d->vring[i]);
    }
    d->features = d->protocol_features = 0;
    d->owner = d->features_set = false;
}

bool ew_vring_ready(const struct ew_vring *vr) {
    return vr->desc && vr->enabled && !vr->broken && vr->num;
}

/* Resolves the ring pointers through the memory table; false if outside it. */
static bool vring_resolve(struct ew_vring *vr, const struct ew_vu_mem *m) {
    vr->desc = NULL;
    vr->avail = vr->used = NULL;
    if (!vr->addr_set || !vr->num || !m->n) return true; /* not yet */
    uint64_t n = vr->num;
    void *desc = ew_vu_uva(m, vr->desc_uva, 16 * n);
    void *avail = ew_vu_uva(m, vr->avail_uva, 6 + 2 * n);
    void *used = ew_vu_uva(m, vr->used_uva, 6 + 8 * n);
    if (!desc || !avail || !used) return false;
    vr->desc = desc;
    vr->avail = avail;
    vr->used = used;
    return true;
}

static void reply_u64(struct ew_vu_reply *rp, const struct ew_vu_msg *msg, uint64_t v) {
    uint32_t flags = EW_VU_FLAG_VERSION | EW_VU_FLAG_REPLY, size = 8;
    memcpy(rp->buf, &msg->request, 4);
    memcpy(rp->buf + 4, &flags, 4);
    memcpy(rp->buf + 8, &size, 4);
    memcpy(rp->buf + 12, &v, 8);
    rp->len = EW_VU_HDR_SIZE + 8;
}

static enum ew_vu_drop set_mem_table(struct ew_vu_dev *d, const struct ew_vu_msg *msg,
                                     unsigned nfds, const int *fds) {
    uint32_t n = msg->u.mem.nregions;
    if (msg->size < 8) return EW_VU_DROP_MSG_SIZE;
    if (n == 0 || n > EW_VU_MAX_REGIONS) return EW_VU_DROP_MSG_REGIONS;
    if (msg->size != 8 + 32 * n) return EW_VU_DROP_MSG_SIZE;
    if (nfds != n) return EW_VU_DROP_MSG_FDS;
    struct ew_vu_mem nm;
    memset(&nm, 0, sizeof nm);
    for (uint32_t i = 0; i < n; i++) {
        const __typeof__(msg->u.mem.region[0]) *s = &msg->u.mem.region[i];
        if (s->size == 0 || s->gpa + s->size < s->gpa || s->uva + s->size < s->uva ||
            s->mmap_offset + s->size < s->mmap_offset)
            return EW_VU_DROP_MSG_REGIONS;
        for (uint32_t j = 0; j < i; j++) {
            const __typeof__(msg->u.mem.region[0]) *o = &msg->u.mem.region[j];
            if (s->gpa < o->gpa + o->size && o->gpa < s->gpa + s->size)
                return EW_VU_DROP_MSG_REGIONS;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        const __typeof__(msg->u.mem.region[0]) *s = &msg->u.mem.region[i];
        uint64_t map_len = s->mmap_offset + s->size;
        void *base = d->ops.map ? d->ops.map(d->ops.ctx, fds[i], map_len) : NULL;
        if (!base) {
            mem_unmap(d, &nm);
            return EW_VU_DROP_MSG_MAP;
        }
        struct ew_vu_region *r = &nm.r[nm.n++];
        r->gpa = s->gpa;
        r->size = s->size;
        r->uva = s->uva;
        r->mmap_offset = s->mmap_offset;
        r->map_base = base;
        r->map_len = map_len;
        r->host = (uint8_t *)base + s->mmap_offset;
    }
    mem_unmap(d, &d->mem);
    d->mem = nm;
    for (unsigned i = 0; i < EW_VU_MAX_VRINGS; i++)
        if (!vring_resolve(&d->vring[i], &d->mem)) d->vring[i].broken = true;
    return EW_VU_DROP_NONE;
}

static enum ew_vu_drop handle(struct ew_vu_dev *d, const struct ew_vu_msg *msg, const int *fds,
                              unsigned nfds, int *kept, struct ew_vu_reply *rp) {
    uint32_t idx = msg->u.state.index;
    struct ew_vring *vr = idx < EW_VU_MAX_VRINGS ? &d->vring[idx] : NULL;
    switch (msg->request) {
    case EW_VU_GET_FEATURES:
        if (msg->size != 0 && msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        reply_u64(rp, msg, EW_VU_FEATURES);
        return EW_VU_DROP_NONE;
    case EW_VU_SET_FEATURES:
        if (msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        if (msg->u.u64 & ~(uint64_t)EW_VU_FEATURES) return EW_VU_DROP_MSG_FEATURES;
        d->features = msg->u.u64;
        d->features_set = true;
        return EW_VU_DROP_NONE;
    case EW_VU_GET_PROTOCOL_FEATURES:
        if (msg->size != 0 && msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        reply_u64(rp, msg, EW_VU_PROTOCOL_FEATURES);
        return EW_VU_DROP_NONE;
    case EW_VU_SET_PROTOCOL_FEATURES:
        if (msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        if (msg->u.u64 & ~(uint64_t)EW_VU_PROTOCOL_FEATURES) return EW_VU_DROP_MSG_FEATURES;
        d->protocol_features = msg->u.u64;
        return EW_VU_DROP_NONE;
    case EW_VU_GET_QUEUE_NUM:
        reply_u64(rp, msg, 1);
        return EW_VU_DROP_NONE;
    case EW_VU_SET_OWNER:
        d->owner = true;
        return EW_VU_DROP_NONE;
    case EW_VU_RESET_OWNER: {
        struct ew_vu_ops ops = d->ops;
        ew_vu_dev_reset(d);
        d->ops = ops;
        return EW_VU_DROP_NONE;
    }
    case EW_VU_SET_MEM_TABLE:
        return set_mem_table(d, msg, nfds, fds);
    case EW_VU_SET_VRING_NUM:
        if (msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        if (!vr) return EW_VU_DROP_MSG_INDEX;
        if (msg->u.state.num == 0 || msg->u.state.num > EW_VU_MAX_RING ||
            (msg->u.state.num & (msg->u.state.num - 1)))
            return EW_VU_DROP_MSG_RING_NUM;
        vr->num = msg->u.state.num;
        if (!vring_resolve(vr, &d->mem)) return EW_VU_DROP_MSG_RING_ADDR;
        return EW_VU_DROP_NONE;
    case EW_VU_SET_VRING_ADDR:
        if (msg->size != 40) return EW_VU_DROP_MSG_SIZE;
        if (!vr) return EW_VU_DROP_MSG_INDEX;
        if ((msg->u.addr.desc & 15) || (msg->u.addr.avail & 1) || (msg->u.addr.used & 3))
            return EW_VU_DROP_MSG_RING_ADDR;
        vr->desc_uva = msg->u.addr.desc;
        vr->avail_uva = msg->u.addr.avail;
        vr->used_uva = msg->u.addr.used;
        vr->addr_set = true;
        vr->broken = false;
        if (!vring_resolve(vr, &d->mem)) return EW_VU_DROP_MSG_RING_ADDR;
        return EW_VU_DROP_NONE;
    case EW_VU_SET_VRING_BASE:
        if (msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        if (!vr) return EW_VU_DROP_MSG_INDEX;
        if (msg->u.state.num > 0xffffu) return EW_VU_DROP_MSG_RING_NUM;
        vr->last_avail = vr->last_used = (uint16_t)msg->u.state.num;
        vr->pending = 0;
        return EW_VU_DROP_NONE;
    case EW_VU_GET_VRING_BASE: {
        if (msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        if (!vr) return EW_VU_DROP_MSG_INDEX;
        /* The ring stops: report where it is, drop the kick. */
        uint64_t v = idx | ((uint64_t)vr->last_avail << 32);
        reply_u64(rp, msg, v);
        vr->enabled = false;
        close_fd(d, &vr->kick_fd);
        return EW_VU_DROP_NONE;
    }
    case EW_VU_SET_VRING_KICK:
    case EW_VU_SET_VRING_CALL:
    case EW_VU_SET_VRING_ERR: {
        if (msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        uint64_t v = msg->u.u64;
        vr = (v & 0xffu) < EW_VU_MAX_VRINGS ? &d->vring[v & 0xffu] : NULL;
        if (!vr) return EW_VU_DROP_MSG_INDEX;
        bool nofd = (v & 0x100u) != 0;
        if (nfds != (nofd ? 0u : 1u)) return EW_VU_DROP_MSG_FDS;
        if (msg->request == EW_VU_SET_VRING_ERR) return EW_VU_DROP_NONE; /* fd closed */
        int *slot = msg->request == EW_VU_SET_VRING_KICK ? &vr->kick_fd : &vr->call_fd;
        close_fd(d, slot);
        if (!nofd) {
            *slot = fds[0];
            *kept = 0;
        }
        /* Without protocol features a ring starts enabled on its kick. */
        if (msg->request == EW_VU_SET_VRING_KICK &&
            !(d->features & (1ull << EW_VHOST_F_PROTOCOL_FEATURES)))
            vr->enabled = true;
        return EW_VU_DROP_NONE;
    }
    case EW_VU_SET_VRING_ENABLE:
        if (msg->size != 8) return EW_VU_DROP_MSG_SIZE;
        if (!vr) return EW_VU_DROP_MSG_INDEX;
        if (msg->u.state.num > 1) return EW_VU_DROP_MSG_SIZE;
        vr->enabled = msg->u.state.num == 1;
        return EW_VU_DROP_NONE;
    default:
        return EW_VU_DROP_MSG_UNKNOWN;
    }
}

enum ew_vu_drop ew_vu_handle(struct ew_vu_dev *d, const struct ew_vu_msg *msg, const int *fds,
                             unsigned nfds, struct ew_vu_reply *reply) {
    int kept = -1;
    reply->len = 0;
    if (nfds > EW_VU_MAX_FDS) nfds = EW_VU_MAX_FDS; /* the caller closes the rest */
    enum ew_vu_drop r = handle(d, msg, fds, nfds, &kept, reply);
    for (unsigned i = 0; i < nfds; i++)
        if ((int)i != kept && d->ops.close_fd) d->ops.close_fd(d->ops.ctx, fds[i]);
    if (r != EW_VU_DROP_NONE) {
        d->drops[r]++;
        reply->len = 0;
        return r;
    }
    if (!reply->len && (msg->flags & EW_VU_FLAG_NEED_REPLY) &&
        (d->protocol_features & (1ull << EW_VU_PROTO_F_REPLY_ACK)))
        reply_u64(reply, msg, 0);
    return r;
}
