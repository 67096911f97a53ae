/* msgnode.c: msgnode(1), a node of msgd for people and for scripts.
 * Three modes share one event handler and one poll loop: interactive
 * (readline's callback interface, so that messages print while the user
 * types), commands read line by line from a pipe or a file, and a single
 * message (-t/-m).  Every protocol exchange goes through libmsgclient;
 * this file only turns lines into commands and events into text.  Over
 * TLS and with a user name, each connection authenticates (blocking)
 * before anything else; the password never comes from argv.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include <msgclient.h>

#define CONNECT_TIMEOUT_MS 10000
#define REPLY_TIMEOUT_MS 30000 /* registration, and the final barrier */
#define BYE_WAIT_S 2.0         /* how long QUIT waits for its BYE */
/* Receive anything a server configured for large messages may route, but
 * send no more than the server's default max_message_size: a larger
 * payload would get us disconnected (too-large closes the connection). */
#define RECV_MAX ((size_t)16 << 20)
#define SEND_MAX ((size_t)65536)
/* Without idle= in OK we cannot know the policy; this is well under the
 * server's default of 300 s. */
#define UNKNOWN_IDLE_PING_S 60.0

#define ID_RULE "an id is 1-64 of A-Z a-z 0-9 . _ -"

enum mode { MODE_TTY, MODE_PIPE, MODE_ONE };
enum state { ST_ASK_ID, ST_REGISTERING, ST_READY, ST_QUITTING, ST_DONE };

struct node {
    enum mode mode;
    enum state state;
    struct mc_client *c;
    const char *host, *port;
    struct mc_tls *tls; /* NULL: plain TCP */
    const char *user;   /* AUTH as this user (NULL: none) */
    char password[1024];
    char id[MC_MAX_ID + 1];
    char prompt[MC_MAX_ID + 3];
    int prompting;  /* a readline line handler is installed */
    int in_handler; /* inside it: readline has already left the line */
    int errors;     /* refused commands (the exit status of scripts) */
    int exit_code;
    int closed;        /* the connection is gone */
    int reconnect;     /* ... and should be made again, quietly */
    int session;       /* --session: the library resumes a dropped one */
    int lost_told;     /* this outage's loss was reported */
    double ping_every; /* seconds of silence before a keepalive PING */
    double last_tx;    /* when we last queued a command */
    double quit_by;    /* QUITTING: give up waiting for BYE then */
    int utf8;          /* the locale's charset is UTF-8 */
    char *in;          /* MODE_PIPE: input not yet run */
    size_t in_len, in_cap;
    int in_skip; /* dropping the rest of a line too long to send */
    int in_eof;  /* no more commands: end of input, /quit, or -t/-m */
};

/* readline's line handler takes no context, so the state is global. */
static struct node g;
static volatile sig_atomic_t got_signal, got_winch, got_stop;

static void on_line(char *line);

/* ---- text ---- */

struct sbuf {
    char *p;
    size_t len, cap;
};

static void die_oom(void)
{
    errx(EXIT_FAILURE, "out of memory");
}

static void sb_add(struct sbuf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            die_oom();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at s (0 if none); its code
 * point in *cp.  Overlong forms and surrogates are not well-formed. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned long *cp)
{
    size_t k;
    unsigned long v, min;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        k = 2, v = s[0] & 0x1fu, min = 0x80;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        k = 3, v = s[0] & 0x0fu, min = 0x800;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        k = 4, v = s[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return k;
}

/* Code points a terminal may act on rather than show: C1 controls (some
 * terminals take U+009B as CSI), line separators, and the bidirectional
 * overrides that make text read differently from what it is. */
static int harmless_cp(unsigned long cp)
{
    return !(cp < 0xa0 || cp == 0x2028 || cp == 0x2029 ||
             (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069));
}

/* Appends data so that it can go to a terminal as it is: printable ASCII
 * and (in a UTF-8 locale) printable UTF-8 pass, the rest is escaped, and
 * so is the backslash, so that what is shown can be read back exactly. */
static void sb_safe(struct sbuf *b, const void *data, size_t len)
{
    const unsigned char *s = data;
    for (size_t i = 0; i < len;) {
        unsigned char ch = s[i];
        unsigned long cp;
        size_t k;
        char esc[8];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            size_t run = 1;
            while (i + run < len && s[i + run] >= 0x20 && s[i + run] < 0x7f &&
                   s[i + run] != '\\')
                run++;
            sb_add(b, s + i, run);
            i += run;
            continue;
        }
        if (ch >= 0x80 && g.utf8 && (k = utf8_seq(s + i, len - i, &cp)) > 0 &&
            harmless_cp(cp)) {
            sb_add(b, s + i, k);
            i += k;
            continue;
        }
        switch (ch) {
        case '\\':
            sb_str(b, "\\\\");
            break;
        case '\n':
            sb_str(b, "\\n");
            break;
        case '\r':
            sb_str(b, "\\r");
            break;
        case '\t':
            sb_str(b, "\\t");
            break;
        default:
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            sb_str(b, esc);
        }
        i++;
    }
}

