/* Unit tests of the config parser and loader (proxy/config.c).
 *
 * The example config is checked too: its path is argv[1], else the macro
 * P11O_EXAMPLE_CONF, else config/p11overlay.conf relative to the current
 * directory (skipped when absent only in that last case). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static const char *example_conf;
static bool example_required;

static size_t parse(p11o_config *cfg, const char *text)
{
	p11o_config_defaults(cfg);
	return p11o_config_parse(cfg, text, strlen(text), "t.conf");
}

static bool has_diag(const p11o_config *cfg, const char *needle)
{
	for (size_t i = 0; i < cfg->diag_count; i++)
		if (strstr(cfg->diags[i], needle))
			return true;
	return false;
}

static void print_diags(const p11o_config *cfg)
{
	for (size_t i = 0; i < cfg->diag_count; i++)
		print_message("  diag: %s\n", cfg->diags[i]);
}

/* Parse one line inside [section]; expect exactly one error. */
static void expect_error(const char *section, const char *line)
{
	p11o_config cfg;
	char text[5000];

	snprintf(text, sizeof(text), "[%s]\n%s\n", section, line);
	if (parse(&cfg, text) != 1 || cfg.diag_count != 1) {
		print_message("line '%s' in [%s]:\n", line, section);
		print_diags(&cfg);
		fail();
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_defaults(void **state)
{
	p11o_config cfg;

	(void)state;
	p11o_config_defaults(&cfg);
	assert_string_equal(cfg.path, "");
	assert_true(strstr(cfg.module, "pkcs11") != NULL);
	assert_string_equal(cfg.soft_token_module, "");
	assert_int_equal(cfg.pins, P11O_PINS_ALL);
	assert_true(cfg.empty_slots_show);
	assert_string_equal(cfg.label_format, "%t (%p)");
	assert_true(cfg.objects_enabled);
	assert_string_equal(cfg.app_serial, "PKCS #15");
	assert_string_equal(cfg.app_label, "Net iD");
	assert_string_equal(cfg.app_update_count, "Net iD");
	assert_int_equal(cfg.unlock_timeout, 60);
	assert_string_equal(cfg.unlock_method, "auto");
	assert_true(cfg.logout_on_reinitialize);
	assert_true(cfg.mechanisms_enabled);
	assert_string_equal(cfg.trace_path, "");
	assert_int_equal(cfg.trace_level, P11O_TRACE_OFF);
	assert_false(cfg.trace_include_events);
	assert_int_equal(cfg.trace_max_value, 256);
	assert_int_equal(cfg.cryptoki_version.major, 2);
	assert_int_equal(cfg.cryptoki_version.minor, 11);
	assert_int_equal(cfg.library_version.major, 2);
	assert_int_equal(cfg.library_version.minor, 11);
	assert_int_equal(cfg.card_count, 0);
	assert_int_equal(cfg.diag_count, 0);
	assert_int_equal(cfg.error_count, 0);
}

static void test_every_key(void **state)
{
	static const char text[] = "[provider]\n"
				   "module = /opt/p/real.so\n"
				   "soft-token = /opt/p/softhsm2.so\n"
				   "[slots]\n"
				   "pins = first\n"
				   "empty-slots = hide\n"
				   "label-format = %t/%p\n"
				   "[objects]\n"
				   "enabled = no\n"
				   "application-serial = A1\n"
				   "application-label = A2\n"
				   "application-update-count = A3\n"
				   "[unlock]\n"
				   "enabled = no\n"
				   "timeout = 120\n"
				   "method = apdu\n"
				   "logout-on-reinitialize = off\n"
				   "[mechanisms]\n"
				   "enabled = false\n"
				   "[trace]\n"
				   "path = /tmp/trace-%p.log\n"
				   "level = calls\n"
				   "include-events = 1\n"
				   "max-value = 0x40\n"
				   "[info]\n"
				   "cryptoki-version = 3.0\n"
				   "library-version = 255.7\n";
	p11o_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, text), 0);
	print_diags(&cfg);
	assert_int_equal(cfg.diag_count, 0);
	assert_string_equal(cfg.module, "/opt/p/real.so");
	assert_string_equal(cfg.soft_token_module, "/opt/p/softhsm2.so");
	assert_int_equal(cfg.pins, P11O_PINS_FIRST);
	assert_false(cfg.empty_slots_show);
	assert_string_equal(cfg.label_format, "%t/%p");
	assert_false(cfg.objects_enabled);
	assert_string_equal(cfg.app_serial, "A1");
	assert_string_equal(cfg.app_label, "A2");
	assert_string_equal(cfg.app_update_count, "A3");
	assert_false(cfg.unlock_enabled);
	assert_int_equal(cfg.unlock_timeout, 120);
	assert_string_equal(cfg.unlock_method, "apdu");
	assert_false(cfg.logout_on_reinitialize);
	assert_false(cfg.mechanisms_enabled);
	assert_string_equal(cfg.trace_path, "/tmp/trace-%p.log");
	assert_int_equal(cfg.trace_level, P11O_TRACE_CALLS);
	assert_true(cfg.trace_include_events);
	assert_int_equal(cfg.trace_max_value, 64);
	assert_int_equal(cfg.cryptoki_version.major, 3);
	assert_int_equal(cfg.cryptoki_version.minor, 0);
	assert_int_equal(cfg.library_version.major, 255);
	assert_int_equal(cfg.library_version.minor, 7);
}

