/* Unit tests of the pure card parsers: TokenInfo, AODF, ODF, EF.DIR,
 * OpenPGP AID, status words, reader names, ATR masks, PIN encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "card/card.h"
#include "vcard_files.h"

static void test_tokeninfo(void **state)
{
	(void)state;
	p11o_p15_tokeninfo ti;
	const uint8_t serial[] = {0x20, 0x26, 0x00, 0x00, 0x12,
				  0x34, 0x56, 0x78, 0xAB, 0xCD};

	assert_int_equal(
	    p11o_p15_parse_tokeninfo(vc_tokeninfo, sizeof(vc_tokeninfo), &ti),
	    0);
	assert_int_equal(ti.serial_len, sizeof(serial));
	assert_memory_equal(ti.serial, serial, sizeof(serial));
	assert_string_equal(ti.serial_hex, "2026000012345678abcd");
	assert_string_equal(ti.label,
			    "p11overlay Virtual Test Card Number One");
	assert_string_equal(ti.manufacturer, "p11overlay project");
	assert_int_equal(ti.last_update_len, 0);
	/* every truncation fails cleanly */
	for (size_t n = 0; n < sizeof(vc_tokeninfo); n++)
		assert_int_equal(p11o_p15_parse_tokeninfo(vc_tokeninfo, n, &ti),
				 -1);
}

static void test_tokeninfo_last_update(void **state)
{
	(void)state;
	/* version 0, serial 01, flags, [5] { GeneralizedTime } */
	const uint8_t ti_lu[] = {0x30, 0x1C, 0x02, 0x01, 0x00, 0x04, 0x01, 0x01,
				 0x03, 0x01, 0x00, 0xA5, 0x11, 0x18, 0x0F, '2',
				 '0',  '2',  '6',  '0',  '1',  '0',  '2',  '0',
				 '3',  '0',  '4',  '0',  '5',  'Z'};
	/* serial is INTEGER instead of OCTET STRING: wrong tag */
	const uint8_t wrong[] = {0x30, 0x08, 0x02, 0x01, 0x00, 0x02,
				 0x01, 0x01, 0x03, 0x01, 0x00};
	p11o_p15_tokeninfo ti;

	assert_int_equal(p11o_p15_parse_tokeninfo(ti_lu, sizeof(ti_lu), &ti),
			 0);
	assert_int_equal(ti.last_update_len, 17);
	assert_int_equal(ti.last_update[0], 0x18);
	assert_string_equal(ti.serial_hex, "01");
	assert_int_equal(p11o_p15_parse_tokeninfo(wrong, sizeof(wrong), &ti),
			 -1);
}

