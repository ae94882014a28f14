-- GET /users/{id}: a random seeded user reading itself with its own token.
package.path = os.getenv("EV_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local reqs, n = {}, 0

function init(args)
  math.randomseed(os.time())
  for _, u in ipairs(common.read_tokens(os.getenv("EV_TOKENS"))) do
    n = n + 1
    reqs[n] = wrk.format("GET", "/users/" .. u.id, { ["Authorization"] = "Bearer " .. u.token })
  end
end

function request()
  return reqs[math.random(n)]
end

done = common.done
