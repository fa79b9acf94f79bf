#!/usr/bin/env bash
# Times `skiff copy` against `skopeo copy` on the same copy, alternating A B A B.
# usage: bench/compare.sh RUNS SRC DEST-PREFIX [extra copy flags...]
# DEST-PREFIX is a transport plus a path, e.g. "dir:/tmp/out" or "oci:/tmp/out"; each run
# writes to a fresh path and removes it afterwards. For "docker://HOST/REPO" each run pushes
# to a new repository (REPO-N), so nothing is already there and no blob can be mounted. Prints median/min/max wall seconds and
# max RSS (MB) for each tool, and the skiff/skopeo ratio of medians.
# KEEP=1: re-copy into a destination that already holds the image (written once, untimed,
# then kept between runs; each tool's run finds the other's output there).
set -euo pipefail
runs=$1; src=$2; dest=$3; shift 3
skiff=${SKIFF:-$(dirname "$0")/../target/release/skiff}
transport=${dest%%:*}; path=${dest#*:}
n=0
measure() { # tool -> "seconds rss_kb"
  local tool=$1; shift; [ -n "${KEEP:-}" ] || rm -rf "$path"
  n=$((n + 1)); local target="$transport:$path"
  [ "$transport" = docker ] && target="$dest-$$-$RANDOM$n:latest"
  rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f "%M" -o /tmp/bench.time "$tool" --insecure-policy copy -q "$@" "$src" "$target" >/dev/null 2>/tmp/bench.err || { cat /tmp/bench.err >&2; echo "FAILED 0"; return; }
  t1=$(date +%s%N)
  # Wall time from the shell clock (ms resolution); peak RSS from /usr/bin/time.
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", (b - a) / 1e9}') $(cat /tmp/bench.time)"
  [ "$transport" = docker ] || [ -n "${KEEP:-}" ] || rm -rf "$path"
}
[ -z "${KEEP:-}" ] || measure "$skiff" "$@" > /dev/null
declare -a a_t a_m b_t b_m
for i in $(seq "$runs"); do
  read -r t m < <(measure "$skiff" "$@"); a_t+=("$t"); a_m+=("$m")
  read -r t m < <(measure skopeo "$@"); b_t+=("$t"); b_m+=("$m")
done
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "median %.3f s (min %.3f, max %.3f)", (NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2), v[1], v[NR]}'; }
maxrss() { printf '%s\n' "$@" | sort -g | tail -1 | awk '{printf "%.0f MB", $1/1024}'; }
echo "skiff : $(stats "${a_t[@]}"), peak RSS $(maxrss "${a_m[@]}")"
echo "skopeo: $(stats "${b_t[@]}"), peak RSS $(maxrss "${b_m[@]}")"
med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2)}'; }
awk -v a="$(med "${a_t[@]}")" -v b="$(med "${b_t[@]}")" 'BEGIN {printf "ratio skiff/skopeo: %.2f\n", a/b}'
[ -z "${KEEP:-}" ] || [ "$transport" = docker ] || rm -rf "$path"
