/*
 * loadgen: the benchmark's load generator, one epoll loop in C.
 *
 * Python cannot read 10k sockets fast enough to measure a Python server, so this small client
 * does it: it opens N connections (WebSocket with an HTTP handshake and extra headers such as
 * Authorization, Engine.IO over WebSocket for Flask-SocketIO, Server-Sent Events, or the raw
 * baseline), counts the frames that carry a sequence number, checks that every connection
 * sees every sequence number exactly once and in order, and timestamps arrivals with
 * CLOCK_MONOTONIC (the clock of Python's time.monotonic_ns(), so the driver's trigger time
 * and these arrival times compare directly).
 *
 * It is driven by one-line commands on stdin and answers with one JSON line on stdout:
 *
 *   connect N C T     open connections until N are up, at most C handshakes in flight, within T ms
 *   arm K T           every open connection now expects K more data frames; answers "armed",
 *                     then, when all have them (or after T ms), a result line; the time at which
 *                     each connection got its K-th frame is written to the --dump file
 *   storm C T         drop every connection (RST) and reconnect it with ?last_event_id=<last id
 *                     it saw>, at most C handshakes in flight; done when every one got Recovery
 *   verify S T        wait until every connection has seen sequence number S; report losses
 *   setid I S         set every connection's last event id to I and last sequence number to S
 *                     (the next storm resumes from there: the replay benchmark)
 *   send TEXT         every open WebSocket sends TEXT (under 126 bytes) as one text frame; answers
 *                     how many sent and the frames without a sequence number seen so far
 *   close             close everything (RST: no TIME_WAIT)
 *   quit
 *
 * Build: gcc -O2 -o loadgen loadgen.c  (bench/run.py does it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { M_WS, M_SIO, M_SSE, M_RAW };
enum { S_FREE, S_CONNECTING, S_HANDSHAKE, S_SIO_OPEN, S_SIO_CONNECT, S_OPEN, S_DEAD };
enum { OP_NONE, OP_CONNECT, OP_ARM, OP_STORM, OP_VERIFY };

typedef struct {
    int fd;
    int state;
    int resume;          /* reconnecting with last_event_id: done when Recovery arrives */
    int recovered;
    int tries;
    char *buf;
    size_t len, cap;
    int64_t last_seq;    /* highest sequence number seen, -1 before the first */
    int64_t last_id;     /* last durable event id seen (IT Cook frames), -1 before the first */
    int64_t got;         /* data frames in the current window */
    int64_t done_ns;     /* when the window's K-th frame arrived */
    int64_t replayed;
} conn_t;

static int mode = M_WS;
static const char *host = "127.0.0.1";
static int port = 0;
static const char *path = "/";
static char headers[8192] = "";
static const char *seq_key = "\"seq\":";
static const char *dump_path = NULL;
static int nsources = 4;

static conn_t *conns;
static int maxconns = 20000;
static int nconns = 0;          /* slots in use */
static int nopen = 0;           /* connections in S_OPEN */
static int epfd;

/* counters */
static int64_t frames_total = 0, gaps = 0, dups = 0, other_frames = 0;
static int64_t eofs = 0, server_closes = 0, failures = 0, retries = 0, handshake_errors = 0;
/* Resumes the server answered with recovered:false: it could not replay what was missed. */
static int64_t unrecovered = 0;
static int last_close_code = 0;
static char last_error[256] = "";

