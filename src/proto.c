/* proto.c: parser of the client-to-server byte stream; pure, no I/O.
 * The caller hands in whatever bytes it has; a frame split across reads
 * parses as INCOMPLETE until it is whole, so no state lives here.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "proto.h"

#include <string.h>

struct verb_name {
    const char *name;
    size_t len;
    enum proto_verb verb;
};

static const struct verb_name verbs[] = {
    {"SEND", 4, PROTO_SEND},   {"HELLO", 5, PROTO_HELLO},
    {"BCAST", 5, PROTO_BCAST}, {"WHO", 3, PROTO_WHO},
    {"PING", 4, PROTO_PING},   {"QUIT", 4, PROTO_QUIT},
    {"AUTH", 4, PROTO_AUTH},   {"ACK", 3, PROTO_ACK},
};

static const char *const err_names[] = {
    [PERR_NONE] = "none",
    [PERR_BAD_COMMAND] = "bad-command",
    [PERR_BAD_ID] = "bad-id",
    [PERR_ID_TAKEN] = "id-taken",
    [PERR_ALREADY_REGISTERED] = "already-registered",
    [PERR_NOT_REGISTERED] = "not-registered",
    [PERR_UNKNOWN_NODE] = "unknown-node",
    [PERR_TOO_LARGE] = "too-large",
    [PERR_LINE_TOO_LONG] = "line-too-long",
    [PERR_BAD_FRAME] = "bad-frame",
    [PERR_SERVER_FULL] = "server-full",
    [PERR_CLUSTER_UNAVAILABLE] = "cluster-unavailable",
    [PERR_AUTH_REQUIRED] = "auth-required",
    [PERR_AUTH_FAILED] = "auth-failed",
    [PERR_FORBIDDEN] = "forbidden",
};

static const char *const bye_names[] = {
    [BYE_QUIT] = "quit",
    [BYE_IDLE_TIMEOUT] = "idle-timeout",
    [BYE_KICKED] = "kicked",
    [BYE_SHUTDOWN] = "shutdown",
    [BYE_PROTOCOL_ERROR] = "protocol-error",
    [BYE_SLOW_CONSUMER] = "slow-consumer",
    [BYE_REPLACED] = "replaced",
    [BYE_AUTH_FAILED] = "auth-failed",
};

const char *proto_err_name(enum proto_err err)
{
    return err_names[err];
}

const char *proto_bye_name(enum proto_bye bye)
{
    return bye_names[bye];
}

static const unsigned char id_chars[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1,
    ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
    ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
    ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

int proto_valid_id(const char *s, size_t n)
{
    if (n == 0 || n > PROTO_MAX_ID)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!id_chars[(unsigned char)s[i]])
            return 0;
    return 1;
}

/* Verbs are matched without regard to case, as SMTP and NATS do, so that
 * a person typing into nc is not punished for lower case. */
static int match_verb(const char *tok, size_t len, enum proto_verb *verb)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (verbs[i].len != len)
            continue;
        size_t j = 0;
        while (j < len && (tok[j] & ~0x20) == verbs[i].name[j])
            j++;
        if (j == len) {
            *verb = verbs[i].verb;
            return 1;
        }
    }
    return 0;
}

/* A length is one or more decimal digits; values past the limit saturate,
 * so 2^63 or forty digits are "too large" rather than "not a number". */
static int parse_length(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return -1;
        if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX;
        else
            v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static enum proto_status refuse(struct proto_cmd *cmd, enum proto_err err,
                                size_t consumed)
{
    cmd->err = err;
    cmd->consumed = consumed;
    return PROTO_REFUSED;
}

static enum proto_status fatal(struct proto_cmd *cmd, enum proto_err err)
{
    cmd->err = err;
    return PROTO_FATAL;
}

/* The payload of SEND/BCAST starts right after the header line; it must
 * be followed by LF or CR LF. */
static enum proto_status take_payload(const char *buf, size_t len,
                                      size_t hdr_len, uint64_t n,
                                      struct proto_cmd *cmd)
{
    size_t end = hdr_len + (size_t)n;
    if (len <= end) {
        cmd->need = end + 1;
        return PROTO_INCOMPLETE;
    }
    size_t consumed;
    if (buf[end] == '\n') {
        consumed = end + 1;
    } else if (buf[end] == '\r') {
        if (len <= end + 1) {
            cmd->need = end + 2;
            return PROTO_INCOMPLETE;
        }
        if (buf[end + 1] != '\n')
            return fatal(cmd, PERR_BAD_FRAME);
        consumed = end + 2;
    } else {
        return fatal(cmd, PERR_BAD_FRAME);
    }
    cmd->payload = buf + hdr_len;
    cmd->payload_len = (size_t)n;
    cmd->consumed = consumed;
    return PROTO_COMMAND;
}

/* What one pass over a header line learns. */
struct line_shape {
    size_t first_sp, last_sp; /* first and last space; line_len if none */
    size_t ntok;              /* spaces + 1: empty tokens count */
    int ctl;                  /* a control byte (< 0x20, 0x7f) in the line */
};

static void shape_of(const char *line, size_t len, struct line_shape *sh)
{
    sh->first_sp = sh->last_sp = len;
    sh->ntok = 1;
    sh->ctl = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch == ' ') {
            if (sh->ntok++ == 1)
                sh->first_sp = i;
            sh->last_sp = i;
        } else if (ch < 0x20 || ch == 0x7f) {
            sh->ctl = 1;
        }
    }
}

