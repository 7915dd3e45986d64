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
 *   -> e and f in different subnets: the network ACL of e's subnet (EGRESS,
 *      NACL_EGRESS) then of f's subnet (INGRESS, NACL_INGRESS), every packet
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
/* The overlay's underlay UDP socket (io_underlay.c) is this reserved port:
 * decapsulated frames count RX and their drops on it; TAPs never get it. */
#define EW_PORT_UNDERLAY (EW_MAX_PORTS - 1u)

struct ew_core;
struct ew_table_view; /* a validated, loaded table (opaque) */
struct ew_fl_table;   /* a worker's flow-sample aggregation table (native/src/flowlog.h) */

struct ew_core_config {
    uint32_t conntrack_max;     /* total tracked connections (entries), >= 1 */
    uint32_t allowance_per_eni; /* max entries one ENI's zone may hold, >= 1 */
    uint64_t hash_salt;         /* random per process: keeps the hash unpredictable */
    /* Non-empty: conntrack lives in this shared file and a compatible region
     * left there by an earlier process is adopted (ew_ct_create_shared). */
    char ct_shm_path[256];
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
    struct ew_fl_table *fl; /* this burst's flow-sample table (flowlog.h); NULL: samples lost */
    /* This worker's conntrack entry cache (ew_core_cache_create); NULL: every
     * new connection takes its entry from the shared pool under its lock. */
    struct ew_ct_cache *ct_cache;
    /* Rule hit records (eniwall/hits.h): one per connection conntrack opens;
     * NULL: not recorded. */
    struct ew_hit_ring *hits;
};

enum ew_action {
    EW_ACT_DROP = 0,    /* reason in ew_verdict.reason (already counted) */
    EW_ACT_FORWARD = 1, /* write the (possibly rewritten) frame to out_port */
    EW_ACT_REPLY = 2, /* frame rewritten in place into an answer: write it back to the input port */
    EW_ACT_ENCAP = 3  /* to a remote ENI: encapsulate to its host (remote = REMOTE_ENIS index) */
};

struct ew_verdict {
    enum ew_action action;
    uint32_t out_port;
    uint16_t reason; /* enum ew_drop_reason */
    /* For capture (capture.h); set on every path, read only when a capture is on. */
    uint16_t nacl_rule; /* NACL_EGRESS / NACL_INGRESS: the deciding rule number, else 0 */
    uint32_t nacl;      /* that NACL's table index, else EW_INDEX_NONE */
    uint32_t dst_port;  /* the destination ENI's port once the forward lookup found it (also
                           when a later stage drops the frame), else EW_PORT_NONE */
    uint32_t remote;    /* EW_ACT_ENCAP: index into the table's REMOTE_ENIS */
};

/* ---- lifecycle (control plane; may allocate) ---- */
/* NULL and a one-line message in err on failure, also when conntrack_max or
 * allowance_per_eni is 0 (there are no defaults in C: the control plane owns them). */
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

/* A frame that arrived through the overlay (io_underlay.c): from underlay
 * host src_addr (IPv4, host order) with virtual network id vni. Validates
 * (known host, VNI of a known VPC, inner destination a local ENI of that
 * VPC, inner source not one of this host's ENIs), then runs the receiver's
 * NACL and ingress zone only: the sending host ran the egress. RX and drops
 * count on EW_PORT_UNDERLAY, ingress refusals on the receiver's port. */
void ew_process_decap(struct ew_worker_ctx *w, const struct ew_table_view *t, uint32_t src_addr,
                      uint32_t vni, uint8_t *frame, uint32_t *len, uint32_t cap,
                      struct ew_verdict *v);

/* A burst of frames (frame i read on in_ports[i]), with the same verdicts as n
 * calls of ew_process() in order. It parses every frame first and prefetches
 * the conntrack buckets and entries both zones of each will look up, so that
 * the cache misses of a large table overlap instead of stalling frame by frame
 * (the technique of DPDK's bulk hash lookup). Any n; EW_PROCESS_BURST at a time. */
#define EW_PROCESS_BURST 32u
void ew_process_burst(struct ew_worker_ctx *w, const struct ew_table_view *t,
                      const uint32_t *in_ports, uint8_t *const *frames, uint32_t *lens,
                      uint32_t cap, uint32_t n, struct ew_verdict *v);

/* ---- per-worker conntrack entry cache (conntrack.h has the bound it puts
 * on table-full answers); destroy returns its entries to the table, so call it
 * before ew_core_destroy, once the worker no longer runs. ---- */