/* [provider] module's list and soft-token, in order, trimmed, repeats and
 * empty entries skipped; too many or none is an error. */
static void test_module_list(void **state)
{
	p11o_config cfg;
	char m[64];

	(void)state;
	assert_int_equal(parse(&cfg, "[provider]\n"
				     "module = /a.so ,, /b.so, /a.so\n"
				     "soft-token =  /c.so \n"),
			 0);
	assert_true(p11o_config_module(&cfg, 0, m, sizeof(m)));
	assert_string_equal(m, "/a.so");
	assert_true(p11o_config_module(&cfg, 1, m, sizeof(m)));
	assert_string_equal(m, "/b.so");
	assert_true(p11o_config_module(&cfg, 2, m, sizeof(m)));
	assert_string_equal(m, "/c.so");
	assert_false(p11o_config_module(&cfg, 3, m, sizeof(m)));
	assert_string_equal(m, "");
	/* soft-token naming a module of the list is that module. */
	assert_int_equal(parse(&cfg, "[provider]\nmodule = /a.so\n"
				     "soft-token = /a.so\n"),
			 0);
	assert_false(p11o_config_module(&cfg, 1, m, sizeof(m)));
	/* Built-in defaults: the one default provider. */
	p11o_config_defaults(&cfg);
	assert_true(p11o_config_module(&cfg, 0, m, sizeof(m)));
	assert_false(p11o_config_module(&cfg, 1, m, sizeof(m)));
	assert_int_equal(parse(&cfg, "[provider]\nmodule = /1, /2, /3, /4\n"
				     "soft-token = /5\n"),
			 1);
	assert_true(has_diag(&cfg, "more than 4 modules"));
	assert_int_equal(parse(&cfg, "[provider]\nmodule = , ,\n"), 1);
	assert_true(has_diag(&cfg, "names no module"));
}

static void test_pins_list_and_all(void **state)
{
	p11o_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "[slots]\npins = Sign , Auth,x\n"), 0);
	assert_int_equal(cfg.pins, P11O_PINS_LIST);
	assert_int_equal(cfg.pin_name_count, 3);
	assert_string_equal(cfg.pin_names[0], "Sign");
	assert_string_equal(cfg.pin_names[1], "Auth");
	assert_string_equal(cfg.pin_names[2], "x");
	assert_int_equal(parse(&cfg, "[slots]\npins = first\npins = all\n"), 0);
	assert_int_equal(cfg.pins, P11O_PINS_ALL);
	expect_error("slots", "pins = a,,b");
	expect_error("slots", "pins = 1,2,3,4,5,6,7,8,9");
}

