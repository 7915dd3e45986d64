/* The core object shared by all workers: conntrack plus the fragment cache. */
#ifndef ENIWALL_CORE_INTERNAL_H
#define ENIWALL_CORE_INTERNAL_H

#include "conntrack.h"
#include "eniwall/core.h"
#include "fragcache.h"

struct ew_core {
    struct ew_core_config cfg; /* as given: every field explicit */
    struct ew_ct *ct;
    struct ew_frag_cache *frags;
};

#endif /* ENIWALL_CORE_INTERNAL_H */
