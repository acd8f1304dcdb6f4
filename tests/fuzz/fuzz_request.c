/* core.build_request(route, params) with parameters made from the input: byte 1 picks the route
 * (core.routes, sorted by name), then for each of its parameters a tag byte, a length byte and
 * that many bytes make the value (nil, the bytes as a string, an integer, a float, a table
 * decoded from the bytes as JSON, a boolean, "." / "..", or an unknown parameter). Properties: it
 * returns a request or nil + a message and never raises; a request's path is printable ASCII
 * (percent-encoded) starting with "/", its headers are strings without CR, LF or NUL, and its
 * body, when there is one, is JSON our own decoder accepts. */
#include <string.h>

#include "fuzz_support.h"

static const char *check =
  "local names = {}\n"
  "for name in pairs(core.routes) do names[#names + 1] = name end\n"
  "table.sort(names)\n"
  "local function reader(s)\n"
  "  local pos = 1\n"
  "  return function(n)\n"
  "    local piece = s:sub(pos, pos + n - 1); pos = pos + n; return piece\n"
  "  end\n"
  "end\n"
  "local function value(read)\n"
  "  local tag, len = read(1):byte() or 0, read(1):byte() or 0\n"
  "  local bytes = read(len)\n"
  "  tag = tag % 10\n"
  "  if tag == 0 then return nil end\n"
  "  if tag == 1 or tag == 2 then return bytes end\n"
  "  if tag == 3 then\n"
  "    if #bytes >= 8 then return (string.unpack('<j', bytes)) end\n"
  "    return len - 128\n"
  "  end\n"
  "  if tag == 4 then return #bytes >= 8 and (string.unpack('<d', bytes)) or len / 7 end\n"
  "  if tag == 5 or tag == 6 then\n"
  "    local v = decode(bytes, 'normalise')\n"
  "    if type(v) == 'table' then return v end\n"
  "    return { bytes, key_name = bytes, [bytes] = len }\n"
  "  end\n"
  "  if tag == 7 then return len % 2 == 0 end\n"
  "  if tag == 8 then return ({ '.', '..', '', '%2e', 'a/b', 'a?b' })[len % 6 + 1] end\n"
  "  return tostring(len)\n"
  "end\n"
  "return function(input)\n"
  "  local read = reader(input)\n"
  "  local name = names[(read(1):byte() or 0) % #names + 1]\n"
  "  local params = {}\n"
  "  for _, p in ipairs(core.routes[name].params) do params[p] = value(read) end\n"
  "  local extra = read(1):byte()\n"
  "  if extra and extra % 16 == 0 then params[read(4)] = value(read) end\n"
  "  local ok, r, msg = pcall(core.build_request, name, params)\n"
  "  if not ok then error('build_request raised: ' .. tostring(r)) end\n"
  "  if r == nil then\n"
  "    assert(type(msg) == 'string' or type(msg) == 'table', 'a refusal comes with a message')\n"
  "    return\n"
  "  end\n"
  "  assert(type(r) == 'table' and type(r.method) == 'string', 'a request with a method')\n"
  "  assert(type(r.path) == 'string' and r.path:sub(1, 1) == '/', 'a path')\n"
  "  assert(not r.path:find('[^\\33-\\126]'), 'a printable path: ' .. r.path)\n"
  "  assert(type(r.headers) == 'table', 'headers')\n"
  "  for k, v in pairs(r.headers) do\n"
  "    assert(type(k) == 'string' and type(v) == 'string', 'string headers')\n"
  "    assert(not (k .. v):find('[\\r\\n%z]'), 'no CR, LF or NUL in a header')\n"
  "  end\n"
  "  if r.body ~= nil then\n"
  "    assert(type(r.body) == 'string', 'a string body')\n"
  "    local v, err = decode(r.body, 'normalise')\n"
  "    if v == nil then error('the body is not JSON our decoder accepts: ' .. err) end\n"
  "  end\n"
  "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fuzz_state("fuzz_request", check);
  const char *arg = (const char *)data;
  fuzz_check(L, &arg, &size, 1);
  return 0;
}
