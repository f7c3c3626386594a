-- Redeems the codes scenario_mint_codes.lua wrote (WRK_CODES_FILE.<thread>), each once:
-- code redemption alone, with its PKCE verifier, a consumed code and a stored refresh token.
dofile(os.getenv("WRK_REPORT"))
local pool = {}
local threads_seen = 0
local body = "grant_type=authorization_code&client_id=" .. os.getenv("WRK_CLIENT_ID")
  .. "&redirect_uri=" .. os.getenv("WRK_REDIRECT_URI") .. "&code_verifier=" .. os.getenv("WRK_VERIFIER") .. "&code="

function setup(thread)
  threads_seen = threads_seen + 1
  thread:set("id", threads_seen)
end

function init(args)
  for line in io.lines(os.getenv("WRK_CODES_FILE") .. "." .. id) do table.insert(pool, line) end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local code = table.remove(pool) or "pool-empty"
  return wrk.format(nil, nil, nil, body .. code)
end
