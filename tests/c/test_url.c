/* Base, proxy and request URL checks (url.c): the pure C entry points and their Lua face. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "url.h"

static int base_ok(const char *url, const char *want_base, int want_loopback) {
  struct collate_url u;
  char err[256];
  if (collate_url_check(url, &u, err, sizeof err) != 0) {
    fprintf(stderr, "refused %s: %s\n", url, err);
    return 0;
  }
  if (strcmp(u.base, want_base) != 0 || u.loopback != want_loopback) {
    fprintf(stderr, "%s: got %s loopback=%d\n", url, u.base, u.loopback);
    return 0;
  }
  return 1;
}

/* Refused, with a message containing `want` and never the secret part of the URL. */
static int base_refused(const char *url, const char *want, const char *secret) {
  struct collate_url u;
  char err[256];
  err[0] = '\0';
  if (collate_url_check(url, &u, err, sizeof err) == 0) {
    fprintf(stderr, "accepted %s\n", url);
    return 0;
  }
  if (strstr(err, want) == NULL || (secret != NULL && strstr(err, secret) != NULL)) {
    fprintf(stderr, "%s: message \"%s\"\n", url, err);
    return 0;
  }
  return 1;
}

static void c_base(void) {
  CHECK(base_ok("HTTPS://API.Example.COM/", "https://api.example.com", 0));
  CHECK(base_ok("https://api.example.com/prefix//", "https://api.example.com/prefix", 0));
  CHECK(base_ok("http://127.0.0.1:8080", "http://127.0.0.1:8080", 1));
  CHECK(base_ok("http://127.9.8.7", "http://127.9.8.7", 1));
  CHECK(base_ok("http://127.1:5", "http://127.0.0.1:5", 1)); /* curl's reading of 127.1 */
  CHECK(base_ok("HTTP://LocalHost:5", "http://localhost:5", 1));
  CHECK(base_ok("http://[::1]:9/", "http://[::1]:9", 1));
  /* the host curl would dial is 127.0.0.2, behind the credentials */
  CHECK(base_refused("http://127.0.0.1:1@127.0.0.2:80", "credentials", "127.0.0.1:1"));
  CHECK(base_refused("https://user:sk_live_secret@api.example.com", "credentials", "sk_live"));
  CHECK(base_refused("https://@api.example.com", "credentials", NULL));
  CHECK(base_refused("https://api.example.com/?a=1", "query", NULL));
  CHECK(base_refused("https://api.example.com/#x", "fragment", NULL));
  CHECK(base_refused("http://api.example.com", "refusing to send the API key", NULL));
  CHECK(base_refused("http://127.0.0.1.evil.example", "not a loopback host", NULL));
  CHECK(base_refused("http://localhost.evil.example", "not a loopback host", NULL));
  CHECK(base_refused("http://128.0.0.1", "not a loopback host", NULL));
  CHECK(base_refused("ftp://api.example.com", "http:// or https://", NULL));
  CHECK(base_refused("https:/api.example.com", "http:// or https://", NULL));
  CHECK(base_refused("api.example.com", "http:// or https://", NULL));
  CHECK(base_refused("https://api.example.com\r\nX: y", "control characters", NULL));
  CHECK(base_refused("https://a b", "control characters", NULL));
  CHECK(base_refused("http://127.0.0.1\\@evil", "credentials", NULL));
  CHECK(base_refused("", "empty", NULL));
  CHECK(base_refused("https://h:0", "port", NULL));
  CHECK(base_refused("https://h:70000", "ort", NULL));
}

/* Found by fuzz_url: curl decodes %XX in a host, so "ap%2563al" was approved as host
 * "ap%63al" and rendered into a base URL that curl then reads as host "apcal". A host is
 * letters, digits, '-', '_' and '.' (or an IP literal); nothing is decoded twice. */
static void c_host_chars(void) {
  struct collate_url u;
  char err[256], target[64];
  CHECK(base_refused("https://ap%2563al.example", "host", NULL));
  CHECK(base_refused("https://127.0.0.1%2F.evil.example", "host", NULL));
  CHECK(base_refused("http://%31%32%37.0.0.1:5", "host", NULL));
  CHECK(base_refused("https://caf\xC3\xA9.example", "xn--", NULL));
  CHECK(base_ok("https://xn--caf-dma.example", "https://xn--caf-dma.example", 0));
  CHECK(base_ok("https://my_service-1.internal:8443/v1", "https://my_service-1.internal:8443/v1", 0));
  CHECK(collate_proxy_url_check("http://pro%78y:3128", &u, err, sizeof err) != 0);
  CHECK(collate_url_split("https://h%2ex/v1", &u, target, sizeof target, err, sizeof err) != 0);
}

