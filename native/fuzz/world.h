/*
 * The fuzzed world: one realistic table (two VPCs, two dual-stack subnets,
 * six ENIs, one with source/dest check off, rules of every kind, group
 * references, a prefix list, network ACLs on both subnets of one VPC)
 * described once as data, compiled with
 * native/test/tbuild.c, and a deliberately simple oracle over the same data.
 *
 * The oracle never looks at the compiled table: it evaluates the rule and
 * network ACL definitions by a linear scan, parses frames with its own code, and
 * models conntrack as "every 5-tuple some zone's rules ever allowed, in both
 * directions, forever" (a superset of what the real conntrack can hold, so a
 * frame it refuses is one the dataplane must never forward).
 */
#ifndef ENIWALL_FUZZ_WORLD_H
#define ENIWALL_FUZZ_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eniwall/core.h"

#define W_NO_ENI 0xffffffffu

enum { W_SUB_A = 0, W_SUB_B = 1, W_SUB_OTHER = 2 };
enum { W_ENI_WEB = 0, W_ENI_DB, W_ENI_APP, W_ENI_NAT, W_ENI_UNBOUND, W_ENI_OTHER_VPC, W_N_ENIS };

/* Conntrack sized so that the per-ENI allowance and the global limit are
 * reachable within one input. */
#define W_CONNTRACK_MAX 24u
#define W_ALLOWANCE     8u
#define W_CT_BUCKETS    32u /* conntrack.c: the power of two >= W_CONNTRACK_MAX */

struct w_eni_info {
    uint32_t port; /* EW_PORT_NONE when unbound */
    uint32_t subnet, vpc;
    uint8_t mac[6];
    bool src_dst_check;
    uint32_t n4, n6;
    uint8_t ip4[4][4]; /* network order */
    uint8_t ip6[4][16];
};

/* The compiled table (malloc'd), built once per process. */
const uint8_t *w_table(size_t *len);
const struct w_eni_info *w_eni(uint32_t i);
/* The ENI bound to a port, or W_NO_ENI. */
uint32_t w_port_eni(uint32_t port);
void w_router_mac(uint32_t subnet, uint8_t out[6]);

/* ---- oracle ---- */

struct o_tuple {
    uint8_t family, proto;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
};

struct o_pkt {
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
    uint8_t src[16], dst[16];
    bool has_l4; /* false for non-first fragments */
    bool frag, frag_first;
    uint32_t frag_id;
    uint16_t key;   /* dport, type << 8 | code, or 0 */
    bool trackable; /* TCP/UDP/other protocols and ICMP echo */
    bool icmp_error;
    struct o_tuple tuple; /* the packet's own flow (ports = echo id for echo) */
    struct o_tuple inner; /* the flow an ICMP error quotes */
};

/* Own, minimal parser: false when the frame is not an IP packet it understands. */
bool o_parse(const uint8_t *frame, uint32_t len, struct o_pkt *p);

/* The rule definitions, evaluated by a linear scan. */
bool o_rules_allow(uint32_t eni, enum ew_dir dir, const struct o_pkt *p);
/* The subnet's network ACL (its entries, by a linear scan) allows p in dir; a
 * subnet without a NACL is not filtered. */
bool o_nacl_allow(uint32_t subnet, enum ew_dir dir, const struct o_pkt *p);
/* The ENI owning addr in vpc (oracle's own forwarding lookup), or W_NO_ENI. */
uint32_t o_owner(uint32_t vpc, uint8_t family, const uint8_t *addr);

struct oracle;
struct oracle *o_create(void);
void o_reset(struct oracle *o);
/* Called for every frame after its verdict was checked: remembers flows the rules allow
 * in each zone (a superset of what conntrack can insert). */
void o_observe(struct oracle *o, uint32_t in_port, const uint8_t *frame, uint32_t len);
/* A forwarded frame (the bytes as they were read): NULL when the oracle allows
 * it, else why not. Also remembers allowed first fragments. */
const char *o_check_forward(struct oracle *o, uint32_t in_port, uint32_t out_port,
                            const uint8_t *frame, uint32_t len);

/* Verdict checks every harness applies: NULL or what is wrong. */
const char *w_check_verdict(const struct ew_verdict *v, uint32_t in_port, uint32_t len,
                            uint32_t cap, bool port_bound, bool out_port_bound);

void w_fail(const char *what, const uint8_t *frame, uint32_t len) __attribute__((noreturn));

#endif /* ENIWALL_FUZZ_WORLD_H */
