#!/usr/bin/env bash
# Spec-driven API testing: Schemathesis generates requests from the running server's own
# `/openapi.json` for every operation and checks each answer against the same document.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES_PER_OPERATION]    (default 100; SCHEMATHESIS_SEED=N to vary)
#
# Steps: a virtualenv with a pinned Schemathesis (in target/schemathesis-venv, reused across runs),
# `cargo build -p encore-cli`, a temporary data directory with a small synthetic catalog and an
# active model (`encore demo --no-serve`), an admin API key when the binary can make one, then
# `encore serve` on a free loopback port and the checks below. Zero failures or the script fails.
#
# Checks: all of them (`--checks all`: server errors, status codes, content types, headers and
# schemas of the answers, positive_data_acceptance, negative_data_rejection, use_after_free,
# ensure_resource_availability, auth, methods), in every phase (examples, coverage, fuzzing and
# the stateful phase, which is the default `--phases`). Never weakened: fix the server or the
# spec instead. One worker: with two, Hypothesis on CPython 3.11 sometimes fails inside `ast`
# ("AST constructor recursion depth mismatch", a runtime error of the tool, not of the server).
#
# Two runs, because one operation destroys the state the others need: `DELETE /v1/catalogs/{c}`
# with the spec's example name deletes the demo catalog (its events, model and keys), after which
# the other operations would only meet `404 catalog_not_found` and test little. So the first run
# covers every other operation on an intact catalog, and the second run covers the deletion alone.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
max_examples="${1:-100}"
seed="${SCHEMATHESIS_SEED:-20261128}"
venv="target/schemathesis-venv"

if [[ ! -x "$venv/bin/schemathesis" ]] \
    || ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

echo "== building encore"
cargo build --quiet -p encore-cli --bin encore
encore="$PWD/target/debug/encore"

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
echo "== preparing $data (synthetic music catalog, active model)"
"$encore" demo --no-serve --data-dir "$data" --users 2000 --items 500 --rows 20000 \
  >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }

# An admin key: made with the CLI when the binary has `keys`, otherwise taken from the first-start
# banner of the server (below). Without either, the server has no access control to pass.
key=""
if "$encore" keys --help >/dev/null 2>&1; then
  key="$("$encore" keys create --data-dir "$data" --role admin 2>&1 | grep -Eo 'ek_[A-Za-z0-9_-]{43}' | head -n1 || true)"
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$encore" serve --data-dir "$data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break  # live at once, ready once loaded
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null
if [[ -z "$key" ]]; then
  key="$(grep -Eo 'ek_[A-Za-z0-9_-]{43}' "$work/serve.log" | head -n1 || true)"
fi
auth=()
if [[ -n "$key" ]]; then
  auth=(-H "Authorization: Bearer $key")
  echo "== using an admin key (${key:0:11}…)"
else
  echo "== no API key (the server does not enforce access control)"
fi

checks="all"
run() {
  local name="$1"
  shift
  echo "== schemathesis: $name"
  local out="$work/$name.out"
  local status=0
  "$venv/bin/schemathesis" run "$base/openapi.json" "${auth[@]}" \
    --checks "$checks" --max-examples "$max_examples" --seed "$seed" \
    --generation-database none --workers 1 --request-timeout 30 --no-color \
    --warnings off "$@" >"$out" 2>&1 || status=$?
  # Errors and failures in full, then the totals.
  sed -n '/= \(ERRORS\|FAILURES\) =/,/= SUMMARY =/{/= SUMMARY =/!p}' "$out"
  sed -n '/= SUMMARY =/,$p' "$out"
  operations="$(grep -Eo 'Tested: [0-9]+' "$out" | grep -Eo '[0-9]+' || echo 0)"
  cases="$(grep -Eo '[0-9]+ generated' "$out" | grep -Eo '[0-9]+' | head -n1 || echo 0)"
  echo "== $name: $operations operations, $cases cases, exit status $status"
  total_operations=$((total_operations + operations))
  total_cases=$((total_cases + cases))
  if [[ $status -ne 0 ]]; then
    failed=1
  fi
}

total_operations=0
total_cases=0
failed=0
run every-operation-but-catalog-deletion --exclude-name 'DELETE /v1/catalogs/{catalog}'
run catalog-deletion --include-name 'DELETE /v1/catalogs/{catalog}'

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "== the server died during the run:" >&2
  tail -n 50 "$work/serve.log" >&2
  exit 1
fi
echo "== schemathesis total: $total_operations operations, $total_cases cases"
if [[ $failed -ne 0 ]]; then
  echo "== schemathesis: FAILURES (see above)" >&2
  exit 1
fi
echo "== schemathesis: zero failures"
