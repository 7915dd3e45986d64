/*
 * eniwall core — the per-packet engine, independent of how frames arrive.
 *
 * What: given one Ethernet frame read from the port (TAP) of an ENI, decide
 * what happens to it: answer it (ARP, neighbour solicitation, ping to the
 * subnet router, ICMP time exceeded), forward it to the port of another ENI,
 * or drop it with a numbered reason (drops.h). The I/O layer (native/src/io_*.c)
 * reads frames in bursts, calls ew_process() for each, and writes the result.
 *
 * Order of work for a frame on port P (ENI e):
 *   parse -> ARP/NDP answers -> source/dest check (anti-spoof) -> router answers
 *   -> to a service address (DNS, metadata, time sync): SERVICE_UNAVAILABLE
 *   -> forward lookup (dst ENI f, same VPC; f == e: HAIRPIN)
 *   -> zone e: conntrack hit, or classify EGRESS of e (+ insert if tracked)
 *   -> zone f: conntrack hit, or classify INGRESS of f (+ insert if tracked)
 *   -> routed between subnets: MAC rewrite, TTL/hop limit decrement
 *   -> EW_ACT_FORWARD to f's port.
 *
 * Thread safety: one struct ew_core is shared by all workers. ew_process() may
 * run concurrently on several workers; each passes its own ew_worker_ctx
 * (its counters are private to it, summed by the reader). The conntrack table
 * inside the core uses per-bucket locks that are uncontended in practice.
 * Tables are immutable; the I/O layer decides when a worker moves to a new one.
 *
 * Allocation: ew_core_create() and ew_table_load() allocate; ew_process() and
 * ew_core_sweep() never do.
 */
#ifndef ENIWALL_CORE_H
#define ENIWALL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eniwall/drops.h"
#include "eniwall/table.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EW_MAX_PORTS 4096u /* port ids are 0..EW_MAX_PORTS-1 */

struct ew_core;
struct ew_table_view; /* a validated, loaded table (opaque) */

struct ew_core_config {
    uint32_t conntrack_max;     /* total tracked connections (entries), >= 1,000,000 by default */
    uint32_t allowance_per_eni; /* max entries one ENI's zone may hold; 0 = conntrack_max / 4 */
    uint64_t hash_salt;         /* random per process: keeps the hash unpredictable */
};

/* Counters one worker keeps for one port; readers sum across workers. */
struct ew_port_counters {
    uint64_t cnt[EW_CNT_COUNT];
    uint64_t drop[EW_DROP_COUNT];
};

/* Per-worker context passed to every ew_process() call. */
struct ew_worker_ctx {
    struct ew_core *core;
    struct ew_port_counters *counters; /* [EW_MAX_PORTS], owned by this worker */
    uint64_t now_ms;                   /* monotonic clock, set by the worker once per burst */
};

enum ew_action {
    EW_ACT_DROP = 0,    /* reason in ew_verdict.reason (already counted) */
    EW_ACT_FORWARD = 1, /* write the (possibly rewritten) frame to out_port */
    EW_ACT_REPLY = 2 /* frame rewritten in place into an answer: write it back to the input port */
};

struct ew_verdict {
    enum ew_action action;
    uint32_t out_port;
    uint16_t reason; /* enum ew_drop_reason */
};

/* ---- lifecycle (control plane; may allocate) ---- */
struct ew_core *ew_core_create(const struct ew_core_config *cfg, char *err, size_t errlen);
void ew_core_destroy(struct ew_core *core);

/* Copy and validate a compiled table (table.h). NULL and a one-line message
 * in err when anything is out of bounds or inconsistent. */
struct ew_table_view *ew_table_load(const void *buf, size_t len, char *err, size_t errlen);
void ew_table_free(struct ew_table_view *t);
uint64_t ew_table_generation(const struct ew_table_view *t);