/* the pending operation */
static int op = OP_NONE;
static int64_t op_deadline = 0, op_start = 0;
static int op_target = 0, op_inflight_max = 0, op_inflight = 0, op_started = 0;
static int64_t want = 0, complete = 0;
static int64_t verify_seq = 0;
static int64_t w_frames0, w_gaps0, w_dups0, w_first_ns;
static struct rusage ru0;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t cpu_ns(const struct rusage *r) {
    return ((int64_t)r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1000000000LL +
           ((int64_t)r->ru_utime.tv_usec + r->ru_stime.tv_usec) * 1000LL;
}

static void reply(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    for (char *p = last_error; *p; p++) /* it goes into a JSON string */
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
}

/* ---------------------------------------------------------------------------------- sockets */

static void hard_close(conn_t *c) {
    if (c->state == S_OPEN) nopen--;
    if (c->fd >= 0) {
        struct linger lg = {1, 0}; /* RST: no TIME_WAIT piling up across scenarios */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->len = 0;
}

static int start_connect(conn_t *c, int index) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        set_error("socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Spread over several loopback source addresses; the port is chosen at connect time. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(index % nsources));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
        set_error("bind: %s", strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        set_error("connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->state = S_CONNECTING;
    c->len = 0;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)index};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int send_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue; /* tiny writes: spin */
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_handshake(conn_t *c) {
    char req[12288];
    char target[4096];
    if (c->resume && c->last_id >= 0)
        snprintf(target, sizeof target, "%s%slast_event_id=%lld", path, strchr(path, '?') ? "&" : "?",
                 (long long)c->last_id);
    else
        snprintf(target, sizeof target, "%s", path);
    int n;
    if (mode == M_SSE)
        n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n%s\r\n",
                     target, host, port, headers);
    else
        n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     target, host, port, headers);
    return send_all(c->fd, req, (size_t)n);
}

/* A masked client text frame (RFC 6455 requires clients to mask). */
static int send_text(conn_t *c, const char *text) {
    unsigned char frame[256];
    size_t n = strlen(text);
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame[0] = 0x81;
    frame[1] = (unsigned char)(0x80 | n);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < n; i++) frame[6 + i] = (unsigned char)text[i] ^ mask[i % 4];
    return send_all(c->fd, (const char *)frame, n + 6);
}

/* --------------------------------------------------------------------------------- frames */

static int64_t find_int(const char *p, size_t n, const char *key) {
    const char *hit = memmem(p, n, key, strlen(key));
    if (!hit) return -1;
    hit += strlen(key);
    while (hit < p + n && *hit == ' ') hit++;
    int64_t v = 0;
    int digits = 0;
    while (hit < p + n && *hit >= '0' && *hit <= '9') {
        v = v * 10 + (*hit - '0');
        hit++;
        digits++;
    }
    return digits ? v : -1;
}

static void became_open(conn_t *c);

static void on_data(conn_t *c, int64_t seq, int64_t now) {
    frames_total++;
    if (c->last_seq >= 0) {
        if (seq <= c->last_seq) {
            dups++;
            return;
        }
        if (seq > c->last_seq + 1) gaps += seq - c->last_seq - 1;
    }
    c->last_seq = seq;
    if (c->resume && !c->recovered) c->replayed++;
    c->got++;
    if (w_first_ns == 0) w_first_ns = now;
    if (op == OP_ARM && c->got == want) {
        c->done_ns = now;
        complete++;
    }
    if (op == OP_VERIFY && seq == verify_seq) complete++;
}

/* One JSON event object (WebSocket text frame or SSE data). */
static void on_json(conn_t *c, const char *p, size_t n, int64_t now) {
    int64_t seq = find_int(p, n, seq_key);
    size_t head = n < 64 ? n : 64;
    int64_t id = find_int(p, head, ",\"id\":");
    if (id >= 0) c->last_id = id;
    if (seq >= 0) {
        on_data(c, seq, now);
        return;
    }
    other_frames++;
    if (n > 20 && memcmp(p, "{\"type\":\"Recovery\"", 18) == 0) {
        if (memmem(p, n, "\"recovered\":true", 16)) {
            c->recovered = 1;
            if (op == OP_STORM && c->resume) complete++;
        } else {
            set_error("Recovery without recovered:true: %.*s", (int)(n < 200 ? n : 200), p);
            failures++;
            unrecovered++;
        }
    }
}

static void on_text(conn_t *c, const char *p, size_t n, int64_t now) {
    if (mode == M_SIO) {
        if (n >= 2 && p[0] == '4' && p[1] == '2') {
            on_json(c, p + 2, n - 2, now);
        } else if (n >= 2 && p[0] == '4' && p[1] == '0') {
            if (c->state == S_SIO_CONNECT) became_open(c);
        } else if (n >= 1 && p[0] == '0') {
            if (c->state == S_SIO_OPEN) {
                c->state = S_SIO_CONNECT;
                send_text(c, "40");
            }
        } else if (n == 1 && p[0] == '2') {
            send_text(c, "3"); /* Engine.IO ping: answer pong */
        } else {
            other_frames++;
        }
        return;
    }
    on_json(c, p, n, now);
}

