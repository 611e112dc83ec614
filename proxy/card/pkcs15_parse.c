/* Pure parsers of PKCS#15 files (TokenInfo, AODF, ODF) and EF.DIR.
 * No PC/SC; every field read through the bounded DER reader. */
#include <string.h>

#include "card.h"
#include "der.h"

/* Files are often padded with 00 or FF after the last object. */
static bool at_padding(const p11o_der *cur)
{
	return cur->len == 0 || cur->p[0] == 0x00 || cur->p[0] == 0xFF;
}

static void to_hex(const unsigned char *b, size_t n, char *out, bool upper)
{
	const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int p11o_p15_parse_tokeninfo(const uint8_t *buf, size_t len,
			     p11o_p15_tokeninfo *out)
{
	p11o_der file, seq;
	p11o_tlv top, t;
	int rc;

	memset(out, 0, sizeof(*out));
	p11o_der_init(&file, buf, len);
	if (p11o_der_expect(&file, P11O_DER_SEQUENCE, &top) != 1)
		return -1;
	p11o_der_enter(&top, &seq);
	if (p11o_der_expect(&seq, P11O_DER_INTEGER, &t) != 1 ||
	    p11o_der_uint(&t, &out->version) != 0)
		return -1;
	if (p11o_der_expect(&seq, P11O_DER_OCTET_STRING, &t) != 1 ||
	    t.len > sizeof(out->serial))
		return -1;
	memcpy(out->serial, t.value, t.len);
	out->serial_len = t.len;
	to_hex(out->serial, t.len, out->serial_hex, false);
	rc = p11o_der_optional(&seq, P11O_DER_UTF8_STRING, &t);
	if (rc < 0 ||
	    (rc == 1 && p11o_der_string(&t, out->manufacturer,
					sizeof(out->manufacturer)) < 0))
		return -1;
	rc = p11o_der_optional(&seq, P11O_DER_CTX(0), &t);
	if (rc == 0) /* OpenSC also reads a plain UTF8String label here */
		rc = p11o_der_optional(&seq, P11O_DER_UTF8_STRING, &t);
	if (rc < 0 || (rc == 1 &&
		       p11o_der_string(&t, out->label, sizeof(out->label)) < 0))
		return -1;
	if (p11o_der_expect(&seq, P11O_DER_BIT_STRING, &t) != 1 ||
	    p11o_der_bits(&t, &out->token_flags) != 0)
		return -1;
	/* The rest is optional; only lastUpdate [5] matters here. */
	while ((rc = p11o_der_next(&seq, &t)) == 1) {
		if (t.tag == P11O_DER_CTX_C(5) || t.tag == P11O_DER_CTX(5)) {
			if (t.len == 0 || t.len > sizeof(out->last_update))
				return -1;
			memcpy(out->last_update, t.value, t.len);
			out->last_update_len = t.len;
		}
	}
	return rc < 0 ? -1 : 0;
}

/* pinReference: INTEGER; one byte is taken as unsigned (cards write 0x81
 * as "80 01 81"). */
static int parse_ref(const p11o_tlv *t, unsigned char *ref)
{
	unsigned long v;

	if (t->len == 1) {
		*ref = t->value[0];
		return 0;
	}
	if (p11o_der_uint(t, &v) != 0 || v > 0xFF)
		return -1;
	*ref = (unsigned char)v;
	return 0;
}

static int parse_size(p11o_der *cur, size_t *out, bool optional)
{
	p11o_tlv t;
	unsigned long v;
	int rc = optional ? p11o_der_optional(cur, P11O_DER_INTEGER, &t)
			  : p11o_der_expect(cur, P11O_DER_INTEGER, &t);

	if (rc <= 0)
		return rc;
	if (p11o_der_uint(&t, &v) != 0 || v > 0xFFFF)
		return -1;
	*out = v;
	return 1;
}

static int parse_pin_object(const p11o_tlv *obj, p11o_card_pin *pin)
{
	p11o_der o, c, a, pa;
	p11o_tlv common, auth, typ, attrs, t;
	int rc;

	memset(pin, 0, sizeof(*pin));
	pin->pad_char = -1;
	pin->status_index = -1;
	pin->type = P11O_PIN_TYPE_UNKNOWN;
	p11o_der_enter(obj, &o);
	if (p11o_der_expect(&o, P11O_DER_SEQUENCE, &common) != 1 ||
	    p11o_der_expect(&o, P11O_DER_SEQUENCE, &auth) != 1 ||
	    p11o_der_expect(&o, P11O_DER_CTX_C(1), &typ) != 1)
		return -1;
	/* CommonObjectAttributes: label, flags, authId (the parent). */
	p11o_der_enter(&common, &c);
	rc = p11o_der_optional(&c, P11O_DER_UTF8_STRING, &t);
	if (rc < 0 ||
	    (rc == 1 && p11o_der_string(&t, pin->name, sizeof(pin->name)) < 0))
		return -1;
	if (p11o_der_optional(&c, P11O_DER_BIT_STRING, &t) < 0)
		return -1;
	rc = p11o_der_optional(&c, P11O_DER_OCTET_STRING, &t);
	if (rc < 0 || (rc == 1 && t.len > sizeof(pin->parent_id)))
		return -1;
	if (rc == 1) {
		memcpy(pin->parent_id, t.value, t.len);
		pin->parent_id_len = t.len;
	}
	/* CommonAuthenticationObjectAttributes: authId. */
	p11o_der_enter(&auth, &a);
	if (p11o_der_expect(&a, P11O_DER_OCTET_STRING, &t) != 1 ||
	    t.len > sizeof(pin->auth_id))
		return -1;
	memcpy(pin->auth_id, t.value, t.len);
	pin->auth_id_len = t.len;
	/* [1] PinAttributes. */
	p11o_der_enter(&typ, &a);
	if (p11o_der_expect(&a, P11O_DER_SEQUENCE, &attrs) != 1)
		return -1;
	p11o_der_enter(&attrs, &pa);
	if (p11o_der_expect(&pa, P11O_DER_BIT_STRING, &t) != 1 ||
	    p11o_der_bits(&t, &pin->flags) != 0)
		return -1;
	if (p11o_der_expect(&pa, P11O_DER_ENUMERATED, &t) != 1 || t.len != 1 ||
	    t.value[0] > P11O_PIN_TYPE_ISO9564_1)
		return -1;
	pin->type = t.value[0];
	if (parse_size(&pa, &pin->min_len, false) != 1 ||
	    parse_size(&pa, &pin->stored_len, false) != 1 ||
	    parse_size(&pa, &pin->max_len, true) < 0)
		return -1;
	rc = p11o_der_optional(&pa, P11O_DER_CTX(0), &t);
	if (rc < 0 || (rc == 1 && parse_ref(&t, &pin->ref) != 0))
		return -1;
	rc = p11o_der_optional(&pa, P11O_DER_OCTET_STRING, &t);
	if (rc < 0 || (rc == 1 && t.len != 1))
		return -1;
	if (rc == 1)
		pin->pad_char = t.value[0];
	return 0;
}

int p11o_p15_parse_aodf(const uint8_t *buf, size_t len, p11o_card_pin *pins,
			size_t max, size_t *count)
{
	p11o_der file;
	p11o_tlv obj;
	int rc;

	*count = 0;
	p11o_der_init(&file, buf, len);
	while (!at_padding(&file)) {
		rc = p11o_der_next(&file, &obj);
		if (rc < 0)
			return -1;
		if (obj.tag != P11O_DER_SEQUENCE) /* not a PIN object */
			continue;
		if (*count >= max)
			continue;
		if (parse_pin_object(&obj, &pins[*count]) != 0)
			return -1;
		(*count)++;
	}
	return 0;
}

static bool same_id(const unsigned char *a, size_t an, const unsigned char *b,
		    size_t bn)
{
	return an && an == bn && memcmp(a, b, an) == 0;
}

int p11o_p15_find_puk(const p11o_card_pin *pins, size_t count)
{
	int only = -1, n = 0;

	for (size_t i = 0; i < count; i++) {
		const p11o_card_pin *k = &pins[i];
		if (!(k->flags & P11O_P15_PIN_UNBLOCKING) ||
		    (k->flags & P11O_P15_PIN_SO))
			continue;
		only = (int)i;
		n++;
		for (size_t j = 0; j < count; j++)
			if (j != i &&
			    !(pins[j].flags &
			      (P11O_P15_PIN_UNBLOCKING | P11O_P15_PIN_SO)) &&
			    same_id(pins[j].parent_id, pins[j].parent_id_len,
				    k->auth_id, k->auth_id_len))
				return (int)i;
	}
	return n == 1 ? only : -1;
}

int p11o_p15_parse_efdir(const uint8_t *buf, size_t len, p11o_card_app *apps,
			 size_t max, size_t *count)
{
	p11o_der file, in;
	p11o_tlv tpl, t;
	int rc;

	*count = 0;
	p11o_der_init(&file, buf, len);
	while (!at_padding(&file)) {
		if (p11o_der_next(&file, &tpl) != 1)
			return -1;
		if (tpl.tag != 0x61 || *count >= max)
			continue;
		p11o_card_app *app = &apps[*count];
		memset(app, 0, sizeof(*app));
		p11o_der_enter(&tpl, &in);
		while ((rc = p11o_der_next(&in, &t)) == 1) {
			if (t.tag == 0x4F) {
				if (t.len > sizeof(app->aid))
					return -1;
				memcpy(app->aid, t.value, t.len);
				app->aid_len = t.len;
			} else if (t.tag == 0x50) {
				if (p11o_der_string(&t, app->label,
						    sizeof(app->label)) < 0)
					return -1;
			} else if (t.tag == 0x51) {
				if (t.len > sizeof(app->path))
					return -1;
				memcpy(app->path, t.value, t.len);
				app->path_len = t.len;
			}
		}
		if (rc < 0 || app->aid_len == 0)
			return -1;
		(*count)++;
	}
	return 0;
}

int p11o_p15_parse_odf(const uint8_t *buf, size_t len,
		       p11o_p15_odf_entry *entries, size_t max, size_t *count)
{
	p11o_der file, in, ps;
	p11o_tlv e, path, t;

	*count = 0;
	p11o_der_init(&file, buf, len);
	while (!at_padding(&file)) {
		if (p11o_der_next(&file, &e) != 1)
			return -1;
		if ((e.tag & 0xE0u) != 0xA0u || e.tag > 0xBEu)
			return -1;
		p11o_der_enter(&e, &in);
		/* Path ::= SEQUENCE { path OCTET STRING, ... }; objects given
		 * directly ([0] ...) are not files: skipped. */
		if (p11o_der_optional(&in, P11O_DER_SEQUENCE, &path) != 1)
			continue;
		p11o_der_enter(&path, &ps);
		if (p11o_der_expect(&ps, P11O_DER_OCTET_STRING, &t) != 1 ||
		    t.len == 0 || t.len > sizeof(entries[0].path) || t.len % 2)
			return -1;
		if (*count >= max)
			continue;
		entries[*count].type = e.tag & 0x1Fu;
		memcpy(entries[*count].path, t.value, t.len);
		entries[*count].path_len = t.len;
		(*count)++;
	}
	return 0;
}

int p11o_p15_parse_cdf_paths(const uint8_t *buf, size_t len,
			     p11o_p15_odf_entry *paths, size_t max,
			     size_t *count)
{
	p11o_der file, in, a, v;
	p11o_tlv obj, t;

	*count = 0;
	p11o_der_init(&file, buf, len);
	while (!at_padding(&file)) {
		if (p11o_der_next(&file, &obj) != 1)
			return -1;
		if (obj.tag != P11O_DER_SEQUENCE) /* not an X.509 certificate */
			continue;
		p11o_der_enter(&obj, &in);
		/* common object and certificate attributes, then [1] { SEQ {
		 * value Path SEQ { OCTET STRING, ... } } }; a certificate
		 * given directly (not by path) has no file. */
		if (p11o_der_expect(&in, P11O_DER_SEQUENCE, &t) != 1 ||
		    p11o_der_expect(&in, P11O_DER_SEQUENCE, &t) != 1)
			return -1;
		if (p11o_der_expect(&in, P11O_DER_CTX_C(1), &t) != 1)
			continue;
		p11o_der_enter(&t, &a);
		if (p11o_der_expect(&a, P11O_DER_SEQUENCE, &t) != 1)
			continue;
		p11o_der_enter(&t, &v);
		if (p11o_der_optional(&v, P11O_DER_SEQUENCE, &t) != 1)
			continue;
		p11o_der_enter(&t, &a);
		if (p11o_der_expect(&a, P11O_DER_OCTET_STRING, &t) != 1 ||
		    t.len == 0 || t.len > sizeof(paths[0].path) || t.len % 2)
			continue;
		if (*count >= max)
			continue;
		paths[*count].type = 4;
		memcpy(paths[*count].path, t.value, t.len);
		paths[*count].path_len = t.len;
		(*count)++;
	}
	return 0;
}
