#!/usr/bin/env bash
# Decode speed by thread count, on a quiet machine and beside one busy process.
# Interleaves the counts (A B A B …) so the machine's drift falls on both; prints each run,
# then the median and range per count and condition.
#   usage: scripts/bench_threads.sh [BIN] [REPEATS] [COUNTS…]
set -euo pipefail
bin=${1:-target/debug/memento}
repeats=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
counts=("$@")
[ ${#counts[@]} -eq 0 ] && counts=(auto 1 2)
out=$(mktemp)
measure() { # condition count
  local flag=()
  [ "$2" != auto ] && flag=(--threads "$2")
  "$bin" "${flag[@]}" bench decode --no-llama-cpp --contexts 256 --decode-tokens 64 --json 2>/dev/null |
    python3 -c "import json,sys; r=json.load(sys.stdin); print('$1', '$2', r['threads'], r['rows'][0]['decode_tok_s'])" >>"$out"
}
for condition in quiet busy; do
  busy_pid=
  if [ $condition = busy ]; then
    python3 -c 'while True: pass' & busy_pid=$!
    sleep 2
  fi
  for _ in $(seq "$repeats"); do
    for n in "${counts[@]}"; do measure $condition "$n"; done
  done
  [ -n "$busy_pid" ] && kill "$busy_pid"
done
python3 - "$out" <<'PY'
import sys, statistics, collections
runs = collections.defaultdict(list)
used = {}
for line in open(sys.argv[1]):
    cond, asked, threads, tok_s = line.split()
    runs[(cond, asked)].append(float(tok_s))
    used.setdefault((cond, asked), set()).add(threads)
print(f"{'condition':<10}{'--threads':<11}{'ran with':<10}{'median tok/s':>13}{'range':>16}")
for (cond, asked), v in runs.items():
    print(f"{cond:<10}{asked:<11}{','.join(sorted(used[(cond, asked)])):<10}{statistics.median(v):>13.1f}{f'{min(v):.1f}–{max(v):.1f}':>16}")
PY
rm -f "$out"
