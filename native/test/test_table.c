/* Table loader: a valid table loads; each kind of corruption is rejected with a
 * reason; random mutations never crash the loader nor the per-packet path. */
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "eniwall/core.h"
#include "frames.h"
#include "harness.h"
#include "pipeline.h"
#include "table_view.h"
#include "tbuild.h"

static struct tb b;
static uint8_t *valid;
static size_t valid_len;

static void build_valid(void) {
    tb_init(&b);
    b.generation = 42;
    uint32_t vpc = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    uint32_t sn1 = tb_subnet(&b, vpc, "10.0.1.0", 24, "fd00::", 64);
    uint32_t sn2 = tb_subnet(&b, vpc, "10.0.2.0", 24, NULL, 0);
    uint32_t rs = tb_ruleset(&b);
    uint32_t set = tb_addr_set(&b, EW_FAM_V4, "10.0.1.0/24");
    tb_addr_set(&b, EW_FAM_V6, "fd00::/64"); /* set 1, for the family-mismatch corruption */
    tb_rule(&b, rs, EW_DIR_INGRESS, 6, 22, 22, "10.0.0.0/8");
    tb_rule(&b, rs, EW_DIR_INGRESS, 6, 80, 90, "0.0.0.0/0");
    tb_rule_set(&b, rs, EW_DIR_INGRESS, 17, 53, 53, set);
    tb_rule(&b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "::/0");
    tb_eni(&b, sn1, rs, 3, "10.0.1.10,10.0.1.20", "fd00::10", EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, sn2, rs, 7, "10.0.2.10", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, sn1, rs, EW_PORT_NONE, "10.0.1.30", NULL, 0);
    tb_exempt4(&b, "169.254.169.254");
    tb_exempt4(&b, "169.254.169.123");
    /* A NACL on sn1 (sn2 has none): ingress IPv4 has tcp (3 intervals, the
     * middle one with 3 ranges), udp and a default list; IPv6 one range. */
    uint32_t acl = tb_nacl(&b);
    tb_nacl_entry(&b, acl, EW_DIR_INGRESS, 100, 6, 22, 22, "10.0.0.0/8", EW_NACL_ALLOW);
    tb_nacl_entry(&b, acl, EW_DIR_INGRESS, 110, 17, 53, 53, "10.0.1.0/24", EW_NACL_DENY);
    tb_nacl_entry(&b, acl, EW_DIR_INGRESS, 200, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_DENY);
    tb_nacl_entry(&b, acl, EW_DIR_INGRESS, 101, TB_ANY, 0, 0, "fd00::/56", EW_NACL_ALLOW);
    tb_nacl_entry(&b, acl, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_subnet_nacl(&b, sn1, acl);
    valid = tb_build(&b, &valid_len);
}

/* ---- accessors into a copy of the table ---- */

static struct ew_table_header *hdr(uint8_t *t) {
    return (struct ew_table_header *)(void *)t;
}
static void *sec(uint8_t *t, enum ew_section_id id) {
    return t + hdr(t)->sec[id].offset;
}
static struct ew_eni *eni(uint8_t *t, uint32_t i) {
    return (struct ew_eni *)sec(t, EW_SEC_ENIS) + i;
}
static struct ew_classifier *cls(uint8_t *t) {
    struct ew_ruleset *rs = sec(t, EW_SEC_RULESETS);
    return (void *)((uint8_t *)sec(t, EW_SEC_CLASSIFIER_BLOB) + rs->classifier[0][0]);
}
static struct ew_proto_entry *tcp_entry(uint8_t *t) {
    struct ew_classifier *c = cls(t);
    return (void *)((uint8_t *)c + c->proto_off); /* protos sorted: tcp (6) first */
}
static struct ew_interval *tcp_iv(uint8_t *t, uint32_t i) {
    return (struct ew_interval *)(void *)((uint8_t *)cls(t) + tcp_entry(t)->interval_off) + i;
}
static struct ew_peer_set *tcp_ps(uint8_t *t, uint32_t i) {
    return (void *)((uint8_t *)cls(t) + tcp_iv(t, i)->peer_set);
}
static struct ew_peer_set *udp_ps(uint8_t *t) {
    struct ew_proto_entry *udp = tcp_entry(t) + 1;
    struct ew_interval *iv = (void *)((uint8_t *)cls(t) + udp->interval_off);
    return (void *)((uint8_t *)cls(t) + iv->peer_set);
}

/* The NACL's ingress IPv4 list: protos tcp (6) then udp (17). */
static struct ew_nacl *nacl0(uint8_t *t) {
    return sec(t, EW_SEC_NACLS);
}
static struct ew_nacl_list *nlist(uint8_t *t, int fam) {
    return (void *)((uint8_t *)sec(t, EW_SEC_NACL_BLOB) + nacl0(t)->list[EW_DIR_INGRESS][fam]);
}
static struct ew_nacl_proto *nproto(uint8_t *t, uint32_t i) {
    struct ew_nacl_list *l = nlist(t, EW_FAM_V4);
    return (struct ew_nacl_proto *)(void *)((uint8_t *)l + l->proto_off) + i;
}
static struct ew_nacl_interval *ntcp_iv(uint8_t *t, uint32_t i) {
    return (struct ew_nacl_interval *)(void *)((uint8_t *)nlist(t, EW_FAM_V4) +
                                               nproto(t, 0)->interval_off) +
           i;
}
static struct ew_nacl_range4 *nrange(uint8_t *t, uint32_t i) { /* tcp port 22's ranges */
    return (struct ew_nacl_range4 *)(void *)((uint8_t *)nlist(t, EW_FAM_V4) +
                                             ntcp_iv(t, 1)->range_off) +
           i;
}
static struct ew_nacl_range6 *nrange6(uint8_t *t) {
    struct ew_nacl_list *l = nlist(t, EW_FAM_V6);
    struct ew_nacl_interval *iv = (void *)((uint8_t *)l + l->default_off);
    return (void *)((uint8_t *)l + iv->range_off);
}

/* ---- corruptions ---- */

static void c_magic(uint8_t *t, size_t *n) {
    (void)n;
    hdr(t)->magic ^= 1;
}
static void c_version(uint8_t *t, size_t *n) {
    (void)n;
    hdr(t)->version = 1; /* a table from before network ACLs */
}
static void c_header_size(uint8_t *t, size_t *n) {
    (void)n;
    hdr(t)->header_size = 16;
}
static void c_total_size(uint8_t *t, size_t *n) {
    (void)t;
    *n -= 8;
}
static void c_too_short(uint8_t *t, size_t *n) {
    (void)t;
    *n = 20;
}
static void c_sec_align(uint8_t *t, size_t *n) {
    (void)n;
    hdr(t)->sec[EW_SEC_ENIS].offset += 4;
}
static void c_sec_count(uint8_t *t, size_t *n) {
    (void)n;
    hdr(t)->sec[EW_SEC_VPCS].count = 0x10000000;
}
static void c_sec_in_header(uint8_t *t, size_t *n) {
    (void)n;
    hdr(t)->sec[EW_SEC_FWD4].offset = 8;
}
static void c_sec_past_end(uint8_t *t, size_t *n) {
    (void)n;
    hdr(t)->sec[EW_SEC_ENI_IPV4].offset = hdr(t)->total_size;
}
static void c_subnet_vpc(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_subnet *)sec(t, EW_SEC_SUBNETS))->vpc = 9;
}
static void c_eni_subnet(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 1)->subnet = 5;
}
static void c_eni_vpc(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 0)->vpc = 1;
}
static void c_eni_ruleset(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 0)->ruleset = 1;
}
static void c_eni_ipv4_range(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 2)->ipv4_count = 2;
}
static void c_eni_no_ipv4(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 0)->ipv4_count = 0;
}
static void c_eni_ipv4_wrap(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 0)->ipv4_off = 0xffffffffu;
}
static void c_eni_ipv6_range(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 1)->ipv6_count = 5;
}
static void c_eni_port_dup(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 1)->port_id = 3;
}
static void c_eni_port_max(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 1)->port_id = EW_MAX_PORTS;
}
static void c_eni_timeout(uint8_t *t, size_t *n) {
    (void)n;
    eni(t, 0)->udp_timeout = 0;
}
static void c_fwd_order(uint8_t *t, size_t *n) {
    (void)n;
    struct ew_fwd4 *f = sec(t, EW_SEC_FWD4), tmp = f[0];
    f[0] = f[1];
    f[1] = tmp;
}
static void c_fwd_eni(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_fwd4 *)sec(t, EW_SEC_FWD4))->eni = 3;
}
static void c_fwd6_vpc(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_fwd6 *)sec(t, EW_SEC_FWD6))->vpc = 1;
}
static void c_exempt_order(uint8_t *t, size_t *n) {
    (void)n;
    uint32_t *e = sec(t, EW_SEC_EXEMPT4), tmp = e[0];
    e[0] = e[1];
    e[1] = tmp;
}
static void c_cls_off(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_ruleset *)sec(t, EW_SEC_RULESETS))->classifier[1][1] =
        hdr(t)->sec[EW_SEC_CLASSIFIER_BLOB].count;
}
static void c_cls_align(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_ruleset *)sec(t, EW_SEC_RULESETS))->classifier[0][1] += 2;
}
static void c_blob_size(uint8_t *t, size_t *n) {
    (void)n;
    cls(t)->blob_size = 0x7fffffff;
}
static void c_blob_size_small(uint8_t *t, size_t *n) {
    (void)n;
    cls(t)->blob_size = 8;
}
static void c_proto_count(uint8_t *t, size_t *n) {
    (void)n;
    cls(t)->proto_count = 1000;
}
static void c_proto_order(uint8_t *t, size_t *n) {
    (void)n;
    tcp_entry(t)[1].proto = 6;
}
static void c_default_off(uint8_t *t, size_t *n) {
    (void)n;
    cls(t)->default_off = 0xfffffff0u;
    cls(t)->default_count = 1;
}
static void c_iv_count(uint8_t *t, size_t *n) {
    (void)n;
    tcp_entry(t)->interval_count = 0x20000000;
}
static void c_iv_lohi(uint8_t *t, size_t *n) {
    (void)n;
    tcp_iv(t, 0)->lo = 30;
}
static void c_iv_order(uint8_t *t, size_t *n) {
    (void)n;
    tcp_iv(t, 1)->lo = 22;
}
static void c_iv_peer(uint8_t *t, size_t *n) {
    (void)n;
    tcp_iv(t, 0)->peer_set = cls(t)->blob_size - 8;
}
static void c_ps_ranges(uint8_t *t, size_t *n) {
    (void)n;
    tcp_ps(t, 0)->range_count = 1000;
}
static void c_ps_range_order(uint8_t *t, size_t *n) {
    (void)n;
    struct ew_range4 *r = (void *)((uint8_t *)cls(t) + tcp_ps(t, 0)->range_off);
    r->lo = r->hi + 1;
}
static void c_ps_set_index(uint8_t *t, size_t *n) {
    (void)n;
    *(uint32_t *)(void *)((uint8_t *)cls(t) + udp_ps(t)->addrset_off) = 2;
}
static void c_ps_set_family(uint8_t *t, size_t *n) {
    (void)n;
    *(uint32_t *)(void *)((uint8_t *)cls(t) + udp_ps(t)->addrset_off) = 1;
}
static void c_ps_set_list(uint8_t *t, size_t *n) {
    (void)n;
    udp_ps(t)->addrset_off = 2;
}
static void c_set_family(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_addr_set *)sec(t, EW_SEC_ADDR_SETS))->family = 1;
}
static void c_set_bad_family(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_addr_set *)sec(t, EW_SEC_ADDR_SETS))->family = 7;
}
static void c_set_ranges(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_addr_set *)sec(t, EW_SEC_ADDR_SETS))->range_count = 2;
}

