/*
 * Answers the dataplane writes back to the sending ENI, built in place in the
 * frame buffer: ARP replies, neighbour advertisements, echo replies from the
 * subnet router, and ICMP time exceeded for routed packets whose TTL ran out.
 * Every builder stays within `cap` and computes correct checksums.
 */
#ifndef ENIWALL_REPLY_H
#define ENIWALL_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "parse.h"

/* fe80::/64 + modified EUI-64 of mac: the router's link-local address. */
void ew_link_local_from_mac(const uint8_t mac[6], uint8_t out[16]);

/* ARP request -> reply "ip is at mac"; frame length unchanged. */
void ew_reply_arp(uint8_t *frame, const uint8_t mac[6], uint32_t ip);

/* Neighbour solicitation -> advertisement for target (router flag when the
 * router answers). Returns false when cap is too small. */
bool ew_reply_na(uint8_t *frame, uint32_t *len, uint32_t cap, const struct ew_pkt *p,
                 const uint8_t target[16], const uint8_t mac[6], bool router);

/* Echo request (IPv4 or IPv6) -> echo reply from the address it was sent to. */
void ew_reply_echo(uint8_t *frame, uint32_t *len, const struct ew_pkt *p,
                   const uint8_t router_mac[6]);

/* Routed packet -> ICMP time exceeded (v4 type 11, v6 type 3) from router_ip
 * (4 or 16 bytes, network order), quoting as much of the packet as fits.
 * Returns false when cap cannot hold a useful quote. */
bool ew_reply_time_exceeded(uint8_t *frame, uint32_t *len, uint32_t cap, const struct ew_pkt *p,
                            const uint8_t router_mac[6], const uint8_t *router_ip);

#endif /* ENIWALL_REPLY_H */
