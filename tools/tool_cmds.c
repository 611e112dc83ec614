/* p11overlay-tool: list, unlock, reset, init. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tool.h"

#define U(s) (CK_UTF8CHAR_PTR)(s), (CK_ULONG)strlen(s)
#define SECRET 256

static const char *pin_state(CK_FLAGS f)
{
	if (!(f & CKF_USER_PIN_INITIALIZED))
		return "not initialized";
	if (f & CKF_USER_PIN_LOCKED)
		return "LOCKED";
	if (f & CKF_USER_PIN_FINAL_TRY)
		return "final try";
	if (f & CKF_USER_PIN_COUNT_LOW)
		return "count low";
	return "ok";
}

static void print_value(const CK_BYTE *v, CK_ULONG n, bool text)
{
	for (CK_ULONG i = 0; i < n; i++)
		printf(text ? "%c" : "%02X",
		       text ? (v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?')
			    : v[i]);
}

/* TokenSerialNumber, TokenLabel, UpdateCount, ATR (docs/architecture.md §5). */
static void list_special(tool *t, CK_SLOT_ID slot)
{
	static const char *const labels[] = {"TokenSerialNumber", "TokenLabel",
					     "UpdateCount", "ATR"};
	CK_SESSION_HANDLE s;
	if (t->fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK)
		return;
	for (size_t i = 0; i < 4; i++) {
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_ATTRIBUTE q[] = {
		    {CKA_CLASS, &cls, sizeof(cls)},
		    {CKA_LABEL, (void *)labels[i], strlen(labels[i])}};
		CK_OBJECT_HANDLE h;
		CK_ULONG n = 0;
		if (t->fl->C_FindObjectsInit(s, q, 2) != CKR_OK)
			continue;
		t->fl->C_FindObjects(s, &h, 1, &n);
		t->fl->C_FindObjectsFinal(s);
		CK_BYTE v[512];
		CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};
		if (n != 1 || t->fl->C_GetAttributeValue(s, h, &a, 1) != CKR_OK)
			continue;
		printf("    %-18s ", labels[i]);
		print_value(v, a.ulValueLen, i < 2);
		printf("\n");
	}
	t->fl->C_CloseSession(s);
}

/* Why a card provider may show nothing: no PC/SC service to ask.  The
 * socket is pcsc-lite's (PCSCLITE_CSOCK_NAME overrides it, as for the
 * library); the tool itself does not link PC/SC. */
static void explain_no_slots(void)
{
	const char *sock = secure_getenv("PCSCLITE_CSOCK_NAME");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (!sock || !*sock)
		sock = "/run/pcscd/pcscd.comm";
	if (strlen(sock) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fprintf(stderr,
			"p11overlay-tool: no PC/SC service: cannot connect to "
			"%s (%s); is pcscd running?\n",
			sock, strerror(errno));
	close(fd);
}

int cmd_list(tool *t)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64, tokens = 0;
	CK_RV rv = t->fl->C_GetSlotList(CK_FALSE, ids, &n);
	if (rv != CKR_OK)
		return tool_fail("C_GetSlotList", rv);
	if (n > 64) /* a module's count is never believed past ids */
		n = 64;
	if (n == 0) {
		fprintf(stderr, "p11overlay-tool: no slots found (the "
				"provider reports no reader or token)\n");
		explain_no_slots();
		return EXIT_NO_TOKEN;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_SLOT_INFO si;
		CK_TOKEN_INFO ti;
		char desc[65], label[33], serial[17], model[17], manuf[33];
		if (t->fl->C_GetSlotInfo(ids[i], &si) != CKR_OK)
			continue;
		tool_trim(desc, si.slotDescription, 64);
		printf("Slot 0x%lx: %s\n", (unsigned long)ids[i], desc);
		if (!(si.flags & CKF_TOKEN_PRESENT)) {
			printf("  (no token)\n");
			continue;
		}
		tokens++;
		rv = t->fl->C_GetTokenInfo(ids[i], &ti);
		if (rv != CKR_OK) {
			printf("  token: %s\n", tool_rv_name(rv));
			continue;
		}
		tool_trim(label, ti.label, 32);
		tool_trim(serial, ti.serialNumber, 16);
		tool_trim(model, ti.model, 16);
		tool_trim(manuf, ti.manufacturerID, 32);
		printf("  token:    %s\n  serial:   %s\n  model:    %s (%s)\n",
		       label, serial, model, manuf);
		printf("  user PIN: %s\n", pin_state(ti.flags));
		if (ti.flags & CKF_SO_PIN_LOCKED)
			printf("  SO PIN:   LOCKED\n");
		list_special(t, ids[i]);
	}
	if (tokens == 0) {
		fprintf(stderr,
			"p11overlay-tool: no token present in any of "
			"the %lu slot(s)\n",
			(unsigned long)n);
		return EXIT_NO_TOKEN;
	}
	return EXIT_OK;
}

