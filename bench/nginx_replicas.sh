#!/usr/bin/env bash
# Two `encore serve` replicas on one PostgreSQL database behind nginx (the configuration of
# docs/DEPLOY.md, "N replicas behind a load balancer"), tested rather than only written down:
#
#   bash bench/nginx_replicas.sh                  # target/debug/encore (any build will do)
#   ENCORE_BIN=target/release/encore bash bench/nginx_replicas.sh
#
# 1. a database of its own (encore_nginx_<pid>, dropped at the end), a small synthetic catalog,
#    an admin key, replicas A and B on loopback ports, iALS trained through A;
# 2. nginx (Debian's package; installed with apt-get when missing) on 127.0.0.1:$PORT with the
#    upstream below, access log with the upstream address of every request;
# 3. wrk POST /recommend through nginx (2 threads x 16 connections, 20 s); 5 s in, replica B is
#    SIGKILLed; 12 s in, B is started again (a new process, empty data dir);
# 4. prints wrk's totals (non-2xx and socket errors), the requests per upstream and status from
#    nginx's log, and checks that writes and job reads through nginx work on either replica.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ENCORE=${ENCORE_BIN:-$ROOT/target/debug/encore}
DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/postgres}
WORK=${WORK:-/tmp/encore-nginx}
PORT=${PORT:-18290}
PORT_A=${PORT_A:-18291}
PORT_B=${PORT_B:-18292}
LUA="$ROOT/../shared/baselines/flask-recommend/post_random_user.lua"

[ -x "$ENCORE" ] || cargo build -p encore-cli --quiet
command -v nginx >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nginx; }
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
NGINX=$(command -v nginx)

rm -rf "$WORK" && mkdir -p "$WORK/logs"
DB="encore_nginx_$$"
URL="${DATABASE_URL%/*}/$DB"
psql "$DATABASE_URL" -qc "CREATE DATABASE $DB"
PIDS=()
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT

"$ENCORE" generate --users 2000 --items 500 --rows 50000 --output "$WORK/plays.tsv" >/dev/null
cut -f1 "$WORK/plays.tsv" | sort -u >"$WORK/users.txt"
"$ENCORE" import --data-dir "$WORK/tool" --database "$URL" --catalog music "$WORK/plays.tsv" >/dev/null
AUTH="Authorization: Bearer $("$ENCORE" keys create --data-dir "$WORK/tool" --database "$URL" --role admin --name nginx)"

start_replica() { # name, port -> pid on stdout
  "$ENCORE" serve --data-dir "$WORK/$1-$RANDOM" --database "$URL" --replica-name "$1" \
    --listen "127.0.0.1:$2" >>"$WORK/$1.log" 2>&1 &
  echo $!
}
wait_ready() { # port
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "no readiness on :$1" >&2; exit 1; }
    sleep 0.2
  done
}
PID_A=$(start_replica a "$PORT_A"); PIDS+=("$PID_A")
PID_B=$(start_replica b "$PORT_B"); PIDS+=("$PID_B")
wait_ready "$PORT_A"; wait_ready "$PORT_B"

JOB=$(curl -fsS -X POST "http://127.0.0.1:$PORT_A/v1/catalogs/music/models" -H "$AUTH" \
  -H 'content-type: application/json' -d '{"model":"ials","params":{"factors":16},"activate":"always"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
until curl -fsS -H "$AUTH" "http://127.0.0.1:$PORT_A/v1/jobs/$JOB" | grep -q '"state":"succeeded"'; do sleep 0.2; done
sleep 2 # B swaps within 5 s; readiness is per replica

cat >"$WORK/nginx.conf" <<EOF
# The configuration of docs/DEPLOY.md with loopback addresses and a scratch prefix.
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    log_format upstreams '\$upstream_addr \$upstream_status \$status';
    upstream encore {
        least_conn;
        server 127.0.0.1:$PORT_A max_fails=1 fail_timeout=2s;
        server 127.0.0.1:$PORT_B max_fails=1 fail_timeout=2s;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$PORT;
        client_max_body_size 16m;
        location / {
            proxy_pass http://encore;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_connect_timeout 1s;
            proxy_read_timeout 35s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
            access_log $WORK/logs/access.log upstreams;
        }
        # Recommendations only read: a request cut off by a dying replica may be sent again.
        location ~ ^(/recommend|/v1/catalogs/[^/]+/recommend)\$ {
            proxy_pass http://encore;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_connect_timeout 1s;
            proxy_read_timeout 35s;
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 2;
            access_log $WORK/logs/access.log upstreams;
        }
    }
}
EOF
"$NGINX" -t -q -p "$WORK" -c "$WORK/nginx.conf"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf"
sleep 0.5

echo "== wrk through nginx, 20 s; SIGKILL of replica b at 5 s, b started again at 12 s"
wrk -t2 -c16 -d20s --latency -H "$AUTH" -s "$LUA" "http://127.0.0.1:$PORT" -- "$WORK/users.txt" \
  >"$WORK/wrk.txt" &
WRK=$!
sleep 5
kill -9 "$PID_B"
echo "b SIGKILLed at $(date +%T.%N | cut -c1-12)"
sleep 7
PID_B=$(start_replica b2 "$PORT_B"); PIDS+=("$PID_B")
wait_ready "$PORT_B"
echo "b2 ready on :$PORT_B at $(date +%T.%N | cut -c1-12)"
wait "$WRK"
sed -n 's/^WRKJSON //p' "$WORK/wrk.txt"
echo "== requests by upstream, upstream status, client status (nginx access log)"
sort "$WORK/logs/access.log" | uniq -c | sort -rn
grep -c '' "$WORK/logs/error.log" | xargs echo "nginx error log lines:"

echo "== writes and job reads through nginx"
for i in 1 2 3 4; do
  curl -sS -o /dev/null -w "POST events %{http_code}\n" -X POST "http://127.0.0.1:$PORT/v1/catalogs/music/events" \
    -H "$AUTH" -H 'content-type: application/json' -d "{\"events\":[{\"user_id\":\"nginx-$i\",\"item_id\":\"i1\"}]}"
  curl -sS -o /dev/null -w "GET /v1/jobs/$JOB %{http_code}\n" -H "$AUTH" "http://127.0.0.1:$PORT/v1/jobs/$JOB"
done
tail -8 "$WORK/logs/access.log"
