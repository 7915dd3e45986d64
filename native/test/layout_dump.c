/*
 * layout_dump — prints the C truth of table.h as JSON: sizeof and offsetof of
 * every struct and field, and every constant. test/abi-contract.test.ts compiles it
 * and compares the output with src/abi/layout.ts field by field.
 * Array fields report the offset of their first element.
 */
#include <stdio.h>

#include "eniwall/flowlog.h"
#include "eniwall/hits.h"
#include "eniwall/table.h"

static int first_struct = 1;
static int first_field = 1;

static void struct_begin(const char *name, size_t size) {
    printf("%s\n    \"%s\": {\"size\": %zu, \"fields\": {", first_struct ? "" : ",", name, size);
    first_struct = 0;
    first_field = 1;
}

static void field(const char *name, size_t offset) {
    printf("%s\"%s\": %zu", first_field ? "" : ", ", name, offset);
    first_field = 0;
}

static void struct_end(void) {
    printf("}}");
}

static int first_const = 1;

static void constant(const char *name, unsigned long value) {
    printf("%s\n    \"%s\": %lu", first_const ? "" : ",", name, value);
    first_const = 0;
}

#define S(type)         struct_begin(#type, sizeof(struct type))
#define F(type, member) field(#member, offsetof(struct type, member))
#define C(name)         constant(#name, (unsigned long)(name))

