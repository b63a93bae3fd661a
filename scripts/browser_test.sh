#!/usr/bin/env bash
# Browser tests of the dashboard (`/dashboard`): headless Debian `chromium` driven by
# `playwright-core` (tests/browser, installed with `npm ci`; no browser is downloaded) against a
# real `encore serve` on a free loopback port over a temporary data directory.
#
#   bash scripts/browser_test.sh          (after `cargo build`: it uses target/debug/encore)
#
# The data directory holds a demo catalog (`encore demo --no-serve`: synthetic music, an active
# iALS model), an admin key and a reader key. Screenshots of every page at 1280 px (and the
# overview at phone width) are written to target/browser-screenshots/ (git-ignored).
# ENCORE_BIN=path tests another binary; CHROMIUM=path another browser.
set -euo pipefail
cd "$(dirname "$0")/.."

encore="${ENCORE_BIN:-$PWD/target/debug/encore}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$encore" ]] || { echo "no $encore: build first (cargo build)" >&2; exit 1; }
[[ -x "$chromium" ]] || { echo "no $chromium: apt-get install -y chromium" >&2; exit 1; }
command -v node >/dev/null || { echo "no node: apt-get install -y nodejs npm" >&2; exit 1; }
if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
started=$SECONDS
"$encore" demo --no-serve --data-dir "$data" --users 3000 --items 1200 --rows 60000 \
  >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
admin_key="$("$encore" keys create --data-dir "$data" --role admin --name browser-admin)"
reader_key="$("$encore" keys create --data-dir "$data" --role reader --name browser-reader)"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$encore" serve --data-dir "$data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || { echo "the server did not get ready" >&2; cat "$work/server.log"; exit 1; }
echo "== prepared in $((SECONDS - started)) s; testing $base/dashboard/"

shots="$PWD/target/browser-screenshots"
mkdir -p "$shots"
status=0
ENCORE_URL="$base" ADMIN_KEY="$admin_key" READER_KEY="$reader_key" SHOTS_DIR="$shots" CHROMIUM="$chromium" \
  node --test --test-concurrency=1 tests/browser/dashboard.test.mjs || status=$?
if [[ $status -ne 0 ]]; then
  echo "== server log (last 40 lines)"; tail -n 40 "$work/server.log"
fi
echo "== browser tests took $((SECONDS - started)) s; screenshots in $shots"
exit $status
