/* The response decoder (src/core/json_decode.c) on arbitrary bytes, in both modes. Properties:
 * both modes accept the same texts; a rejection is one message ending "at byte N"; what the
 * request encoder (json.c) writes from a decoded value decodes back to the same value; and the
 * wire mode equals from_wire of the normalised tree (texts whose keys could collide after
 * conversion, "a_b" and "aB", are left out of that comparison: which one wins is order). */
#include <string.h>

#include "fuzz_support.h"

static const char *check =
  "return function(s)\n"
  "  local n, nerr = decode(s, 'normalise')\n"
  "  local w, werr = decode(s, 'wire')\n"
  "  if (n == nil) ~= (w == nil) then\n"
  "    error('the modes disagree: ' .. tostring(nerr) .. ' / ' .. tostring(werr))\n"
  "  end\n"
  "  if n == nil then\n"
  "    assert(nerr:find(' at byte %d+$') and werr:find(' at byte %d+$'), nerr)\n"
  "    return\n"
  "  end\n"
  "  local e = encode(n)\n"
  "  if e then\n"
  "    local again, err = decode(e, 'normalise')\n"
  "    if again == nil then error('the encoder wrote what the decoder refuses: ' .. err) end\n"
  "    if not same(n, again) then error('decode(encode(v)) differs from v: ' .. e) end\n"
  "  end\n"
  "  if not (s:find('_', 1, true) and s:find('%u')) then\n"
  "    local ok, conv = pcall(core.from_wire, n)\n"
  "    if ok and not same(w, conv, true) then error('wire mode differs from from_wire(normalised)') end\n"
  "  end\n"
  "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fuzz_state("fuzz_json_decode", check);
  const char *arg = (const char *)data;
  fuzz_check(L, &arg, &size, 1);
  return 0;
}
