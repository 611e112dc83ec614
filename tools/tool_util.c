/* p11overlay-tool: module loading, input, token selection. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "tool.h"

int tool_load(tool *t)
{
	t->dl = dlopen(t->module_path, RTLD_NOW | RTLD_LOCAL);
	if (!t->dl) {
		fprintf(stderr, "p11overlay-tool: cannot load %s: %s\n",
			t->module_path, dlerror());
		/* The first thing a user trying a build tree sees. */
		if (!t->module_given)
			fprintf(stderr,
				"p11overlay-tool: that is the installed "
				"module's path; is p11overlay installed? "
				"Otherwise give the module with --module PATH "
				"(a meson build puts it at "
				"<builddir>/p11overlay.so)\n");
		return EXIT_MODULE;
	}
	CK_C_GetFunctionList gfl =
	    (CK_C_GetFunctionList)dlsym(t->dl, "C_GetFunctionList");
	CK_C_GetInterface gi =
	    (CK_C_GetInterface)dlsym(t->dl, "C_GetInterface");
	CK_INTERFACE_PTR itf = NULL;
	if (!gfl || gfl(&t->fl) != CKR_OK || !gi ||
	    gi((CK_UTF8CHAR_PTR)P11OVERLAY_INTERFACE_NAME, NULL, &itf, 0) !=
		CKR_OK ||
	    !itf) {
		fprintf(stderr,
			"p11overlay-tool: %s is not p11overlay (no \"%s\" "
			"interface)\n",
			t->module_path, P11OVERLAY_INTERFACE_NAME);
		return EXIT_MODULE;
	}
	t->x = itf->pFunctionList;
	return EXIT_OK;
}

int tool_init(tool *t)
{
	int rc = tool_load(t);
	if (rc != EXIT_OK)
		return rc;
	CK_RV rv = t->fl->C_Initialize(NULL);
	if (rv != CKR_OK) {
		tool_fail("C_Initialize", rv);
		return EXIT_MODULE;
	}
	t->initialized = true;
	return EXIT_OK;
}

void tool_done(tool *t)
{
	if (t->initialized)
		t->fl->C_Finalize(NULL);
	t->initialized = false;
}

const char *tool_rv_name(CK_RV rv)
{
	static const struct {
		CK_RV rv;
		const char *name;
	} names[] = {
#define N(x) {x, #x}
	    N(CKR_OK),
	    N(CKR_HOST_MEMORY),
	    N(CKR_SLOT_ID_INVALID),
	    N(CKR_GENERAL_ERROR),
	    N(CKR_FUNCTION_FAILED),
	    N(CKR_ARGUMENTS_BAD),
	    N(CKR_ATTRIBUTE_READ_ONLY),
	    N(CKR_ATTRIBUTE_SENSITIVE),
	    N(CKR_DEVICE_ERROR),
	    N(CKR_DEVICE_REMOVED),
	    N(CKR_FUNCTION_NOT_SUPPORTED),
	    N(CKR_OPERATION_NOT_INITIALIZED),
	    N(CKR_PIN_INCORRECT),
	    N(CKR_PIN_INVALID),
	    N(CKR_PIN_LEN_RANGE),
	    N(CKR_PIN_LOCKED),
	    N(CKR_SESSION_EXISTS),
	    N(CKR_SESSION_HANDLE_INVALID),
	    N(CKR_TOKEN_NOT_PRESENT),
	    N(CKR_TOKEN_NOT_RECOGNIZED),
	    N(CKR_USER_ALREADY_LOGGED_IN),
	    N(CKR_USER_PIN_NOT_INITIALIZED),
	    N(CKR_BUFFER_TOO_SMALL),
	    N(CKR_CRYPTOKI_NOT_INITIALIZED),
	    N(CKR_CRYPTOKI_ALREADY_INITIALIZED),
#undef N
	};
	static char buf[32];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].rv == rv)
			return names[i].name;
	snprintf(buf, sizeof(buf), "0x%08lx", (unsigned long)rv);
	return buf;
}

