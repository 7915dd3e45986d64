/* A one-byte test-and-set spinlock for short, rarely contended critical sections. */
#ifndef ENIWALL_SPINLOCK_H
#define ENIWALL_SPINLOCK_H

#include <stdatomic.h>

typedef atomic_flag ew_spinlock;

static inline void ew_spin_lock(ew_spinlock *l) {
    while (atomic_flag_test_and_set_explicit(l, memory_order_acquire)) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

static inline void ew_spin_unlock(ew_spinlock *l) {
    atomic_flag_clear_explicit(l, memory_order_release);
}

#endif /* ENIWALL_SPINLOCK_H */
