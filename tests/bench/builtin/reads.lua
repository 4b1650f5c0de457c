-- wrk script for the builtin scale benchmark: GET /recommend-items/shop/<PZ_RECOMMENDER>/<user>
-- ?numResults=25 for users with a history: the PZ_RANKS most active users of events.lua's activity
-- law (scale.py picks how many have about 20 events or more), uniformly. The configuration caches
-- nothing: every request is a miss that runs the recommender.
local users = tonumber(os.getenv("PZ_USERS") or "1000000")
local ranks = tonumber(os.getenv("PZ_RANKS") or "1000")
local recommender = os.getenv("PZ_RECOMMENDER") or "for-you"

local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

init = function(args)
  math.randomseed(os.time() + tid * 7919)
end

request = function()
  local user = (math.random(0, ranks - 1) * 2654435761) % users
  return wrk.format("GET", string.format("/recommend-items/shop/%s/user-%d?numResults=25", recommender, user))
end
