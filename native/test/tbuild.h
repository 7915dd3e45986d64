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
#include <stdio.h>
#include <stdlib.h>

#include "eniwall/core.h"
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

#define TB_MAX_NACLS        8
#define TB_MAX_NACL_ENTRIES 48 /* per direction, both families */

struct tb_nacl_entry {
    uint16_t rule;   /* 1..32766 */
    int proto;       /* IP protocol or TB_ANY */
    uint16_t lo, hi; /* key range (TB_ANY: 0..65535) */
    uint8_t family;
    uint8_t net[16];
    uint8_t prefix;
    uint8_t action; /* EW_NACL_ALLOW / EW_NACL_DENY */
};

struct tb_nacl {
    uint32_t id_hi, id_lo;
    struct tb_nacl_entry e[2][TB_MAX_NACL_ENTRIES]; /* [dir][i], any order */
    uint32_t n[2];
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
    struct tb_nacl nacls[TB_MAX_NACLS];
    uint32_t n_nacls;
    /* overlay sections, written as given (callers keep them sorted) */
    struct ew_remote_eni remotes[TB_MAX];
    struct ew_underlay_host hosts[TB_MAX];
    uint32_t vpc_vni[TB_MAX];
    uint32_t n_remotes, n_hosts, n_vpc_vni;
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

/* Network ACLs. A new NACL has no entries (everything falls to `*` deny); its
 * id is acl-<17 hex> with value 0xacl0000 + index. A subnet starts with no NACL
 * (EW_INDEX_NONE: not filtered); tb_subnet_nacl associates one. */
uint32_t tb_nacl(struct tb *b);
/* proto TB_ANY ignores lo/hi; cidr of either family; action EW_NACL_ALLOW / EW_NACL_DENY. */
void tb_nacl_entry(struct tb *b, uint32_t nacl, enum ew_dir dir, uint16_t rule, int proto,
                   uint16_t lo, uint16_t hi, const char *cidr, uint8_t action);
void tb_subnet_nacl(struct tb *b, uint32_t subnet, uint32_t nacl);
/* The oracle: a linear scan of the entries in rule order (not the compiled
 * lists). peer: network order, IPv4 in the first 4 bytes. Returns the action,
 * *rule the deciding rule (32767 / 32768 for `*`). */
uint8_t tb_nacl_eval(const struct tb *b, uint32_t nacl, enum ew_dir dir, uint8_t family,
                     uint8_t proto, uint16_t key, const uint8_t peer[16], uint16_t *rule);

/* The compiled table (malloc'd). */
uint8_t *tb_build(const struct tb *b, size_t *len);

/* The compiled table loaded through the real loader, or NULL with the loader's
 * message on stderr. Static inline: tools that only build tables (without
 * table_load.c) still link. */
static inline struct ew_table_view *tb_load(const struct tb *b) {
    size_t n;
    uint8_t *buf = tb_build(b, &n);
    char err[256];
    struct ew_table_view *t = ew_table_load(buf, n, err, sizeof err);
    free(buf);
    if (!t) fprintf(stderr, "table: %s\n", err);
    return t;
}

#endif /* ENIWALL_TEST_TBUILD_H */
