/* Output structs and CK_C_INITIALIZE_ARGS for the trace decoder. */
#include "trace_int.h"

/* ---- output structs ----------------------------------------------------- */

#define FIELD(b, lit) P11O_TB_LIT(b, "\n      " lit " = ")

/* Multi-line structs: "< pInfo =" then one field per line. */
static void drop_space(p11o_tbuf *b)
{
	if (!b->overflow && b->p[-1] == ' ')
		b->p--;
}

void p11o_tb_out_info(p11o_tbuf *b, const CK_INFO *i)
{
	drop_space(b);
	FIELD(b, "cryptokiVersion");
	p11o_tb_version(b, &i->cryptokiVersion);
	FIELD(b, "manufacturerID");
	p11o_tb_padded(b, i->manufacturerID, sizeof(i->manufacturerID));
	FIELD(b, "flags");
	p11o_tb_hex(b, i->flags);
	FIELD(b, "libraryDescription");
	p11o_tb_padded(b, i->libraryDescription, sizeof(i->libraryDescription));
	FIELD(b, "libraryVersion");
	p11o_tb_version(b, &i->libraryVersion);
}

void p11o_tb_out_slot_info(p11o_tbuf *b, const CK_SLOT_INFO *i)
{
	drop_space(b);
	FIELD(b, "slotDescription");
	p11o_tb_padded(b, i->slotDescription, sizeof(i->slotDescription));
	FIELD(b, "manufacturerID");
	p11o_tb_padded(b, i->manufacturerID, sizeof(i->manufacturerID));
	FIELD(b, "flags");
	p11o_tb_flags(b, P11O_FG_SLOT, i->flags);
	FIELD(b, "hardwareVersion");
	p11o_tb_version(b, &i->hardwareVersion);
	FIELD(b, "firmwareVersion");
	p11o_tb_version(b, &i->firmwareVersion);
}

static void tb_ulong_info(p11o_tbuf *b, CK_ULONG v)
{
	if (v == CK_UNAVAILABLE_INFORMATION)
		P11O_TB_LIT(b, "CK_UNAVAILABLE_INFORMATION");
	else if (v == CK_EFFECTIVELY_INFINITE)
		P11O_TB_LIT(b, "CK_EFFECTIVELY_INFINITE");
	else
		p11o_tb_dec(b, v);
}

void p11o_tb_out_token_info(p11o_tbuf *b, const CK_TOKEN_INFO *i)
{
	drop_space(b);
	FIELD(b, "label");
	p11o_tb_padded(b, i->label, sizeof(i->label));
	FIELD(b, "manufacturerID");
	p11o_tb_padded(b, i->manufacturerID, sizeof(i->manufacturerID));
	FIELD(b, "model");
	p11o_tb_padded(b, i->model, sizeof(i->model));
	FIELD(b, "serialNumber");
	p11o_tb_padded(b, i->serialNumber, sizeof(i->serialNumber));
	FIELD(b, "flags");
	p11o_tb_flags(b, P11O_FG_TOKEN, i->flags);
	FIELD(b, "ulMaxSessionCount");
	tb_ulong_info(b, i->ulMaxSessionCount);
	FIELD(b, "ulSessionCount");
	tb_ulong_info(b, i->ulSessionCount);
	FIELD(b, "ulMaxRwSessionCount");
	tb_ulong_info(b, i->ulMaxRwSessionCount);
	FIELD(b, "ulRwSessionCount");
	tb_ulong_info(b, i->ulRwSessionCount);
	FIELD(b, "ulMaxPinLen");
	p11o_tb_dec(b, i->ulMaxPinLen);
	FIELD(b, "ulMinPinLen");
	p11o_tb_dec(b, i->ulMinPinLen);
	FIELD(b, "ulTotalPublicMemory");
	tb_ulong_info(b, i->ulTotalPublicMemory);
	FIELD(b, "ulFreePublicMemory");
	tb_ulong_info(b, i->ulFreePublicMemory);
	FIELD(b, "ulTotalPrivateMemory");
	tb_ulong_info(b, i->ulTotalPrivateMemory);
	FIELD(b, "ulFreePrivateMemory");
	tb_ulong_info(b, i->ulFreePrivateMemory);
	FIELD(b, "hardwareVersion");
	p11o_tb_version(b, &i->hardwareVersion);
	FIELD(b, "firmwareVersion");
	p11o_tb_version(b, &i->firmwareVersion);
	FIELD(b, "utcTime");
	p11o_tb_text(b, i->utcTime, sizeof(i->utcTime), sizeof(i->utcTime));
}

void p11o_tb_out_session_info(p11o_tbuf *b, const CK_SESSION_INFO *i)
{
	P11O_TB_LIT(b, "{ slotID = ");
	p11o_tb_hex(b, i->slotID);
	P11O_TB_LIT(b, ", state = ");
	p11o_tb_name(b, P11O_NT_CKS, i->state);
	P11O_TB_LIT(b, ", flags = ");
	p11o_tb_flags(b, P11O_FG_SESSION, i->flags);
	P11O_TB_LIT(b, ", ulDeviceError = ");
	p11o_tb_hex(b, i->ulDeviceError);
	P11O_TB_LIT(b, " }");
}

void p11o_tb_out_mech_info(p11o_tbuf *b, const CK_MECHANISM_INFO *i)
{
	P11O_TB_LIT(b, "{ ulMinKeySize = ");
	p11o_tb_dec(b, i->ulMinKeySize);
	P11O_TB_LIT(b, ", ulMaxKeySize = ");
	p11o_tb_dec(b, i->ulMaxKeySize);
	P11O_TB_LIT(b, ", flags = ");
	p11o_tb_flags(b, P11O_FG_MECH, i->flags);
	P11O_TB_LIT(b, " }");
}

void p11o_tb_init_args(p11o_tbuf *b, const CK_C_INITIALIZE_ARGS *a)
{
	P11O_TB_LIT(b, "{ CreateMutex = ");
	p11o_tb_str(b, a->CreateMutex ? "set" : "NULL");
	P11O_TB_LIT(b, ", DestroyMutex = ");
	p11o_tb_str(b, a->DestroyMutex ? "set" : "NULL");
	P11O_TB_LIT(b, ", LockMutex = ");
	p11o_tb_str(b, a->LockMutex ? "set" : "NULL");
	P11O_TB_LIT(b, ", UnlockMutex = ");
	p11o_tb_str(b, a->UnlockMutex ? "set" : "NULL");
	P11O_TB_LIT(b, ", flags = ");
	p11o_tb_flags(b, P11O_FG_INIT, a->flags);
	P11O_TB_LIT(b, ", pReserved = ");
	p11o_tb_ptr(b, a->pReserved);
	P11O_TB_LIT(b, " }");
}
