-- wrk script: no request changes, one summary line for benchmarks/wrk.py
-- (requests, seconds, p50 ms, p99 ms, non-2xx/3xx answers, socket errors).
function done(summary, latency, requests)
  io.write(string.format("WRK %d %.3f %.3f %.3f %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
