/* Trace destinations, header, summary (docs/architecture.md §7).  Only
 * p11o_trace_sink(), p11o_trace_now() and p11o_trace_ids() are on the
 * per-call path: one write(2), no lock, no allocation. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "p11o_build.h"
#include "safe_open.h"
#include "trace_int.h"

/* ---- clock and ids ------------------------------------------------------ */

uint64_t p11o_trace_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bumped in every fork child so per-thread caches of pid/tid refresh. */
static atomic_uint fork_gen = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

void p11o_trace_ids(unsigned long *pid, unsigned long *tid)
{
	static _Thread_local struct {
		unsigned gen;
		unsigned long pid, tid;
	} ids;
	unsigned gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
	if (ids.gen != gen) {
		ids.pid = (unsigned long)getpid();
		ids.tid = (unsigned long)gettid();
		ids.gen = gen;
	}
	*pid = ids.pid;
	*tid = ids.tid;
}

/* ---- writing ------------------------------------------------------------ */

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

static void write_dest(p11o_trace *t, const char *rec, size_t len)
{
	if (t->dest == P11O_TD_FD)
		write_all(t->fd, rec, len);
	else if (t->dest == P11O_TD_SYSLOG)
		syslog(LOG_USER | LOG_DEBUG, "%.*s", (int)len, rec);
}

/* The application's callback (C_SetTraceCallback) runs in the calling
 * thread, concurrently in several threads.  PKCS#11 calls it makes are
 * not traced again (neither to the callback nor to the destination): a
 * per-thread flag marks the callback.  It reads a per-thread copy of the
 * record, because such a nested call's trace wrapper formats into the
 * same per-thread buffer as the record being delivered. */
static _Thread_local bool in_callback;
static _Thread_local char cb_record[P11O_TRACE_RECORD_MAX];

void p11o_trace_sink(p11o_trace *t, const char *rec, size_t len)
{
	if (in_callback)
		return;
	write_dest(t, rec, len);
	CK_TRACE_CALLBACK cb =
	    atomic_load_explicit(&t->cb, memory_order_acquire);
	if (!cb)
		return;
	if (len > sizeof(cb_record))
		len = sizeof(cb_record);
	memcpy(cb_record, rec, len);
	in_callback = true;
	cb(cb_record, len);
	in_callback = false;
}

/* ---- header ------------------------------------------------------------- */

static const char *level_name(enum p11o_trace_level l)
{
	return l == P11O_TRACE_FULL    ? "full"
	       : l == P11O_TRACE_CALLS ? "calls"
				       : "off";
}

static void process_name(char *out, size_t len)
{
	snprintf(out, len, "?");
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0)
		return;
	out[n] = 0;
	out[strcspn(out, "\n")] = 0;
}

/* Expand %p (pid) and %% in a trace path. */
static void expand_path(char *out, size_t len, const char *in)
{
	size_t o = 0;
	for (; *in && o + 1 < len; in++) {
		if (in[0] == '%' && in[1] == 'p') {
			int n =
			    snprintf(out + o, len - o, "%ld", (long)getpid());
			o = n > 0 && (size_t)n < len - o ? o + (size_t)n
							 : len - 1;
			in++;
		} else if (in[0] == '%' && in[1] == '%') {
			out[o++] = '%';
			in++;
		} else
			out[o++] = *in;
	}
	out[o] = 0;
}