static void sb_safe_str(struct sbuf *b, const char *s)
{
    sb_safe(b, s, strlen(s));
}

/* ---- output ---- */

static void prompt_show(const char *prompt)
{
    snprintf(g.prompt, sizeof g.prompt, "%s", prompt);
    rl_callback_handler_install(g.prompt, on_line);
    g.prompting = 1;
}

/* Takes the prompt away for good: the line being typed is wiped from the
 * screen (unless readline already finished it), and the terminal is put
 * back as it was. */
static void prompt_drop(void)
{
    if (!g.prompting)
        return;
    if (!g.in_handler) {
        rl_save_prompt();
        rl_replace_line("", 0);
        rl_redisplay();
        rl_restore_prompt();
    }
    rl_callback_handler_remove();
    g.prompting = 0;
}

/* Prints one line.  While the user is typing, the prompt and the line in
 * progress are taken off the screen, the text goes where they were, and
 * they are drawn again below it, cursor and all: incoming messages never
 * garble what is being typed. */
static void emit(FILE *f, const char *line)
{
    if (g.prompting && !g.in_handler) {
        int point = rl_point;
        char *typed = rl_copy_text(0, rl_end);
        rl_save_prompt();
        rl_replace_line("", 0);
        rl_redisplay();
        fprintf(f, "%s\n", line);
        fflush(f);
        rl_restore_prompt();
        rl_replace_line(typed ? typed : "", 0);
        rl_point = point;
        rl_forced_update_display();
        free(typed);
    } else {
        fprintf(f, "%s\n", line);
        fflush(f);
    }
}

/* Diagnostics: on the terminal in the session itself, on stderr with the
 * program's name for scripts (whose stdout carries messages). */
static void report(const char *text)
{
    if (g.mode == MODE_TTY) {
        emit(stdout, text);
    } else {
        fflush(stdout); /* keep the order of the two streams on a tty */
        warnx("%s", text);
    }
}

static void report_sb(struct sbuf *b)
{
    report(b->p);
    free(b->p);
}

/* Reports before, text, after; text is shown safely, for it comes from
 * the user or (through the library's errors) from the server. */
static void say(const char *before, const char *text, const char *after)
{
    struct sbuf b = {0};
    sb_str(&b, before);
    sb_safe_str(&b, text);
    sb_str(&b, after);
    report_sb(&b);
}

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int valid_id(const char *s)
{
    return mc_valid_id(s);
}

/* What the server accepts, as it said at HELLO; its default otherwise. */
static size_t send_max(void)
{
    long long m = g.c ? mc_server_max_message(g.c) : 0;
    return m > 0 ? (size_t)m : SEND_MAX;
}

static int valid_port(const char *s)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    unsigned long v = strtoul(s, &end, 10);
    return *end == '\0' && v >= 1 && v <= 65535;
}

/* The exit status of a session that ended as it was meant to. */
static int normal_exit(void)
{
    if (g.mode == MODE_TTY)
        return EX_OK;
    return g.errors ? EXIT_FAILURE : EX_OK;
}

static void finish(int code)
{
    if (g.state == ST_DONE)
        return;
    g.exit_code = code;
    g.state = ST_DONE;
    prompt_drop();
}

/* The words for a refused HELLO. */
static const char *refusal(const char *code)
{
    if (strcmp(code, "id-taken") == 0)
        return "that id is taken";
    if (strcmp(code, "bad-id") == 0)
        return ID_RULE;
    if (strcmp(code, "server-full") == 0)
        return "the server is full";
    if (strcmp(code, "already-registered") == 0)
        return "already registered";
    if (strcmp(code, "auth-required") == 0)
        return "the server wants a user name and password first (--user)";
    return code;
}

static void wipe_password(void)
{
    explicit_bzero(g.password, sizeof g.password);
}

/* AUTH, waiting for the answer; on refusal says why and exits 77
 * (EX_NOPERM), on a lost connection 69. */
static void login_or_exit(struct mc_client *c)
{
    const char *code = NULL;
    int rc = mc_login(c, g.user, g.password, &code, REPLY_TIMEOUT_MS);
    if (rc == 0)
        return;
    prompt_drop();
    if (rc == 1 || (code && strcmp(code, "auth-failed") == 0))
        warnx("cannot log in as %s: %s", g.user,
              code && strcmp(code, "auth-failed") == 0
                  ? "wrong user name or password"
                  : code ? code : mc_error(c));
    else
        warnx("cannot log in as %s: %s", g.user, mc_error(c));
    int st = rc == 1 || (code && strcmp(code, "auth-failed") == 0)
                 ? EX_NOPERM
                 : EX_UNAVAILABLE;
    mc_free(c);
    wipe_password();
    exit(st);
}

/* Connects (and logs in), or says why not and exits 69 (EX_UNAVAILABLE;
 * a refused login: 77). */
