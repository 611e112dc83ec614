/* Card access against the live virtual card (tests/card/rig): run by
 * test_card_rig.sh, which starts a rig and exports its environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "card/card.h"
#include "vcard_files.h"

static p11o_card *card;

static const uint8_t unlock_key[24] = {
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98,
    0x76, 0x54, 0x32, 0x10, 0x0F, 0x1E, 0x2D, 0x3C, 0x4B, 0x5A, 0x69, 0x78};

#define S(x) (const uint8_t *)(x), strlen(x)

static void des3(const uint8_t in[8], uint8_t out[8])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;

	assert_non_null(c);
	assert_int_equal(
	    EVP_EncryptInit_ex(c, EVP_des_ede3_ecb(), NULL, unlock_key, NULL),
	    1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	assert_int_equal(EVP_EncryptUpdate(c, out, &n, in, 8), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, out + n, &m), 1);
	assert_int_equal(n + m, 8);
	EVP_CIPHER_CTX_free(c);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void test_reader_mapping(void **state)
{
	(void)state;
	unsigned char desc[64];
	char reader[P11O_CARD_MAX_READER];

	memset(desc, ' ', sizeof(desc));
	memcpy(desc, "Virtual PCD 00 00", 17);
	assert_int_equal(p11o_card_reader_for_slot(desc, sizeof(desc), reader,
						   sizeof(reader)),
			 CKR_OK);
	assert_string_equal(reader, getenv("RIG_READER"));
	memcpy(desc, "Nonexistent reader", 18);
	assert_int_equal(p11o_card_reader_for_slot(desc, sizeof(desc), reader,
						   sizeof(reader)),
			 CKR_SLOT_ID_INVALID);
	assert_int_equal(p11o_card_open(getenv("RIG_READER"), &card), CKR_OK);
}

static void test_atr(void **state)
{
	(void)state;
	unsigned char atr[P11O_CARD_MAX_ATR];
	size_t n = 0;

	assert_int_equal(p11o_card_atr(card, atr, &n), CKR_OK);
	assert_int_equal(n, sizeof(vc_atr));
	assert_memory_equal(atr, vc_atr, n);
}

static void test_read_info(void **state)
{
	(void)state;
	static p11o_card_info info, again;
	static p11o_config cfg;

	assert_int_equal(p11o_card_read_info(card, NULL, &info), CKR_OK);
	assert_memory_equal(info.atr, vc_atr, sizeof(vc_atr));
	assert_string_equal(info.profile, "pkcs15");
	assert_string_equal(info.application, "PKCS #15");
	assert_string_equal(info.serial_str, "2026000012345678abcd");
	assert_int_equal(info.serial_len, 10);
	assert_string_equal(info.label,
			    "p11overlay Virtual Test Card Number One");
	assert_string_equal(info.manufacturer, "p11overlay project");
	assert_int_equal(info.pin_count, 2);
	assert_string_equal(info.pins[0].name, "Identification");
	assert_int_equal(info.pins[0].ref, 0x81);
	assert_int_equal(info.pins[0].min_len, 4);
	assert_int_equal(info.pins[0].max_len, 8);
	assert_string_equal(info.pins[1].name, "Signing");
	assert_int_equal(info.pins[1].ref, 0x82);
	assert_int_equal(info.puk_ref, 0x83);
	assert_string_equal(info.puk.name, "PUK");
	assert_int_equal(info.unlock_key_ref, P11O_CARD_REF_NONE);
	assert_int_equal(info.update_seed_len, 33);
	assert_int_equal(info.update_seed[0], 'H');
	assert_int_equal(p11o_card_read_info(card, NULL, &again), CKR_OK);
	assert_memory_equal(info.update_seed, again.update_seed, 33);

	/* a config profile (matched by the application) adds the unlock key
	 * and renames a PIN */
	cfg.card_count = 1;
	snprintf(cfg.cards[0].name, sizeof(cfg.cards[0].name), "vcard");
	snprintf(cfg.cards[0].application, sizeof(cfg.cards[0].application),
		 "PKCS #15");
	cfg.cards[0].pin_count = 1;
	snprintf(cfg.cards[0].pin_names[0], sizeof(cfg.cards[0].pin_names[0]),
		 "Signature");
	cfg.cards[0].pin_refs[0] = 0x82;
	cfg.cards[0].puk_ref = -1;
	cfg.cards[0].unlock_key_ref = 0x01;
	assert_int_equal(p11o_card_read_info(card, &cfg, &again), CKR_OK);
	assert_string_equal(again.profile, "vcard");
	assert_int_equal(again.unlock_key_ref, 0x01);
	assert_int_equal(again.pin_count, 1);
	assert_string_equal(again.pins[0].name, "Signature");
	assert_int_equal(again.pins[0].max_len, 8);
	assert_int_equal(again.puk_ref, 0x83);
}