struct ew_ct_cache *ew_core_cache_create(struct ew_core *core);
void ew_core_cache_destroy(struct ew_core *core, struct ew_ct_cache *c);

/* ---- housekeeping, off the per-packet path ---- */
/* Expire idle connections: look at no more than `budget` hash buckets, resuming
 * where the previous call stopped. */
void ew_core_sweep(struct ew_core *core, uint64_t now_ms, uint32_t budget);
/* The number of hash buckets: a full sweep pass is this many. */
uint32_t ew_core_ct_buckets(const struct ew_core *core);
/* Forget every connection of a port's zone (the port was closed or rebound). */
void ew_core_flush_port(struct ew_core *core, uint32_t port);
/* Entries currently held by a port's zone. */
uint32_t ew_core_ct_count(const struct ew_core *core, uint32_t port);
/* Times a port's zone was refused an entry because its allowance was used up. */
uint64_t ew_core_ct_allowance_exceeded(const struct ew_core *core, uint32_t port);

/* Conntrack entry states, as dumped in ew_ct_dump_entry.state. A contract:
 * append-only, numbers never change (src/dataplane/dataplane.ts names them and
 * test/abi-contract.test.ts checks it against this list). */
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

/* ---- for tests: one classifier query against a loaded table (the differential
 * tests compare it with the reference evaluator; `check` uses ew_trace below) ---- */
/* Returns 1 when the rules of the ENI at table index eni_index allow
 * (dir, family, proto, key, peer), 0 when not, -1 for a bad eni_index.
 * peer: IPv4 as 4 bytes or IPv6 as 16 bytes, network order. *world is set when
 * the matching interval is covered by a literal /0 rule. */
int ew_classify_query(const struct ew_table_view *t, uint32_t eni_index, enum ew_dir dir,
                      enum ew_family family, uint8_t proto, uint16_t key, const uint8_t *peer,
                      bool *world);

/* ---- `check`: what the table in force does with one packet, stage by stage ----
 * ew_trace() builds the frame the sender would write (Ethernet + IP + L4
 * header), parses it with ew_parse() and walks the decisions of ew_process()
 * (pipeline.h holds the shared ones; network ACL stages included, struct
 * ew_trace_nacl) without side effects: no counters, no
 * conntrack insert or update (ew_ct_peek), no fragment cache, no answers.
 *
 * The sender is the asked ENI (EGRESS) or the ENI owning the peer address in
 * its VPC (INGRESS); when no ENI owns it, no port could send the frame and only
 * the asked ENI's zone is judged (path EW_TRACE_PATH_NONE). The asked ENI's
 * zone is judged even when the frame is dropped before it (its `reached` is
 * then 0), so `check` can answer for its rules; not for frames to the router
 * or a service address, which no group ever judges. */
struct ew_trace_query {
    uint32_t eni;      /* table index of the ENI asked about */
    uint8_t dir;       /* enum ew_dir: EGRESS = it sends to peer; INGRESS = peer sends to it */
    uint8_t family;    /* 4 or 6 */
    uint8_t proto;     /* IP protocol number */
    uint8_t tcp_flags; /* TCP only: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10 */
    uint8_t icmp_type; /* ICMP / ICMPv6 */
    uint8_t icmp_code;
    uint8_t pad[2];
    uint16_t sport, dport; /* host order, TCP/UDP; ICMP echo: the identifier in sport */
    uint8_t local[16];     /* the ENI's own address; network order, IPv4 in the first 4 bytes */
    uint8_t peer[16];      /* the other end */
};

enum ew_trace_ct {
    EW_TRACE_CT_UNTRACKABLE = 0, /* never tracked (ICMP other than echo, impossible flags) */
    EW_TRACE_CT_MISS = 1,        /* no live connection matches */
    EW_TRACE_CT_HIT = 2,         /* a tracked connection carries it: rules not consulted */
    EW_TRACE_CT_RELATED = 3      /* an ICMP error about a tracked connection */
};

enum ew_trace_track {
    EW_TRACE_TRACK_NONE = 0,      /* not allowed by rules, or never tracked */
    EW_TRACE_TRACK_OPENS = 1,     /* allowed; would open a tracked connection */
    EW_TRACE_TRACK_UNTRACKED = 2, /* allowed; untracked (/0 both ways, section 4.2) */
    EW_TRACE_TRACK_NO_ENTRY = 3   /* allowed, but cannot open one (bare ACK, echo reply) */
};

