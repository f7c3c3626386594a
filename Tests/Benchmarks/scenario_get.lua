-- GET of the path given on the wrk URL (healthz, JWKS, metadata).
dofile(os.getenv("WRK_REPORT"))