static void c_loopback(void) {
  CHECK(collate_host_is_loopback("127.0.0.1"));
  CHECK(collate_host_is_loopback("127.255.255.255"));
  CHECK(collate_host_is_loopback("[::1]"));
  CHECK(collate_host_is_loopback("[::ffff:127.0.0.2]"));
  CHECK(collate_host_is_loopback("localhost"));
  CHECK(!collate_host_is_loopback("126.0.0.1"));
  CHECK(!collate_host_is_loopback("[::2]"));
  CHECK(!collate_host_is_loopback("::1")); /* curl always brackets IPv6 hosts */
  CHECK(!collate_host_is_loopback("localhost.example"));
  CHECK(!collate_host_is_loopback(""));
}

static void c_proxy(void) {
  struct collate_url u;
  char err[256];
  CHECK(collate_proxy_url_check("http://user:pw@proxy.example:3128", &u, err, sizeof err) == 0);
  CHECK(u.has_credentials && u.port == 3128 && strcmp(u.scheme, "http") == 0);
  CHECK(strstr(u.base, "pw") == NULL);
  CHECK(collate_proxy_url_check("HTTPS://proxy.example", &u, err, sizeof err) == 0);
  CHECK(u.port == 443 && !u.has_credentials && strcmp(u.scheme, "https") == 0);
  CHECK(collate_proxy_url_check("socks5://p:1080", &u, err, sizeof err) != 0);
  CHECK(collate_proxy_url_check("http://p:1/path", &u, err, sizeof err) != 0);
  CHECK(collate_proxy_url_check("http://u:secretpw@p:1/path?x", &u, err, sizeof err) != 0);
  CHECK(strstr(err, "secretpw") == NULL);
}

static void c_split(void) {
  struct collate_url u;
  char err[256], target[256];
  CHECK(collate_url_split("HTTP://127.0.0.1:5/v1/x?c=a@b#frag", &u, target, sizeof target, err,
                          sizeof err) == 0);
  CHECK_STR(u.base, "http://127.0.0.1:5");
  CHECK_STR(target, "/v1/x?c=a@b");
  CHECK(u.port == 5 && u.loopback);
  CHECK(collate_url_split("https://h", &u, target, sizeof target, err, sizeof err) == 0);
  CHECK_STR(target, "/");
  CHECK(u.port == 443);
  CHECK(collate_url_split("http://u:p@h/x", &u, target, sizeof target, err, sizeof err) != 0);
  CHECK(collate_url_split("https://h/long", &u, target, 4, err, sizeof err) != 0);
}

static const char *lua_face =
  "local b = core.check_base_url('HTTPS://Api.Example.com/')\n"
  "eq(b.url, 'https://api.example.com'); eq(b.scheme, 'https'); eq(b.port, 443); eq(b.loopback, false)\n"
  "local r, kind, msg = core.check_base_url('http://127.0.0.1:1@127.0.0.2:9')\n"
  "eq(r, nil); eq(kind, 'invalid_argument'); ok(msg:find('credentials'), msg)\n"
  "local p = core.check_proxy_url('http://u:p@127.0.0.1:3128')\n"
  "eq(p.credentials, true); eq(p.port, 3128)\n"
  "local s = core.split_url('http://[::1]:8/a?b')\n"
  "eq(s.origin, 'http://[::1]:8'); eq(s.target, '/a?b'); eq(s.host, '[::1]'); eq(s.loopback, true)\n"
  "r, kind = core.split_url('gopher://x/'); eq(r, nil); eq(kind, 'invalid_argument')\n";

int main(void) {
  lua_State *L;
  c_base();
  c_host_chars();
  c_loopback();
  c_proxy();
  c_split();
  L = harness_state();
  harness_lua(L, "lua_face", lua_face);
  lua_close(L);
  return harness_finish("c_url");
}
