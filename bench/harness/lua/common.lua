-- Shared by every wrk script: prints the figures the harness reads as one
-- JSON line (latencies in microseconds), after wrk's own report.
local M = {}

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end

return M
