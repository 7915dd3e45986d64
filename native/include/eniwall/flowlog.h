/*
 * Flow samples: what the C core hands the control plane for VPC Flow Logs.
 *
 * A sample aggregates the packets of one (ENI port, direction, action, 5-tuple)
 * since the previous drain; only ENIs whose table record carries
 * EW_ENI_FLOW_LOG (table.h) make samples. Which packets count (README "Flow
 * samples in the dataplane"): the sender's egress verdict (REJECT for
 * SG_EGRESS / NACL_EGRESS / CT_* in its zone, else ACCEPT) and, once the frame
 * got past the sender's side, the receiver's (REJECT for NACL_INGRESS /
 * SG_INGRESS / CT_* in its zone, ACCEPT when delivered). Infrastructure drops
 * and the traffic AWS never logs make none.
 *
 * Where samples are born (native/src/flowlog.h has the design): accepted
 * tracked packets in their conntrack entry, everything else in a bounded
 * per-worker aggregation table. The same key may appear more than once in one
 * drain (one worker's table, another's, a conntrack entry): the reader sums.
 *
 * The record is a contract with src/abi/flow-sample.ts (test/abi-contract.test.ts
 * checks the offsets against native/test/layout_dump.c).
 */
#ifndef ENIWALL_FLOWLOG_H
#define ENIWALL_FLOWLOG_H

#include <stdint.h>

#include "eniwall/core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ew_flow_action { EW_FLOW_ACCEPT = 0, EW_FLOW_REJECT = 1 };

struct ew_flow_sample {
    uint8_t src[16];   /* the packet's source; IPv4 in the first 4 bytes, network order */
    uint8_t dst[16];   /* its destination */
    uint64_t packets;  /* since the previous drain */
    uint64_t bytes;    /* IP bytes */
    uint64_t first_ms; /* Unix epoch ms of the first packet since the previous drain */
    uint64_t last_ms;  /* ... and of the last */
    uint16_t port;     /* dataplane port of the ENI the sample belongs to */
    uint16_t sport;    /* host order; 0 when not TCP/UDP */
    uint16_t dport;
    uint16_t reason;   /* enum ew_drop_reason for REJECT, EW_DROP_NONE for ACCEPT */
    uint8_t dir;       /* enum ew_dir, relative to the port's ENI */
    uint8_t action;    /* enum ew_flow_action */
    uint8_t family;    /* 4 or 6 */
    uint8_t proto;     /* IP protocol number */
    uint8_t tcp_flags; /* OR of the raw TCP flags seen */
    uint8_t pad[3];
};
#ifdef __cplusplus
static_assert(sizeof(struct ew_flow_sample) == 80, "ew_flow_sample is a fixed-size record");
#else
_Static_assert(sizeof(struct ew_flow_sample) == 80, "ew_flow_sample is a fixed-size record");
#endif

#ifdef __cplusplus
}
#endif

#endif /* ENIWALL_FLOWLOG_H */
