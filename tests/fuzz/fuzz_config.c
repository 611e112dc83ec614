/* libFuzzer target: the config parser on arbitrary bytes (docs/architecture.md
 * §9: a broken file gives a clear error, never a crash). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static p11o_config cfg; /* ~50 KiB: keep it off the stack */

	p11o_config_defaults(&cfg);
	p11o_config_parse(&cfg, (const char *)data, size, "fuzz");
	/* The result must stay self-consistent whatever the input. */
	if (cfg.diag_count > P11O_CONF_MAX_DIAGS ||
	    cfg.card_count > P11O_CONF_MAX_CARDS ||
	    cfg.pin_name_count > P11O_CONF_MAX_PINS ||
	    memchr(cfg.module, '\0', sizeof(cfg.module)) == NULL)
		__builtin_trap();
	for (size_t i = 0; i < cfg.card_count; i++)
		if (cfg.cards[i].atr_len > sizeof(cfg.cards[i].atr) ||
		    cfg.cards[i].pin_count > P11O_CONF_MAX_PINS)
			__builtin_trap();
	return 0;
}