static void dead(conn_t *c) {
    hard_close(c);
    c->state = S_DEAD;
}

/* Parse whatever complete frames / messages the buffer holds; -1 if the connection died. */
static int parse(conn_t *c, int64_t now) {
    size_t off = 0;
    if (mode == M_SSE) {
        for (;;) {
            char *end = memmem(c->buf + off, c->len - off, "\n\n", 2);
            if (!end) break;
            char *msg = c->buf + off;
            size_t mlen = (size_t)(end - msg);
            char *data = memmem(msg, mlen, "data: ", 6);
            if (data) {
                data += 6;
                char *eol = memchr(data, '\n', (size_t)(end - data));
                on_json(c, data, (size_t)((eol ? eol : end) - data), now);
            }
            off += mlen + 2;
        }
    } else {
        for (;;) {
            size_t avail = c->len - off;
            if (avail < 2) break;
            unsigned char *b = (unsigned char *)c->buf + off;
            int opcode = b[0] & 0x0f;
            uint64_t plen = b[1] & 0x7f;
            size_t hdr = 2;
            if (plen == 126) {
                if (avail < 4) break;
                plen = ((uint64_t)b[2] << 8) | b[3];
                hdr = 4;
            } else if (plen == 127) {
                if (avail < 10) break;
                plen = 0;
                for (int i = 0; i < 8; i++) plen = (plen << 8) | b[2 + i];
                hdr = 10;
            }
            if (b[1] & 0x80) hdr += 4; /* a server must not mask; tolerate it */
            if (avail < hdr + plen) {
                if (hdr + plen > c->cap) {
                    c->cap = hdr + plen + 1024;
                    char *nb = malloc(c->cap);
                    memcpy(nb, c->buf + off, avail);
                    free(c->buf);
                    c->buf = nb;
                    c->len = avail;
                    return 0;
                }
                break;
            }
            const char *payload = (const char *)b + hdr;
            if (opcode == 1 || opcode == 0) {
                on_text(c, payload, plen, now);
            } else if (opcode == 8) {
                server_closes++;
                last_close_code = plen >= 2 ? ((unsigned char)payload[0] << 8) | (unsigned char)payload[1] : 0;
                set_error("server closed a connection with code %d", last_close_code);
                dead(c);
                return -1;
            } else if (opcode == 9) {
                other_frames++; /* ping: IT Cook does not send them; ignore */
            }
            off += hdr + plen;
        }
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    return 0;
}

static void became_open(conn_t *c) {
    c->state = S_OPEN;
    nopen++;
    if (op == OP_CONNECT || op == OP_STORM) op_inflight--;
    if (op == OP_CONNECT) complete++;
}

/* The HTTP response head of a handshake; then frames may follow in the same read. */
static int parse_handshake(conn_t *c, int64_t now) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return 0;
    int expect = mode == M_SSE ? 200 : 101;
    int status = 0;
    if (c->len > 12) status = atoi(c->buf + 9);
    if (status != expect) {
        handshake_errors++;
        char *eol = memmem(c->buf, c->len, "\r\n", 2); /* the status line is enough */
        set_error("handshake answered %.*s", (int)((eol ? eol : end) - c->buf), c->buf);
        return -1;
    }
    size_t head = (size_t)(end - c->buf) + 4;
    memmove(c->buf, c->buf + head, c->len - head);
    c->len -= head;
    if (mode == M_SIO)
        c->state = S_SIO_OPEN;
    else
        became_open(c);
    return parse(c, now);
}

static void retry_or_fail(conn_t *c, int index) {
    int was_pending = c->state != S_OPEN && c->state != S_DEAD;
    hard_close(c);
    c->state = S_DEAD;
    if (!was_pending) return;
    if ((op == OP_CONNECT || op == OP_STORM) && c->tries < 5) {
        c->tries++;
        retries++;
        if (start_connect(c, index) == 0) return;
    }
    failures++;
    if (op == OP_CONNECT || op == OP_STORM) op_inflight--;
}

