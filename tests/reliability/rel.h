/* Shared helpers of the reliability tests (issue 11): result checking
 * against the CKRs PKCS#11 2.40 allows per function, a watchdog, token
 * lookup and process resource counters (the throw-away SoftHSM2 token is
 * p11test_softhsm_start). */
#ifndef REL_H
#define REL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "p11test.h"

extern atomic_int rel_failures;

/* Print and count a failure (the test exits non-zero at the end). */
void rel_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define REL_CHECK(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond))                                                   \
			rel_fail(__VA_ARGS__);                                 \
	} while (0)

/* Is `rv` one the standard lists for function `fn` ("C_Login")?  The
 * universal codes (OK, GENERAL_ERROR, HOST_MEMORY, FUNCTION_FAILED,
 * CRYPTOKI_NOT_INITIALIZED) are allowed everywhere. */
bool rel_rv_allowed(const char *fn, CK_RV rv);
/* rel_rv_allowed or a failure; returns rv. */
CK_RV rel_rv(const char *fn, CK_RV rv);
#define REL_CALL(fl, fn, ...) rel_rv(#fn, (fl)->fn(__VA_ARGS__))

/* SIGALRM after `seconds`: prints `what` and _exit(3) (a deadlock). */
void rel_watchdog(unsigned seconds, const char *what);

/* The slot of the token labelled `label`, 0 (and a failure) if none. */
CK_SLOT_ID rel_find_token(CK_FUNCTION_LIST_PTR fl, const char *label);

/* Process resource counters. */
int rel_count_fds(void);
int rel_count_threads(void);
long rel_rss_kb(void);

/* Exit status for main(): prints a summary line. */
int rel_done(const char *name);

#endif
