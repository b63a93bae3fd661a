-- wrk script: POST /v1/catalogs/<catalog>/events with batches of random events, for
-- bench/pg_replicas.sh. Script arguments (wrk ... -s post_events.lua URL -- CATALOG BATCH USERS ITEMS
-- SEED): the catalog (default "ingest"), events per request (100), user ids u1..uUSERS (100000),
-- item ids i1..iITEMS (50000), and a seed base so that two wrk processes send different events.
-- Send the key with -H "Authorization: Bearer ...". Prints one WRKJSON summary line at the end
-- (the fields of post_on_demand.lua; events/s = rps * BATCH when non2xx is 0). done() runs in a
-- Lua state of its own, where init() never ran, so it cannot know the batch size.
local catalog, batch, users, items, seed

function init(args)
  catalog = args[1] or "ingest"
  batch = tonumber(args[2] or "100")
  users = tonumber(args[3] or "100000")
  items = tonumber(args[4] or "50000")
  seed = tonumber(args[5] or "4242")
  -- distinct, reproducible seed per wrk thread (`id` is set per thread by setup() below)
  math.randomseed(seed + (id or 0))
end

function setup(thread)
  thread_counter = (thread_counter or 0) + 1
  thread:set("id", thread_counter)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  local parts = {}
  for k = 1, batch do
    parts[k] = string.format('{"user_id":"u%d","item_id":"i%d","weight":%d}',
      math.random(users), math.random(items), math.random(5))
  end
  return wrk.format("POST", "/v1/catalogs/" .. catalog .. "/events", nil,
    '{"events":[' .. table.concat(parts, ",") .. ']}')
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
