-- POST /token (OAuth2 password grant, form-encoded) for the seeded users in
-- turn from a random start, so concurrent sign-ins are for different accounts.
-- The users are 2..$BENCH_USERS (1 is the admin) and an email is its id's,
-- so each body is made when sent (a sign-in costs milliseconds of argon2):
-- nothing to load first, even for a million users.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local suffix
local n, i = 0, 0

function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
  local password = os.getenv("BENCH_PASSWORD"):gsub(" ", "+")
  suffix = "%40example.com&password=" .. password
  n = tonumber(os.getenv("BENCH_USERS")) - 1
  i = math.random(n)
end

function request()
  i = i % n + 1
  return wrk.format("POST", "/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, "username=user" .. (i + 1) .. suffix)
end

done = common.done

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
