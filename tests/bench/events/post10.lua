-- wrk script: POST /events/<PZ_NS> with 10 click events per call, spread over 1000 sessions,
-- 3000 users and 5000 items (the body shape of the upstream PutEvents API).
local counter = 0
local ns = os.getenv("PZ_NS") or "durable"
local path = "/events/" .. ns
local headers = {["Content-Type"] = "application/json"}

request = function()
  counter = counter + 1
  local events = {}
  for i = 1, 10 do
    events[i] = string.format(
      '{"eventType":"click","itemId":"item-%d","properties":"{\\"deviceType\\":\\"Phone\\"}"}',
      (counter * 7 + i * 13) % 5000)
  end
  local body = string.format('{"sessionId":"s-%d","userId":"user-%d","eventList":[%s]}',
    counter % 1000, counter % 3000, table.concat(events, ","))
  return wrk.format("POST", path, headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("non-200 responses: %d\n", summary.errors.status))
end
