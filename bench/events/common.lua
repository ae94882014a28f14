-- Shared by the wrk scripts of bench/events: the token file, and one JSON
-- line of figures at the end (latencies in microseconds).
local M = {}

function M.done(summary, latency, requests, extra)
  local e = summary.errors
  local more = ""
  for key, value in pairs(extra or {}) do
    more = more .. string.format(',"%s":%d', key, value)
  end
  io.write(string.format(
    '\nBENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, more))
end

-- "id token" lines written by helper.py seed.
function M.read_tokens(path)
  local users = {}
  for line in io.lines(path) do
    local id, token = line:match("^(%d+) (%S+)$")
    if id then users[#users + 1] = { id = id, token = token } end
  end
  return users
end

return M
