/*
 * Split-virtqueue descriptor walk for the vhost-user backend (see
 * vhost_user.h). Every descriptor is copied out of guest memory once and then
 * checked; every buffer address goes through the memory table. No allocation.
 */
#include <string.h>

#include "vhost_user.h"

#define RX_MAX_CHAINS 64u /* mergeable buffers one frame may span */

static struct ew_vring_desc desc_read(const struct ew_vring *vr, uint16_t i) {
    struct ew_vring_desc d;
    d.addr = vr->desc[i].addr;
    d.len = vr->desc[i].len;
    d.flags = vr->desc[i].flags;
    d.next = vr->desc[i].next;
    return d;
}

/* Entries the guest has made available, or -1 when its index is impossible. */
static int avail_count(struct ew_vring *vr) {
    uint16_t idx = __atomic_load_n(&vr->avail[1], __ATOMIC_ACQUIRE);
    uint16_t n = (uint16_t)(idx - vr->last_avail);
    if (n > vr->num) {
        vr->broken = true;
        return -1;
    }
    return n;
}

/* Takes the next avail head; -reason when the ring is broken. */
static int take_head(struct ew_vring *vr, uint16_t *head) {
    uint16_t h = vr->avail[2 + (vr->last_avail & (vr->num - 1))];
    if (h >= vr->num) {
        vr->broken = true;
        return -EW_VU_DROP_RING_HEAD;
    }
    vr->last_avail++;
    *head = h;
    return 0;
}

void ew_vring_push_used(struct ew_vring *vr, uint16_t head, uint32_t len) {
    volatile struct ew_vring_used_elem *ring = (volatile struct ew_vring_used_elem *)(vr->used + 2);
    volatile struct ew_vring_used_elem *e =
        &ring[(uint16_t)(vr->last_used + vr->pending) & (vr->num - 1)];
    e->id = head;
    e->len = len;
    vr->pending++;
}

bool ew_vring_flush(struct ew_vring *vr) {
    if (!vr->pending) return false;
    vr->last_used = (uint16_t)(vr->last_used + vr->pending);
    vr->pending = 0;
    __atomic_store_n(&vr->used[1], vr->last_used, __ATOMIC_RELEASE);
#if defined(__SANITIZE_THREAD__)
    /* TSan takes no fences (gcc refuses them); a seq_cst read-modify-write
     * orders the same on x86, and TSan sees it. */
    static int tsan_fence;
    (void)__atomic_fetch_add(&tsan_fence, 0, __ATOMIC_SEQ_CST);
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
    return !(vr->avail[0] & EW_VRING_AVAIL_F_NO_INTERRUPT);
}

static int tx_walk(const struct ew_vring *vr, const struct ew_vu_mem *m, uint16_t head,
                   uint8_t *buf, uint32_t cap, uint32_t *len) {
    uint32_t hdr_left = EW_VU_NET_HDR_LEN, out = 0;
    uint16_t i = head;
    for (uint32_t count = 1;; count++) {
        if (count > vr->num) return -EW_VU_DROP_DESC_LOOP;
        struct ew_vring_desc d = desc_read(vr, i);
        if (d.flags & EW_VRING_DESC_F_INDIRECT) return -EW_VU_DROP_DESC_INDIRECT;
        if (d.flags & EW_VRING_DESC_F_WRITE) return -EW_VU_DROP_DESC_DIRECTION;
        if (d.len) {
            const uint8_t *p = ew_vu_gpa(m, d.addr, d.len);
            if (!p) return -EW_VU_DROP_DESC_ADDR;
            uint32_t skip = hdr_left < d.len ? hdr_left : d.len;
            hdr_left -= skip;
            uint32_t n = d.len - skip;
            if (n > cap - out) return -EW_VU_DROP_DESC_TOO_BIG;
            memcpy(buf + out, p + skip, n);
            out += n;
        }
        if (!(d.flags & EW_VRING_DESC_F_NEXT)) break;
        if (d.next >= vr->num) return -EW_VU_DROP_DESC_NEXT;
        i = d.next;
    }
    if (hdr_left) return -EW_VU_DROP_DESC_SHORT;
    *len = out;
    return 1;
}