/*
 * SEND and BCAST: the last token is the payload length, whatever comes
 * before it, so that a client always knows whether its payload is read.
 * A decimal length within max_payload means the payload is read and then
 * the command is judged; anything else in that place loses the stream.
 */
static enum proto_status parse_payload_cmd(const char *buf, size_t len,
                                           size_t hdr_len, size_t line_len,
                                           const struct line_shape *sh,
                                           uint64_t max_payload,
                                           struct proto_cmd *cmd)
{
    size_t want = cmd->verb == PROTO_SEND ? 3 : 2;
    uint64_t n;

    if (sh->ntok < want)
        return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
    if (parse_length(buf + sh->last_sp + 1, line_len - sh->last_sp - 1, &n) < 0)
        return fatal(cmd, PERR_BAD_FRAME);
    if (n > max_payload)
        return fatal(cmd, PERR_TOO_LARGE);
    enum proto_status st = take_payload(buf, len, hdr_len, n, cmd);
    if (st != PROTO_COMMAND)
        return st;
    /* SEND's target sits between the first and the last space. */
    size_t arg_len = sh->last_sp - sh->first_sp - 1;
    if (sh->ctl || sh->ntok != want || (want == 3 && arg_len == 0)) {
        cmd->payload = NULL;
        cmd->payload_len = 0;
        return refuse(cmd, PERR_BAD_COMMAND, cmd->consumed);
    }
    if (want == 3) {
        cmd->arg = buf + sh->first_sp + 1;
        cmd->arg_len = arg_len;
    }
    return PROTO_COMMAND;
}

/* Whether s[0..n) is word followed by '=' (the value then starts at
 * s + wlen + 1). */
static int is_option(const char *s, size_t n, const char *word, size_t wlen)
{
    return n > wlen && memcmp(s, word, wlen) == 0 && s[wlen] == '=';
}

/* HELLO id session | HELLO id session=TOKEN [ack=SEQ]: the id is the
 * second token as for a plain HELLO; the token is checked by the router
 * (a wrong one is "id-taken", whatever it looks like). */
static enum proto_status parse_hello_session(const char *buf, size_t line_len,
                                             size_t hdr_len,
                                             const struct line_shape *sh,
                                             struct proto_cmd *cmd)
{
    if (sh->ntok > 4)
        return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
    const char *id = buf + sh->first_sp + 1;
    const char *opt = memchr(id, ' ', line_len - sh->first_sp - 1);
    size_t id_len = (size_t)(opt - id);
    opt++;
    size_t rest = line_len - (size_t)(opt - buf);
    const char *sp = memchr(opt, ' ', rest);
    size_t olen = sp ? (size_t)(sp - opt) : rest;
    uint64_t seq = 0;

    if (sh->ntok == 3 && olen == 7 && memcmp(opt, "session", 7) == 0) {
        cmd->session = PROTO_SESS_NEW;
    } else if (is_option(opt, olen, "session", 7)) {
        if (sp != NULL) {
            const char *ack = sp + 1;
            size_t alen = line_len - (size_t)(ack - buf);
            if (!is_option(ack, alen, "ack", 3) ||
                parse_length(ack + 4, alen - 4, &seq) < 0)
                return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
        }
        cmd->session = PROTO_SESS_RESUME;
        cmd->token = opt + 8;
        cmd->token_len = olen - 8;
        cmd->seq = seq;
    } else {
        return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
    }
    cmd->arg = id;
    cmd->arg_len = id_len;
    cmd->consumed = hdr_len;
    return PROTO_COMMAND;
}

enum proto_status proto_parse(const char *buf, size_t len, uint64_t max_payload,
                              struct proto_cmd *cmd)
{
    const char *lf;
    size_t scan = len < PROTO_MAX_LINE ? len : PROTO_MAX_LINE;

    memset(cmd, 0, sizeof *cmd);
    lf = memchr(buf, '\n', scan);
    if (lf == NULL) {
        if (len >= PROTO_MAX_LINE)
            return fatal(cmd, PERR_LINE_TOO_LONG);
        return PROTO_INCOMPLETE;
    }

    size_t hdr_len = (size_t)(lf - buf) + 1;
    size_t line_len = hdr_len - 1;
    if (line_len > 0 && buf[line_len - 1] == '\r')
        line_len--;

