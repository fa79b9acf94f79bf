#!/usr/bin/env bash
# Runs fuzz targets one after another, each until it has used CPU_SECONDS of CPU time
# (user + system, measured by /usr/bin/time; libFuzzer's -max_total_time is wall time, so a
# niced run on a busy machine is run again for what it still owes), at the lowest priority.
# Usage: fuzz/run.sh [CPU_SECONDS] [TARGET...]   (default 600 s, every target; NICE=0 for
# a machine doing nothing else)
# Needs: a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz); builds first.
# Findings land in fuzz/artifacts/TARGET/; the CPU time of each run in fuzz/cpu-times.txt.
set -euo pipefail
cd "$(dirname "$0")"
budget=${1:-600}
shift || true
cargo +nightly fuzz build -s none -a >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
bin=target/x86_64-unknown-linux-gnu/release
# CPU seconds from /usr/bin/time's last line ("USER SYS"; a line before it says when the
# fuzzer exited non-zero).
cpu_of() { tail -n 1 "$1" | awk '{printf "%d", $1 + $2}'; }
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  : >"artifacts/$t/log.txt"
  spent=0
  while [ "$spent" -lt "$budget" ]; do
    left=$((budget - spent))
    # A crash stops libFuzzer with an error; the artifact is kept and the next target runs.
    /usr/bin/time -f '%U %S' -o "/tmp/skiff-fuzz-time.$$" \
      nice -n "${NICE:-19}" "$bin/$t" "corpus/$t" "seeds/$t" -max_total_time=$((left + 5)) \
      -timeout=10 -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" \
      -print_final_stats=1 >>"artifacts/$t/log.txt" 2>&1 || {
        echo "$t: libFuzzer stopped early (see artifacts/$t/)" >&2
        spent=$((spent + $(cpu_of "/tmp/skiff-fuzz-time.$$")))
        break
      }
    spent=$((spent + $(cpu_of "/tmp/skiff-fuzz-time.$$")))
  done
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "artifacts/$t/log.txt" | awk '{n += $2} END {print n + 0}')
  echo "$t: ${spent} CPU-s, ${runs} executions, corpus $(ls "corpus/$t" | wc -l) inputs" | tee -a cpu-times.txt
done
rm -f "/tmp/skiff-fuzz-time.$$"