static struct mc_client *connect_or_exit(void)
{
    struct mc_client *c = mc_new(RECV_MAX);
    if (c == NULL)
        die_oom();
    int rc = g.tls ? mc_connect_tls(c, g.host, g.port, g.tls,
                                    CONNECT_TIMEOUT_MS)
                   : mc_connect(c, g.host, g.port, CONNECT_TIMEOUT_MS);
    if (rc == 0) {
        /* Before the login, whose credentials the library then keeps
         * for logging in again after a reconnect. */
        if (g.session && mc_session_enable(c, NULL) < 0)
            die_oom();
        if (g.user)
            login_or_exit(c);
        return c;
    }
    if (strncmp(mc_error(c), "TLS", 3) == 0) { /* it names the server */
        prompt_drop();
        warnx("%s", mc_error(c));
        mc_free(c);
        wipe_password();
        exit(EX_UNAVAILABLE);
    }
    /* mc_error may already name the address (it does today); say it
     * once, in our own words. */
    char prefix[512];
    const char *why = mc_error(c);
    snprintf(prefix, sizeof prefix, "cannot connect to %s:%s: ", g.host,
             g.port);
    if (strncmp(why, prefix, strlen(prefix)) == 0)
        why += strlen(prefix);
    prompt_drop();
    warnx("cannot connect to %s%s%s:%s: %s", strchr(g.host, ':') ? "[" : "",
          g.host, strchr(g.host, ':') ? "]" : "", g.port, why);
    mc_free(c);
    wipe_password();
    exit(EX_UNAVAILABLE);
}

/* ---- events ---- */

static void on_registered(double idle)
{
    g.state = ST_READY;
    g.last_tx = now_s();
    if (idle > 0)
        g.ping_every = idle / 3; /* a late PING still has a second chance */
    else if (idle == 0)
        g.ping_every = 0;
    else
        g.ping_every = UNKNOWN_IDLE_PING_S;
    if (g.mode == MODE_TTY) {
        char hello[256], prompt[MC_MAX_ID + 3];
        snprintf(hello, sizeof hello,
                 "connected to %s:%s as %s; /help lists the commands", g.host,
                 g.port, g.id);
        emit(stdout, hello);
        snprintf(prompt, sizeof prompt, "%s> ", g.id);
        prompt_show(prompt);
    }
}

static void ask_id(void)
{
    g.state = ST_ASK_ID;
    prompt_show("id: ");
}

static void send_hello(void)
{
    if (mc_hello(g.c, g.id) < 0) {
        finish(EXIT_FAILURE);
        say("cannot register: ", mc_error(g.c), "");
        return;
    }
    g.state = ST_REGISTERING;
    g.last_tx = now_s();
}

/* A refused HELLO in the interactive session: say why, ask again. */
static void on_refused(const char *code)
{
    if (strcmp(code, "id-taken") == 0 || strcmp(code, "bad-id") == 0) {
        emit(stdout, refusal(code));
        ask_id();
        return;
    }
    finish(strcmp(code, "auth-required") == 0 ? EX_NOPERM : EXIT_FAILURE);
    say("cannot register: ", refusal(code), "");
}

static void on_msg(const struct mc_event *ev)
{
    struct sbuf b = {0};
    sb_safe_str(&b, ev->from);
    sb_str(&b, ev->broadcast ? " (all): " : ": ");
    sb_safe(&b, ev->data, ev->len);
    emit(stdout, b.p);
    free(b.p);
}

/* What a person reads for an ERR: plain words, then the detail (the id
 * in question) where it says more; any other code is shown as it is. */
static const struct err_words {
    const char *code;
    const char *words;
    int with_detail;
} err_words[] = {
    {"unknown-node", "no such node", 1},
    {"too-large", "the message is too large for the server", 0},
    {"not-registered", "not registered yet", 1},
    {"cluster-unavailable",
     "that node is on another server of the cluster, which cannot be "
     "reached now; try again later",
     1},
};

static void on_err(const struct mc_event *ev)
{
    struct sbuf b = {0};
    const char *code = ev->code, *detail = ev->detail;
    size_t i = 0, n = sizeof err_words / sizeof err_words[0];
    g.errors++;
    while (i < n && strcmp(code, err_words[i].code) != 0)
        i++;
    if (i < n) {
        sb_str(&b, err_words[i].words);
        if (!err_words[i].with_detail)
            detail = "";
    } else {
        sb_str(&b, "the server refused a command: ");
        sb_safe_str(&b, code);
    }
    if (*detail) {
        sb_str(&b, i < n ? ": " : " ");
        sb_safe_str(&b, detail);
    }
    report_sb(&b);
}

static void on_nodes(const struct mc_event *ev)
{
    struct sbuf b = {0};
    char head[64];
    snprintf(head, sizeof head, "nodes (%zu):", ev->nnodes);
    sb_str(&b, head);
    for (size_t i = 0; i < ev->nnodes; i++) {
        sb_str(&b, " ");
        sb_safe_str(&b, ev->nodes[i]);
    }
    emit(stdout, b.p);
    free(b.p);
}

