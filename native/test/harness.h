/*
 * A tiny assertion harness for the C tests: CHECK* record a failure with its
 * location and keep going; each test binary ends with harness_report().
 */
#ifndef ENIWALL_TEST_HARNESS_H
#define ENIWALL_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int harness_failures;
static int harness_checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        harness_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            harness_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b, what)                                                                       \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        CHECK(va_ == vb_, "%s: got %lld, want %lld", what, va_, vb_);                              \
    } while (0)

#define CHECK_MEM(a, b, n, what) CHECK(memcmp((a), (b), (n)) == 0, "%s: bytes differ", what)

static inline int harness_report(const char *name) {
    if (harness_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, harness_failures, harness_checks);
        return 1;
    }
    printf("%s: %d checks passed\n", name, harness_checks);
    return 0;
}

#endif /* ENIWALL_TEST_HARNESS_H */
