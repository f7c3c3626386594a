-- A POST with a fixed form body and Authorization header, from the environment.
dofile(os.getenv("WRK_REPORT"))
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("WRK_AUTHORIZATION")