static void on_event(int index, uint32_t events) {
    conn_t *c = &conns[index];
    if (c->fd < 0) return;
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            set_error("connect: %s", strerror(err ? err : ECONNRESET));
            retry_or_fail(c, index);
            return;
        }
        if (send_handshake(c) < 0) {
            set_error("handshake send: %s", strerror(errno));
            retry_or_fail(c, index);
            return;
        }
        c->state = S_HANDSHAKE;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    for (;;) {
        if (c->cap - c->len < 1024) {
            c->cap *= 2;
            c->buf = realloc(c->buf, c->cap);
        }
        size_t space = c->cap - c->len;
        ssize_t n = recv(c->fd, c->buf + c->len, space, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            set_error("recv: %s", strerror(errno));
            eofs++;
            retry_or_fail(c, index);
            return;
        }
        if (n == 0) {
            set_error("the server closed a connection (EOF) in state %d", c->state);
            eofs++;
            retry_or_fail(c, index);
            return;
        }
        c->len += (size_t)n;
        int64_t now = now_ns();
        int rc;
        if (c->state == S_HANDSHAKE)
            rc = parse_handshake(c, now);
        else
            rc = parse(c, now);
        if (rc < 0) {
            if (c->fd >= 0) retry_or_fail(c, index);
            return;
        }
        if (c->fd < 0) return;
        if ((size_t)n < space) return; /* drained (level-triggered: epoll tells us if not) */
    }
}

/* ------------------------------------------------------------------------------- commands */

static int count_open(void) { return nopen; }