static const char *meaning(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
		return "wrong PIN, PUK or response; the card counts it";
	case CKR_PIN_LOCKED:
		return "blocked";
	case CKR_PIN_LEN_RANGE:
		return "wrong length for this card";
	case CKR_FUNCTION_NOT_SUPPORTED:
		return "this token cannot do that";
	case CKR_FUNCTION_FAILED:
		return "refused now (e.g. the card is held for an unlock)";
	case CKR_OPERATION_NOT_INITIALIZED:
		return "no challenge outstanding (spent or timed out)";
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_REMOVED:
		return "no card";
	default:
		return NULL;
	}
}

int tool_fail(const char *what, CK_RV rv)
{
	const char *m = meaning(rv);
	fprintf(stderr, "p11overlay-tool: %s: %s%s%s%s\n", what,
		tool_rv_name(rv), m ? " (" : "", m ? m : "", m ? ")" : "");
	return EXIT_FAILED;
}

void tool_trim(char *dst, const CK_UTF8CHAR *src, size_t len)
{
	while (len > 0 && (src[len - 1] == ' ' || src[len - 1] == '\0'))
		len--;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

int tool_pick_slot(tool *t, CK_SLOT_ID *slot)
{
	if (t->slot) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(t->slot, &end, 0);
		if (errno || *end || end == t->slot) {
			fprintf(stderr, "p11overlay-tool: bad --slot %s\n",
				t->slot);
			return EXIT_USAGE;
		}
		*slot = v;
		return EXIT_OK;
	}
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64;
	CK_RV rv = t->fl->C_GetSlotList(CK_TRUE, ids, &n);
	if (rv != CKR_OK)
		return tool_fail("C_GetSlotList", rv);
	if (n > 64) /* a module's count is never believed past ids */
		n = 64;
	size_t found = 0, exact = 0;
	CK_SLOT_ID pick = 0, pick_exact = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char label[33];
		if (t->fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		tool_trim(label, ti.label, 32);
		if (t->token && strcmp(label, t->token) == 0)
			exact++, pick_exact = ids[i];
		if (!t->token || strstr(label, t->token))
			found++, pick = ids[i];
	}
	if (exact == 1 || found == 1) {
		*slot = exact == 1 ? pick_exact : pick;
		return EXIT_OK;
	}
	fprintf(stderr, "p11overlay-tool: %s; use --slot or --token\n",
		found ? "several tokens match" : "no token matches");
	return EXIT_USAGE;
}

int tool_read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (n == 0)
				return -1;
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

static int prompt(const char *text, char *buf, size_t len)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr,
			"p11overlay-tool: no terminal for the %s "
			"prompt; use --pin-fd\n",
			text);
		return -1;
	}
	struct termios old, quiet;
	bool tty = tcgetattr(fd, &old) == 0;
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	dprintf(fd, "%s: ", text);
	int rc = tool_read_line(fd, buf, len);
	dprintf(fd, "\n");
	if (tty)
		tcsetattr(fd, TCSAFLUSH, &old);
	close(fd);
	return rc;
}

int tool_read_secret(tool *t, const char *text, bool confirm, char *buf,
		     size_t len)
{
	if (t->pin_fd >= 0) {
		if (tool_read_line(t->pin_fd, buf, len) == 0)
			return 0;
		fprintf(stderr,
			"p11overlay-tool: --pin-fd %d: no line for %s\n",
			t->pin_fd, text);
		return -1;
	}
	if (prompt(text, buf, len) != 0)
		return -1;
	if (!confirm)
		return 0;
	char again[256];
	char p2[300];
	snprintf(p2, sizeof(p2), "%s (again)", text);
	int rc = prompt(p2, again, sizeof(again));
	if (rc == 0 && strcmp(again, buf) != 0) {
		fprintf(stderr, "p11overlay-tool: the two entries differ\n");
		rc = -1;
	}
	explicit_bzero(again, sizeof(again));
	if (rc != 0)
		explicit_bzero(buf, len);
	return rc;
}
