/* nkey.h: the public key of a NATS user NKey seed.  libnats 3.4 signs the
 * server's nonce from a seed file itself (natsOptions_SetNKeyFromSeed) but
 * wants the public key given alongside, so msgd derives it.  Pure: no I/O.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_NKEY_H
#define MSGD_NKEY_H

#include <stddef.h>

/* A public key as text: 56 characters of base32. */
#define NKEY_PUBLIC_LEN 56

/* The user public key ("U...") of the user seed ("SU...", 58 characters)
 * that text holds, with blanks before and after allowed; into pub, which
 * takes NKEY_PUBLIC_LEN + 1 bytes.  Returns 0, or -1 when text is not a
 * user seed (length, base32, checksum or type).  Nothing of the seed is
 * left on the stack. */
int nkey_public_from_seed(const char *text, size_t len,
                          char pub[NKEY_PUBLIC_LEN + 1]);

#endif
