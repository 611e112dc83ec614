/* Helpers shared by the integration tests: load a PKCS#11 module, run the
 * virtual card rig (tests/card/rig) and write throw-away configs. */
#ifndef P11TEST_H
#define P11TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "p11overlay.h"

typedef struct p11test_module {
	void *dl;
	CK_FUNCTION_LIST_PTR fl;
} p11test_module;

/* dlopen + C_GetFunctionList; aborts the test program on failure. */
void p11test_load(p11test_module *m, const char *path);
void p11test_unload(p11test_module *m);
/* dlsym of an extension function of the loaded module. */
void *p11test_sym(p11test_module *m, const char *name);

/* Start a rig in a new temp dir and export its env (PCSCLITE_CSOCK_NAME,
 * OPENSC_CONF, RIG_*).  Returns the dir (static buffer).  The rig stops
 * and the dir goes when this process ends, on every exit path (abort(),
 * a crash, a timeout's SIGTERM): `rig start --owner`. */
const char *p11test_rig_start(void);
/* "insert", "remove", "stop" (also removes the dir), "reset"; any but
 * stop exits the test program when it fails. */
void p11test_rig_cmd(const char *verb);
/* The same without exiting: the command's system() status.  For threads
 * of a test whose other threads are inside the module: exit() there runs
 * the libraries' exit handlers (OpenSSL's cleanup) under those threads. */
int p11test_rig_try(const char *verb);
/* From the next card insertion (e.g. p11test_card_reset) on, the card
 * appends every APDU it answers to <rig dir>/apdu0.log, one line
 * "<command hex> <response hex>" each (tests/card/vcard.py --apdu-log).
 * Returns that path (static). */
const char *p11test_rig_apdu_log(void);
/* Lines of the APDU log whose command starts with `hex_prefix`
 * (lower-case hex, e.g. "002c" for RESET RETRY COUNTER). */
unsigned p11test_rig_apdu_count(const char *hex_prefix);
/* The card back to its default PINs, retry counters and TokenInfo
 * (`rig reset`): a test that blocked a PIN does not fail the next one. */
void p11test_card_reset(void);
/* A new dir /tmp/<prefix>.XXXXXX, removed when this process (and the
 * children it forked) have ended, however they end.  Static storage;
 * at most 8 per process. */
const char *p11test_tmpdir(const char *prefix);
/* Send raw APDUs (hex, space-separated list) to the rig's card from
 * another process (python + pyscard); returns the last status word. */
unsigned p11test_rig_apdus(const char *hex_apdus);
/* Open path for writing (created or truncated) with mode 0644 whatever
 * the umask: the module refuses a config writable by group or others
 * (docs/architecture.md §9), and umask 002 is common on Debian.  NULL on
 * failure, errno set. */
FILE *p11test_fopen_conf(const char *path);
/* Write a p11overlay config into the rig's dir, else the SoftHSM2 dir,
 * else a per-run temp dir (p11test_tmpdir), and point P11OVERLAY_CONF at
 * it; `extra` is appended verbatim. */
void p11test_write_config(const char *module, const char *extra);

/* Find the slots whose token label matches; returns count. */
size_t p11test_token_slots(p11test_module *m, CK_SLOT_ID *out, size_t max);
/* The slot (of C_GetSlotList(CK_TRUE)) whose blank-trimmed token label is
 * `label` (or, with `substring`, contains it).  False, and *slot left as it
 * is, if there is none. */
bool p11test_find_token(CK_FUNCTION_LIST_PTR fl, const char *label,
			bool substring, CK_SLOT_ID *slot);

/* A throw-away SoftHSM2 token store (removed on every exit path, see
 * p11test_tmpdir): a new temp dir with a softhsm2.conf
 * (directories.tokendir = <dir>/tokens, objectstore.backend = file,
 * log.level = ERROR), SOFTHSM2_CONF exported; with a label, one token is
 * initialised (softhsm2-util --init-token --free --label --pin --so-pin).
 * Aborts the test program on failure.  Returns the dir (static buffer),
 * which the test may use for its own files. */
const char *p11test_softhsm_start(const char *label, const char *pin,
				  const char *so_pin);
/* Removes the dir (nothing if none); 0, or -1 if it could not be. */
int p11test_softhsm_stop(void);
/* Trimmed copy of a blank-padded field. */
void p11test_trim(char *dst, const CK_UTF8CHAR *src, size_t len);

#endif
