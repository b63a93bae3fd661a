#!/usr/bin/env bash
# Replicas benchmark (not a timed test, issue 10): `encore serve` replicas on one PostgreSQL
# database.
#
#   flock /tmp/encore-heavy.lock bash bench/pg_replicas.sh
#   USERS=100000 ITEMS=50000 ROWS=5000000 FACTORS=64 bash bench/pg_replicas.sh   # the serving set
#   ENCORE_BIN=/tmp/encore-other DURATION=10s bash bench/pg_replicas.sh           # another build
#   DATABASE_URL=postgres://u@host/postgres bash bench/pg_replicas.sh
#
# What it measures, all on 127.0.0.1:
#  1. POST /recommend throughput of one replica on PostgreSQL against one server on SQLite, the
#     same data imported into both and iALS trained through each one's API: wrk 2 threads x 32
#     connections (../shared/baselines/flask-recommend/post_random_user.lua, random known users),
#     5 s warm-up each, then DURATION alternately SQLite, PostgreSQL, SQLite, PostgreSQL (so drift
#     of the shared machine hits both alike); the ratio of the means.
#  2. Events ingestion through the API (batches of BATCH=100 random events, bench/post_events.lua),
#     8 client connections in all, DURATION each, in two cases: "known" ids (the imported users
#     and items, into catalog music: a service's steady state) and "new" ids (a fresh catalog
#     `ingest`, ids drawn from 10^7 users x 10^6 items: nearly every event creates a user and an
#     item key). For each: the SQLite server (wrk -t2 -c8), one PostgreSQL replica (wrk -t2 -c8),
#     then two replicas on the same database (a second one started over an empty data dir; wrk
#     -t1 -c4 against each, at the same time); events/s and the ratios.
# Beside each wall time it prints the CPU seconds the encore processes used, and those of the
# PostgreSQL backends connected to the bench database (from /proc, per pid; the server's shared
# WAL writer and checkpointer are left out, and so are other databases' backends on a shared
# server).
#
# It creates a database of its own (encore_bench_replicas_<pid>) on the server of DATABASE_URL
# (default postgres://root@127.0.0.1:5432/postgres) and drops it at the end. Heavy: run it alone,
# under `flock /tmp/encore-heavy.lock` on the shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

USERS=${USERS:-50000}
ITEMS=${ITEMS:-20000}
ROWS=${ROWS:-1000000}
FACTORS=${FACTORS:-32}
DURATION=${DURATION:-15s}
BATCH=${BATCH:-100}
DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/postgres}
WORK=${WORK:-/tmp/encore-pg-replicas}
PORT_SQLITE=${PORT_SQLITE:-18181}
PORT_A=${PORT_A:-18182}
PORT_B=${PORT_B:-18183}
RECOMMEND_LUA="$ROOT/../shared/baselines/flask-recommend/post_random_user.lua"
EVENTS_LUA="$ROOT/bench/post_events.lua"

log() { printf '\n== %s\n' "$*" >&2; }

command -v wrk >/dev/null 2>&1 || { log "installing wrk"; apt-get update -qq && apt-get install -y -qq wrk; }
[ -f "$RECOMMEND_LUA" ] || { echo "missing $RECOMMEND_LUA (../shared beside the repository)" >&2; exit 1; }

if [ -n "${ENCORE_BIN:-}" ]; then
  ENCORE="$ENCORE_BIN"
else
  log "building encore (release)"
  cargo build --release -p encore-cli --quiet
  ENCORE="$ROOT/target/release/encore"
fi

mkdir -p "$WORK"
DATA="$WORK/interactions_${USERS}x${ITEMS}x${ROWS}.tsv"
if [ ! -s "$DATA" ]; then
  log "generating $USERS users x $ITEMS items x $ROWS rows"
  "$ENCORE" generate --users "$USERS" --items "$ITEMS" --rows "$ROWS" --seed 7 --output "$DATA" >/dev/null
fi
cut -f1 "$DATA" | sort -u >"$WORK/users.txt"

