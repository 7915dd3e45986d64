/*
 * Test-only frame builders: Ethernet + IPv4/IPv6 + TCP/UDP/ICMP/ICMPv6, ARP
 * and neighbour solicitations, with valid IP and L4 checksums, plus checksum
 * verifiers for the answers the core builds. Each returns the frame length.
 */
#ifndef ENIWALL_TEST_FRAMES_H
#define ENIWALL_TEST_FRAMES_H

#include <stdbool.h>
#include <stdint.h>

struct fr_l2 {
    uint8_t src[6];
    uint8_t dst[6];
};

/* An ENI's MAC in tbuild (02:00:00:00:00:<index + 10>) and a subnet router's. */
struct fr_l2 fr_macs(const uint8_t src[6], const uint8_t dst[6]);
void fr_eni_mac(uint32_t eni, uint8_t out[6]);
void fr_router_mac(uint32_t subnet, uint8_t out[6]);
/* The same in a static buffer per ENI / subnet, for use inside an expression:
 * fr_macs(fr_mac(E_WEB), fr_rmac(SUB_A)). */
uint8_t *fr_mac(uint32_t eni);
uint8_t *fr_rmac(uint32_t subnet);

uint32_t fr_ip4(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t proto,
                uint8_t ttl, const uint8_t *l4, uint32_t l4len);
uint32_t fr_ip6(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t proto,
                uint8_t hlim, const uint8_t *l4, uint32_t l4len);

uint32_t fr_tcp4(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint16_t sport,
                 uint16_t dport, uint8_t flags);
uint32_t fr_udp4(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint16_t sport,
                 uint16_t dport, uint32_t payload);
uint32_t fr_icmp4(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t type,
                  uint8_t code, uint16_t id, uint32_t payload);
uint32_t fr_tcp6(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint16_t sport,
                 uint16_t dport, uint8_t flags);
uint32_t fr_udp6(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint16_t sport,
                 uint16_t dport, uint32_t payload);
uint32_t fr_icmp6(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t type,
                  uint8_t code, uint16_t id, uint32_t payload);
/* ICMP error (v4 type/code) quoting the IPv4 packet of the frame `orig`. */
uint32_t fr_icmp4_error(uint8_t *f, struct fr_l2 l2, const char *src, const char *dst, uint8_t type,
                        uint8_t code, const uint8_t *orig, uint32_t orig_len);

uint32_t fr_arp(uint8_t *f, const uint8_t src_mac[6], uint16_t op, const char *spa,
                const char *tpa);
/* Neighbour solicitation for target from src (hop limit 255, source LL option). */
uint32_t fr_ns(uint8_t *f, const uint8_t src_mac[6], const char *src, const char *target,
               uint8_t hlim);

/* Sets IPv4 fragment fields (offset in bytes, more-fragments) and fixes the checksum. */
void fr_ip4_frag(uint8_t *f, uint16_t id, uint32_t offset, bool more);

bool fr_ip4_csum_ok(const uint8_t *f);
bool fr_l4_csum_ok(const uint8_t *f, uint32_t len); /* TCP/UDP/ICMP/ICMPv6 of an IP frame */

#endif /* ENIWALL_TEST_FRAMES_H */
