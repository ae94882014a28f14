-- POST /users with a new email every request ($BENCH_NONCE keeps the warm-up
-- and the measured run apart).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local nonce = os.getenv("BENCH_NONCE") or "0"
local password = os.getenv("BENCH_SIGNUP_PASSWORD")
local counter = 0
local threads = {}
local thread_id = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  thread_id = tid or 1
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"su%s-%d-%d@example.com","name":"Bench Sign-up","password":"%s"}',
    nonce, thread_id, counter, password)
  return wrk.format("POST", "/users", { ["Content-Type"] = "application/json" }, body)
end

done = common.done
