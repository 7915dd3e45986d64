/*
 * Test-only table builder: describe VPCs, subnets, ENIs and security-group
 * rules in a few calls and get the compiled binary table (table.h) — the same
 * layout the TypeScript compiler emits, built the simple way (elementary key
 * intervals, one peer set per interval, merged CIDR ranges).
 */
#ifndef ENIWALL_TEST_TBUILD_H
#define ENIWALL_TEST_TBUILD_H

#include <stddef.h>
#include <stdint.h>

#include "eniwall/table.h"

#define TB_MAX       32
#define TB_MAX_RULES 64
#define TB_ANY       (-1) /* protocol "-1" */

struct tb_rule {
    int proto;       /* IP protocol or TB_ANY */
    uint16_t lo, hi; /* key range: ports, or type << 8 | code */
    uint8_t family;  /* EW_FAM_V4 / EW_FAM_V6 */
    int addrset;     /* index of an address set, or -1 for the CIDR below */
    uint8_t net[16]; /* network order; IPv4 in the first 4 bytes */
    uint8_t prefix;
};

struct tb_set {
    uint32_t family;
    uint32_t n;
    struct ew_range4 r4[TB_MAX_RULES];
    struct ew_range6 r6[TB_MAX_RULES];
};

struct tb {
    uint64_t generation;
    struct ew_vpc vpcs[TB_MAX];
    struct ew_subnet subnets[TB_MAX];
    struct ew_eni enis[TB_MAX];
    uint32_t ipv4[TB_MAX * 4];
    struct ew_ip6 ipv6[TB_MAX * 4];
    struct tb_rule rules[TB_MAX][2][TB_MAX_RULES]; /* [ruleset][dir][i] */
    uint32_t n_rules[TB_MAX][2];
    struct tb_set sets[TB_MAX];
    uint32_t exempt4[16];
    struct ew_ip6 exempt6[16];
    uint32_t n_vpcs, n_subnets, n_enis, n_ipv4, n_ipv6, n_rulesets, n_sets, n_exempt4, n_exempt6;
};

/* Addresses from text (asserted valid). */
uint32_t tb_ip4(const char *s); /* host order */
void tb_ip6(const char *s, uint8_t out[16]);

void tb_init(struct tb *b);
uint32_t tb_vpc(struct tb *b, const char *net4, uint8_t prefix4, const char *net6, uint8_t prefix6);
/* Router = base + 1; router MAC 02:00:00:00:<subnet>:01. */
uint32_t tb_subnet(struct tb *b, uint32_t vpc, const char *net4, uint8_t prefix4, const char *net6,
                   uint8_t prefix6);
uint32_t tb_ruleset(struct tb *b);
/* cidr like "10.0.0.0/16" or "::/0"; proto TB_ANY ignores lo/hi. */
void tb_rule(struct tb *b, uint32_t rs, enum ew_dir dir, int proto, uint16_t lo, uint16_t hi,
             const char *cidr);
void tb_rule_set(struct tb *b, uint32_t rs, enum ew_dir dir, int proto, uint16_t lo, uint16_t hi,
                 uint32_t set);
/* Address set of one family from a comma-separated CIDR list. */
uint32_t tb_addr_set(struct tb *b, enum ew_family fam, const char *cidrs);
/* ips4/ips6: comma-separated lists (ips6 may be NULL). MAC 02:00:00:00:00:<n+10>.
 * Timeouts: AWS defaults. */
uint32_t tb_eni(struct tb *b, uint32_t subnet, uint32_t ruleset, uint32_t port, const char *ips4,
                const char *ips6, uint8_t flags);
void tb_exempt4(struct tb *b, const char *ip);
void tb_exempt6(struct tb *b, const char *ip);

/* The compiled table (malloc'd). */
uint8_t *tb_build(const struct tb *b, size_t *len);

#endif /* ENIWALL_TEST_TBUILD_H */
