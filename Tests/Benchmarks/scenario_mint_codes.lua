-- Mints authorization codes for a signed-in user with remembered consent, and writes
-- each one to WRK_CODES_FILE.<thread> for scenario_redeem.lua.
dofile(os.getenv("WRK_REPORT"))
local threads_seen = 0

function setup(thread)
  threads_seen = threads_seen + 1
  thread:set("id", threads_seen)
end

function init(args)
  out = io.open(os.getenv("WRK_CODES_FILE") .. "." .. id, "w")
  wrk.method = "GET"
  wrk.headers["Cookie"] = os.getenv("WRK_COOKIE")
end

function response(status, headers, body)
  local location = headers["location"] or headers["Location"]
  local code = location and string.match(location, "[?&]code=([^&]+)")
  if code then
    out:write(code, "\n")
    out:flush()
  end
end