static void test_bools(void **state)
{
	static const char *const yes[] = {"yes", "true", "on", "1", "YES"};
	static const char *const no[] = {"no", "false", "off", "0", "Off"};
	bool b;

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		b = false;
		assert_int_equal(p11o_config_parse_bool(yes[i], &b), 0);
		assert_true(b);
		assert_int_equal(p11o_config_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	assert_int_equal(p11o_config_parse_bool("maybe", &b), -1);
	assert_int_equal(p11o_config_parse_bool("", &b), -1);
	assert_string_equal(p11o_config_level_name(P11O_TRACE_OFF), "off");
	assert_string_equal(p11o_config_level_name(P11O_TRACE_CALLS), "calls");
	assert_string_equal(p11o_config_level_name(P11O_TRACE_FULL), "full");
}

static void test_syntax(void **state)
{
	static const char text[] =
	    "# comment\r\n"
	    "; other comment\r\n"
	    "\r\n"
	    "   [ objects ]   \r\n"
	    "\tapplication-serial\t=\t\"  spaced #1 \"  \r\n"
	    "application-label=\"\"\r\n"
	    "application-update-count = a \"quoted\" word\r\n"
	    "  ; indented comment\n"
	    "[trace]\n"
	    "path = \"stderr\"";
	p11o_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, text), 0);
	print_diags(&cfg);
	assert_int_equal(cfg.diag_count, 0);
	assert_string_equal(cfg.app_serial, "  spaced #1 ");
	assert_string_equal(cfg.app_label, "");
	assert_string_equal(cfg.app_update_count, "a \"quoted\" word");
	/* no trailing newline; a path alone means a full trace */
	assert_string_equal(cfg.trace_path, "stderr");
	assert_int_equal(cfg.trace_level, P11O_TRACE_FULL);
}

static void test_trace_path_with_level_off(void **state)
{
	p11o_config cfg;

	(void)state;
	parse(&cfg, "[trace]\nlevel = off\npath = syslog\n");
	assert_int_equal(cfg.diag_count, 0);
	assert_int_equal(cfg.trace_level, P11O_TRACE_OFF);
	parse(&cfg, "[trace]\npath =\n");
	assert_int_equal(cfg.trace_level, P11O_TRACE_OFF);
	assert_string_equal(cfg.trace_path, "");
}

static void test_unknown_is_warning(void **state)
{
	p11o_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "[slots]\n\nfoo = 1\n"), 0);
	assert_int_equal(cfg.diag_count, 1);
	assert_string_equal(cfg.diags[0],
			    "t.conf:3: unknown key 'foo' in [slots]");
	assert_int_equal(parse(&cfg, "[card \"c\"]\nbar = 1\n"), 0);
	assert_string_equal(cfg.diags[0],
			    "t.conf:2: unknown key 'bar' in [card \"c\"]");
	/* an unknown section is reported once, not once per key */
	assert_int_equal(parse(&cfg, "[nosuch]\na = 1\nb = 2\n"), 0);
	assert_int_equal(cfg.diag_count, 1);
	assert_true(has_diag(&cfg, "t.conf:1: unknown section [nosuch]"));
	/* except in [provider]: a typo there must not fall back to the
	 * default provider */
	assert_int_equal(parse(&cfg, "[provider]\nmodul = /x.so\n"), 1);
	assert_string_equal(cfg.diags[0],
			    "t.conf:2: unknown key 'modul' in [provider]");
	/* control characters from the input never reach the terminal */
	assert_int_equal(parse(&cfg, "[slots]\nx\033[2J\r = 1\n"), 0);
	assert_string_equal(cfg.diags[0],
			    "t.conf:2: unknown key 'x?[2J' in [slots]");
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "[slots]\njust words\n",
	    "[slots\n",
	    "[slots]\n= value\n",
	    "key = value\n",
	    "[card]\n",
	    "[card \"\"]\n",
	    "[card \"x]\n",
	    "[slots]\nlabel-format = \"open\n",
	    "[slots]\nlabel-format = \"\n",
	};
	p11o_config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(&cfg, bad[i]) != 1) {
			print_message("input: %s\n", bad[i]);
			print_diags(&cfg);
			fail();
		}
		assert_int_equal(cfg.error_count, 1);
	}
	/* keys after a broken header are not blamed on the previous section */
	assert_int_equal(parse(&cfg, "[slots]\n[trace\npath = x\n"), 1);
	assert_string_equal(cfg.trace_path, "");
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_error("trace", "level = loud");
	expect_error("trace", "max-value = -1");
	expect_error("trace", "max-value = 12k");
	expect_error("trace", "max-value = 0x0x5");
	expect_error("trace", "max-value = 0x");
	expect_error("trace", "max-value = +5");
	expect_error("trace", "max-value = 1 2");
	expect_error("trace", "include-events = maybe");
	expect_error("unlock", "timeout = abc");
	expect_error("unlock", "timeout = ");
	expect_error("unlock", "timeout = 99999999999999999999999");
	expect_error("unlock", "method = magic");
	expect_error("unlock", "logout-on-reinitialize = 2");
	expect_error("slots", "empty-slots = maybe");
	expect_error("objects", "enabled = yess");
	expect_error("info", "cryptoki-version = 2.x");
	expect_error("info", "cryptoki-version = 2");
	expect_error("info", "cryptoki-version = 256.0");
	expect_error("info", "library-version = 2.11.1");
	expect_error("info", "library-version = -2.1");
	expect_error("card \"c\"", "atr = 3b:8");
	expect_error("card \"c\"", "atr = 3bzz");
	expect_error("card \"c\"", "puk-ref = 256");
	expect_error("card \"c\"", "pin-min-length = x");
}