static void test_aodf(void **state)
{
	(void)state;
	p11o_card_pin pins[8];
	size_t n;
	uint8_t padded[sizeof(vc_aodf) + 8];

	assert_int_equal(
	    p11o_p15_parse_aodf(vc_aodf, sizeof(vc_aodf), pins, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(pins[0].name, "Identification");
	assert_int_equal(pins[0].ref, 0x81);
	assert_int_equal(pins[0].min_len, 4);
	assert_int_equal(pins[0].max_len, 8);
	assert_int_equal(pins[0].stored_len, 8);
	assert_int_equal(pins[0].pad_char, -1);
	assert_int_equal(pins[0].type, P11O_PIN_TYPE_ASCII_NUMERIC);
	assert_int_equal(pins[0].auth_id[0], 0x01);
	assert_int_equal(pins[0].parent_id[0], 0x03);
	assert_true(pins[0].flags & P11O_P15_PIN_LOCAL);
	assert_false(pins[0].flags & P11O_P15_PIN_UNBLOCKING);
	assert_string_equal(pins[1].name, "Signing");
	assert_int_equal(pins[1].ref, 0x82);
	assert_string_equal(pins[2].name, "PUK");
	assert_int_equal(pins[2].ref, 0x83);
	assert_true(pins[2].flags & P11O_P15_PIN_UNBLOCKING);
	assert_int_equal(p11o_p15_find_puk(pins, n), 2);
	/* max bounds the output */
	assert_int_equal(
	    p11o_p15_parse_aodf(vc_aodf, sizeof(vc_aodf), pins, 1, &n), 0);
	assert_int_equal(n, 1);
	/* FF padding after the objects is ignored */
	memcpy(padded, vc_aodf, sizeof(vc_aodf));
	memset(padded + sizeof(vc_aodf), 0xFF, 8);
	assert_int_equal(
	    p11o_p15_parse_aodf(padded, sizeof(padded), pins, 8, &n), 0);
	assert_int_equal(n, 3);
	/* truncations never read past the end (ASan) and mostly fail */
	for (size_t k = 1; k < sizeof(vc_aodf); k++)
		if (k != 0x38 && k != 0x38 + 0x31)
			assert_int_equal(
			    p11o_p15_parse_aodf(vc_aodf, k, pins, 8, &n), -1);
}

static void test_find_puk(void **state)
{
	(void)state;
	p11o_card_pin pins[3];

	memset(pins, 0, sizeof(pins));
	/* SO PIN flagged unblocking is not the PUK */
	pins[0].flags = P11O_P15_PIN_UNBLOCKING | P11O_P15_PIN_SO;
	pins[0].auth_id[0] = 9;
	pins[0].auth_id_len = 1;
	pins[1].parent_id[0] = 9;
	pins[1].parent_id_len = 1;
	assert_int_equal(p11o_p15_find_puk(pins, 2), -1);
	pins[2].flags = P11O_P15_PIN_UNBLOCKING;
	pins[2].auth_id[0] = 7;
	pins[2].auth_id_len = 1;
	assert_int_equal(p11o_p15_find_puk(pins, 3), 2); /* the only one */
	pins[0].flags = P11O_P15_PIN_UNBLOCKING;
	assert_int_equal(p11o_p15_find_puk(pins, 3), 0); /* the parent */
	assert_int_equal(p11o_p15_find_puk(pins, 0), -1);
}

static void test_odf_efdir(void **state)
{
	(void)state;
	p11o_p15_odf_entry e[4];
	p11o_card_app apps[2];
	size_t n;
	const uint8_t bad_odf[] = {0x30, 0x00};
	const uint8_t odd_path[] = {0xA8, 0x05, 0x30, 0x03, 0x04, 0x01, 0x44};

	assert_int_equal(p11o_p15_parse_odf(vc_odf, sizeof(vc_odf), e, 4, &n),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].type, 8);
	assert_int_equal(e[0].path_len, 6);
	assert_int_equal(e[0].path[5], 0x01);
	assert_int_equal(e[1].type, 0);
	assert_int_equal(e[2].type, 4);
	assert_int_equal(p11o_p15_parse_odf(bad_odf, sizeof(bad_odf), e, 4, &n),
			 -1);
	assert_int_equal(
	    p11o_p15_parse_odf(odd_path, sizeof(odd_path), e, 4, &n), -1);
	assert_int_equal(
	    p11o_p15_parse_odf(vc_odf, sizeof(vc_odf) - 1, e, 4, &n), -1);

	assert_int_equal(
	    p11o_p15_parse_efdir(vc_efdir, sizeof(vc_efdir), apps, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(apps[0].aid_len, 12);
	assert_string_equal(apps[0].label, "p11overlay PKCS#15");
	assert_int_equal(apps[0].path_len, 4);
	assert_int_equal(apps[0].path[3], 0x15);
	assert_int_equal(
	    p11o_p15_parse_efdir(vc_efdir, sizeof(vc_efdir) - 3, apps, 2, &n),
	    -1);
}

static void test_openpgp(void **state)
{
	(void)state;
	const uint8_t aid[] = {0xD2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04,
			       0x00, 0x06, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00};
	uint8_t tlv[18] = {0x4F, 0x10};
	const uint8_t pw[] = {0x00, 0x7F, 0x7F, 0x7F, 0x03, 0x00, 0x03};
	p11o_openpgp_aid a;
	int tries[3];
	size_t maxl[3];

	assert_int_equal(p11o_openpgp_parse_aid(aid, sizeof(aid), &a), 0);
	assert_string_equal(a.serial_hex, "12345678");
	assert_int_equal(a.version, 0x0304);
	assert_int_equal(a.manufacturer, 6);
	memcpy(tlv + 2, aid, sizeof(aid));
	assert_int_equal(p11o_openpgp_parse_aid(tlv, sizeof(tlv), &a), 0);
	assert_int_equal(p11o_openpgp_parse_aid(aid, 15, &a), -1);
	assert_int_equal(p11o_openpgp_parse_aid(tlv, 17, &a), -1);
	assert_int_equal(p11o_openpgp_parse_aid(vc_atr, 15, &a), -1);
	assert_int_equal(p11o_openpgp_parse_pw_status(pw, 7, tries, maxl), 0);
	assert_int_equal(tries[0], 3);
	assert_int_equal(tries[1], 0);
	assert_int_equal(maxl[2], 127);
	assert_int_equal(p11o_openpgp_parse_pw_status(pw, 6, tries, maxl), -1);
}

static void test_status_words(void **state)
{
	(void)state;
	int tries;

	assert_int_equal(p11o_card_sw_to_rv(0x9000, &tries), CKR_OK);
	assert_int_equal(p11o_card_sw_to_rv(0x63C2, &tries), CKR_PIN_INCORRECT);
	assert_int_equal(tries, 2);
	assert_int_equal(p11o_card_sw_to_rv(0x63C0, &tries), CKR_PIN_LOCKED);
	assert_int_equal(p11o_card_sw_to_rv(0x6983, &tries), CKR_PIN_LOCKED);
	assert_int_equal(tries, 0);
	assert_int_equal(p11o_card_sw_to_rv(0x6700, NULL), CKR_PIN_LEN_RANGE);
	assert_int_equal(p11o_card_sw_to_rv(0x6A80, NULL), CKR_PIN_LEN_RANGE);
	assert_int_equal(p11o_card_sw_to_rv(0x6982, NULL), CKR_FUNCTION_FAILED);
	assert_int_equal(p11o_card_sw_to_rv(0x6985, NULL), CKR_FUNCTION_FAILED);
	assert_int_equal(p11o_card_sw_to_rv(0x6300, &tries), CKR_PIN_INCORRECT);
	assert_int_equal(tries, -1);
	assert_int_equal(p11o_card_sw_to_rv(0x6A88, NULL),
			 CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(p11o_card_sw_to_rv(0x6F00, NULL), CKR_DEVICE_ERROR);

	assert_int_equal(p11o_card_pin_state_from_sw(0x9000, &tries),
			 P11O_PIN_VERIFIED);
	assert_int_equal(p11o_card_pin_state_from_sw(0x63C3, &tries),
			 P11O_PIN_NOT_VERIFIED);
	assert_int_equal(tries, 3);
	assert_int_equal(p11o_card_pin_state_from_sw(0x6983, &tries),
			 P11O_PIN_BLOCKED);
	assert_int_equal(p11o_card_pin_state_from_sw(0x6A88, &tries),
			 P11O_PIN_NOT_SUPPORTED);
	assert_int_equal(p11o_card_pin_state_from_sw(0x6A86, &tries),
			 P11O_PIN_NOT_SUPPORTED);
	assert_int_equal(p11o_card_pin_state_from_sw(0x6400, &tries),
			 P11O_PIN_STATE_ERROR);
}

static void test_reader_names(void **state)
{
	(void)state;
	unsigned char desc[64];
	const char *longname =
	    "Very Long Reader Name Corp. SuperReader Model 12345 Contact "
	    "Interface 00 00";

	memset(desc, ' ', sizeof(desc));
	memcpy(desc, "Virtual PCD 00 00", 17);
	assert_true(p11o_card_reader_matches(desc, 64, "Virtual PCD 00 00"));
	assert_false(p11o_card_reader_matches(desc, 64, "Virtual PCD 00 01"));
	assert_false(p11o_card_reader_matches(desc, 64, "Virtual PCD 00 0"));
	assert_false(
	    p11o_card_reader_matches(desc, 64, "Virtual PCD 00 00 extra"));
	/* OpenSC: 61 characters then "..." */
	memcpy(desc, longname, 61);
	memcpy(desc + 61, "...", 3);
	assert_true(p11o_card_reader_matches(desc, 64, longname));
	assert_false(p11o_card_reader_matches(desc, 64, "Very Long"));
	memset(desc, ' ', sizeof(desc));
	assert_false(p11o_card_reader_matches(desc, 64, ""));
	assert_false(p11o_card_reader_matches(desc, 64, "x"));
}

static void test_atr_mask(void **state)
{
	(void)state;
	p11o_card_profile p;

	memset(&p, 0, sizeof(p));
	assert_true(p11o_card_atr_matches(&p, vc_atr, sizeof(vc_atr)));
	memcpy(p.atr, vc_atr, sizeof(vc_atr));
	memset(p.atr_mask, 0xFF, sizeof(vc_atr));
	p.atr_len = sizeof(vc_atr);
	assert_true(p11o_card_atr_matches(&p, vc_atr, sizeof(vc_atr)));
	p.atr[14] ^= 0x01;
	assert_false(p11o_card_atr_matches(&p, vc_atr, sizeof(vc_atr)));
	p.atr_mask[14] = 0xFE;
	assert_true(p11o_card_atr_matches(&p, vc_atr, sizeof(vc_atr)));
	assert_false(p11o_card_atr_matches(&p, vc_atr, sizeof(vc_atr) - 1));
}

static void test_apdu_le_and_pin_encoding(void **state)
{
	(void)state;
	const uint8_t c2[] = {0x00, 0xB0, 0x00, 0x00, 0x00};
	const uint8_t c4[] = {0x00, 0xA4, 0x04, 0x00, 0x01, 0xAA, 0x00};
	const uint8_t c3[] = {0x00, 0x20, 0x00, 0x81, 0x01, 0x31};
	const uint8_t bad[] = {0x00, 0x20, 0x00, 0x81, 0x05, 0x31};
	uint8_t out[16];
	p11o_card_pin pin;

	assert_int_equal(p11o_card_apdu_set_le(c2, 5, 0x10, out, 16), 5);
	assert_int_equal(out[4], 0x10);
	assert_int_equal(p11o_card_apdu_set_le(c4, 7, 0x10, out, 16), 7);
	assert_int_equal(out[6], 0x10);
	assert_int_equal(p11o_card_apdu_set_le(c3, 6, 0x10, out, 16), 7);
	assert_int_equal(out[6], 0x10);
	assert_int_equal(p11o_card_apdu_set_le(c3, 6, 0x10, out, 6), 0);
	assert_int_equal(p11o_card_apdu_set_le(bad, sizeof(bad), 0x10, out, 16),
			 0);
	assert_int_equal(p11o_card_apdu_set_le(c3, 3, 0x10, out, 16), 0);

	/* OpenSC 0.23's sc_build_pin: a padChar alone does not pad (its
	 * VERIFY sends the PIN as typed); needs-padding pads with padChar
	 * (00 when absent) to storedLength. */
	memset(&pin, 0, sizeof(pin));
	pin.type = P11O_PIN_TYPE_ASCII_NUMERIC;
	pin.pad_char = -1;
	pin.stored_len = 8;
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"1234", 4, out, 16), 4);
	pin.pad_char = 0xFF;
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"123456", 6, out, 16),
	    6);
	assert_memory_equal(out, "123456", 6);
	pin.flags = P11O_P15_PIN_NEEDS_PADDING;
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"1234", 4, out, 16), 8);
	assert_memory_equal(out, "1234\xFF\xFF\xFF\xFF", 8);
	pin.pad_char = -1;
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"1234", 4, out, 16), 8);
	assert_memory_equal(out, "1234\0\0\0\0", 8);
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"12a4", 4, out, 16), 0);
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"1234", 4, out, 6), 0);
	/* BCD: an odd last digit gets padChar's low nibble (0 by default);
	 * padded to storedLength / 2 bytes. */
	pin.type = P11O_PIN_TYPE_BCD;
	pin.flags = 0;
	pin.pad_char = -1;
	pin.stored_len = 0;
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"12345", 5, out, 16),
	    3);
	assert_int_equal(out[0], 0x12);
	assert_int_equal(out[2], 0x50);
	pin.pad_char = 0xFF;
	pin.stored_len = 8;
	pin.flags = P11O_P15_PIN_NEEDS_PADDING;
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"12345", 5, out, 16),
	    4);
	assert_memory_equal(out, "\x12\x34\x5F\xFF", 4);
	assert_int_equal(
	    p11o_card_encode_pin(NULL, (const uint8_t *)"abc", 3, out, 16), 3);
}

