-- PATCH /users/{id} {"name": "TAG.a"} then "TAG.b", ... : the seeded users
-- in turn, each with its own token, so consecutive PATCHes of one user
-- alternate and every one changes the name (and writes an event). TAG
-- ($EV_TAG) tells the sink which phase an event belongs to.
--
-- EV_RATE > 0 paces the requests to that many per second overall (a
-- wrk2-like fixed schedule: each delay() claims the next slot of
-- start + k/rate, read from CLOCK_MONOTONIC through LuaJIT's ffi); 0 sends
-- as fast as the connections allow.
-- EV_STOP_AFTER (seconds) stops sending then, so that no request is in
-- flight when wrk's -d (set a little longer) closes the connections: a
-- PATCH cut off by a closed connection may still commit, and its event
-- would be timed as a straggler. The figures are over the active window
-- (first request sent to last one sent), `active_us` in the JSON line.
package.path = os.getenv("EV_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } ev_timespec;
  int clock_gettime(int clk, ev_timespec *ts);
]]
local ts = ffi.new("ev_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local users, n, i = {}, 0, -1
local tag = os.getenv("EV_TAG")
local rate = tonumber(os.getenv("EV_RATE") or "0") or 0
local stop_after = tonumber(os.getenv("EV_STOP_AFTER") or "0") or 0
local start, k = nil, 0
first_sent, last_sent = 0, 0

function init(args)
  for _, u in ipairs(common.read_tokens(os.getenv("EV_TOKENS"))) do
    n = n + 1
    users[n] = {
      path = "/users/" .. u.id,
      headers = { ["Authorization"] = "Bearer " .. u.token, ["Content-Type"] = "application/json" },
    }
  end
end

function delay()
  local t = now()
  if not start then start = t end
  if stop_after > 0 and t - start >= stop_after then
    return 3600000 -- idle until wrk's -d ends the run
  end
  if rate <= 0 then return 0 end
  local slot = start + k / rate
  k = k + 1
  local wait = (slot - t) * 1000
  if wait <= 0 then return 0 end
  return math.floor(wait + 0.5)
end

function request()
  local t = now()
  if first_sent == 0 then first_sent = t end
  last_sent = t
  i = i + 1
  local u = users[i % n + 1]
  local value = (math.floor(i / n) % 2 == 0) and "a" or "b"
  return wrk.format("PATCH", u.path, u.headers, '{"name":"' .. tag .. "." .. value .. '"}')
end

local thread_handle
function setup(thread)
  thread_handle = thread
end

function done(summary, latency, requests)
  common.done(summary, latency, requests, {
    active_us = math.floor((thread_handle:get("last_sent") - thread_handle:get("first_sent")) * 1e6),
  })
end
