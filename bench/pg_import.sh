#!/usr/bin/env bash
# Bulk-import benchmark (not a timed test): `encore import` of the synthetic file into PostgreSQL
# (`--database`, binary COPY) against the same import into SQLite, in the same run.
#
#   bash bench/pg_import.sh                      # 5e6 rows, 1e5 users x 5e4 items
#   ROWS=500000 bash bench/pg_import.sh          # quicker
#   DATABASE_URL=postgres://u@host/postgres bash bench/pg_import.sh
#
# It creates a database of its own (encore_bench_<pid>) on the server of DATABASE_URL (default
# postgres://root@127.0.0.1:5432/postgres) and drops it at the end. Heavy: run it alone, under
# `flock /tmp/encore-heavy.lock` on the shared machine. Target: >= 500,000 rows/s.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-5000000}
USERS=${USERS:-100000}
ITEMS=${ITEMS:-50000}
DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/postgres}
WORK=${WORK:-/tmp/encore-pg-import}
BIN=${ENCORE_BIN:-target/release/encore}

[[ -n "${ENCORE_BIN:-}" ]] || cargo build --release -q -p encore-cli
mkdir -p "$WORK"
FILE="$WORK/plays-$ROWS.tsv"
[[ -f "$FILE" ]] || "$BIN" generate --users "$USERS" --items "$ITEMS" --rows "$ROWS" --output "$FILE"

DB="encore_bench_$$"
BASE=${DATABASE_URL%/*}
psql "$DATABASE_URL" -qc "CREATE DATABASE $DB"
trap 'psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; rm -rf "$WORK/sqlite" "$WORK/pg-models"' EXIT

echo "== $(wc -l < "$FILE") lines, $(du -h "$FILE" | cut -f1); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$WORK/sqlite"
echo "-- SQLite"
"$BIN" import --data-dir "$WORK/sqlite" --catalog music --json "$FILE"
echo "-- PostgreSQL ($BASE/$DB)"
"$BIN" import --data-dir "$WORK/pg-models" --database "$BASE/$DB" --catalog music --json "$FILE"
psql "$BASE/$DB" -Atc "SELECT 'events partitions + indexes: ' || pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'events'::regclass"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