static void set_label(unsigned char l[32], const char *s)
{
	memset(l, ' ', 32);
	memcpy(l, s, strlen(s) < 32 ? strlen(s) : 32);
}

/* Slot -> PIN from OpenSC's labels, whatever the PIN names hold. */
static void test_pin_for_label(void **state)
{
	(void)state;
	p11o_card_info info;
	unsigned char l[32], out[32];
	memset(&info, 0, sizeof(info));
	info.pin_count = 2;
	strcpy(info.pins[0].name, "User PIN");
	strcpy(info.pins[1].name, "User PIN (sig)");
	set_label(l, "OpenPGP card (User PIN (sig))");
	size_t suffix = 0;
	assert_int_equal(p11o_card_pin_for_label(&info, l, 0, &suffix), 1);
	assert_int_equal(suffix, strlen(" (User PIN (sig))"));
	set_label(l, "OpenPGP card (User PIN)");
	assert_int_equal(p11o_card_pin_for_label(&info, l, 1, NULL), 0);
	/* Distinct labels for the two tokens. */
	p11o_card_token_label(&info, 0, "%t (%p)", "OpenPGP card", l);
	p11o_card_token_label(&info, 1, "%t (%p)", "OpenPGP card", out);
	assert_memory_not_equal(l, out, 32);
	/* Long names sharing a 32-byte prefix: OpenSC shows the PIN label
	 * alone, cut; the slot's position decides, labels stay distinct. */
	strcpy(info.pins[0].name, "Qualified electronic signature PIN one");
	strcpy(info.pins[1].name, "Qualified electronic signature PIN two");
	set_label(l, "Qualified electronic signature P");
	assert_int_equal(p11o_card_pin_for_label(&info, l, 1, NULL), 1);
	assert_int_equal(p11o_card_pin_for_label(&info, l, 0, NULL), 0);
	p11o_card_token_label(&info, 0, "%t (%p)", "Card", l);
	p11o_card_token_label(&info, 1, "%t (%p)", "Card", out);
	assert_memory_not_equal(l, out, 32);
	/* Same names: numbered. */
	strcpy(info.pins[1].name, info.pins[0].name);
	p11o_card_token_label(&info, 0, "%t (%p)", "Card", l);
	p11o_card_token_label(&info, 1, "%t (%p)", "Card", out);
	assert_memory_not_equal(l, out, 32);
	/* Nothing matches: the position. */
	set_label(l, "Something else");
	assert_int_equal(p11o_card_pin_for_label(&info, l, 1, NULL), 1);
	assert_int_equal(p11o_card_pin_for_label(&info, l, 5, NULL), -1);
}