static void on_bye(const struct mc_event *ev)
{
    const char *code = ev->code;
    if (g.state == ST_QUITTING) { /* whatever the reason, we were leaving */
        finish(normal_exit());
        return;
    }
    /* Idle at the id prompt: not worth a word, the next HELLO goes out
     * on a new connection. */
    if (g.mode == MODE_TTY && strcmp(code, "idle-timeout") == 0 &&
        (g.state == ST_ASK_ID || g.state == ST_REGISTERING)) {
        g.reconnect = 1;
        return;
    }
    struct sbuf b = {0};
    sb_str(&b, "disconnected: ");
    if (strcmp(code, "idle-timeout") == 0) {
        sb_str(&b, "idle for too long");
    } else if (strcmp(code, "kicked") == 0) {
        sb_str(&b, "kicked by the operator");
        if (*ev->detail) {
            sb_str(&b, " (");
            sb_safe_str(&b, ev->detail);
            sb_str(&b, ")");
        }
    } else if (strcmp(code, "shutdown") == 0) {
        sb_str(&b, "the server is shutting down");
    } else if (strcmp(code, "slow-consumer") == 0) {
        sb_str(&b, "we did not read our messages fast enough");
    } else if (strcmp(code, "replaced") == 0) {
        sb_str(&b, "another client took this id");
    } else if (strcmp(code, "protocol-error") == 0) {
        sb_str(&b, "protocol error");
    } else if (strcmp(code, "quit") == 0) {
        sb_str(&b, "the server ended the session");
    } else {
        sb_safe_str(&b, code);
        if (*ev->detail) {
            sb_str(&b, " ");
            sb_safe_str(&b, ev->detail);
        }
    }
    finish(EXIT_FAILURE);
    report_sb(&b);
}

static void on_closed(void)
{
    g.closed = 1;
    if (g.state == ST_QUITTING)
        finish(normal_exit());
    if (g.state == ST_DONE || g.reconnect)
        return;
    const char *why = mc_error(g.c);
    finish(EXIT_FAILURE);
    say("disconnected: ", *why ? why : "the connection was closed", "");
}

static void handle_event(const struct mc_event *ev)
{
    switch (ev->type) {
    case MC_EV_OK:
        if (g.state == ST_REGISTERING)
            on_registered(ev->idle);
        break;
    case MC_EV_MSG:
        if (g.mode != MODE_ONE) /* -t/-m sends; it is not there to listen */
            on_msg(ev);
        break;
    case MC_EV_ERR:
        if (g.state == ST_REGISTERING && g.mode == MODE_TTY)
            on_refused(ev->code);
        else
            on_err(ev);
        break;
    case MC_EV_PONG: /* keepalives and barriers: nothing to show */
    case MC_EV_AUTH: /* answered inside login() */
        break;
    case MC_EV_NODES:
        if (g.mode != MODE_ONE)
            on_nodes(ev);
        break;
    case MC_EV_BYE:
        on_bye(ev);
        break;
    case MC_EV_CLOSED:
        on_closed();
        break;
    case MC_EV_DISCONNECTED: /* the library reconnects by itself */
        g.lost_told = 0;
        say("connection lost (", ev->detail, "); reconnecting...");
        break;
    case MC_EV_LOST: {
        char n[32];
        snprintf(n, sizeof n, "%zu", ev->len);
        g.lost_told = 1;
        say("", n,
            ev->len == 1 ? " message was lost (the server could not keep it)"
                         : " messages were lost (the server could not keep "
                           "them)");
        break;
    }
    case MC_EV_RESUMED:
        say("reconnected", g.lost_told ? "" : ", nothing lost", "");
        g.lost_told = 0;
        break;
    }
}

/* Handles every event received so far; then, if the server dropped a
 * connection that had not registered yet, makes a new one. */
static void drain(void)
{
    struct mc_event ev;
    while (g.state != ST_DONE && !g.closed) {
        int rc = mc_next_event(g.c, &ev);
        if (rc == 0)
            break;
        if (rc < 0) {
            finish(EXIT_FAILURE);
            say("disconnected: ", mc_error(g.c), "");
            break;
        }
        handle_event(&ev);
    }
    if (g.closed && g.reconnect && g.state != ST_DONE) {
        enum state st = g.state;
        mc_free(g.c);
        g.c = connect_or_exit();
        g.closed = g.reconnect = 0;
        if (st == ST_REGISTERING)
            send_hello();
    }
}

/* A write failed: read what the server said last (a BYE says more than
 * "broken pipe"), then give up. */
static void lost(void)
{
    char why[256];
    snprintf(why, sizeof why, "%s", mc_error(g.c));
    while (mc_read(g.c) > 0)
        ;
    drain();
    if (g.state == ST_QUITTING) {
        finish(normal_exit());
    } else if (g.state != ST_DONE) {
        finish(EXIT_FAILURE);
        say("disconnected: ", why, "");
    }
}

