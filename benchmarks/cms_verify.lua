-- wrk script for benchmarks/bench_workers.py: every request verifies the same signed CMS.
-- Arguments: a file holding the JSON body, and the lender's API key.
function init(args)
  local f = assert(io.open(args[1], "r"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.path = "/v1/eds/cms/verify"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end

function done(summary, latency, requests)
  io.write(string.format("WRK %d %.3f %.3f %.3f %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
