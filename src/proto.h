/* proto.h: the wire protocol of msgd-protocol(7): a pure parser of the
 * client-to-server stream, and the names of error codes and BYE reasons.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_PROTO_H
#define MSGD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAX_LINE 1024 /* a header line, LF included */
#define PROTO_MAX_ID 64
/* A peer's address as text ("1.2.3.4:5", "[::1]:5"; 54 bytes at most with
 * its NUL), in connections, the closed ring, logs and admin filters: one
 * size, the widest any of them had, so no filter accepted before is
 * refused now. */
#define ADDR_STR_MAX 64
/* Longest MSG header the server writes: "MSG " id " " id " " 20 digits,
 * in a session " " 20 digits more, LF. */
#define PROTO_MAX_MSG_HEADER                                                   \
    (4 + PROTO_MAX_ID + 1 + PROTO_MAX_ID + 1 + 20 + 1 + 20 + 1)
/* A session token: 128 random bits as 32 lower-case hex digits. */
#define PROTO_TOKEN_LEN 32

enum proto_verb {
    PROTO_HELLO,
    PROTO_SEND,
    PROTO_BCAST,
    PROTO_WHO,
    PROTO_PING,
    PROTO_QUIT,
    PROTO_AUTH,
    PROTO_ACK,
};

/* What a HELLO asks of sessions (msgd-protocol(7), SESSIONS). */
enum proto_session {
    PROTO_SESS_NONE,   /* HELLO id */
    PROTO_SESS_NEW,    /* HELLO id session */
    PROTO_SESS_RESUME, /* HELLO id session=TOKEN [ack=SEQ] */
};

enum proto_status {
    PROTO_INCOMPLETE, /* not a whole frame yet: read more */
    PROTO_COMMAND,    /* a well-formed command in *cmd */
    PROTO_REFUSED,    /* a whole frame, refused (cmd->err); stay open */
    PROTO_FATAL,      /* a framing fault (cmd->err); the stream is lost */
};

enum proto_err {
    PERR_NONE,
    PERR_BAD_COMMAND,
    PERR_BAD_ID,
    PERR_ID_TAKEN,
    PERR_ALREADY_REGISTERED,
    PERR_NOT_REGISTERED,
    PERR_UNKNOWN_NODE,
    PERR_TOO_LARGE,
    PERR_LINE_TOO_LONG,
    PERR_BAD_FRAME,
    PERR_SERVER_FULL,
    PERR_CLUSTER_UNAVAILABLE, /* cluster: NATS is out of reach */
    PERR_AUTH_REQUIRED,       /* HELLO before AUTH, without anonymous */
    PERR_AUTH_FAILED,
    PERR_FORBIDDEN, /* the acl refuses it */
};

enum proto_bye {
    BYE_QUIT,
    BYE_IDLE_TIMEOUT,
    BYE_KICKED,
    BYE_SHUTDOWN,
    BYE_PROTOCOL_ERROR,
    BYE_SLOW_CONSUMER,
    BYE_REPLACED,
    BYE_AUTH_FAILED,
};

struct proto_cmd {
    enum proto_verb verb;
    const char *arg; /* HELLO id, SEND target, PING token, AUTH name; NULL
                        if none */
    size_t arg_len;
    const char *secret; /* AUTH: the rest of the line after the name */
    size_t secret_len;
    enum proto_session session; /* HELLO */
    const char *token;          /* HELLO session=TOKEN (not checked here) */
    size_t token_len;
    uint64_t seq; /* ACK's sequence number; HELLO's ack= (0 if none) */
    const char *payload; /* SEND/BCAST */
    size_t payload_len;
    size_t consumed; /* bytes of the whole frame (COMMAND/REFUSED) */
    size_t need;     /* INCOMPLETE: frame size once the header is known */
    enum proto_err err;
};

/*
 * Parse the first frame of buf[0..len).  max_payload is max_message_size.
 * Pointers in *cmd point into buf.  HELLO ids are not validated here (the
 * router decides between already-registered and bad-id).
 */
enum proto_status proto_parse(const char *buf, size_t len, uint64_t max_payload,
                              struct proto_cmd *cmd);

/* 1 if s[0..n) is a node id: 1..PROTO_MAX_ID of A-Z a-z 0-9 . _ -.  The
 * one rule of the daemon and msgctl; libmsgclient keeps its own copy (it
 * links nothing of msgd), and test_msgclient checks that the two agree. */
int proto_valid_id(const char *s, size_t n);

const char *proto_err_name(enum proto_err err);
const char *proto_bye_name(enum proto_bye bye);

/*
 * Reads back the server's own output (outq_piece_fn): the piece at buf is
 * a line, or a MSG line with its payload and LF; a NODES line has *lines
 * NODE lines after it in the same frame.  0, or -1 when buf[0..avail)
 * holds no whole line or a MSG line without a length.
 */
int proto_out_piece(const char *buf, size_t avail, uint64_t *len,
                    uint64_t *lines);

/* Writes "MSG from to n\n" into out (PROTO_MAX_MSG_HEADER bytes);
 * returns its length. */
size_t proto_msg_header(char *out, const char *from, size_t from_len,
                        const char *to, size_t to_len, uint64_t n);
/* The same with a session's sequence number: "MSG from to n seq\n". */
size_t proto_msg_header_seq(char *out, const char *from, size_t from_len,
                            const char *to, size_t to_len, uint64_t n,
                            uint64_t seq);
/* The sequence number of a session's MSG header line (buf[0..len), LF
 * included or not): 0 when the line has none. */
uint64_t proto_msg_seq(const char *buf, size_t len);

#endif
