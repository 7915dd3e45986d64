/* The core object shared by all workers: conntrack plus the fragment cache. */
#ifndef ENIWALL_CORE_INTERNAL_H
#define ENIWALL_CORE_INTERNAL_H

#include "conntrack.h"
#include "eniwall/core.h"
#include "fragcache.h"

#define EW_DEFAULT_CONNTRACK_MAX 1000000u

struct ew_core {
    struct ew_core_config cfg; /* with defaults filled in */
    struct ew_ct *ct;
    struct ew_frag_cache *frags;
};

#endif /* ENIWALL_CORE_INTERNAL_H */