/* ---- per packet ----
 * frame: Ethernet header first; *len its length, updated when rewritten;
 * cap: bytes writable at frame (an answer may be longer than the request).
 * Counts RX on in_port and the drop reason; the I/O layer counts TX after
 * the write succeeds (and TX_FAILED / PORT_DOWN when it does not). */
void ew_process(struct ew_worker_ctx *w, const struct ew_table_view *t, uint32_t in_port,
                uint8_t *frame, uint32_t *len, uint32_t cap, struct ew_verdict *v);

/* ---- housekeeping, off the per-packet path ---- */
/* Expire idle connections: look at no more than `budget` hash buckets, resuming
 * where the previous call stopped. */
void ew_core_sweep(struct ew_core *core, uint64_t now_ms, uint32_t budget);
/* Forget every connection of a port's zone (the port was closed or rebound). */
void ew_core_flush_port(struct ew_core *core, uint32_t port);
/* Entries currently held by a port's zone. */
uint32_t ew_core_ct_count(const struct ew_core *core, uint32_t port);
/* Times a port's zone was refused an entry because its allowance was used up. */
uint64_t ew_core_ct_allowance_exceeded(const struct ew_core *core, uint32_t port);

/* Conntrack entry states, as dumped in ew_ct_dump_entry.state. A contract:
 * append-only, numbers never change (src/dataplane/dataplane.ts names them and
 * test/ct-states.test.ts checks it against this list). */
enum ew_ct_state {
    EW_CT_NONE = 0, /* free entry */
    EW_CT_TCP_SYN_SENT = 1,
    EW_CT_TCP_SYN_RECV = 2,
    EW_CT_TCP_ESTABLISHED = 3,
    EW_CT_TCP_FIN_WAIT = 4,
    EW_CT_TCP_CLOSE_WAIT = 5,
    EW_CT_TCP_LAST_ACK = 6,
    EW_CT_TCP_TIME_WAIT = 7,
    EW_CT_TCP_CLOSE = 8,
    EW_CT_UDP_SINGLE = 9,  /* one direction, or a single request-response */
    EW_CT_UDP_STREAM = 10, /* more than one request-response exchange */
    EW_CT_ICMP_ECHO = 11,
    EW_CT_OTHER = 12 /* any other protocol: address pair + protocol */
};

/* One conntrack entry as dumped for `eniwall flows`. */
struct ew_ct_dump_entry {
    uint32_t zone;  /* port id */
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
    uint8_t state; /* enum ew_ct_state */
    uint8_t pad;
    uint8_t src[16]; /* originator; IPv4 in the first 4 bytes, network order */
    uint8_t dst[16];
    uint16_t sport; /* host order; ICMP echo: the identifier */
    uint16_t dport;
    uint32_t idle_ms;    /* since the last packet */
    uint32_t timeout_ms; /* idle time after which it expires in its current state */
    uint64_t packets_orig;
    uint64_t packets_reply;
    uint64_t bytes_orig;
    uint64_t bytes_reply;
};

/* Copy up to max entries starting at *cursor (0 to begin); *cursor is advanced,
 * and 0 after the last page. Returns the number copied. */
uint32_t ew_core_ct_dump(struct ew_core *core, uint64_t *cursor, struct ew_ct_dump_entry *out,
                         uint32_t max, uint64_t now_ms);

/* ---- for tests and `check`: one classifier query against a loaded table ---- */
/* Returns 1 when the rules of the ENI at table index eni_index allow
 * (dir, family, proto, key, peer), 0 when not, -1 for a bad eni_index.
 * peer: IPv4 as 4 bytes or IPv6 as 16 bytes, network order. *world is set when
 * the matching interval is covered by a literal /0 rule. */
int ew_classify_query(const struct ew_table_view *t, uint32_t eni_index, enum ew_dir dir,
                      enum ew_family family, uint8_t proto, uint16_t key, const uint8_t *peer,
                      bool *world);

#ifdef __cplusplus
}
#endif

#endif /* ENIWALL_CORE_H */
