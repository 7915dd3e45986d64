/* Core lifecycle and housekeeping entry points (control plane; may allocate). */
#include <stdio.h>
#include <stdlib.h>

#include "core_internal.h"

struct ew_core *ew_core_create(const struct ew_core_config *cfg, char *err, size_t errlen) {
    /* The defaults live in the control plane (DEFAULT_OPTIONS, src/dataplane/dataplane.ts):
     * a zero here is a caller that forgot a field, not a request for a default. */
    if (!cfg || cfg->conntrack_max == 0 || cfg->allowance_per_eni == 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s must be at least 1",
                     !cfg || cfg->conntrack_max == 0 ? "conntrack_max" : "allowance_per_eni");
        return NULL;
    }
    struct ew_core_config c = *cfg;
    struct ew_core *core = calloc(1, sizeof *core);
    if (!core) goto oom;
    core->cfg = c;
    if (c.ct_shm_path[0] != '\0') {
        long adopted = 0;
        char warn[256] = "";
        core->ct = ew_ct_create_shared(c.conntrack_max, c.allowance_per_eni, c.hash_salt,
                                       c.ct_shm_path, &adopted, warn, sizeof warn);
        if (adopted < 0 || !core->ct)
            fprintf(stderr, "eniwall: conntrack region discarded, starting empty: %s\n", warn);
        else if (adopted > 0)
            fprintf(stderr, "eniwall: conntrack: adopted %ld connections from %s\n", adopted,
                    c.ct_shm_path);
    } else {
        core->ct = ew_ct_create(c.conntrack_max, c.allowance_per_eni, c.hash_salt);
    }
    core->frags = ew_frag_create(c.hash_salt ^ 0x5bd1e995u);
    if (!core->ct || !core->frags) goto oom;
    return core;
oom:
    if (err && errlen)
        snprintf(err, errlen, "cannot allocate the core (conntrack_max %u)", c.conntrack_max);
    ew_core_destroy(core);
    return NULL;
}

void ew_core_destroy(struct ew_core *core) {
    if (!core) return;
    ew_ct_destroy(core->ct);
    ew_frag_destroy(core->frags);
    free(core);
}

struct ew_ct_cache *ew_core_cache_create(struct ew_core *core) {
    return core ? ew_ct_cache_create() : NULL;
}

void ew_core_cache_destroy(struct ew_core *core, struct ew_ct_cache *c) {
    ew_ct_cache_destroy(core ? core->ct : NULL, c);
}

void ew_core_sweep(struct ew_core *core, uint64_t now_ms, uint32_t budget) {
    if (core) ew_ct_sweep(core->ct, now_ms, budget);
}

uint32_t ew_core_ct_buckets(const struct ew_core *core) {
    return core ? ew_ct_buckets(core->ct) : 0;
}

void ew_core_flush_port(struct ew_core *core, uint32_t port) {
    if (core && port < EW_MAX_PORTS) ew_ct_flush_zone(core->ct, port);
}

uint32_t ew_core_ct_count(const struct ew_core *core, uint32_t port) {
    return core ? ew_ct_zone_count(core->ct, port) : 0;
}

uint64_t ew_core_ct_allowance_exceeded(const struct ew_core *core, uint32_t port) {
    return core ? ew_ct_zone_exceeded(core->ct, port) : 0;
}

uint32_t ew_core_ct_dump(struct ew_core *core, uint64_t *cursor, struct ew_ct_dump_entry *out,
                         uint32_t max, uint64_t now_ms) {
    if (!core || !cursor || (!out && max)) return 0;
    return ew_ct_dump(core->ct, cursor, out, max, now_ms);
}
