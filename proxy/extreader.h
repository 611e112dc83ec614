/* External readers: C_AddSlot / C_RemoveSlot (docs/architecture.md §6).
 *
 * The application gives a reader as callbacks (CK_ADD_SLOT).  The proxy
 * bridges them to a vsmartcard vpcd reader of the system's pcscd
 * ([readers] vpcd): it connects to the reader's TCP port as the vpcd
 * *card* side, so pcscd sees a card inserted in that reader and the
 * provider serves it like any other card: virtual tokens, special
 * objects, events.  One bridge thread per added reader relays
 *     power on -> Connect, reset -> Disconnect + Connect,
 *     power off -> Disconnect, get ATR -> the ATR GetAtr gave,
 *     APDU -> Transmit (failure: status word 6F00).
 * C_AddSlot connects and reads the ATR itself first, takes a free vpcd
 * reader (none of this process's bridges, no token in it), then waits
 * ([readers] timeout) until the provider shows the card's tokens in the
 * slots described by that reader's name, and returns those (virtual)
 * slots.  C_RemoveSlot(any of them) closes the connection (pcscd sees the
 * card removed), joins the thread and waits for the tokens to go; the
 * slots layer's event stream reports the insertion and the removal.
 *
 * Requirements and limits: a vpcd reader configured in pcscd (package
 * vsmartcard-vpcd; reader.conf gives its port, pcscd its name); the
 * proxy's process must reach the port.  Another process's vpcd card on a
 * reader without a recognised token is not seen as busy.  Callbacks run in
 * the bridge thread (Connect and GetAtr first in C_AddSlot's thread), one
 * at a time per reader, possibly while another thread is inside a
 * PKCS#11 call on that token: they must not call p11overlay functions on
 * that token (C_RemoveSlot from a callback answers CKR_FUNCTION_FAILED).
 * C_Finalize removes every added reader. */
#ifndef P11O_EXTREADER_H
#define P11O_EXTREADER_H

#include "layer.h"

/* The slots layer's C_AddSlot / C_RemoveSlot: `self` is the slots layer,
 * whose own functions give the application's slot IDs.
 *
 * C_AddSlot: pulCount is the size of pSlotList in, the number of slots
 * out (CKR_BUFFER_TOO_SMALL when it does not fit).  Calling it again with
 * the same pContext and callbacks returns the slots of the reader already
 * added (the PKCS#11 two-call convention: NULL pSlotList first). */
CK_RV p11o_extreader_add_slot(p11o_layer *self, CK_ADD_SLOT_PTR pAddSlot,
			      CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount);
CK_RV p11o_extreader_remove_slot(p11o_layer *self, CK_SLOT_ID slotID);
/* C_Finalize: stop every bridge of this slots layer. */
void p11o_extreader_stop_all(p11o_layer *self);

#endif
