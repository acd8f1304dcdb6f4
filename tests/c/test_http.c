#define _GNU_SOURCE /* memmem, strcasestr */
/* core.http and core.multi against a small HTTP/1.1 server in a thread of this process: request
 * shape (methods, Content-Length, headers), response headers, connection reuse, out_file and
 * body_file, and the failure kinds (connection refused, reset, truncated, timeout). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>

#include "harness.h"

static int listen_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int connections = 0;

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void respond(int fd, int status, const char *extra_headers, const char *body, size_t len) {
  char head[1024];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, len, extra_headers);
  send_all(fd, head, (size_t)n);
  send_all(fd, body, len);
}

/* One connection: requests until the client closes. Each reply echoes the raw request. */
static void *serve(void *arg) {
  int fd = (int)(long)arg;
  char *buf = (char *)malloc(1 << 20);
  size_t len = 0;
  for (;;) {
    char *end;
    size_t head_len, body_len = 0, total;
    const char *cl;
    char path[256] = "";
    ssize_t r;
    while ((end = (len ? memmem(buf, len, "\r\n\r\n", 4) : NULL)) == NULL) {
      r = recv(fd, buf + len, (1 << 20) - len - 1, 0);
      if (r <= 0) goto out;
      len += (size_t)r;
      if ((unsigned char)buf[0] == 0x16) { /* a TLS ClientHello: answer in plain text */
        const char *t = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        send_all(fd, t, strlen(t));
        goto out;
      }
    }
    head_len = (size_t)(end - buf) + 4;
    buf[head_len - 1] = '\0';
    cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl != NULL) body_len = strtoul(cl + 17, NULL, 10);
    buf[head_len - 1] = '\n';
    total = head_len + body_len;
    while (len < total) {
      r = recv(fd, buf + len, (1 << 20) - len - 1, 0);
      if (r <= 0) goto out;
      len += (size_t)r;
    }
    sscanf(buf, "%*s %255s", path);
    if (strcmp(path, "/close") == 0) goto out;
    if (strcmp(path, "/truncate") == 0) {
      const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
      send_all(fd, t, strlen(t));
      goto out;
    }
    if (strcmp(path, "/slow") == 0) sleep(2);
    if (strcmp(path, "/stats") == 0) {
      char b[32];
      int n;
      pthread_mutex_lock(&lock);
      n = snprintf(b, sizeof b, "%d", connections);
      pthread_mutex_unlock(&lock);
      respond(fd, 200, "", b, (size_t)n);
    } else if (strcmp(path, "/error") == 0) {
      const char *e = "{\"error\":{\"code\":\"version_conflict\",\"message\":\"m\",\"retryable\":false},"
                      "\"requestId\":\"req_9\"}";
      respond(fd, 409, "Content-Type: application/json\r\n", e, strlen(e));
    } else if (strcmp(path, "/empty") == 0) {
      respond(fd, 200, "", "", 0);
    } else {
      respond(fd, 200,
              "Content-Type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\nX-Request-Id: req_1\r\n",
              buf, total);
    }
    memmove(buf, buf + total, len - total);
    len -= total;
  }
out:
  free(buf);
  close(fd);
  return NULL;
}

static void *acceptor(void *arg) {
  (void)arg;
  for (;;) {
    pthread_t t;
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    pthread_mutex_lock(&lock);
    connections++;
    pthread_mutex_unlock(&lock);
    if (pthread_create(&t, NULL, serve, (void *)(long)fd) == 0)
      pthread_detach(t);
    else
      close(fd);
  }
}

static int start_server(void) {
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  pthread_t t;
  listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0; /* ephemeral */
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(listen_fd, 64) != 0 || getsockname(listen_fd, (struct sockaddr *)&a, &alen) != 0) {
    perror("test server");
    exit(2);
  }
  if (pthread_create(&t, NULL, acceptor, NULL) != 0) exit(2);
  pthread_detach(t);
  return ntohs(a.sin_port);
}

