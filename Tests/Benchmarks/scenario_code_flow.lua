-- Whole authorization-code flows for a signed-in user with remembered consent:
-- GET /authorize answers with a redirect carrying a code at once (a grant and a
-- code are stored), and the thread's next request redeems a waiting code at
-- /token with its PKCE verifier (the code is consumed, a refresh token stored).
-- Two requests per flow; bench.py reports requests.
dofile(os.getenv("WRK_REPORT"))
local codes = {}
local authorize_path = os.getenv("WRK_AUTHORIZE_PATH")
local cookie = os.getenv("WRK_COOKIE")
local token_body = "grant_type=authorization_code&client_id=" .. os.getenv("WRK_CLIENT_ID")
  .. "&redirect_uri=" .. os.getenv("WRK_REDIRECT_URI") .. "&code_verifier=" .. os.getenv("WRK_VERIFIER") .. "&code="

function request()
  local code = table.remove(codes)
  if code then
    return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded"}, token_body .. code)
  end
  return wrk.format("GET", authorize_path, {["Cookie"] = cookie}, nil)
end

function response(status, headers, body)
  local location = headers["location"] or headers["Location"]
  if location then
    local code = string.match(location, "[?&]code=([^&]+)")
    if code then table.insert(codes, code) end
  end
end
