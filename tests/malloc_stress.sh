#!/usr/bin/env bash
# Malloc stress: run the tiny training task N times (default 20) under glibc's
# malloc checks, alternating cnn and vit, with two training threads (so the
# gradient workers start and close), and report every run that did not exit 0
# or whose stderr mentions heap corruption, with the tail of its stderr.
# It looks for the rare crash at process exit (a worker thread tearing down
# while the process exits); a clean result is "N of N runs clean".
#
#   tests/malloc_stress.sh [N]
#
# Environment: MALLOC_DEBUG_LIB (default /lib/x86_64-linux-gnu/libc_malloc_debug.so.0,
# glibc 2.34+), KEEP_LOGS=1 keeps the folder of logs, RUN_TIMEOUT (seconds per
# run, default 300). Exits 1 when any run failed. Linux with glibc only.
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-20}"
lib="${MALLOC_DEBUG_LIB:-/lib/x86_64-linux-gnu/libc_malloc_debug.so.0}"
timeout_s="${RUN_TIMEOUT:-300}"
if [ ! -e "$lib" ]; then
  echo "malloc_stress: $lib not found (set MALLOC_DEBUG_LIB to glibc's libc_malloc_debug.so)" >&2
  exit 2
fi
# The training task's own command line (permissions, V8 flags), from deno.json.
task_command() {
  deno eval "console.log(JSON.parse(Deno.readTextFileSync('deno.json')).tasks['train:$1'].command)"
}
declare -A command
for model in cnn vit; do
  command[$model]="$(task_command "$model")" || exit 2
done

logs="$(mktemp -d -t malloc-stress-XXXXXX)"
failed=0
echo "malloc_stress: $runs runs, LD_PRELOAD=$lib MALLOC_CHECK_=3, logs in $logs"
for i in $(seq 1 "$runs"); do
  if [ $((i % 2)) -eq 1 ]; then model=cnn; else model=vit; fi
  out="$logs/run-$i"
  log="$logs/run-$i.stderr"
  # shellcheck disable=SC2086 # the task's command is words to split
  LD_PRELOAD="$lib" MALLOC_CHECK_=3 timeout -k 10 "$timeout_s" ${command[$model]} \
    --preset tiny --data sample --epochs 1 --train-size 256 --test-size 64 --batch-size 8 \
    --threads 2 --out "$out" >/dev/null 2>"$log"
  rc=$?
  heap=$(grep -Eci 'malloc|corrupted|double free|free\(\)|fastbins|SIGSEGV|Segmentation' "$log")
  if [ "$rc" -ne 0 ] || [ "$heap" -ne 0 ]; then
    failed=$((failed + 1))
    what="exit $rc"
    if [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then what="$what (signal $(kill -l $((rc - 128))))"; fi
    [ "$rc" -eq 124 ] && what="$what (timed out after ${timeout_s} s)"
    echo "run $i ($model): $what; stderr ends:"
    tail -n 20 "$log" | sed 's/^/    /'
  else
    echo "run $i ($model): ok"
    rm -rf "$out" "$log"
  fi
done
echo "malloc_stress: $((runs - failed)) of $runs runs clean"
if [ "$failed" -eq 0 ] && [ "${KEEP_LOGS:-0}" != 1 ]; then rm -rf "$logs"; fi
[ "$failed" -eq 0 ]