int ew_vring_pop(struct ew_vring *vr, const struct ew_vu_mem *m, uint8_t *buf, uint32_t cap,
                 uint32_t *len, uint16_t *head) {
    if (!ew_vring_ready(vr)) return 0;
    int n = avail_count(vr);
    if (n < 0) return -EW_VU_DROP_RING_AVAIL;
    if (n == 0) return 0;
    int r = take_head(vr, head);
    if (r < 0) return r;
    r = tx_walk(vr, m, *head, buf, cap, len);
    ew_vring_push_used(vr, *head, 0); /* tx: the device writes nothing */
    return r;
}

/* Writes frame bytes into one rx chain; the header goes first into chain 0. */
static int rx_chain(const struct ew_vring *vr, const struct ew_vu_mem *m, uint16_t head, bool first,
                    uint8_t **hdr, const uint8_t *frame, uint32_t left, uint32_t *took,
                    uint32_t *wrote) {
    uint16_t i = head;
    uint32_t t = 0, w = 0;
    for (uint32_t count = 1; left > t; count++) {
        if (count > vr->num) return -EW_VU_DROP_DESC_LOOP;
        struct ew_vring_desc d = desc_read(vr, i);
        if (d.flags & EW_VRING_DESC_F_INDIRECT) return -EW_VU_DROP_DESC_INDIRECT;
        if (!(d.flags & EW_VRING_DESC_F_WRITE)) return -EW_VU_DROP_DESC_DIRECTION;
        if (d.len) {
            uint8_t *p = ew_vu_gpa(m, d.addr, d.len);
            if (!p) return -EW_VU_DROP_DESC_ADDR;
            uint32_t off = 0;
            if (first && count == 1) {
                if (d.len < EW_VU_NET_HDR_LEN) return -EW_VU_DROP_DESC_SHORT;
                *hdr = p;
                off = EW_VU_NET_HDR_LEN;
                w += off;
            }
            uint32_t n = d.len - off;
            if (n > left - t) n = left - t;
            memcpy(p + off, frame + t, n);
            t += n;
            w += n;
        } else if (first && count == 1) {
            return -EW_VU_DROP_DESC_SHORT;
        }
        if (!(d.flags & EW_VRING_DESC_F_NEXT)) break;
        if (d.next >= vr->num) return -EW_VU_DROP_DESC_NEXT;
        i = d.next;
    }
    *took = t;
    *wrote = w;
    return 1;
}

int ew_vring_rx_put(struct ew_vring *vr, const struct ew_vu_mem *m, const uint8_t *frame,
                    uint32_t len) {
    if (!ew_vring_ready(vr)) return -EW_VU_DROP_RX_NO_BUFFERS;
    if (len > EW_VU_MAX_FRAME) return -EW_VU_DROP_DESC_TOO_BIG;
    int avail = avail_count(vr);
    if (avail < 0) return -EW_VU_DROP_RING_AVAIL;
    uint16_t heads[RX_MAX_CHAINS];
    uint32_t lens[RX_MAX_CHAINS];
    uint32_t nb = 0, done = 0;
    uint8_t *hdr = NULL;
    uint16_t start = vr->last_avail;
    int r = 1;
    while (nb == 0 || done < len) {
        if (nb == (uint32_t)avail || nb == RX_MAX_CHAINS) {
            vr->last_avail = start; /* nothing consumed; the guest posts more */
            return nb == RX_MAX_CHAINS ? -EW_VU_DROP_DESC_TOO_BIG : -EW_VU_DROP_RX_NO_BUFFERS;
        }
        r = take_head(vr, &heads[nb]);
        if (r < 0) return r;
        uint32_t took = 0, wrote = 0;
        r = rx_chain(vr, m, heads[nb], nb == 0, &hdr, frame + done, len - done, &took, &wrote);
        lens[nb++] = wrote;
        if (r < 0) break;
        if (took == 0 && nb > 1) { /* a chain that holds nothing: malformed */
            r = -EW_VU_DROP_DESC_SHORT;
            break;
        }
        done += took;
    }
    if (r < 0) {
        for (uint32_t i = 0; i < nb; i++)
            ew_vring_push_used(vr, heads[i], 0);
        return r;
    }
    memset(hdr, 0, EW_VU_NET_HDR_LEN);
    uint16_t nbuf = (uint16_t)nb;
    memcpy(hdr + 10, &nbuf, 2);
    for (uint32_t i = 0; i < nb; i++)
        ew_vring_push_used(vr, heads[i], lens[i]);
    return 1;
}
