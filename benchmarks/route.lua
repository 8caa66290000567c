-- wrk script: POST /v1/route with real messages, rotating; bodies come from the file in QR_BODIES
local bodies = {}
for line in io.lines(os.getenv("QR_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/route", {["Content-Type"] = "application/json"}, bodies[(i % #bodies) + 1])
end
