/*
 * libFuzzer harness: ew_parse() alone. Besides memory safety (the input is an
 * exact-size buffer), checks what the rest of the core relies on: the reason
 * is in range, and an accepted frame's offsets and lengths lie inside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "VERDICT VIOLATION: ew_parse: %s\n", #cond);                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536 + 64) return 0;
    uint32_t len = (uint32_t)size;
    struct ew_pkt p;
    enum ew_drop_reason r = ew_parse(data, len, &p);
    REQUIRE(r < EW_DROP_COUNT);
    if (r != EW_DROP_NONE) return 0;
    REQUIRE(len >= EW_ETH_HLEN);
    if (p.ethertype == EW_ETHERTYPE_ARP) {
        REQUIRE(p.family == 0 && len >= EW_ETH_HLEN + 28u);
        REQUIRE(p.arp_op == 1 || p.arp_op == 2);
        return 0;
    }
    REQUIRE(p.family == 4 || p.family == 6);
    REQUIRE(p.ethertype == (p.family == 4 ? EW_ETHERTYPE_IPV4 : EW_ETHERTYPE_IPV6));
    REQUIRE(EW_ETH_HLEN + (uint64_t)p.ip_len <= len);
    REQUIRE(p.l4_off >= EW_ETH_HLEN + (p.family == 4 ? 20u : 40u));
    REQUIRE((uint64_t)p.l4_off + p.l4_len == EW_ETH_HLEN + (uint64_t)p.ip_len);
    REQUIRE(!p.frag_first || p.frag);
    if (p.family == 4) {
        uint32_t src4 = (uint32_t)p.src[0] << 24 | (uint32_t)p.src[1] << 16 |
                        (uint32_t)p.src[2] << 8 | p.src[3];
        REQUIRE(src4 == p.src4);
        static const uint8_t zero[12] = {0};
        REQUIRE(memcmp(p.src + 4, zero, 12) == 0 && memcmp(p.dst + 4, zero, 12) == 0);
    }
    if (p.frag && !p.frag_first) {
        /* no upper-layer header: nothing to classify by */
        REQUIRE(p.sport == 0 && p.dport == 0 && p.key == 0 && p.icmp_kind == EW_ICMP_NONE);
        return 0;
    }
    if (p.proto == EW_PROTO_TCP) REQUIRE(p.l4_len >= 20u && p.key == p.dport);
    if (p.proto == EW_PROTO_UDP) REQUIRE(p.l4_len >= 8u && p.key == p.dport);
    if (p.icmp_kind != EW_ICMP_NONE) {
        REQUIRE(p.proto == (p.family == 4 ? EW_PROTO_ICMP : EW_PROTO_ICMPV6));
        REQUIRE(p.l4_len >= 8u);
        REQUIRE(p.key == (uint16_t)(p.icmp_type << 8 | p.icmp_code));
    }
    if (p.icmp_kind == EW_ICMP_ECHO_REQUEST || p.icmp_kind == EW_ICMP_ECHO_REPLY)
        REQUIRE(p.sport == p.dport);
    if (p.icmp_kind == EW_ICMP_ERROR) REQUIRE(p.l4_len >= 8u + (p.family == 4 ? 20u : 40u));
    return 0;
}
