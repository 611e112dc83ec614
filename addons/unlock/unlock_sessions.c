/* Provider session -> provider slot, for the sessions opened through this
 * layer: while a card is held, the provider must not be asked (its
 * C_GetSessionInfo may talk to the card).  Open addressing with linear
 * probing and backward-shift deletion; under the layer's mu. */
#include <stdlib.h>

#include "unlock_internal.h"

static size_t slot_of(const unlock_layer *l, CK_SESSION_HANDLE s)
{
	uint64_t h = (uint64_t)s * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 17) & (l->sess_cap - 1);
}

static bool grow(unlock_layer *l)
{
	size_t cap = l->sess_cap ? l->sess_cap * 2 : 64;
	ul_session *old = l->sessions, *t = calloc(cap, sizeof(*t));
	if (!t)
		return false;
	size_t oldcap = l->sess_cap;
	l->sessions = t;
	l->sess_cap = cap;
	l->sess_used = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].session)
			ul_sessions_put(l, old[i].session, old[i].slot);
	free(old);
	return true;
}

void ul_sessions_put(unlock_layer *l, CK_SESSION_HANDLE s, CK_SLOT_ID slot)
{
	if (!s)
		return;
	if ((l->sess_used + 1) * 4 > l->sess_cap * 3 && !grow(l))
		return; /* unknown later: treated as not held */
	size_t i = slot_of(l, s);
	while (l->sessions[i].session && l->sessions[i].session != s)
		i = (i + 1) & (l->sess_cap - 1);
	if (!l->sessions[i].session)
		l->sess_used++;
	l->sessions[i].session = s;
	l->sessions[i].slot = slot;
}

static size_t find(const unlock_layer *l, CK_SESSION_HANDLE s)
{
	if (!s || !l->sess_cap)
		return SIZE_MAX;
	for (size_t i = slot_of(l, s);; i = (i + 1) & (l->sess_cap - 1)) {
		if (l->sessions[i].session == s)
			return i;
		if (!l->sessions[i].session)
			return SIZE_MAX;
	}
}

bool ul_sessions_get(unlock_layer *l, CK_SESSION_HANDLE s, CK_SLOT_ID *slot)
{
	size_t i = find(l, s);
	if (i == SIZE_MAX)
		return false;
	*slot = l->sessions[i].slot;
	return true;
}

static void remove_at(unlock_layer *l, size_t i)
{
	size_t mask = l->sess_cap - 1;
	l->sessions[i].session = 0;
	l->sess_used--;
	for (size_t j = (i + 1) & mask; l->sessions[j].session;
	     j = (j + 1) & mask) {
		size_t home = slot_of(l, l->sessions[j].session);
		/* Move j back to the hole when its home is not in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			l->sessions[i] = l->sessions[j];
			l->sessions[j].session = 0;
			i = j;
		}
	}
}

void ul_sessions_remove(unlock_layer *l, CK_SESSION_HANDLE s)
{
	size_t i = find(l, s);
	if (i != SIZE_MAX)
		remove_at(l, i);
}

void ul_sessions_remove_slot(unlock_layer *l, CK_SLOT_ID slot)
{
	for (size_t i = 0; i < l->sess_cap;) {
		if (l->sessions[i].session && l->sessions[i].slot == slot)
			remove_at(l, i); /* may move another entry into i */
		else
			i++;
	}
}

void ul_sessions_free(unlock_layer *l)
{
	free(l->sessions);
	l->sessions = NULL;
	l->sess_cap = l->sess_used = 0;
}

CK_RV ul_session_slot(unlock_layer *l, CK_SESSION_HANDLE s, CK_SLOT_ID *slot)
{
	p11o_mutex_lock(&l->mu);
	bool found = ul_sessions_get(l, s, slot);
	p11o_mutex_unlock(&l->mu);
	return found ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}
