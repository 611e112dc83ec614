/* Mechanism parameters for the trace.  A parameter is decoded only when its
 * length is exactly the struct (or IV) size the mechanism expects;
 * buffers it points to are read only when the caller allows (`nested`:
 * the provider accepted the call). */
#include "trace_int.h"

enum mp_kind { MP_NONE, MP_PSS, MP_OAEP, MP_GCM, MP_IV8, MP_IV16, MP_ECDH1 };

static const struct {
	CK_MECHANISM_TYPE m;
	unsigned char kind;
} mech_params[] = {
    {CKM_RSA_PKCS_PSS, MP_PSS},
    {CKM_SHA1_RSA_PKCS_PSS, MP_PSS},
    {CKM_SHA224_RSA_PKCS_PSS, MP_PSS},
    {CKM_SHA256_RSA_PKCS_PSS, MP_PSS},
    {CKM_SHA384_RSA_PKCS_PSS, MP_PSS},
    {CKM_SHA512_RSA_PKCS_PSS, MP_PSS},
    {CKM_RSA_PKCS_OAEP, MP_OAEP},
    {CKM_AES_GCM, MP_GCM},
    {CKM_AES_CBC, MP_IV16},
    {CKM_AES_CBC_PAD, MP_IV16},
    {CKM_AES_OFB, MP_IV16},
    {CKM_AES_CFB128, MP_IV16},
    {CKM_DES_CBC, MP_IV8},
    {CKM_DES_CBC_PAD, MP_IV8},
    {CKM_DES3_CBC, MP_IV8},
    {CKM_DES3_CBC_PAD, MP_IV8},
    {CKM_ECDH1_DERIVE, MP_ECDH1},
    {CKM_ECDH1_COFACTOR_DERIVE, MP_ECDH1},
};

/* CK_GCM_PARAMS as in the 2.40 header without ulIvBits (some applications
 * and providers use it); decoded when the length says so. */
struct gcm_short {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
};

static void field(p11o_tbuf *b, const char *name)
{
	p11o_tb_str(b, name);
	P11O_TB_LIT(b, " = ");
}

static void nested_bytes(p11o_tbuf *b, const char *name, const void *p,
			 unsigned long len, bool nested, size_t cap)
{
	field(b, name);
	if (p && nested && len)
		p11o_tb_bytes(b, p, len, cap);
	else {
		p11o_tb_ptr(b, p);
		P11O_TB_LIT(b, " (len ");
		p11o_tb_dec(b, len);
		p11o_tb_c(b, ')');
	}
}

static void pss(p11o_tbuf *b, const CK_RSA_PKCS_PSS_PARAMS *p)
{
	field(b, "hashAlg");
	p11o_tb_name(b, P11O_NT_CKM, p->hashAlg);
	P11O_TB_LIT(b, ", ");
	field(b, "mgf");
	p11o_tb_name(b, P11O_NT_CKG, p->mgf);
	P11O_TB_LIT(b, ", ");
	field(b, "sLen");
	p11o_tb_dec(b, p->sLen);
}

static void oaep(p11o_tbuf *b, const CK_RSA_PKCS_OAEP_PARAMS *p, bool nested,
		 size_t cap)
{
	field(b, "hashAlg");
	p11o_tb_name(b, P11O_NT_CKM, p->hashAlg);
	P11O_TB_LIT(b, ", ");
	field(b, "mgf");
	p11o_tb_name(b, P11O_NT_CKG, p->mgf);
	P11O_TB_LIT(b, ", ");
	field(b, "source");
	p11o_tb_name(b, P11O_NT_CKZ, p->source);
	P11O_TB_LIT(b, ", ");
	nested_bytes(b, "pSourceData", p->pSourceData, p->ulSourceDataLen,
		     nested, cap);
}

