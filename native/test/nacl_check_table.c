/*
 * Writes to stdout a table (tbuild) with network ACLs for
 * test/check-nacl.test.ts, which traces it through the addon and renders
 * `check` against a model snapshot of the same shape (built there): one VPC
 * 10.0.0.0/16, subnets A 10.0.1.0/24 and B 10.0.2.0/24; ENIs 0 web 10.0.1.10 (A,
 * group all), 1 db 10.0.1.20 (A, group db: tcp 5432 from 10.0.0.0/16, no
 * egress), 2 app 10.0.2.30 (B, group all). NACL acl-0000000000000a001 on A:
 * both directions rule 100 allow all IPv4. NACL acl-0000000000000a002 on B:
 * ingress 90 deny tcp 22 from 10.0.1.0/24, 100 allow tcp 0-79 and 81-65535
 * (port 80 falls to `*`); egress 100 allow all IPv4.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tbuild.h"

int main(void) {
    static struct tb b;
    tb_init(&b);
    uint32_t v = tb_vpc(&b, "10.0.0.0", 16, NULL, 0);
    uint32_t sa = tb_subnet(&b, v, "10.0.1.0", 24, NULL, 0);
    uint32_t sb = tb_subnet(&b, v, "10.0.2.0", 24, NULL, 0);
    uint32_t all = tb_ruleset(&b), db = tb_ruleset(&b);
    tb_rule(&b, all, EW_DIR_INGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, all, EW_DIR_EGRESS, TB_ANY, 0, 0, "0.0.0.0/0");
    tb_rule(&b, db, EW_DIR_INGRESS, 6, 5432, 5432, "10.0.0.0/16");
    tb_eni(&b, sa, all, 1, "10.0.1.10", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, sa, db, 2, "10.0.1.20", NULL, EW_ENI_SRC_DST_CHECK);
    tb_eni(&b, sb, all, 3, "10.0.2.30", NULL, EW_ENI_SRC_DST_CHECK);
    uint32_t na = tb_nacl(&b), nb = tb_nacl(&b);
    b.nacls[na].id_lo = 0xa001;
    b.nacls[nb].id_lo = 0xa002;
    tb_nacl_entry(&b, na, EW_DIR_INGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, na, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_INGRESS, 90, 6, 22, 22, "10.0.1.0/24", EW_NACL_DENY);
    tb_nacl_entry(&b, nb, EW_DIR_INGRESS, 100, 6, 0, 79, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_INGRESS, 101, 6, 81, 65535, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_nacl_entry(&b, nb, EW_DIR_EGRESS, 100, TB_ANY, 0, 0, "0.0.0.0/0", EW_NACL_ALLOW);
    tb_subnet_nacl(&b, sa, na);
    tb_subnet_nacl(&b, sb, nb);
    size_t n;
    uint8_t *buf = tb_build(&b, &n);
    int ok = fwrite(buf, 1, n, stdout) == n;
    free(buf);
    return ok ? 0 : 1;
}
