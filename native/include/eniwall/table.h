/*
 * eniwall compiled table — the one binary layout shared by the TypeScript
 * compiler (src/abi/layout.ts mirrors it) and the C dataplane.
 *
 * What: the whole desired state (VPCs, subnets, ENIs, security groups, prefix
 * lists) flattened into one immutable, versioned buffer. The control plane
 * builds it, hands it over with loadTables(buffer, generation), and workers
 * switch to it between bursts. Nothing in it is ever modified after load.
 *
 * Design:
 *  - A header with a fixed list of sections (offset + element count). Every
 *    offset is in bytes from the start of the table and 8-byte aligned. All
 *    integers are little-endian (the only byte order we run on); IPv4 addresses
 *    are host-order u32, IPv6 addresses are 16 bytes in network order so that
 *    memcmp orders them.
 *  - ENIs point to a ruleset; ENIs with the same set of groups share one.
 *    A ruleset names four classifiers: [direction][family].
 *  - A classifier is a self-contained blob inside the CLASSIFIER_BLOB section;
 *    offsets inside it are relative to the blob's own start, so the compiler can
 *    cache blobs and copy them verbatim into the next generation.
 *  - Lookup (see native/src/classify.c): binary search the protocol entry
 *    (a handful), binary search the disjoint, sorted key intervals (key = TCP/UDP
 *    destination port, ICMP type<<8|code, 0 for other protocols), then test the
 *    peer address against the interval's peer set: binary search its merged
 *    CIDR ranges, then each referenced address set (a security group's members
 *    or a prefix list). Cost: a few binary searches, independent of rule count.
 *  - Referenced groups and prefix lists are global ADDR_SETS, so a membership
 *    change or a prefix-list edit rewrites one set, not the classifiers.
 *  - Network ACLs: a subnet names one NACL (or none: not filtered). A NACL
 *    names four decision lists, [direction][family], in NACL_BLOB. A list is
 *    the first-match-wins rule list compiled into a partition: protocol entry
 *    (binary search) -> disjoint key intervals (binary search) -> disjoint
 *    peer ranges (binary search), each carrying the deciding rule's action and
 *    number. Whatever no range covers falls to the catch-all `*` deny. The
 *    cost is three binary searches, independent of the entry count.
 *  - The C loader (ew_table_validate) bounds-checks every section, offset, count
 *    and index once at load time; the per-packet path then trusts the table.
 *
 * Thread safety: a table is read-only after load and shared by all workers.
 */
#ifndef ENIWALL_TABLE_H
#define ENIWALL_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define EW_TABLE_MAGIC   0x4c425745u /* "EWBL" read as little-endian bytes */
#define EW_TABLE_VERSION 2u
#define EW_PORT_NONE     0xffffffffu /* ENI not bound to a dataplane port */
#define EW_INDEX_NONE    0xffffffffu

/* Directions and families index rulesets' classifier arrays. */
enum ew_dir { EW_DIR_INGRESS = 0, EW_DIR_EGRESS = 1 };
enum ew_family { EW_FAM_V4 = 0, EW_FAM_V6 = 1 };

enum ew_section_id {
    EW_SEC_VPCS = 0,        /* struct ew_vpc[] */
    EW_SEC_SUBNETS,         /* struct ew_subnet[] */
    EW_SEC_ENIS,            /* struct ew_eni[] */
    EW_SEC_ENI_IPV4,        /* uint32_t[]: ENI IPv4 addresses, host order, primary first */
    EW_SEC_ENI_IPV6,        /* struct ew_ip6[]: ENI IPv6 addresses */
    EW_SEC_FWD4,            /* struct ew_fwd4[] sorted by (vpc, addr) */
    EW_SEC_FWD6,            /* struct ew_fwd6[] sorted by (vpc, addr) */
    EW_SEC_EXEMPT4,         /* uint32_t[] sorted: service addresses (DNS, IMDS, time sync) */
    EW_SEC_EXEMPT6,         /* struct ew_ip6[] sorted */
    EW_SEC_RULESETS,        /* struct ew_ruleset[] */
    EW_SEC_CLASSIFIER_BLOB, /* bytes (count = byte length): classifier blobs */
    EW_SEC_ADDR_SETS,       /* struct ew_addr_set[] */
    EW_SEC_ADDR_RANGES4,    /* struct ew_range4[] */
    EW_SEC_ADDR_RANGES6,    /* struct ew_range6[] */
    EW_SEC_NACLS,           /* struct ew_nacl[] */
    EW_SEC_NACL_BLOB,       /* bytes (count = byte length): NACL decision lists */
    /* Overlay (io_underlay.c): 0 elements each when no remote ENI is known. */
    EW_SEC_REMOTE_ENIS,    /* struct ew_remote_eni[] sorted by eni: ENIs owned by other hosts */
    EW_SEC_UNDERLAY_HOSTS, /* struct ew_underlay_host[] sorted by addr: the other hosts */
    EW_SEC_VPC_VNI,        /* uint32_t[] (0 or one per VPC): the VPC's virtual network id */
    EW_SEC_COUNT
};

