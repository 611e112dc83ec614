/* Trace formatting primitives and attribute templates.  Hand-rolled (no
 * printf) so a record costs a few hundred instructions. */
#include "trace_int.h"

static const char hexd[] = "0123456789abcdef";

void p11o_tb_str(p11o_tbuf *b, const char *s)
{
	p11o_tb_mem(b, s, strlen(s));
}

static const char digits2[] = "00010203040506070809"
			      "10111213141516171819"
			      "20212223242526272829"
			      "30313233343536373839"
			      "40414243444546474849"
			      "50515253545556575859"
			      "60616263646566676869"
			      "70717273747576777879"
			      "80818283848586878889"
			      "90919293949596979899";

void p11o_tb_dec(p11o_tbuf *b, unsigned long v)
{
	char tmp[24];
	char *e = tmp + sizeof(tmp), *q = e;
	while (v >= 100) {
		unsigned long r = v % 100;
		v /= 100;
		q -= 2;
		q[0] = digits2[2 * r];
		q[1] = digits2[2 * r + 1];
	}
	if (v >= 10) {
		q -= 2;
		q[0] = digits2[2 * v];
		q[1] = digits2[2 * v + 1];
	} else
		*--q = (char)('0' + v);
	p11o_tb_mem(b, q, (size_t)(e - q));
}

void p11o_tb_dec0(p11o_tbuf *b, unsigned long v, int width)
{
	char tmp[24];
	char *e = tmp + sizeof(tmp), *q = e;
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v || e - q < width);
	p11o_tb_mem(b, q, (size_t)(e - q));
}

void p11o_tb_hex(p11o_tbuf *b, unsigned long v)
{
	char tmp[24];
	char *e = tmp + sizeof(tmp), *q = e;
	do {
		*--q = hexd[v & 15];
		v >>= 4;
	} while (v);
	*--q = 'x';
	*--q = '0';
	p11o_tb_mem(b, q, (size_t)(e - q));
}

void p11o_tb_ptr(p11o_tbuf *b, const void *p)
{
	if (!p)
		P11O_TB_LIT(b, "NULL");
	else
		p11o_tb_hex(b, (unsigned long)(uintptr_t)p);
}

static void tb_len(p11o_tbuf *b, unsigned long len, size_t shown)
{
	P11O_TB_LIT(b, "(len ");
	p11o_tb_dec(b, len);
	if (shown < len) {
		P11O_TB_LIT(b, ", cut at ");
		p11o_tb_dec(b, shown);
	}
	p11o_tb_c(b, ')');
}

static bool printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

void p11o_tb_bytes(p11o_tbuf *b, const void *p, unsigned long len, size_t cap)
{
	const unsigned char *s = p;
	size_t n = len < cap ? len : cap;
	tb_len(b, len, n);
	if (!n)
		return;
	p11o_tb_c(b, ' ');
	for (size_t i = 0; i < n && !b->overflow; i++) {
		p11o_tb_c(b, hexd[s[i] >> 4]);
		p11o_tb_c(b, hexd[s[i] & 15]);
	}
	P11O_TB_LIT(b, " \"");
	for (size_t i = 0; i < n && !b->overflow; i++)
		p11o_tb_c(b, printable(s[i]) && s[i] != '"' && s[i] != '\\'
				 ? (char)s[i]
				 : '.');
	p11o_tb_c(b, '"');
}

void p11o_tb_text(p11o_tbuf *b, const void *p, size_t len, size_t cap)
{
	const unsigned char *s = p;
	size_t n = len < cap ? len : cap;
	p11o_tb_c(b, '"');
	for (size_t i = 0; i < n && !b->overflow; i++) {
		unsigned char c = s[i];
		if (printable(c) && c != '"' && c != '\\') {
			p11o_tb_c(b, (char)c);
			continue;
		}
		char esc[4] = {'\\', 'x', hexd[c >> 4], hexd[c & 15]};
		p11o_tb_mem(b, esc, 4);
	}
	p11o_tb_c(b, '"');
	if (n < len) {
		P11O_TB_LIT(b, "...");
		tb_len(b, len, n);
	}
}

