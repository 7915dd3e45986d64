/* Classifier: port edges, ICMP wildcards, IPv4/IPv6, address sets, world flags. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "eniwall/core.h"
#include "harness.h"
#include "tbuild.h"

static struct tb b;

struct row {
    const char *name;
    enum ew_dir dir;
    int proto;
    uint16_t key;
    const char *peer;
    int want;
    int want_world;
};

#define ICMP_KEY(t, c) ((uint16_t)((t) << 8 | (c)))
#define IN             EW_DIR_INGRESS
#define OUT            EW_DIR_EGRESS

static const struct row rows[] = {
    {"ssh from the allowed host", IN, 6, 22, "203.0.113.1", 1, 0},
    {"ssh from another host", IN, 6, 22, "203.0.113.2", 0, 0},
    {"http from anywhere (v4)", IN, 6, 80, "198.51.100.7", 1, 1},
    {"http from anywhere (v6)", IN, 6, 80, "2001:db8::9", 1, 1},
    {"port 81 closed", IN, 6, 81, "198.51.100.7", 0, 0},
    {"range low edge - 1", IN, 6, 999, "10.9.9.9", 0, 0},
    {"range low edge", IN, 6, 1000, "10.9.9.9", 1, 0},
    {"range high edge", IN, 6, 2000, "10.9.9.9", 1, 0},
    {"range high edge + 1", IN, 6, 2001, "10.9.9.9", 0, 0},
    {"range from outside the CIDR", IN, 6, 1500, "11.0.0.1", 0, 0},
    {"udp 53 from prefix list entry 1", IN, 17, 53, "192.168.0.200", 1, 0},
    {"udp 53 from prefix list entry 2", IN, 17, 53, "192.168.5.1", 1, 0},
    {"udp 53 between prefix list entries", IN, 17, 53, "192.168.3.1", 0, 0},
    {"tcp 53 is another protocol", IN, 6, 53, "192.168.0.200", 0, 0},
    {"icmp any type from anywhere", IN, 1, ICMP_KEY(3, 4), "8.8.8.8", 1, 1},
    {"icmp echo any code from 10/8", IN, 1, ICMP_KEY(8, 7), "10.1.1.1", 1, 1},
    {"icmpv6 echo from fd00::/8", IN, 58, ICMP_KEY(128, 0), "fd00::1", 1, 0},
    {"icmpv6 echo from elsewhere", IN, 58, ICMP_KEY(128, 0), "2001:db8::1", 0, 0},
    {"icmpv6 other type from fd00::/8", IN, 58, ICMP_KEY(129, 0), "fd00::1", 0, 0},
    {"gre from 10.1/16", IN, 47, 0, "10.1.200.3", 1, 0},
    {"gre from outside", IN, 47, 0, "10.2.0.1", 0, 0},
    {"any protocol from a group member", IN, 132, 0, "10.0.1.11", 1, 0},
    {"any protocol also covers tcp ports", IN, 6, 4444, "10.0.1.10", 1, 0},
    {"non-member gets nothing", IN, 132, 0, "10.0.1.12", 0, 0},
    {"v4 rule never matches v6", IN, 6, 22, "::ffff:203.0.113.1", 0, 0},
    {"egress all v4", OUT, 17, 9999, "1.2.3.4", 1, 1},
    {"egress all v6", OUT, 6, 1, "2001:db8::1", 1, 1},
};

static int query(const struct ew_table_view *t, const struct row *r, bool *world) {
    uint8_t peer[16];
    enum ew_family fam = strchr(r->peer, ':') ? EW_FAM_V6 : EW_FAM_V4;
    inet_pton(fam == EW_FAM_V6 ? AF_INET6 : AF_INET, r->peer, peer);
    return ew_classify_query(t, 0, r->dir, fam, (uint8_t)r->proto, r->key, peer, world);
}

int main(void) {
    tb_init(&b);
    uint32_t vpc = tb_vpc(&b, "10.0.0.0", 16, "fd00::", 56);
    uint32_t sn = tb_subnet(&b, vpc, "10.0.1.0", 24, "fd00::", 64);
    uint32_t rs = tb_ruleset(&b);
    uint32_t pl = tb_addr_set(&b, EW_FAM_V4, "192.168.5.0/24,192.168.0.0/24");
    uint32_t members = tb_addr_set(&b, EW_FAM_V4, "10.0.1.10/32,10.0.1.11/32");
    tb_rule(&b, rs, IN, 6, 22, 22, "203.0.113.1/32");
    tb_rule(&b, rs, IN, 6, 80, 80, "0.0.0.0/0");
    tb_rule(&b, rs, IN, 6, 80, 80, "::/0");
    tb_rule(&b, rs, IN, 1, 0, 0xffff, "0.0.0.0/0");
    tb_rule(&b, rs, IN, 6, 1000, 2000, "10.0.0.0/8");
    tb_rule_set(&b, rs, IN, 17, 53, 53, pl);
    tb_rule(&b, rs, IN, 1, ICMP_KEY(8, 0), ICMP_KEY(8, 255), "10.0.0.0/8");
    tb_rule(&b, rs, IN, 58, ICMP_KEY(128, 0), ICMP_KEY(128, 255), "fd00::/8");
    tb_rule(&b, rs, IN, 47, 0, 0xffff, "10.1.0.0/16");
    tb_rule_set(&b, rs, IN, TB_ANY, 0, 0, members);
    tb_rule(&b, rs, OUT, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, rs, OUT, TB_ANY, 0, 0, "::/0");
    tb_eni(&b, sn, rs, 1, "10.0.1.10", "fd00::10", EW_ENI_SRC_DST_CHECK);

    size_t len;
    uint8_t *buf = tb_build(&b, &len);
    char err[256];
    struct ew_table_view *t = ew_table_load(buf, len, err, sizeof err);
    CHECK(t != NULL, "load: %s", err);
    if (!t) return harness_report("test_classify");

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bool world = false;
        int got = query(t, &rows[i], &world);
        CHECK(got == rows[i].want, "%s: allowed %d, want %d", rows[i].name, got, rows[i].want);
        if (rows[i].want)
            CHECK(world == (bool)rows[i].want_world, "%s: world %d, want %d", rows[i].name, world,
                  rows[i].want_world);
    }
    uint8_t peer[4] = {1, 2, 3, 4};
    bool w;
    CHECK_EQ(ew_classify_query(t, 7, IN, EW_FAM_V4, 6, 80, peer, &w), -1, "bad eni index");

    ew_table_free(t);
    free(buf);
    return harness_report("test_classify");
}
