/* The assembled stack and what every layer shares (design.md §3).
 * Built by C_Initialize, immutable until C_Finalize. */
#ifndef P11O_STACK_H
#define P11O_STACK_H

#include "config.h"
#include "layer.h"
#include "provider.h"

#define P11O_MAX_LAYERS 8

typedef struct p11o_stack {
	p11o_config config;
	p11o_provider provider;
	/* top (application side) first; the trace layer is layers[0] and is
	 * only part of the resolved chain while tracing is active. */
	p11o_layer *layers[P11O_MAX_LAYERS];
	size_t layer_count;
	p11o_layer *trace;   /* NULL if not built */
	p11o_targets plain;  /* entry targets without the trace layer */
	p11o_targets traced; /* entry targets with it */
} p11o_stack;

#endif
