#include "handles.h"

#include <stdlib.h>
#include <string.h>

#define INDEX_MASK ((1ul << P11O_HANDLE_INDEX_BITS) - 1)
#define REV_DELETED (~0ul)

static CK_ULONG make_handle(unsigned long gen, uint32_t index)
{
	return (gen << P11O_HANDLE_INDEX_BITS) | index;
}

static p11o_handle_entry *entry_at(const p11o_handle_table *t, uint32_t index)
{
	return p11o_handle_entry_at(t, index);
}

CK_RV p11o_handles_init(p11o_handle_table *t, bool reverse)
{
	memset(t, 0, sizeof(*t));
	t->next_unused = 1;
	t->reverse = reverse;
	return p11o_mutex_init(&t->lock);
}

static void rev_free(p11o_handle_table *t)
{
	free(t->rev_values);
	free(t->rev_handles);
	t->rev_values = NULL;
	t->rev_handles = NULL;
	t->rev_cap = t->rev_used = 0;
}

void p11o_handles_destroy(p11o_handle_table *t)
{
	for (size_t i = 0; i < P11O_HANDLE_PAGES; i++)
		free(atomic_load(&t->pages[i]));
	rev_free(t);
	p11o_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

/* Fibonacci hashing of the provider value. */
static size_t rev_slot(CK_ULONG value, CK_ULONG aux, size_t cap)
{
	return (size_t)(((value ^ (aux * 0xC2B2AE3D27D4EB4Full)) *
			 0x9E3779B97F4A7C15ull) >>
			7) &
	       (cap - 1);
}

static CK_ULONG aux_of(const p11o_handle_table *t, CK_ULONG handle)
{
	return atomic_load_explicit(&entry_at(t, handle & INDEX_MASK)->aux,
				    memory_order_relaxed);
}

/* Returns the index holding `value`, or the first free index to insert it
 * at (with *found false).  Requires rev_cap > rev_used. */
static size_t rev_find(const p11o_handle_table *t, CK_ULONG value, CK_ULONG aux,
		       bool *found)
{
	size_t i = rev_slot(value, aux, t->rev_cap), first_free = SIZE_MAX;
	for (;;) {
		CK_ULONG h = t->rev_handles[i];
		if (h == 0) {
			*found = false;
			return first_free != SIZE_MAX ? first_free : i;
		}
		if (h == REV_DELETED) {
			if (first_free == SIZE_MAX)
				first_free = i;
		} else if (t->rev_values[i] == value && aux_of(t, h) == aux) {
			*found = true;
			return i;
		}
		i = (i + 1) & (t->rev_cap - 1);
	}
}

static bool rev_grow(p11o_handle_table *t)
{
	size_t cap = t->rev_cap ? t->rev_cap * 2 : 64;
	CK_ULONG *values = calloc(cap, sizeof(*values));
	CK_ULONG *handles = calloc(cap, sizeof(*handles));
	if (!values || !handles) {
		free(values);
		free(handles);
		return false;
	}
	CK_ULONG *old_values = t->rev_values, *old_handles = t->rev_handles;
	size_t old_cap = t->rev_cap;
	t->rev_values = values;
	t->rev_handles = handles;
	t->rev_cap = cap;
	t->rev_used = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (old_handles[i] == 0 || old_handles[i] == REV_DELETED)
			continue;
		bool found;
		size_t j = rev_find(t, old_values[i], aux_of(t, old_handles[i]),
				    &found);
		t->rev_values[j] = old_values[i];
		t->rev_handles[j] = old_handles[i];
		t->rev_used++;
	}
	free(old_values);
	free(old_handles);
	return true;
}

static void rev_delete(p11o_handle_table *t, CK_ULONG value, CK_ULONG aux)
{
	if (!t->reverse || !t->rev_cap)
		return;
	bool found;
	size_t i = rev_find(t, value, aux, &found);
	if (found)
		t->rev_handles[i] = REV_DELETED;
}

/* Takes a free or never-used index; NULL when the table is full. */
static p11o_handle_entry *take_entry(p11o_handle_table *t, uint32_t *index)
{
	if (t->free_head) {
		*index = t->free_head;
		p11o_handle_entry *e = entry_at(t, *index);
		t->free_head = e->next_free;
		return e;
	}
	if (t->next_unused > INDEX_MASK)
		return NULL;
	uint32_t page = t->next_unused >> P11O_HANDLE_PAGE_BITS;
	if (!atomic_load(&t->pages[page])) {
		p11o_handle_entry *p =
		    calloc(P11O_HANDLE_PAGE_SIZE, sizeof(*p));
		if (!p)
			return NULL;
		atomic_store_explicit(&t->pages[page], p, memory_order_release);
	}
	*index = t->next_unused++;
	return entry_at(t, *index);
}

