-- The attempt loop, written once: send, classify, sleep, resend.
-- `send`, `sleep` and `now` come from the transport, so the same loop blocks in a script,
-- yields in the coroutine scheduler and uses ngx.sleep under OpenResty.
local core = require "collate.core"
local errors = require "collate.errors"
local log = require "collate.log"
local compat = require "collate.compat"

local M = {}

-- on_response / on_retry (collate.new's hooks) get what a metrics pipeline needs and nothing
-- else: never the key, a header or a body. A hook that raises is reported on stderr and does
-- not change the call's outcome.
local function call_hook(name, hook, info)
  local ok, err = compat.pcall(hook, info)
  if not ok then
    io.stderr:write("collate: ", name, " hook failed: ", log.escape(err), "\n")
  end
end

local function hook_info(request, status, attempt, seconds, request_id, code)
  return { method = request.method, path = request.log_path or "?", status = status, attempt = attempt,
           duration = seconds, request_id = request_id, error_code = code }
end

-- A failure without a response (the transport's nil, kind, message, code). Only failures that a
-- new attempt can cure are retried (core.transport_retryable: a refused or reset connection, a
-- truncated body, a timeout); a certificate that does not verify, an unusable URL, a local file
-- that cannot be read or written or a response over max_response_bytes fails the same way again.
local function transport_error(kind, message, code)
  kind = kind or "connection"
  return { kind = kind, code = code, message = message or "transport failure",
           retryable = core.transport_retryable(kind) }
end

-- How long this attempt may take: the per-attempt timeout, cut down to what is left of the
-- caller's overall deadline.
local function attempt_timeout(policy, now)
  local t = policy.timeout
  if policy.deadline then
    local left = policy.deadline - now
    if left < t then t = left end
  end
  return t
end

-- Runs `request` until it succeeds, fails for good or runs out of retries or time.
-- policy: {transport, timeout, max_retries, deadline (absolute, transport clock) or nil,
--          decode (function(status, headers, body, attempt) -> ok, value)}
-- Returns value, response-metadata on success; nil, collate.Error otherwise.
function M.run(request, policy)
  local transport = policy.transport
  local decode = policy.decode
  local attempt = 0
  while true do
    attempt = attempt + 1
    local started = transport.now()
    local timeout = attempt_timeout(policy, started)
    local status, headers, body, code
    if timeout <= 0 then
      status, headers, body = nil, "timeout", "the call's deadline passed before the attempt could start"
    else
      if log.level > 1 then log.request(request) end
      status, headers, body, code = transport.send(request, timeout)
    end
    local elapsed = transport.now() - started

    local info
    if status == nil then
      info = transport_error(headers, body, code)
      log.attempt(request, nil, attempt, elapsed, nil, info.kind, info.code)
      if policy.on_response then
        call_hook("on_response", policy.on_response,
          hook_info(request, nil, attempt, elapsed, nil, info.code or info.kind))
      end
    else
      local ok, value = decode(status, headers, body, attempt)
      local request_id = headers and headers["x-request-id"]
      local error_code = not ok and (value.code or value.kind) or nil
      if log.level > 0 then -- the hot path: no argument work when logging is off
        log.attempt(request, status, attempt, elapsed, request_id, nil, error_code)
      end
      if policy.on_response then
        call_hook("on_response", policy.on_response,
          hook_info(request, status, attempt, elapsed, request_id, error_code))
      end
      if ok then
        return value, { status = status, headers = headers, request_id = request_id,
                        attempts = attempt }
      end
      info = value
      if info.kind == "decode" then
        info.retryable = false
      else
        info.retryable = core.retryable(status, info.retryable)
      end
    end

    if log.level > 1 then log.failure(request, info) end
    info.attempts = attempt
    -- the server's Retry-After (seconds), for callers that schedule their own next try
    -- (scripts/ops/advance records it as the case's next look)
    local after = status and headers and headers["retry-after"]
    if after then info.retry_after = core.parse_retry_after(after) end
    info.method = request.method
    info.idempotency_key = request.idempotency_key
    local retry = info.retryable and attempt <= policy.max_retries
    local wait
    if retry then
      wait = core.backoff(attempt, status and headers or nil)
      if wait == nil then
        retry = false
      elseif policy.deadline and transport.now() + wait >= policy.deadline then
        retry = false
      end
    end
    if not retry then
      return nil, errors.new(info)
    end
    if policy.on_retry then
      local hinfo = hook_info(request, status, attempt, transport.now() - started,
        status and headers and headers["x-request-id"] or nil, info.code or info.kind)
      hinfo.delay = wait
      call_hook("on_retry", policy.on_retry, hinfo)
    end
    transport.sleep(wait)
  end
end

return M
