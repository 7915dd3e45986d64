/*
 * Drop reasons and per-port counters: one numbered, append-only list shared by
 * the C dataplane and TypeScript (src/abi/drops.ts mirrors it; a test
 * parses this file and compares). Never renumber or reuse a number: counters,
 * logs and dashboards key on them. Text for humans lives on the TypeScript side.
 */
#ifndef ENIWALL_DROPS_H
#define ENIWALL_DROPS_H

/* X(number, NAME) */
#define EW_DROP_REASONS(X)                                                                         \
    X(0, NONE)                  /* not a drop */                                                   \
    X(1, TRUNCATED_ETH)         /* shorter than an Ethernet header */                              \
    X(2, UNSUPPORTED_ETHERTYPE) /* not IPv4, IPv6 or ARP (VLAN tags included) */                   \
    X(3, MALFORMED_ARP)                                                                            \
    X(4, MALFORMED_IPV4)         /* bad version, IHL, total length or header checksum */           \
    X(5, MALFORMED_IPV6)         /* bad version, payload length or extension-header chain */       \
    X(6, MALFORMED_L4)           /* TCP/UDP/ICMP header truncated or inconsistent */               \
    X(7, NO_TABLE)               /* no table loaded yet */                                         \
    X(8, PORT_NOT_BOUND)         /* frame on a port that no ENI in the table uses */               \
    X(9, SPOOFED_MAC)            /* source MAC is not the ENI's (source/dest check on) */          \
    X(10, SPOOFED_IP)            /* source IP is not the ENI's (source/dest check on) */           \
    X(11, ARP_UNKNOWN_TARGET)    /* ARP request for an address nobody in the subnet owns */        \
    X(12, ND_UNKNOWN_TARGET)     /* neighbour solicitation for an unknown address */               \
    X(13, BROADCAST)             /* broadcast/multicast data: a VPC has no broadcast */            \
    X(14, NO_ROUTE)              /* destination is not an ENI or router of this VPC */             \
    X(15, WRONG_DST_MAC)         /* addressed to neither the router nor the destination ENI */     \
    X(16, SG_EGRESS)             /* no egress rule of the sending ENI allows it */                 \
    X(17, SG_INGRESS)            /* no ingress rule of the receiving ENI allows it */              \
    X(18, CT_ALLOWANCE_EXCEEDED) /* the ENI's conntrack allowance is used up */                    \
    X(19, CT_TABLE_FULL)         /* the global conntrack table is full */                          \
    X(20, CT_INVALID)       /* TCP segment that cannot open or continue a tracked connection */    \
    X(21, TTL_EXCEEDED)     /* routed packet whose TTL/hop limit ran out */                        \
    X(22, FRAGMENT)         /* non-first fragment with no flow to attach it to */                  \
    X(23, ROUTER_UNHANDLED) /* addressed to the router, not something it answers */                \
    X(24, PORT_DOWN)        /* destination ENI's port is closed */                                 \
    X(25, TX_FAILED)        /* writing to the destination TAP failed (queue full) */               \
    X(26, FRAME_TOO_BIG)    /* larger than the destination can take */                             \
    X(27, ICMP_ERROR_UNRELATED) /* ICMP error about no tracked flow */                             \
    X(28, NEIGHBOR_NOISE) /* gratuitous ARP, DAD probes, router solicitations, MLD: ignored */     \
    X(29, SERVICE_UNAVAILABLE) /* to a VPC service address (DNS, metadata, time sync) eniwall      \
                                  does not provide */                                              \
    X(30, HAIRPIN)             /* an ENI's frame addressed to its own address */                   \
    X(31, NACL_EGRESS)         /* the source subnet's network ACL denies it leaving the subnet */  \
    X(32, NACL_INGRESS) /* the destination subnet's network ACL denies it entering the subnet */   \
    X(33, OVERLAY_MALFORMED)    /* underlay datagram: not a well-formed VXLAN header + frame */    \
    X(34, OVERLAY_UNKNOWN_HOST) /* underlay datagram from an address that is no known host */      \
    X(35, OVERLAY_UNKNOWN_VNI)  /* VXLAN network id of no VPC this host knows */                   \
    X(36, OVERLAY_UNKNOWN_DST)  /* inner destination is not a local ENI of that VPC */             \
    X(37, OVERLAY_SPOOFED_SRC)  /* inner source is one of this host's own ENIs */                  \
    X(38, OVERLAY_NO_UNDERLAY)  /* to a remote ENI, but no underlay socket / too big to carry */

#define EW_DROP_ENUM_(n, name) EW_DROP_##name = n,
enum ew_drop_reason { EW_DROP_REASONS(EW_DROP_ENUM_) EW_DROP_COUNT };
#undef EW_DROP_ENUM_

/* Per-port counters other than drops. X(number, NAME); append-only too. */
#define EW_PORT_COUNTERS(X)                                                                        \
    X(0, RX_PACKETS) /* frames read from the port (the ENI sent them) */                           \
    X(1, RX_BYTES)                                                                                 \
    X(2, TX_PACKETS) /* frames written to the port (delivered to the ENI) */                       \
    X(3, TX_BYTES)                                                                                 \
    X(4, ACCEPTED)  /* frames from this ENI forwarded to another ENI */                            \
    X(5, CT_HITS)   /* packets matched an existing tracked connection (either zone) */             \
    X(6, CT_NEW)    /* tracked connections opened in this ENI's zone */                            \
    X(7, UNTRACKED) /* packets allowed by rules on an untracked flow */                            \
    X(8, EXEMPT)    /* retired (never counted): exemption by address is gone, see README */        \
    X(9, ARP_REPLIES)                                                                              \
    X(10, ND_REPLIES)                                                                              \
    X(11, ROUTER_ICMP_REPLIES) /* echo replies and ICMP errors generated by the router */          \
    X(12, ROUTED)              /* forwarded between subnets (TTL decremented) */                   \
    X(13, FLOW_SAMPLES_LOST)   /* flow samples lost to a full aggregation table (SKIPDATA) */

#define EW_CNT_ENUM_(n, name) EW_CNT_##name = n,
enum ew_port_counter { EW_PORT_COUNTERS(EW_CNT_ENUM_) EW_CNT_COUNT };
#undef EW_CNT_ENUM_

#endif /* ENIWALL_DROPS_H */