CK_ULONG p11o_handles_add_locked(p11o_handle_table *t, CK_ULONG value,
				 CK_ULONG aux)
{
	CK_ULONG handle = 0;
	size_t rev_i = 0;
	if (t->reverse) {
		/* Keep the load under 1/2, counting tombstones as used. */
		if ((t->rev_used + 1) * 2 > t->rev_cap && !rev_grow(t))
			goto out;
		bool found;
		rev_i = rev_find(t, value, aux, &found);
		if (found) {
			handle = t->rev_handles[rev_i];
			goto out;
		}
	}
	uint32_t index;
	p11o_handle_entry *e = take_entry(t, &index);
	if (!e)
		goto out;
	unsigned long gen =
	    atomic_load_explicit(&e->seq, memory_order_relaxed) >> 1;
	if (gen == 0 || gen > P11O_HANDLE_GEN_MAX)
		gen = 1;
	atomic_store_explicit(&e->value, value, memory_order_relaxed);
	atomic_store_explicit(&e->aux, aux, memory_order_relaxed);
	atomic_store_explicit(&e->seq, gen << 1 | 1, memory_order_release);
	handle = make_handle(gen, index);
	t->live++;
	if (t->reverse) {
		if (t->rev_handles[rev_i] == 0)
			t->rev_used++;
		t->rev_values[rev_i] = value;
		t->rev_handles[rev_i] = handle;
	}
out:
	return handle;
}

CK_ULONG p11o_handles_add(p11o_handle_table *t, CK_ULONG value, CK_ULONG aux)
{
	p11o_mutex_lock(&t->lock);
	CK_ULONG handle = p11o_handles_add_locked(t, value, aux);
	p11o_mutex_unlock(&t->lock);
	return handle;
}

size_t p11o_handles_add_many(p11o_handle_table *t, CK_ULONG *values, size_t n,
			     CK_ULONG aux)
{
	size_t done = 0;
	p11o_mutex_lock(&t->lock);
	for (; done < n; done++) {
		CK_ULONG h = p11o_handles_add_locked(t, values[done], aux);
		if (!h)
			break;
		values[done] = h;
	}
	p11o_mutex_unlock(&t->lock);
	return done;
}

/* Under the lock: retire a live entry (next generation, free list). */
static void retire(p11o_handle_table *t, p11o_handle_entry *e, uint32_t index)
{
	unsigned long gen =
	    atomic_load_explicit(&e->seq, memory_order_relaxed) >> 1;
	gen = gen >= P11O_HANDLE_GEN_MAX ? 1 : gen + 1;
	atomic_store_explicit(&e->seq, gen << 1, memory_order_release);
	rev_delete(t, atomic_load_explicit(&e->value, memory_order_relaxed),
		   atomic_load_explicit(&e->aux, memory_order_relaxed));
	e->next_free = t->free_head;
	t->free_head = index;
	t->live--;
}

static bool take_locked(p11o_handle_table *t, CK_ULONG handle,
			p11o_handle_info *out)
{
	uint32_t index = (uint32_t)(handle & INDEX_MASK);
	unsigned long gen = handle >> P11O_HANDLE_INDEX_BITS;
	p11o_handle_entry *e =
	    index && index < t->next_unused ? entry_at(t, index) : NULL;
	if (!e || atomic_load(&e->seq) != (gen << 1 | 1))
		return false;
	if (out) {
		out->value = atomic_load(&e->value);
		out->aux = atomic_load(&e->aux);
	}
	retire(t, e, index);
	return true;
}

bool p11o_handles_take(p11o_handle_table *t, CK_ULONG handle,
		       p11o_handle_info *out)
{
	p11o_mutex_lock(&t->lock);
	bool removed = take_locked(t, handle, out);
	p11o_mutex_unlock(&t->lock);
	return removed;
}

bool p11o_handles_remove(p11o_handle_table *t, CK_ULONG handle)
{
	return p11o_handles_take(t, handle, NULL);
}

static size_t remove_matching(p11o_handle_table *t, bool all, CK_ULONG aux)
{
	size_t n = 0;
	p11o_mutex_lock(&t->lock);
	for (uint32_t i = 1; i < t->next_unused; i++) {
		p11o_handle_entry *e = entry_at(t, i);
		if (!(atomic_load(&e->seq) & 1))
			continue;
		if (all || atomic_load(&e->aux) == aux) {
			retire(t, e, i);
			n++;
		}
	}
	p11o_mutex_unlock(&t->lock);
	return n;
}

size_t p11o_handles_remove_aux(p11o_handle_table *t, CK_ULONG aux)
{
	return remove_matching(t, false, aux);
}

void p11o_handles_clear(p11o_handle_table *t)
{
	remove_matching(t, true, 0);
}

size_t p11o_handles_count(p11o_handle_table *t)
{
	p11o_mutex_lock(&t->lock);
	size_t n = t->live;
	p11o_mutex_unlock(&t->lock);
	return n;
}