/* ---- commands ---- */

static void start_quit(void)
{
    if (g.state == ST_QUITTING || g.state == ST_DONE)
        return;
    prompt_drop();
    if (mc_quit(g.c) < 0) { /* the connection is gone already */
        finish(normal_exit());
        return;
    }
    g.state = ST_QUITTING;
    g.quit_by = now_s() + BYE_WAIT_S;
}

/* A command that could not be sent: it counts as refused. */
static void complain(const char *before, const char *arg, const char *after)
{
    g.errors++;
    say(before, arg, after);
}

static void send_text(const char *to, const char *text)
{
    size_t len = strlen(text);
    if (len > send_max()) {
        char why[128];
        snprintf(why, sizeof why, "(%zu bytes; at most %zu)", len, send_max());
        complain("the message is too long ", why, "");
        return;
    }
    int rc = to ? mc_send(g.c, to, text, len) : mc_bcast(g.c, text, len);
    if (rc < 0) {
        complain("cannot send: ", mc_error(g.c), "");
        return;
    }
    g.last_tx = now_s();
}

static void show_help(void)
{
    static const char *const lines[] = {
        "/msg ID TEXT   send TEXT to node ID",
        "TEXT           send TEXT to every other node",
        "//TEXT         send /TEXT to every other node",
        "/who           list the nodes",
        "/help          show this",
        "/quit          leave (so does end of input, Ctrl-D)",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        emit(stdout, lines[i]);
}

/* One line of input, the same in a terminal and from a pipe. */
static void run_command(char *line)
{
    if (*line == '\0')
        return;
    if (line[0] != '/') {
        send_text(NULL, line);
        return;
    }
    if (line[1] == '/') {
        send_text(NULL, line + 1);
        return;
    }
    char *args = line + strcspn(line, " ");
    if (*args)
        *args++ = '\0';
    args += strspn(args, " ");

    if (strcmp(line, "/msg") == 0) {
        char *to = args, *text = to + strcspn(to, " ");
        if (*text)
            *text++ = '\0';
        text += strspn(text, " ");
        if (*to == '\0' || *text == '\0')
            complain("usage: /msg ID TEXT", "", "");
        else if (!valid_id(to))
            complain("not a node id: ", to, " (" ID_RULE ")");
        else
            send_text(to, text);
    } else if (strcmp(line, "/who") == 0) {
        if (mc_who(g.c) < 0)
            complain("cannot ask: ", mc_error(g.c), "");
        else
            g.last_tx = now_s();
    } else if (strcmp(line, "/quit") == 0) {
        if (g.mode == MODE_TTY)
            start_quit();
        else
            g.in_eof = 1; /* what was sent still has to be confirmed */
    } else if (strcmp(line, "/help") == 0) {
        show_help();
    } else {
        complain("unknown command: ", line, " (/help lists them)");
    }
}

/* At end of input, readline 8.2 and later move to a new line themselves
 * when they had turned bracketed paste on (not for TERM=dumb); older ones
 * leave the cursor after the prompt. */
static int readline_ended_line(void)
{
#if RL_READLINE_VERSION >= 0x0802
    const char *paste = rl_variable_value("enable-bracketed-paste");
    return paste && strcmp(paste, "on") == 0;
#else
    return 0;
#endif
}

/* readline's line handler: line is NULL at end of input (Ctrl-D). */
static void on_line(char *line)
{
    g.in_handler = 1;
    if (line == NULL) {
        if (!readline_ended_line())
            fputs("\n", stdout); /* the shell's prompt goes below ours */
        start_quit();
    } else if (g.state == ST_ASK_ID) {
        /* Spaces around it are a slip of the finger; inside, a mistake. */
        char *id = line + strspn(line, " \t");
        size_t n = strlen(id);
        while (n > 0 && (id[n - 1] == ' ' || id[n - 1] == '\t'))
            id[--n] = '\0';
        if (!valid_id(id)) {
            emit(stdout, ID_RULE);
        } else {
            snprintf(g.id, sizeof g.id, "%s", id);
            prompt_drop(); /* no typing until the server has answered */
            send_hello();
        }
    } else if (g.state == ST_READY) {
        if (*line)
            add_history(line);
        run_command(line);
    }
    g.in_handler = 0;
    free(line);
}

/* ---- input from a pipe or a file ---- */

static void read_commands(void)
{
    if (g.in_cap - g.in_len < 4096) {
        size_t cap = g.in_cap ? g.in_cap * 2 : 8192;
        char *p = realloc(g.in, cap);
        if (p == NULL)
            die_oom();
        g.in = p;
        g.in_cap = cap;
    }
    ssize_t n = read(STDIN_FILENO, g.in + g.in_len, g.in_cap - g.in_len - 1);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        complain("cannot read standard input: ", strerror(errno), "");
        g.in_eof = 1;
        return;
    }
    if (n == 0) {
        g.in_eof = 1;
        if (g.in_len) { /* a last line without its LF */
            g.in[g.in_len++] = '\n';
        }
    }
    g.in_len += (size_t)n;
    size_t off = 0;
    char *lf;
    if (g.in_skip) {
        lf = memchr(g.in, '\n', g.in_len);
        off = lf ? (size_t)(lf - g.in) + 1 : g.in_len;
        g.in_skip = lf == NULL;
    }
    while ((lf = memchr(g.in + off, '\n', g.in_len - off)) != NULL) {
        *lf = '\0';
        if (lf > g.in + off && lf[-1] == '\r')
            lf[-1] = '\0';
        char *line = g.in + off;
        off = (size_t)(lf - g.in) + 1;
        run_command(line);
        if (g.in_eof || g.state != ST_READY)
            break;
    }
    memmove(g.in, g.in + off, g.in_len - off);
    g.in_len -= off;
    /* A line that could never be sent is not kept in memory either. */
    if (!g.in_eof && g.in_len > SEND_MAX + 64) {
        char why[64];
        snprintf(why, sizeof why, "%zu", SEND_MAX);
        complain("a line is longer than ", why, " bytes; it was not sent");
        g.in_len = 0;
        g.in_skip = 1;
    }
}