static void c_subnet_nacl(uint8_t *t, size_t *n) {
    (void)n;
    ((struct ew_subnet *)sec(t, EW_SEC_SUBNETS))[1].nacl = 1; /* only NACL 0 exists */
}
static void c_nacl_off(uint8_t *t, size_t *n) {
    (void)n;
    nacl0(t)->list[1][0] = hdr(t)->sec[EW_SEC_NACL_BLOB].count;
}
static void c_nacl_align(uint8_t *t, size_t *n) {
    (void)n;
    nacl0(t)->list[0][1] += 2;
}
static void c_nacl_size(uint8_t *t, size_t *n) {
    (void)n;
    nlist(t, EW_FAM_V4)->list_size = hdr(t)->sec[EW_SEC_NACL_BLOB].count + 4;
}
static void c_nacl_size_small(uint8_t *t, size_t *n) {
    (void)n;
    nlist(t, EW_FAM_V4)->list_size = 8;
}
static void c_nacl_proto_count(uint8_t *t, size_t *n) {
    (void)n;
    nlist(t, EW_FAM_V4)->proto_count = 1000;
}
static void c_nacl_proto_order(uint8_t *t, size_t *n) {
    (void)n;
    nproto(t, 1)->proto = 6; /* tcp, tcp */
}
static void c_nacl_default_off(uint8_t *t, size_t *n) {
    (void)n;
    nlist(t, EW_FAM_V4)->default_off = nlist(t, EW_FAM_V4)->list_size;
}
static void c_nacl_iv_count(uint8_t *t, size_t *n) {
    (void)n;
    nproto(t, 0)->interval_count = 5000;
}
static void c_nacl_iv_align(uint8_t *t, size_t *n) {
    (void)n;
    nproto(t, 0)->interval_off += 2;
}
static void c_nacl_iv_lohi(uint8_t *t, size_t *n) {
    (void)n;
    ntcp_iv(t, 1)->lo = 23; /* [23, 22] */
}
static void c_nacl_iv_order(uint8_t *t, size_t *n) {
    (void)n;
    ntcp_iv(t, 0)->hi = 22; /* overlaps [22, 22] */
}
static void c_nacl_ranges(uint8_t *t, size_t *n) {
    (void)n;
    ntcp_iv(t, 1)->range_count = 100000;
}
static void c_nacl_range_lohi(uint8_t *t, size_t *n) {
    (void)n;
    nrange(t, 1)->lo = nrange(t, 1)->hi + 1;
}
static void c_nacl_range_order(uint8_t *t, size_t *n) {
    (void)n;
    nrange(t, 0)->hi = nrange(t, 1)->lo; /* overlaps the next */
}
static void c_nacl_range6_order(uint8_t *t, size_t *n) {
    (void)n;
    nrange6(t)->lo.b[0] = 0xfe; /* lo > hi */
}
static void c_nacl_rule_zero(uint8_t *t, size_t *n) {
    (void)n;
    nrange(t, 1)->rule = 0;
}
static void c_nacl_rule_star(uint8_t *t, size_t *n) {
    (void)n;
    nrange(t, 1)->rule = EW_NACL_RULE_STAR4; /* `*` is implicit, never in a range */
}
static void c_nacl_rule6(uint8_t *t, size_t *n) {
    (void)n;
    nrange6(t)->rule = 40000;
}
static void c_nacl_action(uint8_t *t, size_t *n) {
    (void)n;
    nrange(t, 1)->action = 2;
}
static void c_nacl_no_blob(uint8_t *t, size_t *n) {
    (void)n;
    hdr(t)->sec[EW_SEC_NACL_BLOB].count = 0; /* NACLs that point nowhere */
}

