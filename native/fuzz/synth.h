/*
 * Frame synthesis for the fuzz harnesses: a compact description (addresses,
 * protocol, ports, flags, fragment and extension-header layout, an ICMP error's
 * quoted packet) becomes a well-formed Ethernet frame with a valid IPv4 header
 * checksum, so that the fuzzer spends its time past the parser. Raw frames
 * (and bytes flipped after synthesis) cover the parser's rejections.
 */
#ifndef ENIWALL_FUZZ_SYNTH_H
#define ENIWALL_FUZZ_SYNTH_H

#include <stdint.h>

enum sy_kind {
    SY_TCP = 0,
    SY_UDP,
    SY_ECHO_REQUEST,
    SY_ECHO_REPLY,
    SY_ICMP_ERROR,
    SY_ICMP_OTHER, /* icmp_type / icmp_code as given (v6: NDP and MLD too) */
    SY_PROTO,      /* an IP protocol without ports (proto as given) */
    SY_ARP         /* IPv4 only: ARP with arp_op, sender src, target dst */
};

enum sy_frag { SY_FRAG_NONE = 0, SY_FRAG_FIRST, SY_FRAG_LATER };

struct sy_desc {
    uint8_t family; /* 4 or 6 */
    uint8_t kind;   /* enum sy_kind */
    uint8_t src_mac[6], dst_mac[6];
    uint8_t src[16], dst[16]; /* network order; IPv4 in the first 4 bytes */
    uint16_t sport, dport;    /* ICMP echo: sport is the identifier */
    uint8_t tcp_flags, ttl, icmp_type, icmp_code, proto;
    uint8_t frag; /* enum sy_frag */
    uint32_t frag_id;
    uint8_t ext6;     /* IPv6 extension header: 0 none, 1 hop-by-hop, 2 dest opts, 3 routing */
    uint16_t payload; /* bytes after the L4 header */
    uint16_t arp_op;
    /* SY_ICMP_ERROR: the quoted packet */
    uint8_t inner_kind; /* SY_TCP, SY_UDP, SY_ECHO_REQUEST or SY_ECHO_REPLY */
    uint8_t inner_src[16], inner_dst[16];
    uint16_t inner_sport, inner_dport;
};

/* Writes the frame into out (at least 2048 bytes); returns its length. */
uint32_t sy_build(uint8_t *out, const struct sy_desc *d);
/* Recomputes the IPv4 header checksum of an IPv4 frame (after byte flips). */
void sy_fix_ipv4_csum(uint8_t *frame, uint32_t len);

#endif /* ENIWALL_FUZZ_SYNTH_H */
