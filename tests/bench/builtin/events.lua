-- wrk script for the builtin scale benchmark: POST /events/<PZ_NS> with 10 events per call, drawn
-- like tests/bench/builtin/synth.c: users by a Zipf law of activity (exponent 0.6) over PZ_USERS,
-- items by a Zipf law of popularity (exponent 1.0) over PZ_ITEMS, 80 % of them from the user's
-- segment (PZ_SEGMENTS). The driver (scale.py) runs wrk for as long as it takes to reach a count.
local users = tonumber(os.getenv("PZ_USERS") or "1000000")
local items = tonumber(os.getenv("PZ_ITEMS") or "100000")
local segments = tonumber(os.getenv("PZ_SEGMENTS") or "20")
local ns = os.getenv("PZ_NS") or "shop"
local path = "/events/" .. ns
local headers = {["Content-Type"] = "application/json"}
local per_segment = math.floor(items / segments)

local function zipf_cdf(n, skew)
  local cdf, sum = {}, 0
  for i = 1, n do
    sum = sum + 1 / (i ^ skew)
    cdf[i] = sum
  end
  for i = 1, n do cdf[i] = cdf[i] / sum end
  return cdf
end

local function draw(cdf, n)
  local u, lo, hi = math.random(), 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo - 1
end

local user_cdf, item_cdf, seg_cdf

local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

init = function(args)
  math.randomseed(tonumber(os.getenv("PZ_SEED") or "1") + tid * 7919 + os.time())
  user_cdf = zipf_cdf(users, 0.6)
  item_cdf = zipf_cdf(items, 1.0)
  seg_cdf = zipf_cdf(per_segment, 1.0)
end

local types = {"view", "view", "view", "view", "view", "view", "click", "click", "add-to-cart", "purchase"}

request = function()
  local user = (draw(user_cdf, users) * 2654435761) % users
  local seg = (user * 7919) % segments
  local now = os.time()
  local events = {}
  for i = 1, 10 do
    local item
    if math.random() < 0.8 then
      item = draw(seg_cdf, per_segment) * segments + seg
    else
      item = draw(item_cdf, items)
    end
    events[i] = string.format('{"eventType":"%s","itemId":"item-%07d","sentAt":%d}',
      types[math.random(10)], item, now)
  end
  return wrk.format("POST", path, headers, string.format('{"sessionId":"s-%d","userId":"user-%d","eventList":[%s]}',
    user, user, table.concat(events, ",")))
end

response = function(status, headers, body)
  if status ~= 200 then io.write("status " .. status .. "\n") end
end