struct ew_section {
    uint32_t offset; /* bytes from table start, 8-aligned */
    uint32_t count;  /* elements (bytes for CLASSIFIER_BLOB) */
};

struct ew_table_header {
    uint32_t magic;       /* EW_TABLE_MAGIC */
    uint32_t version;     /* EW_TABLE_VERSION */
    uint64_t generation;  /* set by the compiler, echoed in counters */
    uint32_t total_size;  /* bytes, including this header */
    uint32_t header_size; /* sizeof(struct ew_table_header) */
    struct ew_section sec[EW_SEC_COUNT];
};

struct ew_ip6 {
    uint8_t b[16];
};

struct ew_vpc {
    uint32_t ipv4_net;   /* host order */
    uint8_t ipv4_prefix; /* 16..28 */
    uint8_t ipv6_prefix; /* 0 = no IPv6 CIDR */
    uint8_t pad[2];
    uint32_t dns_ipv4; /* VPC base + 2: Amazon DNS, a service address (not provided) */
    struct ew_ip6 ipv6_net;
};

struct ew_subnet {
    uint32_t vpc;         /* index into VPCS */
    uint32_t ipv4_net;    /* host order */
    uint32_t router_ipv4; /* base + 1: answers ARP and ping, never filtered */
    uint8_t ipv4_prefix;
    uint8_t ipv6_prefix;   /* 0 = no IPv6 CIDR */
    uint8_t router_mac[6]; /* the MAC the router answers ARP/NS with */
    struct ew_ip6 ipv6_net;
    struct ew_ip6 router_ipv6; /* base + 1 of the IPv6 CIDR (when present) */
    uint32_t nacl;             /* index into NACLS, or EW_INDEX_NONE: no NACL, not filtered */
};

/* ew_eni.flags */
#define EW_ENI_SRC_DST_CHECK 0x1u /* drop frames whose source MAC/IP is not the ENI's */
#define EW_ENI_FLOW_LOG      0x2u /* a flow log covers it (ENI, subnet or VPC): make flow samples */
#define EW_ENI_REMOTE        0x4u /* owned by another host: in REMOTE_ENIS, port_id EW_PORT_NONE */

struct ew_eni {
    uint32_t port_id; /* dataplane port (TAP) bound to this ENI, or EW_PORT_NONE */
    uint32_t subnet;  /* index into SUBNETS */
    uint32_t vpc;     /* index into VPCS (= subnets[subnet].vpc) */
    uint32_t ruleset; /* index into RULESETS */
    uint8_t mac[6];
    uint8_t flags; /* EW_ENI_* */
    uint8_t pad;
    uint32_t ipv4_off;   /* first index into ENI_IPV4 */
    uint32_t ipv4_count; /* >= 1 for an ENI; primary first */
    uint32_t ipv6_off;   /* first index into ENI_IPV6 */
    uint32_t ipv6_count;
    uint32_t tcp_established_timeout; /* seconds, 60..432000 */
    uint32_t udp_stream_timeout;      /* seconds, 60..180 */
    uint32_t udp_timeout;             /* seconds, 30..60 */
    uint32_t id_hi; /* eni-<17 hex>: the id's value split in two, for dumps and logs */
    uint32_t id_lo;
};

struct ew_fwd4 {
    uint32_t vpc;
    uint32_t addr; /* host order */
    uint32_t eni;  /* index into ENIS */
};

struct ew_fwd6 {
    uint32_t vpc;
    uint32_t eni;
    struct ew_ip6 addr;
};