/* The certificate files a CDF lists (UpdateCount hashes them). */
static void test_cdf_paths(void **state)
{
	(void)state;
	p11o_p15_odf_entry e[8];
	size_t n = 0;
	assert_int_equal(
	    p11o_p15_parse_cdf_paths(vc_cdf, sizeof(vc_cdf), e, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].path_len, 6);
	assert_memory_equal(e[0].path, "\x3f\x00\x50\x15\x43\x31", 6);
	assert_memory_equal(e[2].path, "\x3f\x00\x50\x15\x43\x3f", 6);
	/* Cut anywhere: never past the buffer, malformed or fewer. */
	for (size_t cut = 0; cut < sizeof(vc_cdf); cut++) {
		int rc = p11o_p15_parse_cdf_paths(vc_cdf, cut, e, 8, &n);
		assert_true(rc == -1 || n <= 3);
	}
}

/* The family table: OpenSC's PIN rules per driver. */
static void test_families(void **state)
{
	(void)state;
	const p11o_card_family *piv = p11o_card_family_by_profile("piv");
	const p11o_card_family *pgp = p11o_card_family_by_profile("openpgp");
	p11o_card_pin pin, puk;
	uint8_t out[32];
	assert_non_null(piv);
	assert_non_null(pgp);
	assert_null(p11o_card_family_by_profile("nosuch"));
	assert_string_equal(piv->application, "NIST SP 800-73 [PIV]");
	p11o_card_family_pin_fill(&piv->pins[0], &pin);
	p11o_card_family_pin_fill(&piv->puk, &puk);
	assert_int_equal(pin.ref, 0x80);
	assert_int_equal(puk.ref, 0x81);
	assert_int_equal(piv->unblock_ref, 0x80);
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"123456", 6, out, 32),
	    8);
	assert_memory_equal(out, "123456\xFF\xFF", 8);
	assert_int_equal(
	    p11o_card_encode_pin(&puk, (const uint8_t *)"12345678", 8, out, 32),
	    8);
	assert_int_equal(pgp->unblock_ref, 0x81);
	assert_true(pgp->puk_is_rc);
	assert_string_equal(pgp->pins[0].name, "User PIN");
	assert_int_equal(pgp->pins[0].ref, 0x82);
	p11o_card_family_pin_fill(&pgp->pins[1], &pin);
	assert_int_equal(
	    p11o_card_encode_pin(&pin, (const uint8_t *)"123456", 6, out, 32),
	    6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tokeninfo),
	    cmocka_unit_test(test_tokeninfo_last_update),
	    cmocka_unit_test(test_aodf),
	    cmocka_unit_test(test_find_puk),
	    cmocka_unit_test(test_odf_efdir),
	    cmocka_unit_test(test_openpgp),
	    cmocka_unit_test(test_status_words),
	    cmocka_unit_test(test_reader_names),
	    cmocka_unit_test(test_atr_mask),
	    cmocka_unit_test(test_apdu_le_and_pin_encoding),
	    cmocka_unit_test(test_pin_for_label),
	    cmocka_unit_test(test_families),
	    cmocka_unit_test(test_cdf_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