static const char *requests =
  "local h = core.http()\n"
  "local s, hd, b = h:perform{ method = 'GET', url = BASE .. '/echo?x=1',\n"
  "  headers = { Accept = 'application/json', ['X-Num'] = 5 } }\n"
  "eq(s, 200, 'status'); eq(math.type(s), 'integer')\n"
  "ok(b:find('^GET /echo%?x=1 HTTP/1.1\\r\\n'), 'request line: ' .. b)\n"
  "ok(b:find('\\r\\nAccept: application/json\\r\\n', 1, true), 'caller Accept replaces */*')\n"
  "ok(b:find('\\r\\nX-Num: 5\\r\\n', 1, true), 'number header value')\n"
  "ok(not b:find('Content-Length', 1, true), 'no Content-Length on GET')\n"
  "ok(b:find('Accept-Encoding', 1, true), 'compression offered')\n"
  "eq(hd['x-multi'], 'a, b', 'repeated headers joined'); eq(hd['x-request-id'], 'req_1', 'lower-case names')\n"
  "eq(hd['content-type'], 'text/plain')\n"
  "s, hd, b = h:perform{ method = 'POST', url = BASE .. '/echo', body = '{\"a\":1}',\n"
  "  headers = { ['Content-Type'] = 'application/json', ['Idempotency-Key'] = 'k' }, user_agent = 'ua/1' }\n"
  "ok(b:find('^POST /echo HTTP/1.1\\r\\n'), 'POST')\n"
  "ok(b:find('\\r\\nContent-Length: 7\\r\\n', 1, true), 'Content-Length')\n"
  "ok(b:find('\\r\\n\\r\\n{\"a\":1}$'), 'body sent')\n"
  "ok(not b:find('Expect:', 1, true), 'no Expect')\n"
  "ok(b:find('\\r\\nUser-Agent: ua/1\\r\\n', 1, true), 'user agent')\n"
  "ok(b:find('\\r\\nIdempotency-Key: k\\r\\n', 1, true), 'header sent')\n"
  "s, hd, b = h:perform{ method = 'POST', url = BASE .. '/echo' }\n"
  "ok(b:find('^POST '), 'bare POST')\n"
  "ok(b:find('\\r\\nContent-Length: 0\\r\\n', 1, true), 'empty POST has Content-Length: 0')\n"
  "ok(not b:find('Content-Type', 1, true), 'no made-up Content-Type: ' .. b)\n"
  "s, hd, b = h:perform{ method = 'GET', url = BASE .. '/echo' }\n"
  "ok(b:find('^GET /echo HTTP'), 'a GET after a POST is a GET: ' .. b)\n"
  "ok(not b:find('Content-Length', 1, true) and not b:find('Idempotency', 1, true), 'nothing left over')\n"
  "s, hd, b = h:perform{ method = 'DELETE', url = BASE .. '/echo', headers = { ['If-Match'] = '\"3\"' } }\n"
  "ok(b:find('^DELETE /echo HTTP'), 'DELETE'); ok(b:find('If-Match: \"3\"', 1, true))\n"
  "s, hd, b = h:perform{ method = 'PATCH', url = BASE .. '/echo', body = '{}',\n"
  "  headers = { ['Content-Type'] = 'application/json' } }\n"
  "ok(b:find('^PATCH /echo HTTP'), 'PATCH'); ok(b:find('\\r\\n\\r\\n{}$'), 'PATCH body')\n"
  "s, hd, b = h:perform{ url = BASE .. '/error' }\n"
  "eq(s, 409); local okp, info = core.parse_response(s, hd, b); eq(info.code, 'version_conflict')\n"
  "eq(info.request_id, 'req_9')\n"
  "s, hd, b = h:perform{ url = BASE .. '/stats' }\n"
  "eq(b, '1', 'one connection reused for every request')\n"
  "s = h:perform{ method = 'PUT', url = BASE .. '/echo', body = 'x', fresh_connect = true }\n"
  "s = h:perform{ method = 'PUT', url = BASE .. '/echo', body = 'y', fresh_connect = true }\n"
  "s, hd, b = h:perform{ url = BASE .. '/stats' }\n"
  "eq(b, '3', 'fresh_connect: a new connection each; the pooled one serves the next request')\n"
  "ok(not pcall(h.perform, h, { url = BASE, headers = { ['X-Bad'] = 'a\\r\\nInjected: 1' } }),\n"
  "  'CR/LF in a header value is refused')\n"
  "ok(not pcall(h.perform, h, { url = BASE, timeout = 'soon' }), 'bad timeout type raises')\n"
  "s = h:perform{ url = BASE .. '/echo' }\n"
  "eq(s, 200, 'the handle still works after argument errors')\n"
  "h:close()\n";

/* A request like the last one skips curl_easy_reset: nothing of the previous request may leak
 * into the next (headers, body, length, method, User-Agent). */
