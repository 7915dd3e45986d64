/*
 * Classifier lookup: does any rule of one (ENI ruleset, direction, family)
 * allow (protocol, key, peer)? Cost: a binary search over the protocol
 * entries, one over the key intervals, one over the interval's merged peer
 * ranges, then one per referenced address set — independent of rule count.
 *
 * Keys: TCP/UDP destination port; ICMP/ICMPv6 type << 8 | code; 0 otherwise.
 * A protocol without its own entry falls back to the default list ("-1"
 * rules), which is searched with key 0: "-1" rules are port-less, so the
 * compiler must also merge them into every protocol entry it emits.
 *
 * Thread safety: reads the immutable table only.
 */
#ifndef ENIWALL_CLASSIFY_H
#define ENIWALL_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "table_view.h"

/* peer: host-order IPv4. *world: the matching interval carries EW_IV_WORLD. */
bool ew_classify4(const struct ew_table_view *t, const struct ew_classifier *c, uint8_t proto,
                  uint16_t key, uint32_t peer, bool *world);
/* peer: 16 bytes, network order. */
bool ew_classify6(const struct ew_table_view *t, const struct ew_classifier *c, uint8_t proto,
                  uint16_t key, const uint8_t *peer, bool *world);

#endif /* ENIWALL_CLASSIFY_H */
