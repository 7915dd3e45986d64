/*
 * The VXLAN header (RFC 7348) as the overlay uses it (io_underlay.h): 8
 * bytes, flags with the I bit (VNI valid), a 24-bit VNI = the VPC's
 * (table.h VPC_VNI). eniwall uses one reserved flag bit: EW_VXLAN_F_VNET,
 * a 12-byte virtio-net header follows (offload mode). Anything else set in
 * the reserved fields is refused. Pure functions, shared by the engine and
 * the fuzz harness (fuzz/fuzz_decap.c).
 */
#ifndef ENIWALL_VXLAN_H
#define ENIWALL_VXLAN_H

#include <stdbool.h>
#include <stdint.h>

#define EW_VXLAN_HLEN   8u
#define EW_VXLAN_PORT   4789u
#define EW_VXLAN_F_VNI  0x08u /* flags byte: the VNI field is valid (RFC 7348) */
#define EW_VXLAN_F_VNET 0x01u /* eniwall: a virtio-net header precedes the frame */

static inline void ew_vxlan_encode(uint8_t hdr[EW_VXLAN_HLEN], uint32_t vni, bool vnet) {
    hdr[0] = (uint8_t)(EW_VXLAN_F_VNI | (vnet ? EW_VXLAN_F_VNET : 0));
    hdr[1] = hdr[2] = hdr[3] = 0;
    hdr[4] = (uint8_t)(vni >> 16);
    hdr[5] = (uint8_t)(vni >> 8);
    hdr[6] = (uint8_t)vni;
    hdr[7] = 0;
}

/* A received header: false when shorter than 8 bytes, the I flag is missing
 * or a reserved bit other than ours is set. */
static inline bool ew_vxlan_decode(const uint8_t *hdr, uint32_t len, uint32_t *vni, bool *vnet) {
    if (len < EW_VXLAN_HLEN) return false;
    if ((hdr[0] & ~(EW_VXLAN_F_VNI | EW_VXLAN_F_VNET)) != 0 || !(hdr[0] & EW_VXLAN_F_VNI))
        return false;
    if (hdr[1] | hdr[2] | hdr[3] | hdr[7]) return false;
    *vni = (uint32_t)hdr[4] << 16 | (uint32_t)hdr[5] << 8 | hdr[6];
    *vnet = (hdr[0] & EW_VXLAN_F_VNET) != 0;
    return true;
}

#endif /* ENIWALL_VXLAN_H */