/* All input has been run: wait until the server has handled every
 * command (the ERRs come before the PONG), then leave. */
static void finish_commands(void)
{
    int rc = mc_sync(g.c, REPLY_TIMEOUT_MS, NULL);
    drain(); /* what came before the PONG, ERRs included, in order */
    if (g.state != ST_READY)
        return;
    if (rc < 0) {
        finish(EXIT_FAILURE);
        say("no answer from the server: ", mc_error(g.c), "");
        return;
    }
    start_quit();
}

/* ---- the loop ---- */

static void on_signal(int sig)
{
    if (sig == SIGWINCH)
        got_winch = 1;
    else if (sig == SIGTSTP)
        got_stop = 1;
    else
        got_signal = sig;
}

static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: poll must return so that the loop sees the flag. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGTSTP, &sa, NULL);
}

/* Control-Z: the shell gets the terminal back as it gave it, and on fg
 * the prompt and the line being typed come back. */
static void suspend(void)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    if (g.prompting)
        rl_deprep_terminal();
    sigaction(SIGTSTP, &dfl, NULL);
    raise(SIGTSTP); /* stopped here until SIGCONT */
    catch_signals();
    if (g.prompting) {
        rl_prep_terminal(0);
        rl_forced_update_display();
    }
}

static void keepalive(double now)
{
    if (g.state != ST_READY || g.ping_every <= 0 ||
        now - g.last_tx < g.ping_every)
        return;
    if (mc_ping(g.c, "keepalive") == 0)
        g.last_tx = now;
}

/* Milliseconds poll may sleep: until the next keepalive or the end of
 * the wait for BYE. */
static int poll_timeout(double now)
{
    double t;
    if (g.state == ST_READY && g.ping_every > 0)
        t = g.last_tx + g.ping_every - now;
    else if (g.state == ST_QUITTING)
        t = g.quit_by - now;
    else
        return -1;
    return t <= 0 ? 0 : (int)(t * 1000) + 1;
}

static int watch_stdin(void)
{
    if (g.mode == MODE_TTY)
        return g.prompting;
    /* While output waits, read no more: memory stays bounded however
     * much input there is. */
    return g.mode == MODE_PIPE && !g.in_eof && g.state == ST_READY &&
           !mc_want_write(g.c);
}

static int run_loop(void)
{
    while (g.state != ST_DONE) {
        drain();
        if (g.state == ST_DONE)
            break;
        if (got_signal) {
            got_signal = 0;
            if (g.state == ST_QUITTING)
                finish(EX_OK);
            else
                start_quit();
            continue;
        }
        if (got_stop) {
            got_stop = 0;
            suspend();
        }
        if (got_winch) {
            got_winch = 0;
            if (g.prompting)
                rl_resize_terminal();
        }
        if (g.mode != MODE_TTY && g.in_eof && g.state == ST_READY) {
            finish_commands();
            continue;
        }
        double now = now_s();
        if (g.state == ST_QUITTING && now >= g.quit_by) {
            finish(normal_exit());
            break;
        }
        keepalive(now);
        int wait = poll_timeout(now);
        if (g.session) { /* ACKs by time, reconnects */
            int t = mc_session_tick(g.c);
            if (t >= 0 && (wait < 0 || t < wait))
                wait = t;
        }
        if (mc_want_write(g.c) && mc_flush(g.c) < 0) {
            if (!mc_session_active(g.c))
                lost();
            continue; /* (in a session: MC_EV_DISCONNECTED next) */
        }

        struct pollfd p[2] = {
            {.fd = mc_fd(g.c),
             .events = POLLIN | (mc_want_write(g.c) ? POLLOUT : 0)},
            {.fd = watch_stdin() ? STDIN_FILENO : -1, .events = POLLIN},
        };
        int r = poll(p, 2, wait);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            finish(EXIT_FAILURE);
            say("poll: ", strerror(errno), "");
            break;
        }
        if ((p[0].revents & POLLOUT) && mc_flush(g.c) < 0) {
            if (!mc_session_active(g.c))
                lost();
            continue;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            mc_read(g.c); /* an end comes back as MC_EV_CLOSED */
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (g.mode == MODE_TTY)
                rl_callback_read_char();
            else
                read_commands();
        }
    }
    return g.exit_code;
}