static const char *reuse =
  "local h = core.http()\n"
  "local s, hd, b = h:perform{ url = BASE .. '/stats' }\n"
  "local before = tonumber(b)\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo', headers = { ['X-A'] = '1', ['X-B'] = '2' } }\n"
  "ok(b:find('X-A: 1', 1, true) and b:find('X-B: 2', 1, true), 'both headers')\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo', headers = { ['X-A'] = '1' } }\n"
  "ok(b:find('X-A: 1', 1, true) and not b:find('X-B', 1, true), 'dropped header gone: ' .. b)\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo', headers = { ['X-A'] = '3', ['X-E'] = '' } }\n"
  "ok(b:find('X-A: 3', 1, true) and b:find('\\r\\nX-E:\\r\\n', 1, true), 'changed value, empty value: ' .. b)\n"
  "local long = ('v'):rep(3000)\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo', headers = { ['X-Long'] = long } }\n"
  "ok(b:find('X-Long: ' .. long .. '\\r\\n', 1, true) and not b:find('X-A', 1, true), 'long header')\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo' }\n"
  "ok(not b:find('X-Long', 1, true) and not b:find('Expect', 1, true), 'no headers: ' .. b)\n"
  "s, hd, b = h:perform{ method = 'POST', url = BASE .. '/echo', body = 'aaaa' }\n"
  "ok(b:find('Content-Length: 4\\r\\n', 1, true) and b:find('\\r\\n\\r\\naaaa$'), 'first POST')\n"
  "s, hd, b = h:perform{ method = 'POST', url = BASE .. '/echo', body = 'bb' }\n"
  "ok(b:find('Content-Length: 2\\r\\n', 1, true) and b:find('\\r\\n\\r\\nbb$'), 'second POST: ' .. b)\n"
  "s, hd, b = h:perform{ method = 'POST', url = BASE .. '/echo' }\n"
  "ok(b:find('Content-Length: 0\\r\\n', 1, true) and b:find('\\r\\n\\r\\n$'), 'then a bare POST')\n"
  "s, hd, b = h:perform{ method = 'DELETE', url = BASE .. '/echo', body = 'x' }\n"
  "ok(b:find('^DELETE ') and b:find('\\r\\n\\r\\nx$'), 'DELETE with a body')\n"
  "s, hd, b = h:perform{ method = 'DELETE', url = BASE .. '/echo' }\n"
  "ok(b:find('^DELETE ') and not b:find('Content-Length', 1, true), 'DELETE without: ' .. b)\n"
  "s, hd, b = h:perform{ method = 'DELETE', url = BASE .. '/echo' }\n"
  "ok(b:find('^DELETE ') and not b:find('Content-Length', 1, true), 'DELETE again: ' .. b)\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo', user_agent = 'ua/1' }\n"
  "ok(b:find('^GET ') and b:find('User-Agent: ua/1', 1, true), 'GET after DELETE, user agent')\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo', user_agent = 'ua/2' }\n"
  "ok(b:find('User-Agent: ua/2', 1, true), 'user agent changed')\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo' }\n"
  "ok(not b:find('ua/', 1, true), 'user agent gone: ' .. b)\n"
  "local n, kind, msg = h:perform{ url = BASE .. '/echo', ca_file = '/etc/ssl/certs/ca-certificates.crt' }\n"
  "eq(n, 200, 'ca_file: ' .. tostring(kind) .. ' ' .. tostring(msg))\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo' }\n"
  "eq(s, 200, 'and without it again')\n"
  "s, hd, b = h:perform{ url = BASE .. '/stats' }\n"
  "eq(tonumber(b), before, 'one connection throughout')\n"
  "h:close()\n";

static const char *files =
  "local h = core.http()\n"
  "local tmp = os.tmpname()\n"
  "local f = assert(io.open(tmp, 'wb')); f:write(('0123456789'):rep(1000)); f:close()\n"
  "local s, hd, b = h:perform{ method = 'PUT', url = BASE .. '/echo', body_file = tmp,\n"
  "  headers = { ['Content-Type'] = 'application/pdf' } }\n"
  "eq(s, 200)\n"
  "ok(b:find('^PUT /echo HTTP'), 'PUT'); ok(b:find('\\r\\nContent-Length: 10000\\r\\n', 1, true), 'file size')\n"
  "ok(b:sub(-10000) == ('0123456789'):rep(1000), 'file streamed as the body')\n"
  "local out = tmp .. '.out'\n"
  "s, hd, b = h:perform{ url = BASE .. '/echo', out_file = out }\n"
  "eq(s, 200); eq(b, nil, 'no body with out_file')\n"
  "local got = assert(io.open(out, 'rb')):read('a')\n"
  "ok(got:find('^GET /echo HTTP'), 'body in the file')\n"
  "s, hd, b = h:perform{ url = BASE .. '/empty', out_file = out }\n"
  "eq(s, 200); eq(assert(io.open(out, 'rb')):read('a'), '', 'empty body truncates the file')\n"
  "s, hd, b = h:perform{ url = BASE .. '/error', out_file = out }\n"
  "eq(s, 409); eq(b, nil); ok(assert(io.open(out, 'rb')):read('a'):find('version_conflict', 1, true),\n"
  "  'error body also goes to the file')\n"
  "local n, kind, msg = h:perform{ method = 'PUT', url = BASE .. '/echo', body_file = tmp .. '.missing' }\n"
  "eq(n, nil); eq(kind, 'io'); ok(msg:find('body_file', 1, true), msg)\n"
  "n, kind, msg = h:perform{ url = BASE .. '/echo', out_file = '/nonexistent-dir/x' }\n"
  "eq(n, nil); eq(kind, 'io'); ok(msg:find('out_file', 1, true), msg)\n"
  "os.remove(tmp); os.remove(out)\n"
  "h:close()\n";