static void gcm(p11o_tbuf *b, const void *param, CK_ULONG len, bool nested,
		size_t cap)
{
	CK_GCM_PARAMS g;
	if (len == sizeof(CK_GCM_PARAMS)) {
		memcpy(&g, param, sizeof(g));
	} else {
		struct gcm_short s;
		memcpy(&s, param, sizeof(s));
		g.pIv = s.pIv;
		g.ulIvLen = s.ulIvLen;
		g.ulIvBits = 0;
		g.pAAD = s.pAAD;
		g.ulAADLen = s.ulAADLen;
		g.ulTagBits = s.ulTagBits;
	}
	nested_bytes(b, "pIv", g.pIv, g.ulIvLen, nested, cap);
	if (len == sizeof(CK_GCM_PARAMS)) {
		P11O_TB_LIT(b, ", ");
		field(b, "ulIvBits");
		p11o_tb_dec(b, g.ulIvBits);
	}
	P11O_TB_LIT(b, ", ");
	nested_bytes(b, "pAAD", g.pAAD, g.ulAADLen, nested, cap);
	P11O_TB_LIT(b, ", ");
	field(b, "ulTagBits");
	p11o_tb_dec(b, g.ulTagBits);
}

static void ecdh1(p11o_tbuf *b, const CK_ECDH1_DERIVE_PARAMS *p, bool nested,
		  size_t cap)
{
	field(b, "kdf");
	p11o_tb_name(b, P11O_NT_CKD, p->kdf);
	P11O_TB_LIT(b, ", ");
	nested_bytes(b, "pSharedData", p->pSharedData, p->ulSharedDataLen,
		     nested, cap);
	P11O_TB_LIT(b, ", ");
	nested_bytes(b, "pPublicData", p->pPublicData, p->ulPublicDataLen,
		     nested, cap);
}

static size_t expected_len(enum mp_kind k, CK_ULONG len)
{
	switch (k) {
	case MP_PSS:
		return sizeof(CK_RSA_PKCS_PSS_PARAMS);
	case MP_OAEP:
		return sizeof(CK_RSA_PKCS_OAEP_PARAMS);
	case MP_GCM:
		return len == sizeof(struct gcm_short) ? len
						       : sizeof(CK_GCM_PARAMS);
	case MP_IV8:
		return 8;
	case MP_IV16:
		return 16;
	case MP_ECDH1:
		return sizeof(CK_ECDH1_DERIVE_PARAMS);
	default:
		return 0;
	}
}

void p11o_tb_mechanism(p11o_tbuf *b, const CK_MECHANISM *m, bool nested,
		       size_t cap)
{
	/* Aligned private copies: the application's structs may be packed
	 * anywhere; only the bytes of the expected size are read. */
	union {
		CK_RSA_PKCS_PSS_PARAMS pss;
		CK_RSA_PKCS_OAEP_PARAMS oaep;
		CK_ECDH1_DERIVE_PARAMS ecdh1;
	} u;
	enum mp_kind k = MP_NONE;
	CK_MECHANISM mech;

	memcpy(&mech, m, sizeof(mech));
	p11o_tb_name(b, P11O_NT_CKM, mech.mechanism);
	for (size_t i = 0; i < sizeof(mech_params) / sizeof(mech_params[0]);
	     i++)
		if (mech_params[i].m == mech.mechanism)
			k = mech_params[i].kind;
	if (!mech.pParameter && !mech.ulParameterLen)
		return;
	if (k == MP_NONE || !mech.pParameter ||
	    mech.ulParameterLen != expected_len(k, mech.ulParameterLen)) {
		P11O_TB_LIT(b, " { pParameter = ");
		p11o_tb_ptr(b, mech.pParameter);
		P11O_TB_LIT(b, ", ulParameterLen = ");
		p11o_tb_dec(b, mech.ulParameterLen);
		P11O_TB_LIT(b, " }");
		return;
	}
	P11O_TB_LIT(b, " { ");
	switch (k) {
	case MP_PSS:
		memcpy(&u.pss, mech.pParameter, sizeof(u.pss));
		pss(b, &u.pss);
		break;
	case MP_OAEP:
		memcpy(&u.oaep, mech.pParameter, sizeof(u.oaep));
		oaep(b, &u.oaep, nested, cap);
		break;
	case MP_GCM:
		gcm(b, mech.pParameter, mech.ulParameterLen, nested, cap);
		break;
	case MP_IV8:
	case MP_IV16:
		field(b, "iv");
		p11o_tb_bytes(b, mech.pParameter, mech.ulParameterLen, cap);
		break;
	case MP_ECDH1:
		memcpy(&u.ecdh1, mech.pParameter, sizeof(u.ecdh1));
		ecdh1(b, &u.ecdh1, nested, cap);
		break;
	default:
		break;
	}
	P11O_TB_LIT(b, " }");
}
