-- GET /users/{id}, each request as a random seeded user reading itself with
-- its own bearer token (so every request looks up another token and row).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local reqs = {}
local n = 0

function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
  for _, u in ipairs(common.read_tokens(os.getenv("BENCH_TOKENS"))) do
    n = n + 1
    reqs[n] = wrk.format("GET", "/users/" .. u.id, { ["Authorization"] = "Bearer " .. u.token })
  end
end

function request()
  return reqs[math.random(n)]
end

done = common.done

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
