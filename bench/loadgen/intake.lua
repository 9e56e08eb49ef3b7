-- wrk script: POST /v1/dossiers with the portal key and a unique Idempotency-Key per
-- request, bodies taken in turn from a file of JSON lines. Closed loop (wrk 4 has no
-- constant-rate mode): each connection sends its next request when the last one is
-- answered. Prints one JSON object at the end.
--   wrk -t2 -c8 -d10s -s intake.lua URL -- BODIES_FILE API_KEY KEY_PREFIX
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  key = args[2]
  prefix = (args[3] or "wrk") .. "-" .. id .. "-"
  counter = 0
  accepted, unavailable, other = 0, 0, 0
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = key,
    ["Idempotency-Key"] = prefix .. counter,
  }
  return wrk.format("POST", nil, headers, bodies[(counter % #bodies) + 1])
end

function response(status, headers, body)
  if status == 201 then
    accepted = accepted + 1
  elseif status == 503 then
    unavailable = unavailable + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, u, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    u = u + t:get("unavailable")
    o = o + t:get("other")
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    '{"tool":"wrk (closed loop)","requests":%d,"accepted":%d,"http_503":%d,' ..
    '"other_statuses":%d,"socket_errors":%d,"duration_s":%.2f,"accepted_per_s":%.1f,' ..
    '"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f}\n',
    summary.requests, a, u, o, e.connect + e.read + e.write + e.timeout, seconds,
    a / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