static void expect_status(unsigned char ref, enum p11o_pin_state st, int tries)
{
	enum p11o_pin_state s;
	int t;

	assert_int_equal(p11o_card_pin_status(card, ref, &s, &t), CKR_OK);
	assert_int_equal(s, st);
	if (tries >= 0)
		assert_int_equal(t, tries);
}

static void test_pin_status_and_puk(void **state)
{
	(void)state;
	int tries;

	expect_status(0x81, P11O_PIN_NOT_VERIFIED, 3);
	expect_status(0x82, P11O_PIN_NOT_VERIFIED, 3);
	expect_status(0x83, P11O_PIN_NOT_VERIFIED, 5);
	assert_int_equal(p11o_card_verify(card, NULL, 0x81, S("9999"), &tries),
			 CKR_PIN_INCORRECT);
	assert_int_equal(tries, 2);
	expect_status(0x81, P11O_PIN_NOT_VERIFIED, 2);
	assert_int_equal(p11o_card_verify(card, NULL, 0x81, S("99"), &tries),
			 CKR_PIN_LEN_RANGE);
	assert_int_equal(p11o_card_verify(card, NULL, 0x81, S("9999"), &tries),
			 CKR_PIN_INCORRECT);
	assert_int_equal(p11o_card_verify(card, NULL, 0x81, S("9999"), &tries),
			 CKR_PIN_LOCKED);
	expect_status(0x81, P11O_PIN_BLOCKED, 0);
	assert_int_equal(p11o_card_verify(card, NULL, 0x81, S("1234"), &tries),
			 CKR_PIN_LOCKED);
	/* wrong PUK */
	assert_int_equal(p11o_card_unblock_puk(card, NULL, 0x81, NULL,
					       S("87654321"), S("4321"),
					       &tries),
			 CKR_PIN_INCORRECT);
	assert_int_equal(tries, 4);
	/* new PIN too short for the card */
	assert_int_equal(p11o_card_unblock_puk(card, NULL, 0x81, NULL,
					       S("12345678"), S("12"), &tries),
			 CKR_PIN_LEN_RANGE);
	assert_int_equal(p11o_card_unblock_puk(card, NULL, 0x81, NULL,
					       S("12345678"), S("4321"),
					       &tries),
			 CKR_OK);
	expect_status(0x81, P11O_PIN_NOT_VERIFIED, 3);
	expect_status(0x83, P11O_PIN_NOT_VERIFIED, 5);
	assert_int_equal(p11o_card_verify(card, NULL, 0x81, S("4321"), &tries),
			 CKR_OK);
	expect_status(0x81, P11O_PIN_VERIFIED, -1);
}

