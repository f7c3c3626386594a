-- A GET of the path given on the wrk URL with the Authorization header from the
-- environment (UserInfo with "Bearer <access token>").
dofile(os.getenv("WRK_REPORT"))
wrk.headers["Authorization"] = os.getenv("WRK_AUTHORIZATION")