struct corruption {
    const char *name;
    void (*apply)(uint8_t *t, size_t *len);
    const char *want; /* substring of the error */
};

static const struct corruption corruptions[] = {
    {"magic", c_magic, "magic"},
    {"version", c_version, "version"},
    {"header_size", c_header_size, "header_size"},
    {"total_size", c_total_size, "total_size"},
    {"too short", c_too_short, "too short"},
    {"section alignment", c_sec_align, "8-aligned"},
    {"section count", c_sec_count, "exceed"},
    {"section inside header", c_sec_in_header, "header"},
    {"section past the end", c_sec_past_end, "exceed"},
    {"subnet vpc index", c_subnet_vpc, "subnet 0"},
    {"eni subnet index", c_eni_subnet, "eni 1: subnet"},
    {"eni vpc mismatch", c_eni_vpc, "eni 0: vpc"},
    {"eni ruleset index", c_eni_ruleset, "ruleset"},
    {"eni ipv4 range", c_eni_ipv4_range, "IPv4"},
    {"eni without ipv4", c_eni_no_ipv4, "IPv4"},
    {"eni ipv4 offset wrap", c_eni_ipv4_wrap, "IPv4"},
    {"eni ipv6 range", c_eni_ipv6_range, "IPv6"},
    {"duplicate port", c_eni_port_dup, "already used"},
    {"port beyond max", c_eni_port_max, "port id"},
    {"zero timeout", c_eni_timeout, "timeout"},
    {"fwd4 order", c_fwd_order, "fwd4"},
    {"fwd4 eni", c_fwd_eni, "fwd4"},
    {"fwd6 vpc", c_fwd6_vpc, "fwd6"},
    {"exempt order", c_exempt_order, "exempt4"},
    {"classifier offset", c_cls_off, "out of bounds"},
    {"classifier alignment", c_cls_align, "aligned"},
    {"blob size too large", c_blob_size, "blob_size"},
    {"blob size too small", c_blob_size_small, "blob_size"},
    {"protocol count", c_proto_count, "protocol entries"},
    {"protocol order", c_proto_order, "not sorted"},
    {"default list offset", c_default_off, "intervals"},
    {"interval count", c_iv_count, "intervals"},
    {"interval lo > hi", c_iv_lohi, "lo > hi"},
    {"interval order", c_iv_order, "sorted/disjoint"},
    {"peer set offset", c_iv_peer, "peer set"},
    {"peer ranges", c_ps_ranges, "peer ranges"},
    {"peer range lo > hi", c_ps_range_order, "lo > hi"},
    {"address set index", c_ps_set_index, "address set index"},
    {"address set list", c_ps_set_list, "address-set list"},
    {"address set of the wrong family", c_ps_set_family, "wrong family"},
    {"address set family flipped", c_set_family, "family"},
    {"address set bad family", c_set_bad_family, "bad family"},
    {"address set ranges", c_set_ranges, "addr set 0"},
    {"subnet nacl index", c_subnet_nacl, "subnet 1: network ACL index 1"},
    {"nacl list offset", c_nacl_off, "network ACL 0: list"},
    {"nacl list alignment", c_nacl_align, "4-aligned"},
    {"nacl list size too large", c_nacl_size, "list_size"},
    {"nacl list size too small", c_nacl_size_small, "list_size"},
    {"nacl protocol count", c_nacl_proto_count, "protocol entries out of bounds"},
    {"nacl protocol order", c_nacl_proto_order, "protocol entries not sorted"},
    {"nacl default offset", c_nacl_default_off, "network ACL: intervals"},
    {"nacl interval count", c_nacl_iv_count, "network ACL: intervals"},
    {"nacl interval alignment", c_nacl_iv_align, "network ACL: intervals"},
    {"nacl interval lo > hi", c_nacl_iv_lohi, "interval 1 has lo > hi"},
    {"nacl interval order", c_nacl_iv_order, "interval 1 is not sorted/disjoint"},
    {"nacl peer ranges", c_nacl_ranges, "network ACL: peer ranges"},
    {"nacl range lo > hi", c_nacl_range_lohi, "range 1 has lo > hi"},
    {"nacl range order", c_nacl_range_order, "range 1 is not sorted/disjoint"},
    {"nacl ipv6 range lo > hi", c_nacl_range6_order, "range 0 has lo > hi"},
    {"nacl rule 0", c_nacl_rule_zero, "rule number 0"},
    {"nacl rule 32767", c_nacl_rule_star, "rule number 32767"},
    {"nacl ipv6 rule number", c_nacl_rule6, "rule number 40000"},
    {"nacl action", c_nacl_action, "action 2"},
    {"nacl blob missing", c_nacl_no_blob, "network ACL 0: list"},
};

