-- POST /token (OAuth2 password grant, form-encoded) for the seeded users in
-- turn from a random start, so concurrent sign-ins are for different accounts.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local bodies = {}
local n, i = 0, 0

function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
  local password = os.getenv("BENCH_PASSWORD"):gsub(" ", "+")
  for _, u in ipairs(common.read_tokens(os.getenv("BENCH_TOKENS"))) do
    if u.id ~= "1" then
      n = n + 1
      bodies[n] = "username=user" .. u.id .. "%40example.com&password=" .. password
    end
  end
  i = math.random(n)
end

function request()
  i = i % n + 1
  return wrk.format("POST", "/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, bodies[i])
end

done = common.done

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
