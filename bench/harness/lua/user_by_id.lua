-- GET /users/{id}, each request as a random seeded user reading itself with
-- its own bearer token (so every request looks up another token and row),
-- drawn from every user of $BENCH_TOKENS: a million in the million-user set.
-- The "id token" lines are read once, before wrk's timed part (a million:
-- ~0.8 s, ~140 MB), and a user's request is made the first time the user is
-- drawn, then kept: 10,000 users' are all made within the warm-up, as when
-- every request was made up front; a million's up front took ~3 s and
-- ~250 MB before every run.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local lines, reqs = {}, {}
local n = 0
local head, middle, tail
local find, sub = string.find, string.sub

function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
  -- One request as wrk formats it (its Host and headers), split where the
  -- id and the token go.
  local template = wrk.format("GET", "/users/\1", { ["Authorization"] = "Bearer \2" })
  local rest
  head, rest = template:match("^(.-)\1(.*)$")
  middle, tail = rest:match("^(.-)\2(.*)$")
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if find(line, " ", 1, true) then
      n = n + 1
      lines[n] = line
    end
  end
  -- Room for every request in the table's array part, so keeping one never
  -- rehashes it (LuaJIT's table.new).
  local ok, new = pcall(require, "table.new")
  if ok then reqs = new(n, 0) end
end

function request()
  local i = math.random(n)
  local req = reqs[i]
  if not req then
    local line = lines[i]
    local space = find(line, " ", 1, true)
    req = head .. sub(line, 1, space - 1) .. middle .. sub(line, space + 1) .. tail
    reqs[i] = req
  end
  return req
end

done = common.done

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
