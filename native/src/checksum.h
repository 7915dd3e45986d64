/*
 * Internet checksum helpers (RFC 1071, incremental update per RFC 1624).
 * Values are the 16-bit big-endian words read into host integers; callers
 * store results with ew_put16().
 */
#ifndef ENIWALL_CHECKSUM_H
#define ENIWALL_CHECKSUM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t ew_get16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t ew_get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline void ew_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void ew_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Adds n bytes at p to a running sum (odd trailing byte padded with zero). */
static inline uint32_t ew_csum_add(uint32_t sum, const uint8_t *p, uint32_t n) {
    uint32_t i = 0;
    for (; i + 1 < n; i += 2)
        sum += ew_get16(p + i);
    if (i < n) sum += (uint32_t)p[i] << 8;
    /* Fold early so long buffers never overflow the 32-bit sum. */
    return (sum & 0xffffu) + (sum >> 16);
}

/* Whether n bytes at p (n a multiple of 4: an IPv4 header) carry a valid
 * checksum, i.e. their folded one's-complement sum is 0xffff. The per-packet
 * check: 32-bit words summed in host order into 64 bits, then folded (RFC 1071
 * §2(B): the folded sum does not depend on byte order, and 0xffff is its own
 * byte swap) — a fifth of the instructions of the 16-bit loop. */
static inline bool ew_csum_ok32(const uint8_t *p, uint32_t n) {
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i += 4) {
        uint32_t w;
        memcpy(&w, p + i, sizeof w);
        sum += w;
    }
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return sum == 0xffffu;
}

/* One's-complement of the folded sum: the value to store in a checksum field. */
static inline uint16_t ew_csum_finish(uint32_t sum) {
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') when one 16-bit word m becomes m'. */
static inline uint16_t ew_csum_replace16(uint16_t csum, uint16_t old_word, uint16_t new_word) {
    uint32_t sum = (uint32_t)(uint16_t)~csum + (uint16_t)~old_word + new_word;
    return ew_csum_finish(sum);
}

#endif /* ENIWALL_CHECKSUM_H */