void p11o_tb_padded(p11o_tbuf *b, const unsigned char *p, size_t len)
{
	while (len && (p[len - 1] == ' ' || p[len - 1] == 0))
		len--;
	p11o_tb_text(b, p, len, len);
}

void p11o_tb_version(p11o_tbuf *b, const CK_VERSION *v)
{
	p11o_tb_dec(b, v->major);
	p11o_tb_c(b, '.');
	p11o_tb_dec(b, v->minor);
}

void p11o_tb_secret(p11o_tbuf *b, unsigned long len)
{
	P11O_TB_LIT(b, "***(len ");
	p11o_tb_dec(b, len);
	p11o_tb_c(b, ')');
}

void p11o_tb_duration(p11o_tbuf *b, uint64_t ns)
{
	p11o_tb_dec(b, (unsigned long)(ns / 1000));
	p11o_tb_c(b, '.');
	p11o_tb_dec0(b, (unsigned long)(ns % 1000), 3);
	P11O_TB_LIT(b, "us");
}

/* Civil date from days since 1970-01-01 (H. Hinnant's algorithm). */
static void civil(int64_t z, long *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long)(yoe + era * 400) + (*m <= 2);
}

static void two(char *p, unsigned v)
{
	p[0] = digits2[2 * v];
	p[1] = digits2[2 * v + 1];
}

void p11o_tb_utc(p11o_tbuf *b, uint64_t ns)
{
	/* "YYYY-MM-DDTHH:MM:SS." changes once a second: per-thread cache
	 * (nothing shared between threads, no localtime). */
	static _Thread_local struct {
		uint64_t sec;
		char text[20];
	} c = {UINT64_MAX, ""};
	uint64_t s = ns / 1000000000u;
	unsigned us = (unsigned)(ns % 1000000000u / 1000);
	if (s != c.sec) {
		unsigned sod = (unsigned)(s % 86400);
		long y;
		unsigned m, d;
		civil((int64_t)(s / 86400), &y, &m, &d);
		unsigned yy = (unsigned)((unsigned long)y % 10000);
		two(c.text, yy / 100);
		two(c.text + 2, yy % 100);
		c.text[4] = '-';
		two(c.text + 5, m);
		c.text[7] = '-';
		two(c.text + 8, d);
		c.text[10] = 'T';
		two(c.text + 11, sod / 3600);
		c.text[13] = ':';
		two(c.text + 14, sod / 60 % 60);
		c.text[16] = ':';
		two(c.text + 17, sod % 60);
		c.text[19] = '.';
		c.sec = s;
	}
	char t[27];
	memcpy(t, c.text, 20);
	two(t + 20, us / 10000);
	two(t + 22, us / 100 % 100);
	two(t + 24, us % 100);
	t[26] = 'Z';
	p11o_tb_mem(b, t, sizeof(t));
}

/* ---- attribute templates ------------------------------------------------ */

