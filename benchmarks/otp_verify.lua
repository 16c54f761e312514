-- wrk script for benchmarks/bench_otp.py: each request verifies the right code of its own identification.
-- Arguments: a file of "identification-id code client-ip [factor]" lines, and the lender's API key.
local items, n = {}, 0

function init(args)
  for line in io.lines(args[1]) do
    local id, code, ip, factor = line:match("(%S+) (%S+) (%S+)%s*(%S*)")
    items[#items + 1] = { id, code, ip, factor }
  end
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end

function request()
  n = n + 1
  local it = items[(n - 1) % #items + 1]
  local factor = ""
  if it[4] ~= "" then factor = '"factor":"' .. it[4] .. '",' end
  local body = '{' .. factor .. '"code":"' .. it[2] .. '","client_ip":"' .. it[3] .. '"}'
  return wrk.format("POST", "/v1/identifications/" .. it[1] .. "/otp/verify", nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("WRK %d %.3f %.3f %.3f %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