enum ew_trace_path {
    EW_TRACE_PATH_PORT = 0, /* the frame from the sender's port walked the pipeline */
    EW_TRACE_PATH_NONE = 1  /* no ENI sends it (peer outside the VPC): asked zone only */
};

struct ew_trace_zone {
    uint32_t eni;       /* table index; EW_INDEX_NONE when there is no such zone */
    uint32_t port;      /* its port (the conntrack zone), EW_PORT_NONE when unbound */
    uint8_t judged;     /* this zone was evaluated */
    uint8_t reached;    /* the frame got here in the pipeline (else judged for `check` only) */
    uint8_t ct;         /* enum ew_trace_ct */
    uint8_t ct_state;   /* enum ew_ct_state on HIT / RELATED */
    uint8_t ct_reply;   /* the packet runs in the connection's reply direction */
    uint8_t classified; /* the classifier was asked */
    uint8_t allowed;    /* its answer */
    uint8_t world;      /* the matching interval is covered by a literal /0 rule */
    uint8_t track;      /* enum ew_trace_track */
    uint8_t pad;
    uint16_t reason; /* this zone's drop reason, EW_DROP_NONE when it passes */
};

enum ew_trace_nacl_skip {
    EW_TRACE_NACL_EVALUATED = 0,   /* the list was evaluated (see allowed, rule) */
    EW_TRACE_NACL_NO_PATH = 1,     /* the frame takes no path between two ENIs (outside peer,
                                      router, service address, dropped before forwarding) */
    EW_TRACE_NACL_SAME_SUBNET = 2, /* both ENIs in one subnet: no boundary is crossed */
    EW_TRACE_NACL_NONE = 3         /* the subnet has no network ACL: not filtered */
};

/* One network ACL stage. Evaluated whenever the frame crosses a subnet
 * boundary, also when an earlier stage drops it (reached = 0), so `check` can
 * say what the list would do. */
struct ew_trace_nacl {
    uint32_t nacl;  /* index into NACLS, EW_INDEX_NONE when not evaluated */
    uint32_t id_hi; /* acl-<17 hex>: ew_nacl.id_hi / id_lo */
    uint32_t id_lo;
    uint16_t rule;     /* deciding rule number; 32767 / 32768: the `*` rule */
    uint8_t skip;      /* enum ew_trace_nacl_skip */
    uint8_t evaluated; /* skip == EW_TRACE_NACL_EVALUATED */
    uint8_t allowed;
    uint8_t reached; /* the frame gets here in the pipeline */
    uint8_t pad[2];
};

struct ew_trace {
    uint64_t generation;
    uint32_t sender;       /* table ENI index, EW_INDEX_NONE when no ENI sends it */
    uint32_t receiver;     /* table ENI index, EW_INDEX_NONE when no ENI has the destination */
    uint32_t out_port;     /* FORWARD: the receiver's port */
    uint16_t reason;       /* the frame's drop reason; EW_DROP_NONE for FORWARD / REPLY */
    uint8_t action;        /* enum ew_action */
    uint8_t path;          /* enum ew_trace_path */
    uint8_t spoof_checked; /* source/dest check on for the sender, and passed */
    uint8_t routed;        /* between subnets (MAC rewrite, TTL decrement) */
    uint8_t router;        /* the peer is the ENI's subnet router: never judged by groups */
    uint8_t service;       /* egress to a service address: SERVICE_UNAVAILABLE, never judged */
    uint8_t neighbor;      /* ICMPv6 neighbour discovery / MLD: answered or ignored, never judged */
    uint8_t pad[3];
    struct ew_trace_zone
        zone[2]; /* [EW_DIR_INGRESS] the receiver's, [EW_DIR_EGRESS] the sender's */
    /* [EW_DIR_EGRESS] the source subnet's egress list, [EW_DIR_INGRESS] the
     * destination subnet's ingress list; pipeline order: zone[EGRESS],
     * nacl[EGRESS], nacl[INGRESS], zone[INGRESS]. */
    struct ew_trace_nacl nacl[2];
};

/* 0 and *out filled; -1 for a bad query (no table, ENI index, family, dir).
 * core may be NULL: no conntrack (every lookup misses). now_ms: the clock the
 * workers use (ew_engine_now_ms). Allocates nothing. */
int ew_trace(struct ew_core *core, const struct ew_table_view *t, const struct ew_trace_query *q,
             uint64_t now_ms, struct ew_trace *out);

#ifdef __cplusplus
}
#endif

#endif /* ENIWALL_CORE_H */