static void test_valid(void) {
    char err[256] = "";
    struct ew_table_view *t = ew_table_load(valid, valid_len, err, sizeof err);
    CHECK(t != NULL, "valid table rejected: %s", err);
    if (!t) return;
    CHECK_EQ(ew_table_generation(t), 42, "generation");
    CHECK_EQ(t->port_eni[3], 0, "port 3 -> eni 0");
    CHECK_EQ(t->port_eni[7], 1, "port 7 -> eni 1");
    CHECK_EQ(t->port_eni[0], EW_INDEX_NONE, "port 0 unbound");
    CHECK_EQ(t->n_fwd4, 4, "fwd4 entries");
    CHECK_EQ(t->n_nacls, 1, "one network ACL");
    CHECK_EQ(t->subnets[0].nacl, 0, "subnet 0 -> NACL 0");
    CHECK_EQ(t->subnets[1].nacl, EW_INDEX_NONE, "subnet 1: no NACL");
    ew_table_free(t);
    /* Without the NACL sections (no NACL anywhere) a table loads too. */
    struct tb nb = b;
    nb.n_nacls = 0;
    nb.subnets[0].nacl = EW_INDEX_NONE;
    size_t n;
    uint8_t *plain = tb_build(&nb, &n);
    t = ew_table_load(plain, n, err, sizeof err);
    CHECK(t != NULL && t->n_nacls == 0, "a table without NACLs loads: %s", err);
    ew_table_free(t);
    free(plain);
}

