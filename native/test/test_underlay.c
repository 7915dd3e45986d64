/*
 * The underlay's batched send (io_underlay.c, ew_underlay_batch_add/flush)
 * with real UDP sockets on loopback: a burst of frames to a remote ENI leaves
 * as VXLAN datagrams (header, VNI, frame intact, in order) and counts TX on the
 * underlay port; a datagram the kernel refuses (too large: EMSGSIZE) in the
 * middle of a burst is counted OVERLAY_NO_UNDERLAY on its in_port while the
 * ones after it are still sent; no socket, or a remote index out of range, is
 * counted at once and nothing is queued.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eniwall/core.h"
#include "harness.h"
#include "io_underlay.h"
#include "io_worker.h"
#include "tbuild.h"
#include "vxlan.h"

#define VNI     4242u
#define IN_PORT 1u
#define BIG     70000u /* over the 65,507-byte UDP payload limit */
#define SMALL   100u

static uint16_t bound_port(int fd) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    return ntohs(sa.sin_port);
}

int main(void) {
    char err[160];
    /* The receiving "host": a plain UDP socket on 127.0.0.1. */
    int rx = ew_underlay_socket(0x7f000001u, 0, err, sizeof err);
    CHECK(rx >= 0, "receiver socket: %s", err);
    int tx = ew_underlay_socket(0x7f000001u, 0, err, sizeof err);
    CHECK(tx >= 0, "sender socket: %s", err);
    uint16_t port = bound_port(rx);

    static struct tb b;
    tb_init(&b);
    b.generation = 1;
    uint32_t v = tb_vpc(&b, "10.0.0.0", 16, NULL, 0);
    tb_subnet(&b, v, "10.0.1.0", 24, NULL, 0);
    uint32_t rs = tb_ruleset(&b);
    tb_eni(&b, 0, rs, IN_PORT, "10.0.1.10", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, 0, rs, EW_PORT_NONE, "10.0.1.20", NULL, EW_ENI_SRC_DST_CHECK | EW_ENI_REMOTE);
    b.remotes[0] = (struct ew_remote_eni){1, 0};
    b.n_remotes = 1;
    b.hosts[0] = (struct ew_underlay_host){0x7f000001u, port, 0};
    b.n_hosts = 1;
    b.vpc_vni[0] = VNI;
    b.n_vpc_vni = 1;
    struct ew_table_view *t = tb_load(&b);
    CHECK(t != NULL, "table");

    struct ew_shared sh = {.hdr_len = 0, .buf_size = BIG};
    struct ew_port_counters *cnt = calloc(EW_MAX_PORTS, sizeof *cnt);
    struct ew_worker w = {.sh = &sh, .counters = cnt};
    uint8_t *frames = malloc((size_t)EW_BURST * SMALL);
    uint8_t *big = calloc(1, BIG);
    struct ew_underlay_batch batch = {.n = 0};

    /* A whole burst: one sendmmsg, every datagram received intact and in order. */
    for (uint32_t i = 0; i < EW_BURST; i++) {
        memset(frames + i * SMALL, (int)i, SMALL);
        ew_underlay_batch_add(&w, &batch, tx, t, 0, IN_PORT, frames + i * SMALL, SMALL);
    }
    CHECK_EQ(batch.n, EW_BURST, "queued, not sent yet");
    ew_underlay_batch_flush(&w, &batch, tx);
    CHECK_EQ(batch.n, 0u, "flushed");
    CHECK_EQ(cnt[EW_PORT_UNDERLAY].cnt[EW_CNT_TX_PACKETS], (uint64_t)EW_BURST, "TX counted");
    CHECK_EQ(cnt[EW_PORT_UNDERLAY].cnt[EW_CNT_TX_BYTES], (uint64_t)EW_BURST * SMALL, "TX bytes");
    uint8_t got[EW_VXLAN_HLEN + SMALL];
    for (uint32_t i = 0; i < EW_BURST; i++) {
        ssize_t n = recv(rx, got, sizeof got, 0);
        uint32_t vni = 0;
        bool vnet = true;
        CHECK(n == (ssize_t)sizeof got, "datagram %u length", i);
        CHECK(ew_vxlan_decode(got, (uint32_t)n, &vni, &vnet) && vni == VNI && !vnet, "VXLAN %u", i);
        CHECK(got[EW_VXLAN_HLEN] == (uint8_t)i && got[sizeof got - 1] == (uint8_t)i, "order %u", i);
    }

    /* A refused datagram mid-burst: counted on its in_port, the others still go. */
    ew_underlay_batch_add(&w, &batch, tx, t, 0, IN_PORT, frames, SMALL);
    ew_underlay_batch_add(&w, &batch, tx, t, 0, 7, big, BIG - EW_VXLAN_HLEN);
    ew_underlay_batch_add(&w, &batch, tx, t, 0, IN_PORT, frames + SMALL, SMALL);
    ew_underlay_batch_flush(&w, &batch, tx);
    CHECK_EQ(cnt[7].drop[EW_DROP_OVERLAY_NO_UNDERLAY], 1u, "too large: counted on its port");
    CHECK_EQ(cnt[EW_PORT_UNDERLAY].cnt[EW_CNT_TX_PACKETS], (uint64_t)EW_BURST + 2, "both others");
    CHECK_EQ(recv(rx, got, sizeof got, 0), (ssize_t)sizeof got, "first after");
    CHECK_EQ(got[EW_VXLAN_HLEN], 0, "the first frame");
    CHECK_EQ(recv(rx, got, sizeof got, 0), (ssize_t)sizeof got, "second after");
    CHECK_EQ(got[EW_VXLAN_HLEN], 1, "the third frame");

    /* No socket, a remote out of range: counted at once, nothing queued. */
    ew_underlay_batch_add(&w, &batch, -1, t, 0, IN_PORT, frames, SMALL);
    ew_underlay_batch_add(&w, &batch, tx, t, 5, IN_PORT, frames, SMALL);
    CHECK_EQ(batch.n, 0u, "nothing queued");
    CHECK_EQ(cnt[IN_PORT].drop[EW_DROP_OVERLAY_NO_UNDERLAY], 2u, "both counted");

    ew_table_free(t);
    free(cnt);
    free(frames);
    free(big);
    close(rx);
    close(tx);
    return harness_report("test_underlay");
}
