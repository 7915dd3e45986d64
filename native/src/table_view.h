/*
 * A loaded, validated table: a private copy of the compiled buffer plus typed
 * pointers into its sections and a port -> ENI index.
 *
 * ew_table_load() (table_load.c) checks every offset, count and index once, so
 * the per-packet code may index these arrays without further bounds checks.
 * Read-only after load; shared by all workers.
 */
#ifndef ENIWALL_TABLE_VIEW_H
#define ENIWALL_TABLE_VIEW_H

#include <stdint.h>

#include "eniwall/core.h"
#include "eniwall/table.h"

struct ew_table_view {
    uint8_t *base; /* malloc'd copy of the buffer (8-aligned sections stay aligned) */
    uint32_t size;
    uint64_t generation;

    const struct ew_vpc *vpcs;
    const struct ew_subnet *subnets;
    const struct ew_eni *enis;
    const uint32_t *eni_ipv4;
    const struct ew_ip6 *eni_ipv6;
    const struct ew_fwd4 *fwd4;
    const struct ew_fwd6 *fwd6;
    const uint32_t *exempt4;
    const struct ew_ip6 *exempt6;
    const struct ew_ruleset *rulesets;
    const uint8_t *blob; /* CLASSIFIER_BLOB section */
    const struct ew_addr_set *addr_sets;
    const struct ew_range4 *ranges4;
    const struct ew_range6 *ranges6;
    const struct ew_nacl *nacls;
    const uint8_t *nacl_blob; /* NACL_BLOB section */

    uint32_t n_vpcs, n_subnets, n_enis, n_eni_ipv4, n_eni_ipv6, n_fwd4, n_fwd6;
    uint32_t n_exempt4, n_exempt6, n_rulesets, blob_len, n_addr_sets, n_ranges4, n_ranges6;
    uint32_t n_nacls, nacl_blob_len;

    /* overlay (table.h): remote ENIs, their hosts, the VPCs' VNIs */
    const struct ew_remote_eni *remotes;
    const struct ew_underlay_host *hosts;
    const uint32_t *vpc_vni; /* n_vpc_vni is 0 or n_vpcs */
    uint32_t n_remotes, n_hosts, n_vpc_vni;

    uint32_t port_eni[EW_MAX_PORTS]; /* ENI index bound to each port, or EW_INDEX_NONE */
};

/* The classifier of an ENI for (dir, family); valid after load. */
static inline const struct ew_classifier *ew_view_classifier(const struct ew_table_view *t,
                                                             const struct ew_eni *e,
                                                             enum ew_dir dir, enum ew_family fam) {
    uint32_t off = t->rulesets[e->ruleset].classifier[dir][fam];
    return (const struct ew_classifier *)(const void *)(t->blob + off);
}

/* A NACL's decision list for (dir, family); valid after load. */
static inline const struct ew_nacl_list *ew_view_nacl_list(const struct ew_table_view *t,
                                                           uint32_t nacl, enum ew_dir dir,
                                                           enum ew_family fam) {
    return (const struct ew_nacl_list *)(const void *)(t->nacl_blob +
                                                       t->nacls[nacl].list[dir][fam]);
}

#endif /* ENIWALL_TABLE_VIEW_H */
