-- A POST with a fixed body and Authorization header, from the environment (a form,
-- unless WRK_CONTENT_TYPE says otherwise; no Authorization when it is empty).
dofile(os.getenv("WRK_REPORT"))
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/x-www-form-urlencoded"
local authorization = os.getenv("WRK_AUTHORIZATION")
if authorization and authorization ~= "" then wrk.headers["Authorization"] = authorization end