/* ---- setting up ---- */

/* Registration for scripts: one try, no questions. */
static int register_now(void)
{
    const char *code = NULL;
    g.state = ST_REGISTERING;
    int rc = mc_register(g.c, g.id, &code, REPLY_TIMEOUT_MS);
    if (rc == 0) {
        on_registered(mc_server_idle(g.c));
        return 0;
    }
    char before[MC_MAX_ID + 32], why[256];
    snprintf(before, sizeof before, "cannot register as %s: ", g.id);
    if (rc == 1) {
        say(before, refusal(code), "");
        return strcmp(code, "auth-required") == 0 ? -2 : -1;
    }
    snprintf(why, sizeof why, "%s", mc_error(g.c));
    drain(); /* a BYE (shutdown, ...) explains it better */
    if (g.state != ST_DONE)
        say(before, why, "");
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: msgnode [-H host|tls://host[:port]] [-p port] [-i id]\n"
            "               [-t id -m text] [--tls] [--ca file] [--cert file]\n"
            "               [--key file] [--no-verify] [--user name]\n"
            "               [--password-file file] [--session]\n"
            "       msgnode -h | --help | -V | --version\n"
            "The password comes from --password-file, $MSGNODE_PASSWORD or the\n"
            "terminal.  In a session, /help lists the commands.\n");
}

/* The first line of path, without its newline, into g.password; 0, or
 * -1 after saying why. */
static int read_password_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        warn("cannot read the password file %s", path);
        return -1;
    }
    setvbuf(f, NULL, _IONBF, 0); /* no stdio copy of the password */
    int ok = fgets(g.password, sizeof g.password, f) != NULL;
    fclose(f);
    g.password[strcspn(g.password, "\r\n")] = '\0';
    if (!ok || g.password[0] == '\0') {
        warnx("the password file %s is empty", path);
        return -1;
    }
    return 0;
}

/* Asks at the terminal with echo off.  0, or -1 after saying why. */
static int ask_password(void)
{
    struct termios old, quiet;
    FILE *tty = fopen("/dev/tty", "r+e");
    if (tty == NULL) {
        warn("cannot open the terminal to ask for the password");
        return -1;
    }
    setvbuf(tty, NULL, _IONBF, 0);
    fprintf(tty, "password for %s: ", g.user);
    int fd = fileno(tty), restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    int ok = fgets(g.password, sizeof g.password, tty) != NULL;
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
    fclose(tty);
    g.password[strcspn(g.password, "\r\n")] = '\0';
    if (!ok || g.password[0] == '\0') {
        warnx("no password given");
        return -1;
    }
    return 0;
}

