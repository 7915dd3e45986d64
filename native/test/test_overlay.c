/*
 * The overlay's half of the core (process.c handle_remote / ew_process_decap,
 * vxlan.h, the loader's overlay checks): a frame to a remote ENI is judged by
 * the sender's zone and comes out as ENCAP naming its REMOTE_ENIS entry; ARP
 * for a remote ENI is answered; a decapsulated frame is validated (known host,
 * VNI, a local destination, a source not ours) and judged by the receiver's
 * zone only, replies passing by state; the loader refuses inconsistent
 * overlay sections.
 */
#include <stdlib.h>
#include <string.h>

#include "eniwall/core.h"
#include "frames.h"
#include "harness.h"
#include "tbuild.h"
#include "vxlan.h"

#define CAP  2048u
#define HOST 0xc0000202u /* 192.0.2.2 */
#define VNI  4242u

enum { E_LOCAL = 0, E_REMOTE = 1, E_LOCKED = 2, E_REMOTE2 = 3 };
enum { P_LOCAL = 1, P_LOCKED = 2 };

static void build(struct tb *b) {
    tb_init(b);
    b->generation = 1;
    uint32_t v = tb_vpc(b, "10.0.0.0", 16, "fd00::", 56);
    uint32_t s0 = tb_subnet(b, v, "10.0.1.0", 24, "fd00::", 64);
    tb_subnet(b, v, "10.0.2.0", 24, "fd00:0:0:2::", 64);
    /* Subnet 0's NACL: inbound tcp 22 from subnet 1 denied, everything else allowed. */
    uint32_t acl = tb_nacl(b);
    tb_nacl_entry(b, acl, EW_DIR_INGRESS, 10, 6, 22, 22, "10.0.2.0/24", EW_NACL_DENY);
    tb_nacl_entry(b, acl, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(b, acl, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_subnet_nacl(b, s0, acl);
    uint32_t open = tb_ruleset(b), locked = tb_ruleset(b);
    tb_rule(b, open, EW_DIR_EGRESS, 6, 80, 80, "10.0.0.0/16");
    tb_rule(b, open, EW_DIR_INGRESS, 6, 22, 22, "10.0.1.20/32");
    tb_rule(b, open, EW_DIR_INGRESS, 6, 22, 22, "fd00::20/128");
    tb_rule(b, open, EW_DIR_INGRESS, 6, 22, 22, "10.0.2.40/32");
    tb_rule(b, open, EW_DIR_INGRESS, 6, 2222, 2222, "10.0.2.40/32");
    tb_rule(b, locked, EW_DIR_INGRESS, 6, 80, 80, "10.0.0.0/16");
    const uint8_t chk = EW_ENI_SRC_DST_CHECK;
    tb_eni(b, 0, open, P_LOCAL, "10.0.1.10", "fd00::10", chk);
    tb_eni(b, 0, open, EW_PORT_NONE, "10.0.1.20", "fd00::20", chk | EW_ENI_REMOTE);
    tb_eni(b, 0, locked, P_LOCKED, "10.0.1.30", "fd00::30", chk);
    tb_eni(b, 1, open, EW_PORT_NONE, "10.0.2.40", NULL, chk | EW_ENI_REMOTE);
    b->remotes[0] = (struct ew_remote_eni){E_REMOTE, 0};
    b->remotes[1] = (struct ew_remote_eni){E_REMOTE2, 0};
    b->n_remotes = 2;
    b->hosts[0] = (struct ew_underlay_host){HOST, 4789, 0};
    b->n_hosts = 1;
    b->vpc_vni[0] = VNI;
    b->n_vpc_vni = 1;
}

static void loader_checks(void) {
    static struct tb b;
    char err[256];
    size_t n;
    build(&b);
    b.n_remotes = 0; /* a flagged ENI without its entry */
    uint8_t *buf = tb_build(&b, &n);
    CHECK(ew_table_load(buf, n, err, sizeof err) == NULL, "flag without entry accepted");
    free(buf);
    build(&b);
    b.remotes[0].host = 5; /* no such host */
    buf = tb_build(&b, &n);
    CHECK(ew_table_load(buf, n, err, sizeof err) == NULL, "bad host index accepted");
    free(buf);
    build(&b);
    b.vpc_vni[0] = 0x1000000u; /* over 24 bits */
    buf = tb_build(&b, &n);
    CHECK(ew_table_load(buf, n, err, sizeof err) == NULL, "25-bit VNI accepted");
    free(buf);
}

static void vxlan_checks(void) {
    uint8_t h[8];
    uint32_t vni = 0;
    bool vnet = false;
    ew_vxlan_encode(h, 0xabcdefu, true);
    CHECK(ew_vxlan_decode(h, 8, &vni, &vnet) && vni == 0xabcdefu && vnet, "round trip");
    CHECK(!ew_vxlan_decode(h, 7, &vni, &vnet), "short header accepted");
    h[0] = 0;
    CHECK(!ew_vxlan_decode(h, 8, &vni, &vnet), "header without the I flag accepted");
    ew_vxlan_encode(h, 1, false);
    h[7] = 1;
    CHECK(!ew_vxlan_decode(h, 8, &vni, &vnet), "reserved byte set accepted");
}

int main(void) {
    loader_checks();
    vxlan_checks();
    static struct tb b;
    build(&b);
    struct ew_table_view *t = tb_load(&b);
    struct ew_core_config cfg = {.conntrack_max = 1024, .allowance_per_eni = 1024, .hash_salt = 7};
    char err[128];
    struct ew_core *core = ew_core_create(&cfg, err, sizeof err);
    struct ew_port_counters *cnt = calloc(EW_MAX_PORTS, sizeof *cnt);
    struct ew_worker_ctx w = {.core = core, .counters = cnt, .now_ms = 1000};
    uint8_t f[CAP];
    uint32_t len;
    struct ew_verdict v;

    /* Sender side: allowed egress -> ENCAP to the remote entry, nothing judged for the receiver. */
    struct fr_l2 to_remote = fr_macs(fr_mac(E_LOCAL), fr_mac(E_REMOTE));
    len = fr_tcp4(f, to_remote, "10.0.1.10", "10.0.1.20", 40000, 80, 0x02);
    ew_process(&w, t, P_LOCAL, f, &len, CAP, &v);
    CHECK_EQ(v.action, EW_ACT_ENCAP, "allowed SYN to a remote ENI");
    CHECK_EQ(v.out_port, EW_PORT_UNDERLAY, "out port");
    CHECK_EQ(v.remote, 0u, "remote entry");
    CHECK_EQ(cnt[P_LOCAL].cnt[EW_CNT_CT_NEW], 1u, "the sender's zone tracks it");
    /* Refused by the sender's egress (port 81): counted here, never encapsulated. */
    len = fr_tcp4(f, to_remote, "10.0.1.10", "10.0.1.20", 40000, 81, 0x02);
    ew_process(&w, t, P_LOCAL, f, &len, CAP, &v);
    CHECK(v.action == EW_ACT_DROP && v.reason == EW_DROP_SG_EGRESS, "egress refusal");
    CHECK_EQ(cnt[P_LOCAL].drop[EW_DROP_SG_EGRESS], 1u, "SG_EGRESS on the sender");
    /* ARP for the remote ENI is answered with its MAC. */
    len = fr_arp(f, fr_mac(E_LOCAL), 1, "10.0.1.10", "10.0.1.20");
    ew_process(&w, t, P_LOCAL, f, &len, CAP, &v);
    CHECK_EQ(v.action, EW_ACT_REPLY, "ARP for a remote ENI");
    CHECK_MEM(f + 14 + 8, fr_mac(E_REMOTE), 6, "answered with the remote MAC");

    /* Receiver side: the remote's SYN-ACK passes by state (no ingress rule for port 40000). */
    struct fr_l2 from_remote = fr_macs(fr_mac(E_REMOTE), fr_mac(E_LOCAL));
    len = fr_tcp4(f, from_remote, "10.0.1.20", "10.0.1.10", 80, 40000, 0x12);
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK(v.action == EW_ACT_FORWARD && v.out_port == P_LOCAL, "reply by state: %d/%u", v.action,
          v.reason);
    CHECK_EQ(cnt[EW_PORT_UNDERLAY].cnt[EW_CNT_ACCEPTED], 1u, "accepted on the underlay port");
    /* A new connection the local ENI's ingress allows (22 from .20), and one it does not. */
    len = fr_tcp4(f, from_remote, "10.0.1.20", "10.0.1.10", 1234, 22, 0x02);
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK_EQ(v.action, EW_ACT_FORWARD, "ingress rule admits 22");
    len = fr_tcp4(f, from_remote, "10.0.1.20", "10.0.1.10", 1234, 23, 0x02);
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK(v.action == EW_ACT_DROP && v.reason == EW_DROP_SG_INGRESS, "ingress refusal");
    CHECK_EQ(cnt[P_LOCAL].drop[EW_DROP_SG_INGRESS], 1u, "SG_INGRESS on the receiver's port");
    /* Validation: unknown host, unknown VNI, a destination that is not ours, a source that is. */
    len = fr_tcp4(f, from_remote, "10.0.1.20", "10.0.1.10", 1234, 22, 0x02);
    ew_process_decap(&w, t, HOST + 1, VNI, f, &len, CAP, &v);
    CHECK_EQ(v.reason, EW_DROP_OVERLAY_UNKNOWN_HOST, "unknown underlay host");
    ew_process_decap(&w, t, HOST, VNI + 1, f, &len, CAP, &v);
    CHECK_EQ(v.reason, EW_DROP_OVERLAY_UNKNOWN_VNI, "unknown VNI");
    len = fr_tcp4(f, fr_macs(fr_mac(E_LOCAL), fr_mac(E_REMOTE)), "10.0.1.10", "10.0.1.20", 1, 80,
                  0x02);
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK_EQ(v.reason, EW_DROP_OVERLAY_UNKNOWN_DST, "to a remote ENI, from the overlay");
    len = fr_tcp4(f, fr_macs(fr_mac(E_LOCAL), fr_mac(E_LOCKED)), "10.0.1.10", "10.0.1.30", 1, 80,
                  0x02);
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK_EQ(v.reason, EW_DROP_OVERLAY_SPOOFED_SRC, "inner source is a local ENI");
    len = 10; /* truncated inner frame */
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK_EQ(v.reason, EW_DROP_TRUNCATED_ETH, "truncated inner frame");
    /* IPv6 crosses too. */
    len = fr_tcp6(f, from_remote, "fd00::20", "fd00::10", 1234, 22, 0x02);
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK_EQ(v.action, EW_ACT_FORWARD, "IPv6 through the overlay");
    /* From a remote ENI of another subnet, as its host routed it (the source MAC is the
     * sender subnet's router, 02:00:00:00:01:01): the receiver's subnet NACL applies. */
    const uint8_t router1[6] = {0x02, 0, 0, 0, 0x01, 0x01};
    struct fr_l2 routed_in = fr_macs(router1, fr_mac(E_LOCAL));
    len = fr_tcp4(f, routed_in, "10.0.2.40", "10.0.1.10", 1234, 22, 0x02);
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK(v.action == EW_ACT_DROP && v.reason == EW_DROP_NACL_INGRESS, "NACL across hosts: %d/%u",
          v.action, v.reason);
    CHECK_EQ(cnt[P_LOCAL].drop[EW_DROP_NACL_INGRESS], 1u, "NACL_INGRESS on the receiver's port");
    len = fr_tcp4(f, routed_in, "10.0.2.40", "10.0.1.10", 1234, 2222, 0x02);
    ew_process_decap(&w, t, HOST, VNI, f, &len, CAP, &v);
    CHECK_EQ(v.action, EW_ACT_FORWARD, "the NACL allows 2222, the group too");
    CHECK_EQ(cnt[EW_PORT_UNDERLAY].cnt[EW_CNT_RX_PACKETS], 11u, "every decap counted RX");

    ew_table_free(t);
    ew_core_destroy(core);
    free(cnt);
    return harness_report("test_overlay");
}