static const char *failures =
  "local h = core.http()\n"
  "local n, kind, msg = h:perform{ url = 'http://127.0.0.1:1/' }\n"
  "eq(n, nil); eq(kind, 'connection', 'refused'); ok(type(msg) == 'string' and #msg > 0, 'message')\n"
  "n, kind, msg = h:perform{ url = BASE .. '/close' }\n"
  "eq(n, nil); eq(kind, 'connection', 'nothing received: ' .. tostring(msg))\n"
  "n, kind, msg = h:perform{ url = BASE .. '/truncate' }\n"
  "eq(n, nil); eq(kind, 'connection', 'truncated body: ' .. tostring(msg))\n"
  "local t0 = core.now()\n"
  "n, kind, msg = h:perform{ url = BASE .. '/slow', timeout = 0.3 }\n"
  "eq(n, nil); eq(kind, 'timeout', 'timeout: ' .. tostring(msg))\n"
  "ok(core.now() - t0 < 1.5, 'the timeout bounds the attempt')\n"
  "n, kind, msg = h:perform{ url = 'ftp://127.0.0.1/' }\n"
  "eq(n, nil); eq(kind, 'invalid_argument', 'only http and https')\n"
  "n, kind, msg = h:perform{ url = 'https://127.0.0.1:' .. PORT .. '/' }\n"
  "eq(n, nil); eq(kind, 'tls', 'TLS to a plain HTTP port: ' .. tostring(msg))\n"
  "eq(h:perform{ url = BASE .. '/echo' }, 200, 'usable after failures')\n"
  "h:close()\n";

static const char *multi =
  "local m = core.multi{ max_connections = 4 }\n"
  "local want = {}\n"
  "for i = 1, 6 do want[m:add{ method = 'POST', url = BASE .. '/echo', body = 'n=' .. i,\n"
  "  headers = { ['Content-Type'] = 'text/plain' } }] = 'n=' .. i end\n"
  "want[m:add{ url = 'http://127.0.0.1:1/' }] = false\n"
  "want[m:add{ url = BASE .. '/slow', timeout = 0.2 }] = 'timeout'\n"
  "collectgarbage() -- request tables are referenced by the multi handle, not by us\n"
  "local left, deadline = 8, core.now() + 10\n"
  "while left > 0 and core.now() < deadline do\n"
  "  for _, r in ipairs(m:wait(0.5)) do\n"
  "    local w = want[r.id]\n"
  "    ok(w ~= nil, 'known id ' .. tostring(r.id)); want[r.id] = nil; left = left - 1\n"
  "    if w == false then eq(r.kind, 'connection'); eq(r.status, nil)\n"
  "    elseif w == 'timeout' then eq(r.kind, 'timeout')\n"
  "    else eq(r.status, 200); ok(r.body:sub(-#w) == w, 'body of ' .. r.id); eq(r.headers['x-multi'], 'a, b') end\n"
  "  end\n"
  "end\n"
  "eq(left, 0, 'every transfer reported once')\n"
  "eq(#m:wait(0), 0, 'nothing left')\n"
  "m:add{ url = BASE .. '/slow' } -- abandoned in flight by close\n"
  "m:close(); m:close()\n"
  "ok(not pcall(m.add, m, { url = BASE }), 'closed multi raises')\n"
  "do local m2 <close> = core.multi() ; m2:add{ url = BASE .. '/echo' } end\n";

int main(void) {
  lua_State *L;
  int port = start_server();
  L = harness_state();
  lua_pushinteger(L, port);
  lua_setglobal(L, "PORT");
  lua_pushfstring(L, "http://127.0.0.1:%d", port);
  lua_setglobal(L, "BASE");
  harness_lua(L, "requests", requests);
  harness_lua(L, "reuse", reuse);
  harness_lua(L, "files", files);
  harness_lua(L, "failures", failures);
  harness_lua(L, "multi", multi);
  lua_close(L);
  return harness_finish("c_http");
}
