/*
 * Frame parser: Ethernet (no VLAN), ARP, IPv4 (options, fragments, header
 * checksum), IPv6 (bounded extension-header walk, fragment header), TCP, UDP,
 * ICMP, ICMPv6 (echo, errors with their embedded header, NDP).
 *
 * ew_parse() never reads outside [frame, frame + len) and returns the drop
 * reason for anything malformed or truncated (EW_DROP_NONE when usable).
 * Lengths past the IP packet (Ethernet padding) are ignored, not rejected.
 * L4 checksums are not verified: the receiving stack does that.
 */
#ifndef ENIWALL_PARSE_H
#define ENIWALL_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "eniwall/drops.h"

#define EW_ETH_HLEN       14u
#define EW_ETHERTYPE_IPV4 0x0800u
#define EW_ETHERTYPE_ARP  0x0806u
#define EW_ETHERTYPE_IPV6 0x86ddu

#define EW_PROTO_ICMP   1u
#define EW_PROTO_TCP    6u
#define EW_PROTO_UDP    17u
#define EW_PROTO_ICMPV6 58u

#define EW_TCP_FIN 0x01u
#define EW_TCP_SYN 0x02u
#define EW_TCP_RST 0x04u
#define EW_TCP_ACK 0x10u

/* The flow an ICMP error talks about (its embedded IP header + 8 bytes). */
struct ew_inner {
    uint8_t proto;
    bool echo;                /* embedded ICMP echo request/reply: ports hold the identifier */
    uint8_t src[16], dst[16]; /* network order; IPv4 in the first 4 bytes */
    uint16_t sport, dport;
};

enum ew_icmp_kind {
    EW_ICMP_NONE = 0, /* not ICMP of the packet's family */
    EW_ICMP_ECHO_REQUEST,
    EW_ICMP_ECHO_REPLY,
    EW_ICMP_ERROR, /* v4 3/4/5/11/12, v6 1/2/3/4; inner is set */
    EW_ICMP_NDP,   /* v6 133..137 */
    EW_ICMP_MLD,   /* v6 130..132, 143 */
    EW_ICMP_OTHER
};

struct ew_pkt {
    uint16_t ethertype;
    uint8_t family;  /* 4 or 6 for IP; 0 for ARP */
    uint8_t proto;   /* upper-layer protocol (after IPv6 extension headers) */
    uint32_t ip_len; /* bytes of the IP packet (Ethernet padding excluded) */
    uint32_t l4_off; /* frame offset of the upper-layer header */
    uint32_t l4_len; /* bytes from l4_off to the end of the IP packet */
    uint8_t ttl;     /* IPv4 TTL / IPv6 hop limit */
    uint8_t tcp_flags;
    bool l4;                  /* upper-layer header parsed (false for non-first fragments) */
    bool frag;                /* part of a fragmented datagram */
    bool frag_first;          /* offset 0 */
    uint32_t frag_id;         /* IPv4 identification / IPv6 fragment id */
    uint32_t src4, dst4;      /* IPv4, host order */
    uint8_t src[16], dst[16]; /* network order; IPv4 in the first 4 bytes, rest zero */
    uint16_t sport, dport;    /* host order; ICMP echo: identifier in both */
    uint16_t key;             /* classifier key: dst port, type << 8 | code, or 0 */
    uint8_t icmp_type, icmp_code;
    uint8_t icmp_kind; /* enum ew_icmp_kind */
    struct ew_inner inner;
    /* ARP (ethertype 0x0806) */
    uint16_t arp_op;
    uint32_t arp_spa, arp_tpa; /* host order */
};

enum ew_drop_reason ew_parse(const uint8_t *frame, uint32_t len, struct ew_pkt *p);

#endif /* ENIWALL_PARSE_H */