static void hdr(p11o_trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void hdr(p11o_trace *t, const char *fmt, ...)
{
	size_t room = sizeof(t->header) - t->header_len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->header + t->header_len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->header_len += (size_t)n < room ? (size_t)n : room - 1;
}

void p11o_trace_sink_open(p11o_trace *t)
{
	const p11o_config *cfg = &t->layer.stack->config;
	char path[PATH_MAX], comm[64], why[160] = "";
	uint16_t one = 1;

	pthread_once(&atfork_once, register_atfork);
	p11o_trace_names_init();
	t->fd = -1;
	t->dest = P11O_TD_NONE;
	if (cfg->trace_path[0] && cfg->trace_level != P11O_TRACE_OFF) {
		if (!strcmp(cfg->trace_path, "stderr")) {
			t->fd = STDERR_FILENO;
			t->dest = P11O_TD_FD;
		} else if (!strcmp(cfg->trace_path, "syslog")) {
			t->dest = P11O_TD_SYSLOG;
		} else {
			expand_path(path, sizeof(path), cfg->trace_path);
			/* Never through a link, never blocking, only a file
			 * of ours (safe_open.h).  A refused trace is said on
			 * stderr; the application runs on without it. */
			t->fd = p11o_open_trace_file(path, why, sizeof(why));
			if (t->fd >= 0) {
				t->own_fd = true;
				t->dest = P11O_TD_FD;
			} else {
				fprintf(stderr,
					"p11overlay: trace file %s: %s; "
					"running without a trace file\n",
					path, why);
			}
		}
	}

	process_name(comm, sizeof(comm));
	hdr(t, "# p11overlay %s trace, started ", P11O_VERSION);
	{
		char ts[32];
		p11o_tbuf b;
		p11o_tb_init(&b, ts, sizeof(ts) - 1);
		p11o_tb_utc(&b, p11o_trace_now());
		*b.p = 0;
		hdr(t, "%s\n", ts);
	}
	hdr(t, "PKCS11 - %s endian build (%zu-bits CK_ULONG)\n",
	    *(const unsigned char *)&one ? "Little" : "Big",
	    sizeof(CK_ULONG) * 8);
	hdr(t, "# provider: %s\n", cfg->module);
	if (cfg->soft_token_module[0])
		hdr(t, "# soft-token: %s\n", cfg->soft_token_module);
	hdr(t, "# config: %s\n",
	    cfg->path[0] ? cfg->path : "built-in defaults");
	hdr(t, "# process: pid %ld (%s)\n", (long)getpid(), comm);
	hdr(t, "# trace: path=%s level=%s include-events=%s max-value=%lu\n",
	    cfg->trace_path[0] ? cfg->trace_path : "(none)",
	    level_name(cfg->trace_level),
	    cfg->trace_include_events ? "yes" : "no", cfg->trace_max_value);
	if (cfg->trace_path[0] && cfg->trace_level != P11O_TRACE_OFF &&
	    t->dest == P11O_TD_NONE)
		hdr(t, "# trace: cannot open %s: %s\n", cfg->trace_path, why);
	for (size_t i = 0; i < cfg->diag_count && i < P11O_CONF_MAX_DIAGS; i++)
		hdr(t, "# config diagnostic: %.*s\n",
		    (int)sizeof(cfg->diags[i]), cfg->diags[i]);
	write_dest(t, t->header, t->header_len);
}

void p11o_trace_sink_close(p11o_trace *t)
{
	if (t->own_fd && t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->own_fd = false;
	t->dest = P11O_TD_NONE;
}

/* Not on the per-call path: printf-style lines into the sink. */
static void sink_printf(p11o_trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sink_printf(p11o_trace *t, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	p11o_trace_sink(t, buf, (size_t)n);
}

/* One line per provider: what its C_GetInfo says. */
static void provider_info(p11o_trace *t, const p11o_provider *p)
{
	CK_INFO info;
	char line[512];
	p11o_tbuf b;

	if (!p->fl.C_GetInfo)
		return;
	memset(&info, 0, sizeof(info));
	CK_RV rv = p->fl.C_GetInfo(&info);
	p11o_tb_init(&b, line, sizeof(line) - 2);
	P11O_TB_LIT(&b, "# provider info: ");
	if (rv != CKR_OK) {
		P11O_TB_LIT(&b, "C_GetInfo failed: ");
		p11o_tb_name(&b, P11O_NT_CKR, rv);
	} else {
		P11O_TB_LIT(&b, "cryptokiVersion ");
		p11o_tb_version(&b, &info.cryptokiVersion);
		P11O_TB_LIT(&b, ", manufacturerID ");
		p11o_tb_padded(&b, info.manufacturerID,
			       sizeof(info.manufacturerID));
		P11O_TB_LIT(&b, ", flags ");
		p11o_tb_hex(&b, info.flags);
		P11O_TB_LIT(&b, ", libraryDescription ");
		p11o_tb_padded(&b, info.libraryDescription,
			       sizeof(info.libraryDescription));
		P11O_TB_LIT(&b, ", libraryVersion ");
		p11o_tb_version(&b, &info.libraryVersion);
	}
	b.end += 1;
	p11o_tb_c(&b, '\n');
	p11o_trace_sink(t, line, (size_t)(b.p - line));
}

/* After C_Initialize: with several providers, which is which and which
 * could not be loaded (docs/architecture.md §3). */
void p11o_trace_provider_info(p11o_trace *t)
{
	const p11o_stack *st = t->layer.stack;
	for (unsigned k = 0; k < st->provider_count; k++) {
		if (st->provider_count > 1)
			sink_printf(t, "# provider %u: %s\n", k,
				    st->providers[k].path);
		provider_info(t, &st->providers[k]);
	}
	for (unsigned k = 0; k < st->skipped_count; k++)
		sink_printf(t, "# provider not loaded: %s\n", st->skipped[k]);
}

void p11o_trace_summary(p11o_trace *t)
{
	char buf[P11O_TRACE_RECORD_MAX];
	size_t len = 0;
	int n =
	    snprintf(buf, sizeof(buf), "# summary: %-28s %10s %8s %14s %12s\n",
		     "function", "calls", "errors", "total_us", "mean_us");
	len = n > 0 ? (size_t)n : 0;
	for (size_t i = 0; i < P11O_FN_COUNT; i++) {
		p11o_trace_stat *s = &t->stats[i];
		unsigned long calls = atomic_exchange_explicit(
		    &s->calls, 0, memory_order_relaxed);
		unsigned long errs = atomic_exchange_explicit(
		    &s->errors, 0, memory_order_relaxed);
		unsigned long long ns =
		    atomic_exchange_explicit(&s->ns, 0, memory_order_relaxed);
		if (!calls)
			continue;
		n = snprintf(buf + len, sizeof(buf) - len,
			     "# summary: %-28s %10lu %8lu %14.3f %12.3f\n",
			     p11o_trace_fns[i].name, calls, errs, ns / 1000.0,
			     ns / 1000.0 / (double)calls);
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			break;
		len += (size_t)n;
	}
	p11o_trace_sink(t, buf, len);
}

void p11o_trace_note(p11o_layer *layer, const char *fmt, ...)
{
	p11o_trace *t = (p11o_trace *)layer;
	char buf[1024];
	va_list ap;
	if (!t)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sink_printf(t, "# note: %s\n", buf);
}