static void test_too_long(void **state)
{
	char line[5000], value[PATH_MAX + 1];
	p11o_config cfg;

	(void)state;
	memset(value, 'a', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	snprintf(line, sizeof(line), "module = %s", value);
	expect_error("provider", line);
	snprintf(line, sizeof(line), "module = %.*s", PATH_MAX - 1, value);
	assert_int_equal(parse(&cfg, "[provider]\n"), 0);
	assert_int_equal(p11o_config_parse(&cfg, line, strlen(line), "t.conf"),
			 1);
	/* [provider] not re-entered: a fresh parse starts outside sections */
	snprintf(line, sizeof(line), "[provider]\nmodule = %.*s", PATH_MAX - 1,
		 value);
	assert_int_equal(parse(&cfg, line), 0);
	assert_int_equal(strlen(cfg.module), PATH_MAX - 1);

	snprintf(line, sizeof(line), "label-format = %.*s", P11O_CONF_STR,
		 value);
	expect_error("slots", line);
	assert_int_equal(parse(&cfg, "[slots]\nlabel-format = x\n"), 0);
	snprintf(line, sizeof(line), "application = %.*s", P11O_CONF_STR,
		 value);
	expect_error("card \"c\"", line);
	snprintf(line, sizeof(line), "[card \"%.*s\"]", P11O_CONF_STR, value);
	assert_int_equal(parse(&cfg, line), 1);
	assert_int_equal(cfg.card_count, 0);
	/* a line longer than any field: rejected without reading past it */
	char huge[PATH_MAX + 600];
	memset(huge, ' ', sizeof(huge));
	memcpy(huge, "[x]", 3);
	assert_int_equal(parse(&cfg, ""), 0);
	assert_int_equal(p11o_config_parse(&cfg, huge, sizeof(huge), "t.conf"),
			 1);
	assert_true(has_diag(&cfg, "line too long"));
}

static void test_card_profile(void **state)
{
	static const char text[] = "[card \"SmartCard-HSM\"]\n"
				   "atr = 3B:DE:18 ff 81\n"
				   "atr-mask = ff:ff:00:ff:ff\n"
				   "application = PKCS #15\n"
				   "pin-refs = 0x81, 2, 0X8a\n"
				   "pin-names = Auth, Sign,Extra\n"
				   "puk-ref = 0x82\n"
				   "unlock-key-ref = none\n"
				   "pin-min-length = 6\n"
				   "pin-max-length = 15\n"
				   "[card \"other\"]\n"
				   "application = OpenPGP\n";
	p11o_config cfg;
	const p11o_card_profile *c = &cfg.cards[0];

	(void)state;
	assert_int_equal(parse(&cfg, text), 0);
	print_diags(&cfg);
	assert_int_equal(cfg.diag_count, 0);
	assert_int_equal(cfg.card_count, 2);
	assert_string_equal(c->name, "SmartCard-HSM");
	assert_int_equal(c->atr_len, 5);
	assert_memory_equal(c->atr, "\x3b\xde\x18\xff\x81", 5);
	assert_memory_equal(c->atr_mask, "\xff\xff\x00\xff\xff", 5);
	assert_string_equal(c->application, "PKCS #15");
	assert_int_equal(c->pin_count, 3);
	assert_string_equal(c->pin_names[0], "Auth");
	assert_string_equal(c->pin_names[2], "Extra");
	assert_memory_equal(c->pin_refs, "\x81\x02\x8a", 3);
	assert_int_equal(c->puk_ref, 0x82);
	assert_int_equal(c->unlock_key_ref, -1);
	assert_int_equal(c->pin_min_len, 6);
	assert_int_equal(c->pin_max_len, 15);

	c = &cfg.cards[1];
	assert_string_equal(c->name, "other");
	assert_string_equal(c->application, "OpenPGP");
	assert_int_equal(c->atr_len, 0);
	assert_int_equal(c->pin_count, 0);
	assert_int_equal(c->puk_ref, -1);
	assert_int_equal(c->unlock_key_ref, -1);

	/* same name again continues the same profile */
	p11o_config_parse(&cfg, "[card \"other\"]\npuk-ref=3\n", 25, "u");
	assert_int_equal(cfg.card_count, 2);
	assert_int_equal(cfg.cards[1].puk_ref, 3);
	assert_string_equal(cfg.cards[1].application, "OpenPGP");
}

static void test_card_errors(void **state)
{
	char text[2048] = "";
	p11o_config cfg;

	(void)state;
	/* mask length must equal atr length; mask needs an atr */
	assert_int_equal(parse(&cfg, "[card \"a\"]\natr = 3b00\n"
				     "atr-mask = ff\n"),
			 1);
	assert_int_equal(parse(&cfg, "[card \"a\"]\natr-mask = ff\n"), 1);
	/* pin lists must match in count and both be given */
	assert_int_equal(parse(&cfg, "[card \"a\"]\npin-names = a,b\n"
				     "pin-refs = 1\n"),
			 1);
	assert_true(has_diag(&cfg, "t.conf:1: [card \"a\"]: pin-names"));
	assert_int_equal(parse(&cfg, "[card \"a\"]\npin-names = a\n"), 1);
	assert_int_equal(parse(&cfg, "[card \"a\"]\npin-refs = 1\n"), 1);
	assert_int_equal(parse(&cfg, "[card \"a\"]\npin-refs = 1,x\n"
				     "pin-names = a,b\n"),
			 2);
	assert_int_equal(parse(&cfg, "[card \"a\"]\npin-min-length = 9\n"
				     "pin-max-length = 4\n"),
			 1);
	/* too many profiles */
	for (int i = 0; i <= P11O_CONF_MAX_CARDS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "[card \"c%d\"]\napplication = x\n", i);
	assert_int_equal(parse(&cfg, text), 1);
	assert_int_equal(cfg.card_count, P11O_CONF_MAX_CARDS);
	assert_true(has_diag(&cfg, "too many card profiles"));
}

static void test_diag_overflow(void **state)
{
	char text[4096] = "[slots]\n";
	p11o_config cfg;
	int n = P11O_CONF_MAX_DIAGS + 5;

	(void)state;
	for (int i = 0; i < n; i++)
		strcat(text, "bogus line\n");
	assert_int_equal(parse(&cfg, text), (size_t)n);
	assert_int_equal(cfg.error_count, n);
	assert_int_equal(cfg.diag_count, P11O_CONF_MAX_DIAGS);
	assert_int_equal(cfg.diag_dropped, 6);
	assert_string_equal(cfg.diags[P11O_CONF_MAX_DIAGS - 1],
			    "... 6 more diagnostics not shown");
	assert_string_equal(cfg.diags[0],
			    "t.conf:2: expected 'key = value' or '[section]'");
}

static void test_odd_input(void **state)
{
	static const char nul[] = "[slots]\npins = a\0b\nempty-slots = hide";
	p11o_config cfg;

	(void)state;
	p11o_config_defaults(&cfg);
	assert_int_equal(p11o_config_parse(&cfg, "", 0, "t"), 0);
	assert_int_equal(p11o_config_parse(&cfg, NULL, 0, NULL), 0);
	assert_int_equal(p11o_config_parse(&cfg, "[slots]", 7, "t"), 0);
	assert_int_equal(p11o_config_parse(&cfg, "\n\n\r\n", 4, "t"), 0);
	assert_int_equal(cfg.diag_count, 0);
	/* a NUL inside a line is an error; the next line still counts */
	assert_int_equal(p11o_config_parse(&cfg, nul, sizeof(nul) - 1, "t"), 1);
	assert_true(has_diag(&cfg, "t:2: NUL byte"));
	assert_false(cfg.empty_slots_show);
	assert_int_equal(cfg.pins, P11O_PINS_ALL);
	/* `len` is honoured: nothing past it is read */
	assert_int_equal(parse(&cfg, "[slots]\npins = first"), 0);
	p11o_config_defaults(&cfg);
	assert_int_equal(
	    p11o_config_parse(&cfg, "[slots]\npins = first", 8, "t"), 0);
	assert_int_equal(cfg.pins, P11O_PINS_ALL);
	/* UTF-8 BOM */
	assert_int_equal(parse(&cfg, "\xef\xbb\xbf[slots]\npins = first\n"), 0);
	assert_int_equal(cfg.pins, P11O_PINS_FIRST);
}

/* ---- loader ------------------------------------------------------------ */

static char tmpdir[64];

static int setup_env(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/p11o-test-config.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	unsetenv("P11OVERLAY_CONF");
	unsetenv("P11OVERLAY_TRACE");
	return 0;
}

static int teardown_env(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	unsetenv("P11OVERLAY_CONF");
	unsetenv("P11OVERLAY_TRACE");
	return 0;
}

static void test_load_missing_conf(void **state)
{
	p11o_config cfg;

	(void)state;
	setenv("P11OVERLAY_CONF", "/nonexistent/p11o.conf", 1);
	assert_int_equal(p11o_config_load(&cfg), -1);
	assert_int_equal(cfg.error_count, 1);
	assert_true(has_diag(&cfg, "/nonexistent/p11o.conf: cannot open"));
	assert_string_equal(cfg.path, "");
	/* a directory is not a config file */
	setenv("P11OVERLAY_CONF", tmpdir, 1);
	assert_int_equal(p11o_config_load(&cfg), -1);
	assert_true(has_diag(&cfg, "not a regular file"));
}

static void test_load_file(void **state)
{
	char path[128];
	p11o_config cfg;

	(void)state;
	snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
	write_file(path, "[unlock]\ntimeout = 5\n", 0644);
	setenv("P11OVERLAY_CONF", path, 1);
	assert_int_equal(p11o_config_load(&cfg), 0);
	assert_int_equal(cfg.diag_count, 0);
	assert_string_equal(cfg.path, path);
	assert_int_equal(cfg.unlock_timeout, 5);

	/* group-writable: refused (it names the module every application
	 * loads), and nothing of it is used */
	write_file(path, "[unlock]\ntimeout = 6\n", 0664);
	assert_int_equal(p11o_config_load(&cfg), -1);
	assert_int_equal(cfg.error_count, 1);
	assert_true(has_diag(&cfg, "writable by group or others"));
	assert_int_equal(cfg.unlock_timeout, 60);
	assert_string_equal(cfg.path, "");
	/* the tool's entry point: the same rules */
	assert_int_equal(p11o_config_load_file(&cfg, path), -1);
	assert_true(has_diag(&cfg, "writable by group or others"));

	/* errors in the file make the load fail */
	write_file(path, "[unlock]\ntimeout = soon\n", 0600);
	assert_int_equal(p11o_config_load(&cfg), -1);
	assert_true(has_diag(&cfg, "c.conf:2: invalid value 'soon'"));
	p11o_config_report(&cfg);
}

static void test_trace_env(void **state)
{
	static const char *const bad[] = {",full", "stderr,loud", "/tmp/x,",
					  ","};
	p11o_config cfg;

	(void)state;
	setenv("P11OVERLAY_CONF", "/dev/null", 1); /* not a regular file */
	assert_int_equal(p11o_config_load(&cfg), -1);
	unsetenv("P11OVERLAY_CONF");
	/* the tests must not depend on the machine's /etc: use a file */
	char path[128];
	snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
	write_file(path, "[trace]\npath = /tmp/from-file\nlevel = calls\n",
		   0600);
	setenv("P11OVERLAY_CONF", path, 1);

	setenv("P11OVERLAY_TRACE", "stderr", 1);
	assert_int_equal(p11o_config_load(&cfg), 0);
	assert_string_equal(cfg.trace_path, "stderr");
	assert_int_equal(cfg.trace_level, P11O_TRACE_FULL);

	setenv("P11OVERLAY_TRACE", "/tmp/a,b/t-%p.log,calls", 1);
	assert_int_equal(p11o_config_load(&cfg), 0);
	assert_string_equal(cfg.trace_path, "/tmp/a,b/t-%p.log");
	assert_int_equal(cfg.trace_level, P11O_TRACE_CALLS);

	setenv("P11OVERLAY_TRACE", "syslog,full", 1);
	assert_int_equal(p11o_config_load(&cfg), 0);
	assert_string_equal(cfg.trace_path, "syslog");
	assert_int_equal(cfg.trace_level, P11O_TRACE_FULL);

	setenv("P11OVERLAY_TRACE", "", 1); /* empty = not set */
	assert_int_equal(p11o_config_load(&cfg), 0);
	assert_string_equal(cfg.trace_path, "/tmp/from-file");
	assert_int_equal(cfg.trace_level, P11O_TRACE_CALLS);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("P11OVERLAY_TRACE", bad[i], 1);
		assert_int_equal(p11o_config_load(&cfg), -1);
		assert_true(has_diag(&cfg, "P11OVERLAY_TRACE"));
		assert_string_equal(cfg.trace_path, "/tmp/from-file");
	}
}