static void feed_connects(void) {
    /* Start handshakes while under the in-flight cap (connect and storm). */
    while (op_inflight < op_inflight_max && op_started < op_target) {
        conn_t *c;
        int index;
        if (op == OP_CONNECT) {
            index = nconns++;
            c = &conns[index];
        } else {
            index = op_started;
            c = &conns[index];
        }
        op_started++;
        c->tries = 0;
        if (start_connect(c, index) < 0) {
            failures++;
            continue;
        }
        op_inflight++;
    }
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void finish_op(int timed_out) {
    int64_t t = now_ns();
    if (timed_out && (op == OP_CONNECT || op == OP_STORM)) {
        /* Give up on handshakes still pending: they must not linger in the server's queue. */
        for (int i = 0; i < nconns; i++) {
            conn_t *c = &conns[i];
            if (c->state != S_OPEN && c->state != S_DEAD && c->state != S_FREE) {
                hard_close(c);
                c->state = S_DEAD;
                failures++;
            }
        }
        op_inflight = 0;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t cpu = cpu_ns(&ru) - cpu_ns(&ru0);
    int open = count_open();
    if (op == OP_CONNECT) {
        reply("{\"op\":\"connect\",\"open\":%d,\"failures\":%lld,\"retries\":%lld,\"timed_out\":%d,"
              "\"elapsed_s\":%.3f,\"cpu_s\":%.3f,\"error\":\"%s\"}",
              open, (long long)failures, (long long)retries, timed_out, (t - op_start) / 1e9, cpu / 1e9,
              last_error);
    } else if (op == OP_ARM) {
        int64_t *done = malloc(sizeof(int64_t) * (size_t)(nconns + 1));
        int nd = 0;
        int64_t missing = 0, last = 0;
        for (int i = 0; i < nconns; i++) {
            conn_t *c = &conns[i];
            if (c->state != S_OPEN && c->state != S_DEAD) continue;
            if (c->got >= want) {
                done[nd++] = c->done_ns;
                if (c->done_ns > last) last = c->done_ns;
            } else {
                missing += want - c->got;
            }
        }
        if (dump_path) {
            FILE *f = fopen(dump_path, "wb");
            if (f) {
                fwrite(done, sizeof(int64_t), (size_t)nd, f);
                fclose(f);
            }
        }
        qsort(done, (size_t)nd, sizeof(int64_t), cmp64);
        reply("{\"op\":\"arm\",\"open\":%d,\"complete\":%d,\"missing\":%lld,\"frames\":%lld,\"gaps\":%lld,"
              "\"dups\":%lld,\"first_ns\":%lld,\"last_ns\":%lld,\"cpu_s\":%.6f,\"timed_out\":%d,"
              "\"dead\":%d,\"error\":\"%s\"}",
              open, nd, (long long)missing, (long long)(frames_total - w_frames0),
              (long long)(gaps - w_gaps0), (long long)(dups - w_dups0), (long long)w_first_ns,
              (long long)last, cpu / 1e9, timed_out, nconns - open, last_error);
        free(done);
    } else if (op == OP_STORM) {
        int64_t replayed = 0;
        int resumed = 0;
        for (int i = 0; i < nconns; i++) {
            replayed += conns[i].replayed;
            resumed += conns[i].recovered;
        }
        reply("{\"op\":\"storm\",\"open\":%d,\"resumed\":%d,\"replayed\":%lld,\"failures\":%lld,"
              "\"unrecovered\":%lld,"
              "\"retries\":%lld,\"elapsed_s\":%.6f,\"cpu_s\":%.3f,\"frames\":%lld,\"gaps\":%lld,"
              "\"dups\":%lld,\"timed_out\":%d,\"error\":\"%s\"}",
              open, resumed, (long long)replayed, (long long)failures, (long long)unrecovered,
              (long long)retries,
              (t - op_start) / 1e9, cpu / 1e9, (long long)(frames_total - w_frames0),
              (long long)(gaps - w_gaps0), (long long)(dups - w_dups0), timed_out, last_error);
    } else if (op == OP_VERIFY) {
        int behind = 0;
        for (int i = 0; i < nconns; i++)
            if (conns[i].state != S_FREE && conns[i].last_seq != verify_seq) behind++;
        reply("{\"op\":\"verify\",\"open\":%d,\"behind\":%d,\"gaps\":%lld,\"dups\":%lld,\"frames\":%lld,"
              "\"eofs\":%lld,\"server_closes\":%lld,\"timed_out\":%d,\"error\":\"%s\"}",
              open, behind, (long long)gaps, (long long)dups, (long long)frames_total, (long long)eofs,
              (long long)server_closes, timed_out, last_error);
    }
    op = OP_NONE;
}

static void check_done(void) {
    if (op == OP_NONE) return;
    int timed_out = now_ns() > op_deadline;
    int done = 0;
    if (op == OP_CONNECT)
        done = op_started >= op_target && op_inflight <= 0;
    else if (op == OP_ARM)
        done = complete >= count_open();
    else if (op == OP_STORM)
        done = op_started >= op_target && op_inflight <= 0 && complete + failures >= op_target;
    else if (op == OP_VERIFY)
        done = complete >= count_open();
    if (done || timed_out) finish_op(!done);
}

static void begin(int kind, int64_t timeout_ms) {
    op = kind;
    op_start = now_ns();
    op_deadline = op_start + timeout_ms * 1000000LL;
    complete = 0;
    set_error("%s", "");
    getrusage(RUSAGE_SELF, &ru0);
    w_frames0 = frames_total;
    w_gaps0 = gaps;
    w_dups0 = dups;
    w_first_ns = 0;
}

static void command(char *line) {
    long long a = 0, b = 0, t = 0;
    char name[32] = "";
    sscanf(line, "%31s %lld %lld %lld", name, &a, &b, &t);
    if (!strcmp(name, "connect")) {
        if (a > maxconns) a = maxconns;
        begin(OP_CONNECT, t);
        failures = retries = 0;
        op_target = (int)(a - nconns);
        op_started = 0;
        op_inflight = 0;
        op_inflight_max = (int)b;
        feed_connects();
    } else if (!strcmp(name, "arm")) {
        begin(OP_ARM, b);
        want = a;
        for (int i = 0; i < nconns; i++) conns[i].got = 0, conns[i].done_ns = 0;
        reply("armed");
    } else if (!strcmp(name, "storm")) {
        begin(OP_STORM, b);
        failures = retries = unrecovered = 0;
        for (int i = 0; i < nconns; i++) {
            conn_t *c = &conns[i];
            hard_close(c);
            c->state = S_DEAD;
            c->resume = 1;
            c->recovered = 0;
            c->replayed = 0;
        }
        op_target = nconns;
        op_started = 0;
        op_inflight = 0;
        op_inflight_max = (int)a;
        feed_connects();
    } else if (!strcmp(name, "verify")) {
        begin(OP_VERIFY, b);
        verify_seq = a;
        for (int i = 0; i < nconns; i++)
            if (conns[i].state == S_OPEN && conns[i].last_seq == verify_seq) complete++;
    } else if (!strcmp(name, "setid")) {
        for (int i = 0; i < nconns; i++) conns[i].last_id = a, conns[i].last_seq = b;
        reply("{\"op\":\"setid\"}");
    } else if (!strcmp(name, "send")) {
        const char *text = line + 5;
        int sent = 0;
        if (strlen(line) > 5 && strlen(text) < 126 && mode == M_WS)
            for (int i = 0; i < nconns; i++)
                if (conns[i].state == S_OPEN && send_text(&conns[i], text) == 0) sent++;
        reply("{\"op\":\"send\",\"sent\":%d,\"other_frames\":%lld}", sent, (long long)other_frames);
    } else if (!strcmp(name, "close")) {
        for (int i = 0; i < nconns; i++) {
            hard_close(&conns[i]);
            conns[i].state = S_FREE;
            conns[i].last_seq = conns[i].last_id = -1;
            conns[i].resume = conns[i].recovered = 0;
        }
        nconns = 0;
        reply("{\"op\":\"close\"}");
    } else if (!strcmp(name, "quit")) {
        exit(0);
    } else {
        reply("{\"error\":\"unknown command %s\"}", name);
    }
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(arg, "--host")) host = val, i++;
        else if (!strcmp(arg, "--port")) port = atoi(val), i++;
        else if (!strcmp(arg, "--path")) path = val, i++;
        else if (!strcmp(arg, "--max")) maxconns = atoi(val), i++;
        else if (!strcmp(arg, "--sources")) nsources = atoi(val), i++;
        else if (!strcmp(arg, "--dump")) dump_path = val, i++;
        else if (!strcmp(arg, "--seq-key")) {
            static char key[64];
            snprintf(key, sizeof key, "\"%s\":", val);
            seq_key = key;
            i++;
        } else if (!strcmp(arg, "--header")) {
            strncat(headers, val, sizeof headers - strlen(headers) - 3);
            strcat(headers, "\r\n");
            i++;
        } else if (!strcmp(arg, "--mode")) {
            mode = !strcmp(val, "sio") ? M_SIO : !strcmp(val, "sse") ? M_SSE : !strcmp(val, "raw") ? M_RAW : M_WS;
            i++;
        } else {
            fprintf(stderr, "unknown argument %s\n", arg);
            return 2;
        }
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    conns = calloc((size_t)maxconns, sizeof(conn_t));
    for (int i = 0; i < maxconns; i++) {
        conns[i].fd = -1;
        conns[i].cap = 4096;
        conns[i].buf = malloc(conns[i].cap);
        conns[i].last_seq = conns[i].last_id = -1;
    }
    epfd = epoll_create1(0);
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);
    static struct epoll_event evs[4096];
    char line[1024];
    size_t line_len = 0;
    for (;;) {
        int timeout = op == OP_NONE ? 1000 : 5;
        int n = epoll_wait(epfd, evs, 4096, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == UINT32_MAX) {
                ssize_t r = read(0, line + line_len, sizeof line - line_len - 1);
                if (r <= 0) return 0; /* the driver went away */
                line_len += (size_t)r;
                char *nl;
                while ((nl = memchr(line, '\n', line_len))) {
                    *nl = 0;
                    command(line);
                    size_t used = (size_t)(nl - line) + 1;
                    memmove(line, nl + 1, line_len - used);
                    line_len -= used;
                }
                continue;
            }
            on_event((int)evs[i].data.u32, evs[i].events);
        }
        if (op == OP_CONNECT || op == OP_STORM) feed_connects();
        check_done();
    }
}