static void test_challenge_response(void **state)
{
	(void)state;
	uint8_t ch[8], resp[8];
	size_t n = 4;
	int tries;

	assert_int_equal(p11o_card_get_challenge(card, ch, &n),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 8);
	assert_int_equal(p11o_card_lock(card, 30, true), CKR_OK);
	assert_true(p11o_card_is_locked(card));
	assert_int_equal(p11o_card_get_challenge(card, ch, &n), CKR_OK);
	des3(ch, resp);
	resp[0] ^= 1; /* wrong response */
	assert_int_equal(
	    p11o_card_external_authenticate(card, 0x01, resp, sizeof(resp)),
	    CKR_PIN_INCORRECT);
	/* the challenge is spent */
	assert_int_equal(
	    p11o_card_external_authenticate(card, 0x01, resp, sizeof(resp)),
	    CKR_FUNCTION_FAILED);
	assert_int_equal(p11o_card_get_challenge(card, ch, &n), CKR_OK);
	des3(ch, resp);
	assert_int_equal(
	    p11o_card_external_authenticate(card, 0x01, resp, sizeof(resp)),
	    CKR_OK);
	assert_int_equal(
	    p11o_card_reset_retry_counter(card, NULL, 0x82, S("654321")),
	    CKR_OK);
	p11o_card_unlock(card);
	assert_false(p11o_card_is_locked(card));
	assert_int_equal(
	    p11o_card_verify(card, NULL, 0x82, S("654321"), &tries), CKR_OK);
	/* without EXTERNAL AUTHENTICATE */
	assert_int_equal(
	    p11o_card_reset_retry_counter(card, NULL, 0x82, S("123456")),
	    CKR_FUNCTION_FAILED);
}

static void test_lock_excludes_and_expires(void **state)
{
	(void)state;
	p11o_card *other;
	enum p11o_pin_state s;
	int t;
	double t0;

	assert_int_equal(p11o_card_open(getenv("RIG_READER"), &other), CKR_OK);
	assert_int_equal(p11o_card_lock(card, 1, true), CKR_OK);
	t0 = now();
	/* waits in SCardBeginTransaction until the watcher ends the hold */
	assert_int_equal(p11o_card_pin_status(other, 0x81, &s, &t), CKR_OK);
	assert_true(now() - t0 > 0.7);
	assert_false(p11o_card_is_locked(card));
	/* without timer: the deadline is seen on the next call */
	assert_int_equal(p11o_card_lock(card, 1, false), CKR_OK);
	assert_true(p11o_card_is_locked(card));
	p11o_card_unlock(card);
	t0 = now();
	assert_int_equal(p11o_card_pin_status(other, 0x81, &s, &t), CKR_OK);
	assert_true(now() - t0 < 0.5);
	p11o_card_close(other);
}

static void test_removal(void **state)
{
	(void)state;
	char cmd[4096];
	enum p11o_pin_state s;
	int t;
	CK_RV rv;
	static p11o_card_info info;

	assert_int_equal(p11o_card_lock(card, 30, true), CKR_OK);
	snprintf(cmd, sizeof(cmd), "'%s' remove '%s' >/dev/null", getenv("RIG"),
		 getenv("RIG_DIR"));
	assert_int_equal(system(cmd), 0);
	rv = p11o_card_pin_status(card, 0x81, &s, &t);
	assert_true(p11o_card_rv_removed(rv));
	assert_int_equal(rv, CKR_DEVICE_REMOVED);
	assert_false(p11o_card_is_locked(card));
	rv = p11o_card_pin_status(card, 0x81, &s, &t);
	assert_int_equal(rv, CKR_TOKEN_NOT_PRESENT);
	assert_true(
	    p11o_card_rv_removed(p11o_card_read_info(card, NULL, &info)));
	p11o_card_close(card);
	card = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reader_mapping),
	    cmocka_unit_test(test_atr),
	    cmocka_unit_test(test_read_info),
	    cmocka_unit_test(test_pin_status_and_puk),
	    cmocka_unit_test(test_challenge_response),
	    cmocka_unit_test(test_lock_excludes_and_expires),
	    cmocka_unit_test(test_removal),
	};
	if (!getenv("RIG_READER") || !getenv("RIG") || !getenv("RIG_DIR")) {
		fprintf(stderr, "run through test_card_rig.sh\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
