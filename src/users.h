/* users.h: the users file of the auth group (msgd.conf(5), AUTHENTICATION):
 * one user a line, NAME:HASH, the hash an argon2id string in libsodium's
 * format.  A pure parser and a sorted table; reading the file is the one
 * function here that does I/O.  Shared by msgd and msgpasswd(1).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_USERS_H
#define MSGD_USERS_H

#include <stddef.h>

#define USERS_MAX_NAME 64  /* the node id rule: A-Z a-z 0-9 . _ - */
#define USERS_MAX_HASH 127 /* crypto_pwhash_STRBYTES - 1 */
#define USERS_MAX_LINE 512 /* longer lines are refused */
#define USERS_MAX_FILE (16u << 20)
#define USERS_HASH_PREFIX "$argon2id$"

struct users_entry {
    char name[USERS_MAX_NAME + 1];
    char hash[USERS_MAX_HASH + 1];
    int line; /* in the file, for messages */
};

/* A users file, sorted by name. */
struct users {
    struct users_entry *v;
    size_t n;
};

/* Parses the bytes of a users file into *out (which it allocates; free
 * with users_free).  Blank lines and lines starting with '#' are skipped.
 * Returns 0, or -1 with "LINE: what is wrong" in err (line 0: not about a
 * line) and *out left empty. */
int users_parse(const char *text, size_t len, struct users *out, char *err,
                size_t errlen);
/* Reads and parses path; errors read "PATH:LINE: what" or "PATH: what". */
int users_load(const char *path, struct users *out, char *err, size_t errlen);
/* The entry for name, or NULL. */
const struct users_entry *users_find(const struct users *u, const char *name);
/* Whether s is a user name: 1 to 64 of A-Z a-z 0-9 . _ - */
int users_valid_name(const char *s);
/* Whether s looks like a hash msgd can check: the argon2id prefix, no
 * more than USERS_MAX_HASH printable bytes, no ':' or space. */
int users_valid_hash(const char *s);
/* The text of a users file with name's line set to name:hash, or, with
 * hash NULL, without it: the line is edited in place (its CR, if any,
 * kept) and a new user goes at the end, after an LF if the text lacks
 * its last one; comments, blank lines and the other lines stay as they
 * were, in their order.  Meant for text that users_parse accepted, which
 * holds name at most once.  Pure.  Returns 1 when name was there, 0 when
 * not (then with hash NULL the text is unchanged), the new text in *out
 * (NUL-ended, malloc'd; the caller frees it) and its length in *outlen;
 * -1 when out of memory. */
int users_edit(const char *text, size_t len, const char *name, const char *hash,
               char **out, size_t *outlen);
/* Frees the table (and wipes the hashes first). */
void users_free(struct users *u);

#endif