/* pipe_nacl() on the valid table's NACL (see build_valid): deciding rule and
 * action, the `*` numbers of both families. */
static uint16_t nacl_lookup(const struct ew_table_view *t, enum ew_dir d, uint8_t family,
                            uint8_t proto, uint16_t key, const char *peer, bool *allowed) {
    struct ew_pkt p;
    memset(&p, 0, sizeof p);
    p.family = family;
    p.proto = proto;
    uint8_t *a = d == EW_DIR_EGRESS ? p.dst : p.src;
    if (family == 4) {
        uint32_t v = tb_ip4(peer);
        if (d == EW_DIR_EGRESS)
            p.dst4 = v;
        else
            p.src4 = v;
        ew_put32(a, v);
    } else {
        tb_ip6(peer, a);
    }
    uint16_t rule = 0;
    *allowed = pipe_nacl(t, 0, d, &p, key, &rule);
    return rule;
}

static void test_nacl_lookup(void) {
    char err[256] = "";
    struct ew_table_view *t = ew_table_load(valid, valid_len, err, sizeof err);
    CHECK(t != NULL, "valid table: %s", err);
    if (!t) return;
    bool ok;
    CHECK(nacl_lookup(t, EW_DIR_INGRESS, 4, 6, 22, "10.1.2.3", &ok) == 100 && ok, "tcp 22: 100");
    CHECK(nacl_lookup(t, EW_DIR_INGRESS, 4, 6, 22, "11.0.0.1", &ok) == 200 && !ok,
          "tcp 22 from outside 10/8: deny 200");
    CHECK(nacl_lookup(t, EW_DIR_INGRESS, 4, 6, 23, "10.1.2.3", &ok) == 200 && !ok, "tcp 23: 200");
    CHECK(nacl_lookup(t, EW_DIR_INGRESS, 4, 17, 53, "10.0.1.9", &ok) == 110 && !ok, "udp 53: 110");
    CHECK(nacl_lookup(t, EW_DIR_INGRESS, 4, 47, 0, "1.2.3.4", &ok) == 200 && !ok,
          "gre: the default list (-1 entries)");
    CHECK(nacl_lookup(t, EW_DIR_INGRESS, 6, 6, 80, "fd00::5", &ok) == 101 && ok, "v6: 101");
    CHECK(nacl_lookup(t, EW_DIR_INGRESS, 6, 6, 80, "2001:db8::1", &ok) == EW_NACL_RULE_STAR6 && !ok,
          "v6 outside fd00::/56: * (32768)");
    CHECK(nacl_lookup(t, EW_DIR_EGRESS, 4, 6, 1, "8.8.8.8", &ok) == 100 && ok, "egress: 100");
    CHECK(nacl_lookup(t, EW_DIR_EGRESS, 6, 58, 0x8000, "fd00::1", &ok) == EW_NACL_RULE_STAR6 && !ok,
          "no IPv6 egress entry: * (32768)");
    ew_table_free(t);
}

