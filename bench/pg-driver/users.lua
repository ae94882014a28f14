-- each request a different user: user N asks for /users/N with tok-N
local counter = 0
request = function()
  counter = counter + 1
  local id = (counter % 10000) + 1
  return wrk.format("GET", "/users/" .. id, { ["Authorization"] = "Bearer tok-" .. id })
end