struct ew_ruleset {
    /* byte offsets into CLASSIFIER_BLOB, [ew_dir][ew_family] */
    uint32_t classifier[2][2];
};

/* ---- classifier blob (offsets relative to the blob's first byte) ---- */

/* ew_classifier.flags: a rule whose target is the literal /0 of this family
 * allows every port 0-65535 of this protocol (or protocol -1). Used for the
 * untracked decision: such a rule in the reverse direction makes a flow whose
 * opening rule is also /0 untracked (aws-security-groups.md section 4.2). */
#define EW_CLS_WORLD_ALL_PORTS_TCP 0x1u
#define EW_CLS_WORLD_ALL_PORTS_UDP 0x2u

struct ew_classifier {
    uint32_t proto_off; /* -> struct ew_proto_entry[proto_count], sorted by proto */
    uint32_t proto_count;
    uint32_t default_off; /* -> struct ew_interval[]: protocols without an entry ("-1" rules) */
    uint32_t default_count;
    uint32_t flags;     /* EW_CLS_* */
    uint32_t blob_size; /* bytes of this blob, header included */
};

struct ew_proto_entry {
    uint8_t proto; /* IP protocol number (IPv6: upper-layer protocol after extension headers) */
    uint8_t pad[3];
    uint32_t interval_off; /* -> struct ew_interval[interval_count], sorted, disjoint */
    uint32_t interval_count;
};

/* ew_interval.flags */
#define EW_IV_WORLD 0x1u /* some rule with the literal /0 target covers this whole interval */

struct ew_interval {
    uint16_t lo; /* key range, inclusive: TCP/UDP dst port; ICMP type<<8|code; 0 otherwise */
    uint16_t hi;
    uint32_t peer_set; /* byte offset of a struct ew_peer_set in this blob */
    uint32_t flags;    /* EW_IV_* */
};

struct ew_peer_set {
    uint32_t
        range_off; /* -> ew_range4[] or ew_range6[] (the classifier's family), sorted, disjoint */
    uint32_t range_count;
    uint32_t addrset_off; /* -> uint32_t[] indices into ADDR_SETS */
    uint32_t addrset_count;
};

struct ew_range4 {
    uint32_t lo; /* host order, inclusive */
    uint32_t hi;
};

struct ew_range6 {
    struct ew_ip6 lo; /* inclusive, memcmp order */
    struct ew_ip6 hi;
};

/* ---- global address sets: security-group members, prefix lists ---- */

struct ew_addr_set {
    uint32_t family;      /* ew_family */
    uint32_t range_off;   /* first index into ADDR_RANGES4 or ADDR_RANGES6 */
    uint32_t range_count; /* sorted, disjoint */
    uint32_t pad;
};

/* ---- network ACLs (offsets inside a list are relative to the list's first byte) ---- */

/* The catch-all deny: what a packet no range covers is refused by rule `*`,
 * which AWS shows as 32767 (IPv4) and 32768 (IPv6). */
#define EW_NACL_RULE_STAR4 32767u
#define EW_NACL_RULE_STAR6 32768u
#define EW_NACL_DENY       0u
#define EW_NACL_ALLOW      1u

struct ew_nacl {
    uint32_t list[2]
                 [2]; /* byte offsets into NACL_BLOB of struct ew_nacl_list, [ew_dir][ew_family] */
    uint32_t id_hi;   /* acl-<17 hex>: the id's value split in two, for trace and logs */
    uint32_t id_lo;
};

struct ew_nacl_list {
    uint32_t proto_off; /* -> struct ew_nacl_proto[proto_count], sorted by proto */
    uint32_t proto_count;
    uint32_t default_off; /* -> struct ew_nacl_interval[]: protocols without an entry (only "-1"
                             entries apply) */
    uint32_t default_count;
    uint32_t list_size; /* bytes of this list, header included */
    uint32_t pad;
};

struct ew_nacl_proto {
    uint8_t proto; /* IP protocol number (IPv6: upper-layer protocol) */
    uint8_t pad[3];
    uint32_t interval_off; /* -> struct ew_nacl_interval[interval_count], sorted, disjoint */
    uint32_t interval_count;
};

