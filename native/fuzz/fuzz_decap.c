/*
 * libFuzzer harness: the overlay's receive path without sockets — the VXLAN
 * header (vxlan.h) then ew_process_decap() on a table with one local ENI, one
 * remote ENI and one known underlay host. Input: byte 0 picks the underlay
 * source (even: the known host), the rest is the UDP payload as received.
 * Checks: the reason is in range; a decapsulated frame is only ever
 * forwarded to the local ENI's port (never answered, never re-encapsulated),
 * within the buffer; every datagram that decodes is counted RX on the
 * underlay port.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eniwall/core.h"
#include "tbuild.h"
#include "vxlan.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "VERDICT VIOLATION: decap: %s\n", #cond);                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define HOST    0xc0000202u
#define VNI     4242u
#define P_LOCAL 1u
#define CAP     2048u

static struct ew_table_view *table;
static struct ew_core *core;
static struct ew_port_counters *counters;

static void setup(void) {
    static struct tb b;
    tb_init(&b);
    b.generation = 1;
    uint32_t v = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    tb_subnet(&b, v, "10.0.1.0", 24, "fd00::", 64);
    uint32_t rs = tb_ruleset(&b);
    tb_rule(&b, rs, EW_DIR_INGRESS, 6, 22, 22, "10.0.0.0/16");
    tb_rule(&b, rs, EW_DIR_INGRESS, TB_ANY, 0, 0, "fd00::/56");
    tb_rule(&b, rs, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_eni(&b, 0, rs, P_LOCAL, "10.0.1.10", "fd00::10", EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, 0, rs, EW_PORT_NONE, "10.0.1.20", "fd00::20", EW_ENI_SRC_DST_CHECK | EW_ENI_REMOTE);
    b.remotes[0] = (struct ew_remote_eni){1, 0};
    b.n_remotes = 1;
    b.hosts[0] = (struct ew_underlay_host){HOST, 4789, 0};
    b.n_hosts = 1;
    b.vpc_vni[0] = VNI;
    b.n_vpc_vni = 1;
    table = tb_load(&b);
    struct ew_core_config cfg = {.conntrack_max = 4096, .allowance_per_eni = 4096, .hash_salt = 1};
    char err[128];
    core = ew_core_create(&cfg, err, sizeof err);
    counters = calloc(EW_MAX_PORTS, sizeof *counters);
    REQUIRE(table && core && counters);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!table) setup();
    if (size < 1 || size > CAP + EW_VXLAN_HLEN) return 0;
    uint32_t src = (data[0] & 1u) ? HOST + data[0] : HOST;
    const uint8_t *dgram = data + 1;
    uint32_t n = (uint32_t)(size - 1), vni;
    bool vnet;
    if (!ew_vxlan_decode(dgram, n, &vni, &vnet)) return 0;
    static uint8_t frame[CAP];
    uint32_t len = n - EW_VXLAN_HLEN;
    memcpy(frame, dgram + EW_VXLAN_HLEN, len); /* exact-size copy: ASan sees overreads */
    uint8_t *exact = malloc(len ? len : 1);
    REQUIRE(exact);
    memcpy(exact, frame, len);
    struct ew_worker_ctx w = {.core = core, .counters = counters, .now_ms = 1000};
    uint64_t rx = counters[EW_PORT_UNDERLAY].cnt[EW_CNT_RX_PACKETS];
    struct ew_verdict v;
    ew_process_decap(&w, table, src, vni, exact, &len, len, &v);
    REQUIRE(v.reason < EW_DROP_COUNT);
    REQUIRE(counters[EW_PORT_UNDERLAY].cnt[EW_CNT_RX_PACKETS] == rx + 1);
    REQUIRE(v.action == EW_ACT_DROP || v.action == EW_ACT_FORWARD);
    if (v.action == EW_ACT_FORWARD) {
        REQUIRE(v.out_port == P_LOCAL && src == HOST && vni == VNI);
        REQUIRE(len == n - EW_VXLAN_HLEN);
    } else {
        REQUIRE(v.reason != EW_DROP_NONE);
    }
    free(exact);
    return 0;
}
