-- Refresh-token rotation chains: every request spends one refresh token and the
-- response's successor goes back into this thread's pool, so each chain moves one
-- step per request. bench.py seeds one token per connection (WRK_TOKENS_n, per thread),
-- and one more for thread 1: wrk calls request() once on it to verify the script,
-- and that call's token is never sent.
dofile(os.getenv("WRK_REPORT"))
local pool = {}
local client_id = os.getenv("WRK_CLIENT_ID")
local threads_seen = 0

function setup(thread)
  threads_seen = threads_seen + 1
  thread:set("tokens", os.getenv("WRK_TOKENS_" .. threads_seen))
end

function init(args)
  for token in string.gmatch(tokens, "[^,]+") do table.insert(pool, token) end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local token = table.remove(pool)
  if token == nil then token = "pool-empty" end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. token)
end

function response(status, headers, body)
  local successor = string.match(body, '"refresh_token":"([^"]+)"')
  if successor then table.insert(pool, successor) end
end