static void test_example_config(void **state)
{
	p11o_config cfg, defaults;
	static char text[1 << 16];
	FILE *f = fopen(example_conf, "rb");
	size_t n;

	(void)state;
	if (!f && !example_required)
		skip();
	if (!f)
		fail_msg("cannot open %s", example_conf);
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(text));
	p11o_config_defaults(&cfg);
	p11o_config_defaults(&defaults);
	p11o_config_parse(&cfg, text, n, example_conf);
	print_diags(&cfg);
	assert_int_equal(cfg.diag_count, 0);
	/* everything in it is commented out or the default */
	assert_memory_equal(&cfg, &defaults, sizeof(cfg));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_module_list),
	    cmocka_unit_test(test_pins_list_and_all),
	    cmocka_unit_test(test_bools),
	    cmocka_unit_test(test_syntax),
	    cmocka_unit_test(test_trace_path_with_level_off),
	    cmocka_unit_test(test_unknown_is_warning),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_card_profile),
	    cmocka_unit_test(test_card_errors),
	    cmocka_unit_test(test_diag_overflow),
	    cmocka_unit_test(test_odd_input),
	    cmocka_unit_test_setup_teardown(test_load_missing_conf, setup_env,
					    teardown_env),
	    cmocka_unit_test_setup_teardown(test_load_file, setup_env,
					    teardown_env),
	    cmocka_unit_test_setup_teardown(test_trace_env, setup_env,
					    teardown_env),
	    cmocka_unit_test(test_example_config),
	};

#ifdef P11O_EXAMPLE_CONF
	example_conf = P11O_EXAMPLE_CONF;
	example_required = true;
#else
	example_conf = "config/p11overlay.conf";
#endif
	if (argc > 1) {
		example_conf = argv[1];
		example_required = true;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
