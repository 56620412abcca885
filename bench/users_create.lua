-- wrk script for `POST /api/v1/users` and its baseline (bench/users.sh):
-- every request creates a new user, with an email no other request of
-- any run uses (a random tag per wrk thread, then a counter).
local tag
local counter = 0

function init(args)
  local random = assert(io.open("/dev/urandom", "rb"))
  local bytes = random:read(8)
  random:close()
  tag = bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end)
end

function request()
  counter = counter + 1
  local body = string.format('{"email":"bench-%s-%d@example.com","name":"Bench"}', tag, counter)
  return wrk.format("POST", nil, { ["content-type"] = "application/json" }, body)
end