static void test_corruptions(void) {
    uint8_t *copy = malloc(valid_len);
    for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
        const struct corruption *c = &corruptions[i];
        size_t n = valid_len;
        char err[256] = "";
        memcpy(copy, valid, valid_len);
        c->apply(copy, &n);
        struct ew_table_view *t = ew_table_load(copy, n, err, sizeof err);
        CHECK(t == NULL, "%s: corrupt table accepted", c->name);
        CHECK(strstr(err, c->want) != NULL, "%s: error \"%s\" lacks \"%s\"", c->name, err, c->want);
        ew_table_free(t);
    }
    free(copy);
    char err[64];
    CHECK(ew_table_load(NULL, 10, err, sizeof err) == NULL, "NULL buffer");
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Every accepted mutant must also be safe for the per-packet path. */
static void exercise(const struct ew_table_view *t, struct ew_core *core,
                     struct ew_port_counters *pcs) {
    struct ew_worker_ctx w = {core, pcs, 1000, NULL, NULL, NULL};
    uint8_t f[2048], m0[6], m1[6], r1[6];
    fr_eni_mac(0, m0);
    fr_eni_mac(1, m1);
    fr_router_mac(0, r1);
    uint32_t len;
    struct ew_verdict v;
    for (uint32_t port = 0; port < 8; port++) {
        len = fr_tcp4(f, fr_macs(m0, r1), "10.0.1.10", "10.0.2.10", 1234, 22, 0x02);
        ew_process(&w, t, port, f, &len, sizeof f, &v);
        len = fr_udp4(f, fr_macs(m1, m0), "10.0.2.10", "10.0.1.10", 53, 53, 10);
        ew_process(&w, t, port, f, &len, sizeof f, &v);
        len = fr_arp(f, m0, 1, "10.0.1.10", "10.0.1.1");
        ew_process(&w, t, port, f, &len, sizeof f, &v);
        len = fr_ns(f, m0, "fe80::1", "fd00::1", 255);
        ew_process(&w, t, port, f, &len, sizeof f, &v);
    }
    uint8_t peer[16] = {10, 0, 1, 5};
    bool world;
    for (uint32_t e = 0; e < 4; e++)
        for (int fam = 0; fam < 2; fam++)
            for (int proto = 0; proto < 20; proto++)
                (void)ew_classify_query(t, e, EW_DIR_INGRESS, (enum ew_family)fam, (uint8_t)proto,
                                        (uint16_t)next_rand(), peer, &world);
}

