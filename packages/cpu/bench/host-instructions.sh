#!/usr/bin/env bash
# Host instructions per guest instruction of the interpreter on the loop kernel, counted by
# callgrind (valgrind), which neither the machine's load nor its neighbours change: two runs
# in parallel, one stopping after WARM guest instructions, one after WARM + MEAS; their
# difference over MEAS. About 1% from run to run (process start-up differs a little).
#   bash packages/cpu/bench/host-instructions.sh [MEAS]      (default 30000000; about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
  echo "host-instructions: valgrind is not installed (Debian: apt-get install valgrind)" >&2
  exit 2
fi
meas="${1:-30000000}"
warm=20000000
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
node_bin="$(command -v node)"
count() {
  # --single-threaded: V8 compiles on the main thread, so both runs optimize at the same point.
  WARM=$warm MEAS=$1 valgrind --tool=callgrind --smc-check=all-non-file \
    --callgrind-out-file="$out/cg.$1" "$node_bin" --single-threaded --conditions=source \
    --import ../../tooling/cpu-harness/register-ts.mjs bench/host-instructions.ts \
    >"$out/log.$1" 2>&1 || { cat "$out/log.$1" >&2; exit 1; }
  grep -o 'Collected : [0-9]*' "$out/log.$1" | grep -o '[0-9]*$'
}
count 0 >"$out/a" &
count "$meas" >"$out/b"
wait
a=$(cat "$out/a")
b=$(cat "$out/b")
echo "host instructions per guest instruction (interpreter, loop kernel): $(awk -v a="$a" -v b="$b" -v n="$meas" 'BEGIN { printf "%.1f", (b - a) / n }')"
