#!/usr/bin/env bash
# Edge model files: size and quality cost per precision on the shared splits, latency of one
# on-device call, peak memory, and the size of the library.
#
#   bash bench/edge.sh              # everything (a few minutes on 2 cores)
#   bash bench/edge.sh quality      # only the shared-split table
#   bash bench/edge.sh latency      # only latency and memory (5·10^4 items)
#   bash bench/edge.sh size         # only the library sizes
#
# Quality: every model at its defaults is trained on ../shared/eval/splits/<set>/train.tsv,
# exported at f32, f16 and int8, and `encore export-edge --evaluate-test` scores each test user's
# training history through the edge file (encore-edge) and through the model file, and reports
# NDCG@10 with encore-core's metrics (protocol ../shared/eval/PROTOCOL.md). EASE is skipped on
# lastfm-2k (17,632 items: ~2.5 GB to train). Latency: `encore generate` (10^5 users × 5·10^4
# items, 5·10^6 rows), iALS 64 factors, then the `edge_latency` example: top-10 for 40-item
# histories, one thread. Raw results stay in bench/out/edge/.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
out=bench/out/edge
mkdir -p "$out"
cargo build --release --quiet -p encore-cli
cargo build --release --quiet -p encore-edge --example edge_latency
enc=target/release/encore

if [[ "$what" == all || "$what" == quality ]]; then
  : > "$out/quality.jsonl"
  for set in lastfm-2k ml-100k ml-latest-small; do
    split="../shared/eval/splits/$set"
    for model in ials itemknn popularity bpr ease; do
      if [[ "$set" == lastfm-2k && "$model" == ease ]]; then continue; fi
      file="$out/$set-$model.enc"
      "$enc" train --input "$split/train.tsv" --model "$model" --output "$file" >/dev/null 2>&1
      for precision in f32 f16 int8; do
        "$enc" export-edge --model "$file" --output "$out/$set-$model-$precision.edge" \
          --precision "$precision" --evaluate-test "$split/test.tsv" --json 2>/dev/null \
          | python3 -c "import json,sys; r=json.load(sys.stdin); r['dataset']='$set'; print(json.dumps(r))" \
          >> "$out/quality.jsonl"
      done
      echo "== $set $model: done" >&2
    done
  done
  python3 - "$out/quality.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| data set | model | precision | edge file | model file | ratio | NDCG@10 model file (stored users / fold-in) | NDCG@10 edge | vs fold-in |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    e = r["evaluation"]
    print(f"| {r['dataset']} | {r['algorithm']} | {r['precision']} | {r['bytes']/1024:,.0f} KiB | "
          f"{r['model_bytes']/1024:,.0f} KiB | {100*r['ratio']:.1f} % | {e['model_ndcg']:.4f} / {e['model_fold_in_ndcg']:.4f} | "
          f"{e['edge_ndcg']:.4f} | {100*e['edge_vs_model_fold_in']:+.2f} % |")
PY
fi

if [[ "$what" == all || "$what" == latency ]]; then
  data="$out/synthetic.tsv"
  [[ -f "$data" ]] || "$enc" generate --users 100000 --items 50000 --rows 5000000 --output "$data" >/dev/null 2>&1
  [[ -f "$out/synthetic-ials.enc" ]] || "$enc" train --input "$data" --model ials --output "$out/synthetic-ials.enc" >/dev/null 2>&1
  : > "$out/latency.jsonl"
  for precision in f32 f16 int8; do
    "$enc" export-edge --model "$out/synthetic-ials.enc" --output "$out/synthetic-ials-$precision.edge" \
      --precision "$precision" --json >/dev/null
    target/release/examples/edge_latency "$out/synthetic-ials-$precision.edge" 40 10 3000 | tee -a "$out/latency.jsonl"
  done
  ls -l "$out"/synthetic-ials.enc | awk '{print "server model file:", $5, "bytes"}'
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

if [[ "$what" == all || "$what" == size ]]; then
  cargo build --release --quiet -p encore-edge
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  cp target/release/libencore_edge.so target/release/libencore_edge.a "$tmp/"
  strip "$tmp/libencore_edge.so"
  strip --strip-debug "$tmp/libencore_edge.a"
  cc -O2 -I crates/encore-edge/include examples/edge-c/recommend.c target/release/libencore_edge.a \
    -lpthread -ldl -lm -o "$tmp/recommend"
  strip "$tmp/recommend"
  printf '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n' > "$tmp/hello.c"
  cc -O2 "$tmp/hello.c" -o "$tmp/hello" && strip "$tmp/hello"
  size_of() { stat -c %s "$1"; }
  echo "stripped libencore_edge.so: $(size_of "$tmp/libencore_edge.so") bytes"
  echo "libencore_edge.a without debug info: $(size_of "$tmp/libencore_edge.a") bytes (archive of everything; a linker keeps only what is called)"
  echo "examples/edge-c/recommend statically linked, stripped: $(size_of "$tmp/recommend") bytes (a C hello world: $(size_of "$tmp/hello"))"
fi