/* Splits tls://HOST[:PORT] ([V6] in brackets) into g.host and g.port. */
static int parse_tls_url(char *url)
{
    char *h = url + 6, *colon;
    if (*h == '[') {
        char *close = strchr(h, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return -1;
        *close = '\0';
        if (close[1] == ':')
            g.port = close + 2;
        g.host = h + 1;
    } else {
        if ((colon = strrchr(h, ':')) != NULL) {
            *colon = '\0';
            g.port = colon + 1;
        }
        g.host = h;
    }
    return *g.host ? 0 : -1;
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

enum {
    OPT_TLS = 256,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_NO_VERIFY,
    OPT_USER,
    OPT_SESSION,
    OPT_PASSWORD_FILE,
};

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarnx(fmt, ap);
    va_end(ap);
    fputs("try 'msgnode --help'\n", stderr);
    return EX_USAGE;
}

int main(int argc, char **argv)
{
    const char *id = NULL, *to = NULL, *text = NULL, *pwfile = NULL;
    struct mc_tls_options topt = {0};
    int opt, rc, use_tls = 0, tls_opts = 0;

    setlocale(LC_CTYPE, ""); /* readline edits multibyte text */
    g.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    g.host = "127.0.0.1";
    g.port = "2004";
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"id", required_argument, NULL, 'i'},
        {"to", required_argument, NULL, 't'},
        {"message", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"tls", no_argument, NULL, OPT_TLS},
        {"ca", required_argument, NULL, OPT_CA},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
        {"user", required_argument, NULL, OPT_USER},
        {"session", no_argument, NULL, OPT_SESSION},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* our own words, under our own name */
    while ((opt = getopt_long(argc, argv, ":H:p:i:t:m:hV", longopts, NULL)) !=
           -1) {
        switch (opt) {
        case 'H':
            g.host = optarg;
            if (strncmp(optarg, "tls://", 6) == 0) {
                use_tls = 1;
                if (parse_tls_url(optarg) < 0)
                    return usage_error("-H %s is not tls://HOST[:PORT]",
                                       optarg);
            }
            break;
        case OPT_TLS:
            use_tls = 1;
            break;
        case OPT_CA:
            topt.ca_file = optarg;
            tls_opts = 1;
            break;
        case OPT_CERT:
            topt.cert_file = optarg;
            tls_opts = 1;
            break;
        case OPT_KEY:
            topt.key_file = optarg;
            tls_opts = 1;
            break;
        case OPT_NO_VERIFY:
            topt.no_verify = 1;
            tls_opts = 1;
            break;
        case OPT_USER:
            g.user = optarg;
            break;
        case OPT_SESSION:
            g.session = 1;
            break;
        case OPT_PASSWORD_FILE:
            pwfile = optarg;
            break;
        case 'p':
            g.port = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 'm':
            text = optarg;
            break;
        case 'h':
            usage(stdout);
            return EX_OK;
        case 'V':
            printf("msgnode %s\n", PACKAGE_VERSION);
            return EX_OK;
        case ':':
            return usage_error("option '%s' needs an argument",
                               argv[optind - 1]);
        default:
            if (optopt)
                return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument: %s", argv[optind]);
    if (*g.host == '\0')
        return usage_error("-H needs a host name or address");
    if (!valid_port(g.port))
        return usage_error("-p takes a port number, 1 to 65535, not %s",
                           g.port);
    if (id && !valid_id(id))
        return usage_error("-i %s: " ID_RULE, id);
    if (to && !valid_id(to))
        return usage_error("-t %s: " ID_RULE, to);
    if (to && text == NULL)
        return usage_error("-t needs -m TEXT");
    if (tls_opts && !use_tls)
        return usage_error("--ca, --cert, --key and --no-verify need --tls "
                           "or -H tls://HOST");
    if (topt.key_file && topt.cert_file == NULL)
        return usage_error("--key needs --cert");
    if (g.user && !valid_id(g.user))
        return usage_error("--user %s: a user name is 1-64 of A-Z a-z 0-9 "
                           ". _ -",
                           g.user);
    if (pwfile && g.user == NULL)
        return usage_error("--password-file needs --user");
    if (use_tls && !mc_tls_available())
        return usage_error("--tls: TLS not built in (msgnode was built "
                           "without OpenSSL)");
    if (g.user) {
        const char *env = getenv("MSGNODE_PASSWORD");
        if (pwfile) {
            if (read_password_file(pwfile) < 0)
                return EX_NOINPUT;
        } else if (env && *env) {
            if (strlen(env) >= sizeof g.password)
                return usage_error("MSGNODE_PASSWORD is too long");
            snprintf(g.password, sizeof g.password, "%s", env);
        } else if (isatty(STDIN_FILENO)) {
            if (ask_password() < 0)
                return EX_NOINPUT;
        } else {
            return usage_error("--user needs a password: --password-file, "
                               "MSGNODE_PASSWORD, or a terminal");
        }
    }
    if (use_tls) {
        char err[512];
        if ((g.tls = mc_tls_new(&topt, err, sizeof err)) == NULL) {
            warnx("%s", err);
            wipe_password();
            return EX_NOINPUT;
        }
    }

    signal(SIGPIPE, SIG_IGN); /* a closed stdout or socket is an error */
    if (text)
        g.mode = MODE_ONE;
    else if (isatty(STDIN_FILENO))
        g.mode = MODE_TTY;
    else
        g.mode = MODE_PIPE;
    if (g.mode == MODE_PIPE)
        setvbuf(stdout, NULL, _IOLBF, 0); /* messages as they come */
    if (id)
        snprintf(g.id, sizeof g.id, "%s", id);
    else
        snprintf(g.id, sizeof g.id, "msgnode-%ld", (long)getpid());

    g.c = connect_or_exit();
    if (g.mode == MODE_TTY) {
        rl_readline_name = "msgnode";
        rl_catch_signals = 0; /* ours end the session cleanly */
        rl_catch_sigwinch = 0;
        rl_bind_key('\t', rl_insert); /* no file names to complete here */
        catch_signals();
        if (id)
            send_hello();
        else
            ask_id();
    } else {
        if ((rc = register_now()) < 0) {
            mc_free(g.c);
            wipe_password();
            return rc == -2 ? EX_NOPERM : EXIT_FAILURE;
        }
        if (g.mode == MODE_ONE) {
            send_text(to, text);
            g.in_eof = 1;
        }
    }
    rc = run_loop();
    prompt_drop();
    mc_free(g.c);
    mc_tls_free(g.tls);
    wipe_password();
    free(g.in);
    return rc;
}
