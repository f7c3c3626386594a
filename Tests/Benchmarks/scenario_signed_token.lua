-- POST /token authenticated with a client assertion (private_key_jwt), with a DPoP proof
-- when the line carries one. Assertions and proofs are single use: bench.py writes one
-- line per request to WRK_CREDENTIALS before the run, "<assertion>" or
-- "<assertion> <proof>", and with WRK_THREADS threads thread i spends lines i, i + T,
-- i + 2T, ... in order. wrk calls request() once on thread 1 to check the script: that
-- line is spent and never sent. A thread that runs out sends an unusable assertion (401,
-- a non-2xx answer that fails the run). done() prints WRK_EXTRA with the lines sent and
-- the requests that found none.
dofile(os.getenv("WRK_REPORT"))
local report = done
local threads = {}
local stride = tonumber(os.getenv("WRK_THREADS"))
local prefix = os.getenv("WRK_BODY")
  .. "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  lines = io.open(os.getenv("WRK_CREDENTIALS"), "r")
  for _ = 2, id do lines:read("*l") end
  headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  spent, missing = 0, 0
end

function request()
  local line = lines:read("*l")
  if line then
    spent = spent + 1
    for _ = 2, stride do lines:read("*l") end
  else
    missing = missing + 1
  end
  local assertion, proof = string.match(line or "exhausted", "^(%S+) ?(%S*)$")
  headers["DPoP"] = proof ~= "" and proof or nil
  return wrk.format("POST", nil, headers, prefix .. assertion)
end

function done(summary, latency, requests)
  report(summary, latency, requests)
  local spent, missing = 0, 0
  for _, thread in ipairs(threads) do
    spent = spent + thread:get("spent")
    missing = missing + thread:get("missing")
  end
  io.write(string.format('WRK_EXTRA {"spent": %d, "missing": %d}\n', spent, missing))
end