struct ew_nacl_interval {
    uint16_t lo; /* key range, inclusive: the classifier's key (TCP/UDP dst port, ICMP type<<8|code,
                    0) */
    uint16_t hi;
    uint32_t range_off; /* -> struct ew_nacl_range4[] or ew_nacl_range6[] (the list's family),
                           sorted, disjoint */
    uint32_t range_count;
};

struct ew_nacl_range4 {
    uint32_t lo; /* host order, inclusive; the peer: source for ingress, destination for egress */
    uint32_t hi;
    uint16_t rule;  /* deciding rule number, 1..32766 */
    uint8_t action; /* EW_NACL_ALLOW or EW_NACL_DENY */
    uint8_t pad;
};

struct ew_nacl_range6 {
    struct ew_ip6 lo; /* inclusive, memcmp order */
    struct ew_ip6 hi;
    uint16_t rule;
    uint8_t action;
    uint8_t pad;
};

/* ---- overlay: remote ENIs and the hosts that own them ---- */

/* A remote ENI: frames to it are judged by the sender's zone here, then
 * encapsulated (VXLAN, io_underlay.c) to its host, which runs the ingress. */
struct ew_remote_eni {
    uint32_t eni;  /* index into ENIS (flag EW_ENI_REMOTE) */
    uint32_t host; /* index into UNDERLAY_HOSTS */
};

struct ew_underlay_host {
    uint32_t addr; /* IPv4 underlay address, host order */
    uint16_t port; /* its VXLAN UDP port */
    uint16_t pad;
};

/* C11 and C++ spell the compile-time assertion differently; the N-API adapter
 * includes this header from C++. */
#ifdef __cplusplus
#define EW_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define EW_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Layout assumptions the TypeScript mirror relies on (test/abi-contract.test.ts
 * compiles native/test/layout_dump.c and compares these numbers). */
EW_STATIC_ASSERT(sizeof(struct ew_section) == 8, "ew_section");
EW_STATIC_ASSERT(sizeof(struct ew_table_header) == 24 + 8 * EW_SEC_COUNT, "header");
EW_STATIC_ASSERT(sizeof(struct ew_vpc) == 28, "ew_vpc");
EW_STATIC_ASSERT(sizeof(struct ew_subnet) == 56, "ew_subnet");
EW_STATIC_ASSERT(sizeof(struct ew_eni) == 60, "ew_eni");
EW_STATIC_ASSERT(sizeof(struct ew_fwd4) == 12, "ew_fwd4");
EW_STATIC_ASSERT(sizeof(struct ew_fwd6) == 24, "ew_fwd6");
EW_STATIC_ASSERT(sizeof(struct ew_ruleset) == 16, "ew_ruleset");
EW_STATIC_ASSERT(sizeof(struct ew_classifier) == 24, "ew_classifier");
EW_STATIC_ASSERT(sizeof(struct ew_proto_entry) == 12, "ew_proto_entry");
EW_STATIC_ASSERT(sizeof(struct ew_interval) == 12, "ew_interval");
EW_STATIC_ASSERT(sizeof(struct ew_peer_set) == 16, "ew_peer_set");
EW_STATIC_ASSERT(sizeof(struct ew_range4) == 8, "ew_range4");
EW_STATIC_ASSERT(sizeof(struct ew_range6) == 32, "ew_range6");
EW_STATIC_ASSERT(sizeof(struct ew_addr_set) == 16, "ew_addr_set");
EW_STATIC_ASSERT(sizeof(struct ew_nacl) == 24, "ew_nacl");
EW_STATIC_ASSERT(sizeof(struct ew_nacl_list) == 24, "ew_nacl_list");
EW_STATIC_ASSERT(sizeof(struct ew_nacl_proto) == 12, "ew_nacl_proto");
EW_STATIC_ASSERT(sizeof(struct ew_nacl_interval) == 12, "ew_nacl_interval");
EW_STATIC_ASSERT(sizeof(struct ew_nacl_range4) == 12, "ew_nacl_range4");
EW_STATIC_ASSERT(sizeof(struct ew_nacl_range6) == 36, "ew_nacl_range6");
EW_STATIC_ASSERT(sizeof(struct ew_remote_eni) == 8, "ew_remote_eni");
EW_STATIC_ASSERT(sizeof(struct ew_underlay_host) == 8, "ew_underlay_host");

#endif /* ENIWALL_TABLE_H */