static void test_random_mutations(void) {
    struct ew_core_config cfg = {.conntrack_max = 1024, .allowance_per_eni = 256, .hash_salt = 7};
    struct ew_core *core = ew_core_create(&cfg, NULL, 0);
    struct ew_port_counters *pcs = calloc(EW_MAX_PORTS, sizeof *pcs);
    uint8_t *copy = malloc(valid_len);
    int accepted = 0, rejected = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(copy, valid, valid_len);
        int flips = 1 + (int)(next_rand() % 6);
        for (int i = 0; i < flips; i++) {
            size_t pos = next_rand() % valid_len;
            copy[pos] = (next_rand() & 1) ? (uint8_t)next_rand() : (uint8_t)(copy[pos] ^ 0x80);
        }
        size_t n = valid_len;
        if (next_rand() % 16 == 0) n = next_rand() % valid_len; /* truncation */
        char err[256];
        struct ew_table_view *t = ew_table_load(copy, n, err, sizeof err);
        if (t) {
            accepted++;
            exercise(t, core, pcs);
            ew_table_free(t);
        } else {
            rejected++;
            CHECK(err[0] != '\0', "rejection without a message");
        }
    }
    CHECK(rejected > 1000, "random corruptions mostly rejected (%d)", rejected);
    CHECK(accepted > 100, "harmless mutations still load (%d)", accepted);
    free(copy);
    free(pcs);
    ew_core_destroy(core);
}

int main(void) {
    build_valid();
    test_valid();
    test_nacl_lookup();
    test_corruptions();
    test_random_mutations();
    free(valid);
    return harness_report("test_table");
}