int main(void) {
    printf("{\n  \"structs\": {");
    S(ew_section);
    F(ew_section, offset);
    F(ew_section, count);
    struct_end();
    S(ew_table_header);
    F(ew_table_header, magic);
    F(ew_table_header, version);
    F(ew_table_header, generation);
    F(ew_table_header, total_size);
    F(ew_table_header, header_size);
    F(ew_table_header, sec);
    struct_end();
    S(ew_ip6);
    F(ew_ip6, b);
    struct_end();
    S(ew_vpc);
    F(ew_vpc, ipv4_net);
    F(ew_vpc, ipv4_prefix);
    F(ew_vpc, ipv6_prefix);
    F(ew_vpc, pad);
    F(ew_vpc, dns_ipv4);
    F(ew_vpc, ipv6_net);
    struct_end();
    S(ew_subnet);
    F(ew_subnet, vpc);
    F(ew_subnet, ipv4_net);
    F(ew_subnet, router_ipv4);
    F(ew_subnet, ipv4_prefix);
    F(ew_subnet, ipv6_prefix);
    F(ew_subnet, router_mac);
    F(ew_subnet, ipv6_net);
    F(ew_subnet, router_ipv6);
    F(ew_subnet, nacl);
    struct_end();
    S(ew_eni);
    F(ew_eni, port_id);
    F(ew_eni, subnet);
    F(ew_eni, vpc);
    F(ew_eni, ruleset);
    F(ew_eni, mac);
    F(ew_eni, flags);
    F(ew_eni, pad);
    F(ew_eni, ipv4_off);
    F(ew_eni, ipv4_count);
    F(ew_eni, ipv6_off);
    F(ew_eni, ipv6_count);
    F(ew_eni, tcp_established_timeout);
    F(ew_eni, udp_stream_timeout);
    F(ew_eni, udp_timeout);
    F(ew_eni, id_hi);
    F(ew_eni, id_lo);
    struct_end();
    S(ew_fwd4);
    F(ew_fwd4, vpc);
    F(ew_fwd4, addr);
    F(ew_fwd4, eni);
    struct_end();
    S(ew_fwd6);
    F(ew_fwd6, vpc);
    F(ew_fwd6, eni);
    F(ew_fwd6, addr);
    struct_end();
    S(ew_ruleset);
    F(ew_ruleset, classifier);
    struct_end();
    S(ew_classifier);
    F(ew_classifier, proto_off);
    F(ew_classifier, proto_count);
    F(ew_classifier, default_off);
    F(ew_classifier, default_count);
    F(ew_classifier, flags);
    F(ew_classifier, blob_size);
    struct_end();
    S(ew_proto_entry);
    F(ew_proto_entry, proto);
    F(ew_proto_entry, pad);
    F(ew_proto_entry, interval_off);
    F(ew_proto_entry, interval_count);
    struct_end();
    S(ew_interval);
    F(ew_interval, lo);
    F(ew_interval, hi);
    F(ew_interval, peer_set);
    F(ew_interval, flags);
    struct_end();
    S(ew_peer_set);
    F(ew_peer_set, range_off);
    F(ew_peer_set, range_count);
    F(ew_peer_set, addrset_off);
    F(ew_peer_set, addrset_count);
    struct_end();
    S(ew_range4);
    F(ew_range4, lo);
    F(ew_range4, hi);
    struct_end();
    S(ew_range6);
    F(ew_range6, lo);
    F(ew_range6, hi);
    struct_end();
    S(ew_addr_set);
    F(ew_addr_set, family);
    F(ew_addr_set, range_off);
    F(ew_addr_set, range_count);
    F(ew_addr_set, pad);
    struct_end();
    S(ew_nacl);
    F(ew_nacl, list);
    F(ew_nacl, id_hi);
    F(ew_nacl, id_lo);
    struct_end();
    S(ew_nacl_list);
    F(ew_nacl_list, proto_off);
    F(ew_nacl_list, proto_count);
    F(ew_nacl_list, default_off);
    F(ew_nacl_list, default_count);
    F(ew_nacl_list, list_size);
    F(ew_nacl_list, pad);
    struct_end();
    S(ew_nacl_proto);
    F(ew_nacl_proto, proto);
    F(ew_nacl_proto, pad);
    F(ew_nacl_proto, interval_off);
    F(ew_nacl_proto, interval_count);
    struct_end();
    S(ew_nacl_interval);
    F(ew_nacl_interval, lo);
    F(ew_nacl_interval, hi);
    F(ew_nacl_interval, range_off);
    F(ew_nacl_interval, range_count);
    struct_end();
    S(ew_nacl_range4);
    F(ew_nacl_range4, lo);
    F(ew_nacl_range4, hi);
    F(ew_nacl_range4, rule);
    F(ew_nacl_range4, action);
    F(ew_nacl_range4, pad);
    struct_end();
    S(ew_nacl_range6);
    F(ew_nacl_range6, lo);
    F(ew_nacl_range6, hi);
    F(ew_nacl_range6, rule);
    F(ew_nacl_range6, action);
    F(ew_nacl_range6, pad);
    struct_end();
    S(ew_remote_eni);
    F(ew_remote_eni, eni);
    F(ew_remote_eni, host);
    struct_end();
    S(ew_underlay_host);
    F(ew_underlay_host, addr);
    F(ew_underlay_host, port);
    F(ew_underlay_host, pad);
    struct_end();
    S(ew_flow_sample);
    F(ew_flow_sample, src);
    F(ew_flow_sample, dst);
    F(ew_flow_sample, packets);
    F(ew_flow_sample, bytes);
    F(ew_flow_sample, first_ms);
    F(ew_flow_sample, last_ms);
    F(ew_flow_sample, port);
    F(ew_flow_sample, sport);
    F(ew_flow_sample, dport);
    F(ew_flow_sample, reason);
    F(ew_flow_sample, dir);
    F(ew_flow_sample, action);
    F(ew_flow_sample, family);
    F(ew_flow_sample, proto);
    F(ew_flow_sample, tcp_flags);
    F(ew_flow_sample, pad);
    struct_end();
    S(ew_hit_rec);
    F(ew_hit_rec, peer);
    F(ew_hit_rec, ms);
    F(ew_hit_rec, port);
    F(ew_hit_rec, key);
    F(ew_hit_rec, dir);
    F(ew_hit_rec, family);
    F(ew_hit_rec, proto);
    F(ew_hit_rec, pad);
    struct_end();
    printf("\n  },\n  \"constants\": {");
    C(EW_TABLE_MAGIC);
    C(EW_TABLE_VERSION);
    C(EW_PORT_NONE);
    C(EW_INDEX_NONE);
    C(EW_DIR_INGRESS);
    C(EW_DIR_EGRESS);
    C(EW_FAM_V4);
    C(EW_FAM_V6);
    C(EW_SEC_VPCS);
    C(EW_SEC_SUBNETS);
    C(EW_SEC_ENIS);
    C(EW_SEC_ENI_IPV4);
    C(EW_SEC_ENI_IPV6);
    C(EW_SEC_FWD4);
    C(EW_SEC_FWD6);
    C(EW_SEC_EXEMPT4);
    C(EW_SEC_EXEMPT6);
    C(EW_SEC_RULESETS);
    C(EW_SEC_CLASSIFIER_BLOB);
    C(EW_SEC_ADDR_SETS);
    C(EW_SEC_ADDR_RANGES4);
    C(EW_SEC_ADDR_RANGES6);
    C(EW_SEC_NACLS);
    C(EW_SEC_NACL_BLOB);
    C(EW_SEC_REMOTE_ENIS);
    C(EW_SEC_UNDERLAY_HOSTS);
    C(EW_SEC_VPC_VNI);
    C(EW_SEC_COUNT);
    C(EW_ENI_SRC_DST_CHECK);
    C(EW_ENI_FLOW_LOG);
    C(EW_ENI_REMOTE);
    C(EW_FLOW_ACCEPT);
    C(EW_FLOW_REJECT);
    C(EW_CLS_WORLD_ALL_PORTS_TCP);
    C(EW_CLS_WORLD_ALL_PORTS_UDP);
    C(EW_IV_WORLD);
    C(EW_NACL_RULE_STAR4);
    C(EW_NACL_RULE_STAR6);
    C(EW_NACL_DENY);
    C(EW_NACL_ALLOW);
    printf("\n  }\n}\n");
    return 0;
}
