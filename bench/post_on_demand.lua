-- wrk script: POST /recommend with {"user_id": "<random known user>", "n": N}: with N above the
-- server's candidates per user (100), every request is scored on demand. N is the second script
-- argument (default 150). Derived from ../shared/baselines/flask-recommend/post_random_user.lua.
-- The user list file is the first script argument (wrk ... -s post_random_user.lua URL -- users.txt),
-- one user id a line. Prints one JSON summary line at the end.
local users = {}
local path = nil

function init(args)
  path = args[1] or "users.txt"
  n = tonumber(args[2] or "150")
  for line in io.lines(path) do
    if #line > 0 then users[#users + 1] = line end
  end
  -- distinct, reproducible seed per wrk thread
  -- (`id` is set per thread by setup() below)
  math.randomseed(12345 + (id or 0))
end

function setup(thread)
  thread_counter = (thread_counter or 0) + 1
  thread:set("id", thread_counter)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  local u = users[math.random(#users)]
  return wrk.format("POST", "/recommend", nil, '{"user_id": "' .. u .. '", "n": ' .. n .. '}')
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write
             + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRKJSON {"requests": %d, "duration_s": %.3f, "rps": %.1f, "errors": %d, '
    .. '"non2xx": %d, "timeouts": %d, "lat_p50_ms": %.3f, "lat_p90_ms": %.3f, "lat_p99_ms": %.3f, '
    .. '"lat_mean_ms": %.3f, "lat_max_ms": %.3f}\n',
    summary.requests, s, summary.requests / s, errs, summary.errors.status, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, latency.max / 1000))
end
