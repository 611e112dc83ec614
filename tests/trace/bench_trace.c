/* Cost of one traced call, for callgrind:
 *   valgrind --tool=callgrind ./bench_trace full 100000
 * then divide the instructions of the loop (bench_loop inclusive) by the
 * count.  Levels: off (layer not in chain), calls, full. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_mock.h"

__attribute__((noinline)) static void bench_loop(mock_rig *r, long n)
{
	CK_SESSION_INFO si;
	for (long i = 0; i < n; i++)
		CALL(r, C_GetSessionInfo, 1, &si);
}

int main(int argc, char **argv)
{
	const char *lvl = argc > 1 ? argv[1] : "full";
	long n = argc > 2 ? atol(argv[2]) : 100000;
	enum p11o_trace_level level = !strcmp(lvl, "calls")  ? P11O_TRACE_CALLS
				      : !strcmp(lvl, "full") ? P11O_TRACE_FULL
							     : P11O_TRACE_OFF;
	mock_rig r;
	mock_rig_init(&r, level, false, 256, level != P11O_TRACE_OFF);
	if (level == P11O_TRACE_OFF) {
		/* what the core does when the trace is off: skip the layer */
		p11o_layer *layers[] = {&r.mock};
		p11o_stack_resolve(layers, 1, &r.top);
	}
	bench_loop(&r, 1000); /* warm up: TLS, name tables */
	bench_loop(&r, n);
	mock_rig_free(&r);
	return 0;
}