    /* Tokens are split on single spaces; an empty token (two spaces, a
     * leading or trailing space) is kept as empty so that it is refused. */
    struct line_shape sh;
    shape_of(buf, line_len, &sh);
    if (!match_verb(buf, sh.first_sp, &cmd->verb))
        return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
    if (cmd->verb == PROTO_SEND || cmd->verb == PROTO_BCAST)
        return parse_payload_cmd(buf, len, hdr_len, line_len, &sh, max_payload,
                                 cmd);
    /* The only CR a line may hold is the one before its LF: a token with
     * a control byte would come back on a server line (PONG) and break
     * the rule that those end in a lone LF. */
    if (sh.ctl)
        return refuse(cmd, PERR_BAD_COMMAND, hdr_len);

    /* AUTH name secret: the secret is the rest of the line, spaces and
     * all, so that any password can be typed. */
    if (cmd->verb == PROTO_AUTH) {
        const char *name = buf + sh.first_sp + 1;
        const char *sp =
            sh.ntok >= 3 ? memchr(name, ' ', line_len - sh.first_sp - 1) : NULL;
        if (sp == NULL || sp == name || (size_t)(sp - buf) + 1 >= line_len)
            return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
        cmd->arg = name;
        cmd->arg_len = (size_t)(sp - name);
        cmd->secret = sp + 1;
        cmd->secret_len = line_len - (size_t)(sp + 1 - buf);
        cmd->consumed = hdr_len;
        return PROTO_COMMAND;
    }
    if (cmd->verb == PROTO_HELLO && sh.ntok > 2)
        return parse_hello_session(buf, line_len, hdr_len, &sh, cmd);
    size_t arg_len = sh.ntok == 2 ? line_len - sh.first_sp - 1 : 0;
    switch (cmd->verb) {
    case PROTO_HELLO:
        break;
    case PROTO_ACK:
        if (sh.ntok != 2 || parse_length(buf + sh.first_sp + 1, arg_len,
                                         &cmd->seq) < 0)
            return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
        break;
    case PROTO_PING:
        if (sh.ntok > 2 || (sh.ntok == 2 && arg_len == 0))
            return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
        break;
    default: /* WHO, QUIT */
        if (sh.ntok != 1)
            return refuse(cmd, PERR_BAD_COMMAND, hdr_len);
        break;
    }
    if (sh.ntok == 2) {
        cmd->arg = buf + sh.first_sp + 1;
        cmd->arg_len = arg_len;
    }
    cmd->consumed = hdr_len;
    return PROTO_COMMAND;
}

int proto_out_piece(const char *buf, size_t avail, uint64_t *len,
                    uint64_t *lines)
{
    const char *lf = memchr(buf, '\n', avail);
    if (lf == NULL)
        return -1;
    size_t line = (size_t)(lf - buf) + 1;
    *len = line;
    *lines = 0;
    int msg = line > 4 && memcmp(buf, "MSG ", 4) == 0;
    int nodes = line > 6 && memcmp(buf, "NODES ", 6) == 0;
    if (!msg && !nodes)
        return 0;
    /* The number is NODES' last token, MSG's fourth (a session's MSG has
     * its sequence number after it). */
    size_t end = line - 1, start;
    if (msg) {
        size_t sp = 0;
        for (start = 0; start < end && sp < 3; start++)
            sp += buf[start] == ' ';
        const char *next = memchr(buf + start, ' ', end - start);
        if (next != NULL)
            end = (size_t)(next - buf);
    } else {
        start = end;
        while (start > 0 && buf[start - 1] != ' ')
            start--;
    }
    uint64_t n;
    if (parse_length(buf + start, end - start, &n) < 0)
        return -1;
    if (nodes)
        *lines = n;
    else
        *len = n > UINT64_MAX - line - 1 ? UINT64_MAX : line + n + 1;
    return 0;
}

static size_t put_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t proto_msg_header(char *out, const char *from, size_t from_len,
                        const char *to, size_t to_len, uint64_t n)
{
    char *p = out;
    memcpy(p, "MSG ", 4);
    p += 4;
    memcpy(p, from, from_len);
    p += from_len;
    *p++ = ' ';
    memcpy(p, to, to_len);
    p += to_len;
    *p++ = ' ';
    p += put_u64(p, n);
    *p++ = '\n';
    return (size_t)(p - out);
}

size_t proto_msg_header_seq(char *out, const char *from, size_t from_len,
                            const char *to, size_t to_len, uint64_t n,
                            uint64_t seq)
{
    size_t len = proto_msg_header(out, from, from_len, to, to_len, n);
    char *p = out + len - 1; /* over the LF */
    *p++ = ' ';
    p += put_u64(p, seq);
    *p++ = '\n';
    return (size_t)(p - out);
}

uint64_t proto_msg_seq(const char *buf, size_t len)
{
    const char *lf = memchr(buf, '\n', len);
    size_t end = lf ? (size_t)(lf - buf) : len, sp = 0, i;
    for (i = 0; i < end && sp < 4; i++)
        sp += buf[i] == ' ';
    uint64_t seq;
    if (sp < 4 || parse_length(buf + i, end - i, &seq) < 0)
        return 0;
    return seq;
}