DB="encore_bench_replicas_$$"
BASE=${DATABASE_URL%/*}
URL="$BASE/$DB"
psql "$DATABASE_URL" -qc "CREATE DATABASE $DB"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT
rm -rf "$WORK/sqlite" "$WORK/pg-tool" "$WORK/pg-a" "$WORK/pg-b"

# CPU seconds (user + system) of the given processes so far; gone processes count 0.
TICKS=$(getconf CLK_TCK)
cpu_of() {
  local pid total=0 t
  for pid in "$@"; do
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
  done
  awk -v t="$total" -v hz="$TICKS" 'BEGIN {printf "%.2f", t / hz}'
}
# The backends of the bench database: their CPU is marked at the start of a run (pg_mark) and
# summed at its end (pg_used), per pid, so backends opened during the run count from 0.
declare -A PG0
ticks_of() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
db_pids() { psql "$URL" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"; }
pg_mark() { local pid; PG0=(); for pid in $(db_pids); do PG0[$pid]=$(ticks_of "$pid"); done; }
pg_used() {
  local pid total=0 t
  for pid in $(db_pids); do t=$(ticks_of "$pid"); total=$((total + ${t:-0} - ${PG0[$pid]:-0})); done
  awk -v t="$total" -v hz="$TICKS" 'BEGIN {printf "%.2f", t / hz}'
}
# CPU seconds used between two readings.
delta() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

wait_http() { # url, seconds
  local url=$1 deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $url" >&2; return 1; }
    sleep 0.2
  done
}

start_serve() { # port, log name, serve args... -> sets SERVE_PID
  local port=$1 name=$2
  shift 2
  "$ENCORE" serve --listen "127.0.0.1:$port" --training-threads 2 "$@" >"$WORK/$name.log" 2>&1 &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  wait_http "http://127.0.0.1:$port/healthz" 60
  wait_http "http://127.0.0.1:$port/readyz" 300
}

train() { # port, auth header -> waits for an iALS job with activate=always
  local port=$1 auth=$2 job state
  job=$(curl -fsS -X POST "http://127.0.0.1:$port/v1/catalogs/music/models" \
    -H 'content-type: application/json' -H "$auth" \
    -d "{\"model\":\"ials\",\"params\":{\"factors\":$FACTORS},\"activate\":\"always\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
  while :; do
    state=$(curl -fsS -H "$auth" "http://127.0.0.1:$port/v1/jobs/$job" \
      | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j.get("error") or "")')
    case "$state" in
      succeeded*) return 0 ;;
      failed*|cancelled*) echo "training job $job on port $port: $state" >&2; return 1 ;;
    esac
    sleep 0.5
  done
}

# ------------------------------------------------------------------------------------ setup
log "SQLite: import, key, serve on :$PORT_SQLITE"
"$ENCORE" import --data-dir "$WORK/sqlite" --catalog music "$DATA" >/dev/null
AUTH_S="Authorization: Bearer $("$ENCORE" keys create --data-dir "$WORK/sqlite" --role admin --name bench)"
start_serve "$PORT_SQLITE" sqlite --data-dir "$WORK/sqlite"
PID_S=$SERVE_PID

log "PostgreSQL ($BASE/$DB): import, key, replica bench-a on :$PORT_A"
"$ENCORE" import --data-dir "$WORK/pg-tool" --database "$URL" --catalog music "$DATA" >/dev/null
AUTH_P="Authorization: Bearer $("$ENCORE" keys create --data-dir "$WORK/pg-tool" --database "$URL" --role admin --name bench)"
start_serve "$PORT_A" pg-a --data-dir "$WORK/pg-a" --database "$URL" --replica-name bench-a
PID_A=$SERVE_PID

log "training iALS ($FACTORS factors) through each one's API"
T0=$SECONDS; train "$PORT_SQLITE" "$AUTH_S"; echo "SQLite: trained and answering in $((SECONDS - T0)) s" >&2
T0=$SECONDS; train "$PORT_A" "$AUTH_P"; echo "PostgreSQL: trained and answering in $((SECONDS - T0)) s" >&2

# ---------------------------------------------------------------------- 1. POST /recommend
RESULTS="$WORK/results.txt"
: >"$RESULTS"
recommend_run() { # label, port, auth, pid, duration
  local label=$1 port=$2 auth=$3 pid=$4 duration=$5 c0 c1 p0 p1 t0 t1 json
  c0=$(cpu_of "$pid"); pg_mark; t0=$(date +%s.%N)
  json=$(wrk -t2 -c32 -d"$duration" --latency -H "$auth" -s "$RECOMMEND_LUA" \
    "http://127.0.0.1:$port" -- "$WORK/users.txt" | sed -n 's/^WRKJSON //p')
  t1=$(date +%s.%N); c1=$(cpu_of "$pid"); p1=$(pg_used)
  echo "recommend $label $json wall=$(delta "$t0" "$t1") encore_cpu=$(delta "$c0" "$c1") postgres_cpu=$p1"
}
log "POST /recommend: warm-up 5 s each, then $DURATION x 2 each, alternating (load average $(cut -d' ' -f1-3 /proc/loadavg))"
recommend_run sqlite "$PORT_SQLITE" "$AUTH_S" "$PID_S" 5s >/dev/null
recommend_run postgres "$PORT_A" "$AUTH_P" "$PID_A" 5s >/dev/null
for round in 1 2; do
  recommend_run sqlite "$PORT_SQLITE" "$AUTH_S" "$PID_S" "$DURATION" | tee -a "$RESULTS"
  recommend_run postgres "$PORT_A" "$AUTH_P" "$PID_A" "$DURATION" | tee -a "$RESULTS"
done

# -------------------------------------------------------------------- 2. events ingestion
for port in "$PORT_SQLITE" "$PORT_A"; do
  a=$AUTH_P; [ "$port" = "$PORT_SQLITE" ] && a=$AUTH_S
  curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/v1/catalogs" -H "$a" \
    -H 'content-type: application/json' -d '{"name":"ingest"}'
done
ingest_wrk() { # port, auth, threads, connections, case, seed -> WRKJSON
  local catalog=music users=$USERS items=$ITEMS
  [ "$5" = new ] && catalog=ingest users=10000000 items=1000000
  wrk -t"$3" -c"$4" -d"$DURATION" --latency -H "$2" -s "$EVENTS_LUA" \
    "http://127.0.0.1:$1" -- "$catalog" "$BATCH" "$users" "$items" "$6" | sed -n 's/^WRKJSON //p'
}
ingest_one() { # label, port, auth, pid, case
  local c0 c1 t0 t1 json
  c0=$(cpu_of "$4"); pg_mark; t0=$(date +%s.%N)
  json=$(ingest_wrk "$2" "$3" 2 8 "$5" "$RANDOM")
  t1=$(date +%s.%N); c1=$(cpu_of "$4")
  echo "ingest $1 $5 a=$json batch=$BATCH wall=$(delta "$t0" "$t1") encore_cpu=$(delta "$c0" "$c1") postgres_cpu=$(pg_used)"
}
log "events ingestion, SQLite and one replica: wrk -t2 -c8 -d$DURATION, batches of $BATCH (load average $(cut -d' ' -f1-3 /proc/loadavg))"
for case in known new; do
  ingest_one sqlite "$PORT_SQLITE" "$AUTH_S" "$PID_S" "$case" | tee -a "$RESULTS"
  ingest_one one "$PORT_A" "$AUTH_P" "$PID_A" "$case" | tee -a "$RESULTS"
done
kill "$PID_S" 2>/dev/null || true

log "replica bench-b on :$PORT_B over an empty data dir"
T0=$(date +%s.%N)
start_serve "$PORT_B" pg-b --data-dir "$WORK/pg-b" --database "$URL" --replica-name bench-b
PID_B=$SERVE_PID
echo "bench-b ready (model fetched from the database) in $(delta "$T0" "$(date +%s.%N)") s" | tee -a "$RESULTS"

log "events ingestion, two replicas: wrk -t1 -c4 -d$DURATION against each at once"
for case in known new; do
  c0=$(cpu_of "$PID_A" "$PID_B"); pg_mark; t0=$(date +%s.%N)
  ingest_wrk "$PORT_A" "$AUTH_P" 1 4 "$case" "$RANDOM" >"$WORK/two_a.json" &
  WA=$!
  ingest_wrk "$PORT_B" "$AUTH_P" 1 4 "$case" "$RANDOM" >"$WORK/two_b.json" &
  WB=$!
  wait "$WA" "$WB"
  t1=$(date +%s.%N); c1=$(cpu_of "$PID_A" "$PID_B")
  echo "ingest two $case a=$(cat "$WORK/two_a.json") b=$(cat "$WORK/two_b.json") batch=$BATCH wall=$(delta "$t0" "$t1") encore_cpu=$(delta "$c0" "$c1") postgres_cpu=$(pg_used)" | tee -a "$RESULTS"
done
echo "PostgreSQL connections to the bench database at the end: $(db_pids | wc -l)" | tee -a "$RESULTS"
RSS_A=$(ps -o rss= -p "$PID_A" | awk '{printf "%d", $1/1024}')
RSS_B=$(ps -o rss= -p "$PID_B" | awk '{printf "%d", $1/1024}')
echo "RSS bench-a ${RSS_A} MB, bench-b ${RSS_B} MB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS"

python3 "$ROOT/bench/pg_replicas_report.py" "$RESULTS"