static int hex_decode(const char *s, CK_BYTE *out, size_t max, size_t *n)
{
	*n = 0;
	for (; *s; s++) {
		if (*s == ' ' || *s == ':')
			continue;
		unsigned v;
		if (!s[1] || sscanf(s, "%2x", &v) != 1 || *n >= max ||
		    !strchr("0123456789abcdefABCDEF", s[0]) ||
		    !strchr("0123456789abcdefABCDEF", s[1]))
			return -1;
		out[(*n)++] = (CK_BYTE)v;
		s++;
	}
	return *n ? 0 : -1;
}

static int unlock_challenge(tool *t, CK_SLOT_ID slot, CK_SESSION_HANDLE s)
{
	CK_RV rv = CKR_OK;
	if (t->timeout && (rv = t->x->C_LockToken(slot, t->timeout)) != CKR_OK)
		return tool_fail("C_LockToken", rv);
	CK_BYTE ch[64], resp[64];
	CK_ULONG n = sizeof(ch);
	rv = t->x->C_GetUnlockChallenge(s, ch, &n);
	if (rv != CKR_OK)
		return tool_fail("C_GetUnlockChallenge", rv);
	printf("Challenge: ");
	print_value(ch, n, false);
	printf("\n");
	fflush(stdout);
	char line[260], pin[SECRET];
	size_t rn;
	if (t->response)
		snprintf(line, sizeof(line), "%s", t->response);
	else
		fprintf(stderr, "Response (hex): ");
	if ((!t->response && tool_read_line(0, line, sizeof(line)) != 0) ||
	    hex_decode(line, resp, sizeof(resp), &rn) != 0) {
		fprintf(stderr, "\np11overlay-tool: no hex response read\n");
		return EXIT_USAGE;
	}
	if (tool_read_secret(t, "New PIN", true, pin, sizeof(pin)) != 0)
		return EXIT_USAGE;
	rv = t->x->C_UnlockPINWithResponse(s, resp, rn, U(pin));
	explicit_bzero(pin, sizeof(pin));
	explicit_bzero(resp, sizeof(resp));
	if (rv != CKR_OK)
		return tool_fail("C_UnlockPINWithResponse", rv);
	printf("PIN unblocked.\n");
	return EXIT_OK;
}

static int unlock_puk(tool *t, CK_SESSION_HANDLE s)
{
	char puk[SECRET], pin[SECRET];
	if (tool_read_secret(t, "PUK", false, puk, sizeof(puk)) != 0)
		return EXIT_USAGE;
	if (tool_read_secret(t, "New PIN", true, pin, sizeof(pin)) != 0) {
		explicit_bzero(puk, sizeof(puk));
		return EXIT_USAGE;
	}
	CK_RV rv = t->x->C_UnlockPIN(s, U(puk), U(pin));
	explicit_bzero(puk, sizeof(puk));
	explicit_bzero(pin, sizeof(pin));
	if (rv != CKR_OK)
		return tool_fail("C_UnlockPIN", rv);
	printf("PIN unblocked.\n");
	return EXIT_OK;
}

