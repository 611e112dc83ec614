/* LD_PRELOAD heap-allocation counter for p11bench: counts malloc, calloc,
 * realloc and the aligned allocators per thread, forwarding to glibc's
 * __libc_* functions (no dlsym, so no recursion at start-up).
 * p11bench_allocs() returns the calling thread's count. */
#include <errno.h>
#include <stddef.h>

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Thread_local unsigned long count;

EXPORT unsigned long p11bench_allocs(void)
{
	return count;
}

EXPORT void *malloc(size_t n)
{
	count++;
	return __libc_malloc(n);
}

EXPORT void *calloc(size_t n, size_t m)
{
	count++;
	return __libc_calloc(n, m);
}

EXPORT void *realloc(void *p, size_t n)
{
	count++;
	return __libc_realloc(p, n);
}

EXPORT void free(void *p)
{
	__libc_free(p);
}

EXPORT void *memalign(size_t a, size_t n)
{
	count++;
	return __libc_memalign(a, n);
}

EXPORT void *aligned_alloc(size_t a, size_t n)
{
	count++;
	return __libc_memalign(a, n);
}

EXPORT int posix_memalign(void **p, size_t a, size_t n)
{
	count++;
	void *r = __libc_memalign(a, n);
	if (!r)
		return ENOMEM;
	*p = r;
	return 0;
}
