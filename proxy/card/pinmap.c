/* Which user PIN of a card a provider token stands for, and the label of
 * its virtual token (docs/architecture.md §4).  Pure: no PC/SC (unit-tested).
 *
 * OpenSC 0.23 labels a card's slots "<token label cut> (<PIN label>)";
 * when that does not fit in 32 bytes (or the token has no label) the PIN
 * label alone, cut to 32; a PIN labelled "PIN" or nothing gives the token
 * label.  PIN labels may themselves hold " (" (OpenPGP's "User PIN (sig)")
 * and may share long prefixes, so the label is matched against the PINs
 * the card knows, most specific match first, never split at a fixed
 * character; the slot's position among the reader's slots (OpenSC makes
 * them in the card's PIN order) decides between equal matches. */
#include <stdio.h>
#include <string.h>

#include "card.h"
#include "labels.h"

static size_t trimmed(const unsigned char *l, size_t n)
{
	while (n > 0 && (l[n - 1] == ' ' || l[n - 1] == '\0'))
		n--;
	return n;
}

/* How well label l (n bytes) names PIN `name`: the length of the
 * matching " (<name>)" suffix; 1 when the label is the name cut to 32;
 * 0 when it does not name it. */
static size_t match(const unsigned char *l, size_t n, const char *name)
{
	size_t m = strlen(name);
	if (m == 0)
		return 0;
	if (n >= m + 3 && l[n - 1] == ')' && l[n - m - 2] == '(' &&
	    l[n - m - 3] == ' ' && memcmp(l + n - m - 1, name, m) == 0)
		return m + 3;
	size_t cut = trimmed((const unsigned char *)name, m < 32 ? m : 32);
	if (n == cut && memcmp(l, name, n) == 0)
		return 1;
	return 0;
}

const p11o_card_pin *p11o_card_puk_for(const p11o_card_info *info,
				       const p11o_card_pin *pin)
{
	if (!info->puk_per_pin)
		return info->puk_ref == P11O_CARD_REF_NONE ? NULL : &info->puk;
	if (!pin || pin < info->pins || pin >= info->pins + info->pin_count)
		return NULL;
	int i = info->puk_of[pin - info->pins];
	return i >= 0 && (size_t)i < info->puk_count ? &info->puks[i] : NULL;
}

size_t p11o_card_pin_suffix(const unsigned char label[32], const char *name)
{
	size_t s = match(label, trimmed(label, 32), name);
	return s > 1 ? s : 0;
}

int p11o_card_pin_for_label(const p11o_card_info *info,
			    const unsigned char label[32], unsigned index,
			    size_t *suffix_len)
{
	size_t n = trimmed(label, 32), best = 0;
	int pick = -1;

	if (suffix_len)
		*suffix_len = 0;
	for (size_t k = 0; k < info->pin_count; k++) {
		size_t s = match(label, n, info->pins[k].name);
		/* Longer match wins; on a tie the slot's own position. */
		if (s > best || (s == best && s && k == index)) {
			best = s;
			pick = (int)k;
		}
	}
	if (pick >= 0) {
		if (suffix_len)
			*suffix_len = best > 1 ? best : 0;
		return pick;
	}
	return index < info->pin_count ? (int)index : -1;
}

/* OpenSC's rule: a PIN name too long to follow at least "L..." in 32
 * bytes is the whole label (cut), with no token name before it. */
static void compose(unsigned char out[32], const char *format,
		    const char *token_name, const char *pin)
{
	if (pin && strlen(pin) + strlen("L... ()") > 32)
		p11o_label_compose(out, "%t", pin, NULL);
	else
		p11o_label_compose(out, format, token_name, pin);
}

void p11o_card_token_label(const p11o_card_info *info, int k,
			   const char *format, const char *token_name,
			   unsigned char out[32])
{
	const char *pin =
	    info->pin_count >= 2 && k >= 0 && (size_t)k < info->pin_count
		? info->pins[k].name
		: NULL;
	compose(out, format, token_name, pin);
	if (!pin)
		return;
	/* Two virtual tokens of one card never share a label: PINs with the
	 * same name, or names that only differ after the cut, are numbered
	 * at the front of the PIN part, which is kept. */
	for (size_t j = 0; j < info->pin_count; j++) {
		unsigned char other[32];
		if (j == (size_t)k)
			continue;
		compose(other, format, token_name, info->pins[j].name);
		if (memcmp(other, out, 32) == 0) {
			char numbered[P11O_CARD_STR + 16];
			snprintf(numbered, sizeof(numbered), "#%d %s", k + 1,
				 pin);
			compose(out, format, token_name, numbered);
			return;
		}
	}
}