static unsigned long get_ulong(const void *p)
{
	CK_ULONG v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Class of the object a template describes, or -1 when not known.  Reads
 * only CKA_CLASS values that are really there (`out`: not unavailable). */
static long template_class(const CK_ATTRIBUTE *t, CK_ULONG count)
{
	for (CK_ULONG i = 0; i < count && i < 4096; i++) {
		if (t[i].type != CKA_CLASS || !t[i].pValue ||
		    t[i].ulValueLen != sizeof(CK_ULONG))
			continue;
		return (long)get_ulong(t[i].pValue);
	}
	return -1;
}

static void attr_value(p11o_tbuf *b, const CK_ATTRIBUTE *a, long cls,
		       size_t cap)
{
	enum p11o_attr_kind k = p11o_trace_attr_kind(a->type);
	unsigned long len = a->ulValueLen;
	const void *v = a->pValue;
	static const enum p11o_ntab ulong_tab[] = {
	    [P11O_AT_CLASS] = P11O_NT_CKO,
	    [P11O_AT_KEY_TYPE] = P11O_NT_CKK,
	    [P11O_AT_CERT_TYPE] = P11O_NT_CKC,
	    [P11O_AT_HW_TYPE] = P11O_NT_CKH,
	    [P11O_AT_MECH] = P11O_NT_CKM};

	if (k == P11O_AT_SECRET && (cls < 0 || cls == (long)CKO_SECRET_KEY ||
				    cls == (long)CKO_PRIVATE_KEY)) {
		p11o_tb_secret(b, len);
		return;
	}
	switch (k) {
	case P11O_AT_BOOL:
		if (len != sizeof(CK_BBOOL))
			break;
		if (*(const CK_BBOOL *)v == CK_FALSE)
			P11O_TB_LIT(b, "CK_FALSE");
		else if (*(const CK_BBOOL *)v == CK_TRUE)
			P11O_TB_LIT(b, "CK_TRUE");
		else
			p11o_tb_hex(b, *(const CK_BBOOL *)v);
		return;
	case P11O_AT_ULONG:
		if (len != sizeof(CK_ULONG))
			break;
		p11o_tb_dec(b, get_ulong(v));
		return;
	case P11O_AT_CLASS:
	case P11O_AT_KEY_TYPE:
	case P11O_AT_CERT_TYPE:
	case P11O_AT_HW_TYPE:
	case P11O_AT_MECH:
		if (len != sizeof(CK_ULONG))
			break;
		p11o_tb_name(b, ulong_tab[k], get_ulong(v));
		return;
	case P11O_AT_TEXT:
		p11o_tb_text(b, v, len, cap);
		return;
	case P11O_AT_DATE:
		if (len != sizeof(CK_DATE))
			break;
		p11o_tb_text(b, v, len, len);
		return;
	case P11O_AT_MECH_LIST: {
		if (len % sizeof(CK_ULONG))
			break;
		unsigned long n = len / sizeof(CK_ULONG);
		p11o_tb_c(b, '[');
		for (unsigned long i = 0; i < n && i * sizeof(CK_ULONG) < cap;
		     i++) {
			if (i)
				P11O_TB_LIT(b, ", ");
			p11o_tb_name(b, P11O_NT_CKM,
				     get_ulong((const CK_ULONG *)v + i));
		}
		p11o_tb_c(b, ']');
		return;
	}
	case P11O_AT_ATTR_LIST:
		/* nested templates: pointers inside, shown as count only */
		P11O_TB_LIT(b, "(attribute array of ");
		p11o_tb_dec(b, len / sizeof(CK_ATTRIBUTE));
		p11o_tb_c(b, ')');
		return;
	default:
		break;
	}
	p11o_tb_bytes(b, v, len, cap);
}

void p11o_tb_template(p11o_tbuf *b, const CK_ATTRIBUTE *t, CK_ULONG count,
		      bool out, size_t cap)
{
	long cls = template_class(t, count);
	for (CK_ULONG i = 0; i < count && !b->overflow; i++) {
		const CK_ATTRIBUTE *a = &t[i];
		P11O_TB_LIT(b, "      ");
		p11o_tb_name(b, P11O_NT_CKA, a->type);
		P11O_TB_LIT(b, " = ");
		if (a->ulValueLen == CK_UNAVAILABLE_INFORMATION)
			P11O_TB_LIT(b, "CK_UNAVAILABLE_INFORMATION");
		else if (!a->pValue) {
			P11O_TB_LIT(b, "NULL ");
			tb_len(b, a->ulValueLen, a->ulValueLen);
		} else
			attr_value(b, a, cls, cap);
		(void)out;
		p11o_tb_c(b, '\n');
	}
}