int cmd_unlock(tool *t)
{
	if (t->puk == t->challenge) {
		fprintf(stderr, "p11overlay-tool: unlock needs --puk or "
				"--challenge\n");
		return EXIT_USAGE;
	}
	CK_SLOT_ID slot;
	int rc = tool_pick_slot(t, &slot);
	if (rc != EXIT_OK)
		return rc;
	CK_SESSION_HANDLE s;
	CK_RV rv =
	    t->fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return tool_fail("C_OpenSession", rv);
	rc = t->puk ? unlock_puk(t, s) : unlock_challenge(t, slot, s);
	t->fl->C_CloseSession(s); /* also ends a hold */
	return rc;
}

int cmd_reset(tool *t)
{
	CK_SLOT_ID slot;
	int rc = tool_pick_slot(t, &slot);
	if (rc != EXIT_OK)
		return rc;
	char pin[SECRET];
	if (tool_read_secret(t, "User PIN", false, pin, sizeof(pin)) != 0)
		return EXIT_USAGE;
	CK_RV rv = t->x->C_ResetToken(slot, U(pin));
	explicit_bzero(pin, sizeof(pin));
	if (rv != CKR_OK)
		return tool_fail("C_ResetToken", rv);
	printf("Token reset.\n");
	return EXIT_OK;
}

static int set_secret(tool *t, const char *var, const char *prompt)
{
	char v[SECRET];
	if (tool_read_secret(t, prompt, true, v, sizeof(v)) != 0)
		return EXIT_USAGE;
	CK_RV rv = t->x->C_SetVariable(var, v);
	explicit_bzero(v, sizeof(v));
	return rv == CKR_OK ? EXIT_OK : tool_fail(var, rv);
}

int cmd_init(tool *t, int argc, char **argv)
{
	if (!t->label) {
		fprintf(stderr, "p11overlay-tool: init needs --label\n");
		return EXIT_USAGE;
	}
	CK_SLOT_ID slot;
	int rc = tool_pick_slot(t, &slot);
	if (rc != EXIT_OK)
		return rc;
	char so[SECRET];
	CK_UTF8CHAR label[32];
	size_t ln = strlen(t->label);
	memset(label, ' ', sizeof(label));
	memcpy(label, t->label, ln < 32 ? ln : 32);
	if (tool_read_secret(t, "SO PIN (card: current PUK)", false, so,
			     sizeof(so)) != 0)
		return EXIT_USAGE;
	if (t->set_user_pin)
		rc = set_secret(t, "init-user-pin", "New user PIN");
	if (rc == EXIT_OK && t->set_puk)
		rc = set_secret(t, "init-puk", "New PUK");
	if (rc == EXIT_OK && t->pin_names) {
		CK_RV rv = t->x->C_SetVariable("init-pin-names", t->pin_names);
		rc = rv == CKR_OK ? EXIT_OK : tool_fail("init-pin-names", rv);
	}
	for (int i = 0; rc == EXIT_OK && i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq) {
			fprintf(stderr, "p11overlay-tool: %s: NAME=VALUE\n",
				argv[i]);
			rc = EXIT_USAGE;
			break;
		}
		*eq = '\0';
		CK_RV rv = t->x->C_SetVariable(argv[i], eq + 1);
		if (rv != CKR_OK)
			rc = tool_fail(argv[i], rv);
	}
	CK_RV rv = CKR_OK;
	if (rc == EXIT_OK)
		rv = t->fl->C_InitToken(slot, U(so), label);
	explicit_bzero(so, sizeof(so));
	t->x->C_SetVariable("init-user-pin", NULL);
	t->x->C_SetVariable("init-puk", NULL);
	if (rc != EXIT_OK)
		return rc;
	if (rv != CKR_OK)
		return tool_fail("C_InitToken", rv);
	printf("Token initialised.\n");
	return EXIT_OK;
}
