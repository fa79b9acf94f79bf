#!/usr/bin/env bash
# What sigstore signing and verification add to a copy, measured on the small example
# image so the signature work is not lost in the blob work.
#
#   bench/sigstore.sh [RUNS]     (default 15)
#
# Cases (median and min-max of wall time, and median CPU time (user + system, steadier when
# the machine is shared); every run a fresh destination):
#   oci->dir                     no signing (baseline)
#   oci->dir, signed             --sign-by-sigstore-private-key (decrypt the key, sign)
#   key decryption               scrypt N=32768 + secretbox, from skiff's --debug line
#   registry->dir                --insecure-policy, attachments off (baseline)
#   registry->dir, attachments   --insecure-policy, the .sig tag and payload copied
#   registry->dir, verified      a sigstoreSigned policy: the attachment fetched + verified
# skopeo 1.9.3 (Debian: sigstore signing and verification disabled) copies the
# attachments too; its times for that case are printed beside for scale.
# Needs: skopeo, docker-registry, python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-15}
SKIFF=${SKIFF:-$PWD/target/release/skiff}
[ -n "${SKIFF_PREBUILT:-}" ] || cargo build --release --quiet

WORK=$(mktemp -d /var/tmp/skiff-sigbench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/data}}
http: {addr: 127.0.0.1:$PORT}
EOF
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done
REG=127.0.0.1:$PORT
mkdir -p "$WORK/regd" "$WORK/none.d"
printf 'docker:\n  %s:\n    use-sigstore-attachments: true\n' "$REG" > "$WORK/regd/attach.yaml"

printf 'pw\n' > "$WORK/pw"
"$SKIFF" generate-sigstore-key --output-prefix "$WORK/key" --passphrase-file "$WORK/pw" > /dev/null
SRC=oci:examples/hello-oci:latest
IMAGE=docker://$REG/bench/hello:v1
"$SKIFF" --insecure-policy copy -q --dest-tls-verify=false --registries.d "$WORK/regd" \
  --sign-by-sigstore-private-key "$WORK/key.private" --sign-passphrase-file "$WORK/pw" "$SRC" "$IMAGE"
cat > "$WORK/policy.json" <<EOF
{"default": [{"type": "reject"}],
 "transports": {"docker": {"": [{"type": "sigstoreSigned", "keyPath": "$WORK/key.pub"}]}}}
EOF

# Runs one command; prints its wall and CPU (user + system) seconds, at microsecond resolution.
cat > "$WORK/runner.py" <<'EOF'
import resource, subprocess, sys, time
t0 = time.perf_counter()
with open(sys.argv[1], "wb") as err:
    rc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err).returncode
t1 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("FAILED" if rc else f"{t1 - t0:.5f} {ru.ru_utime + ru.ru_stime:.5f}")
EOF
one() { # tool args... (@N@ replaced by a fresh name) -> "wall-seconds cpu-seconds"
  local args=("${@//@N@/$(date +%s%N)}")
  python3 "$WORK/runner.py" "$WORK/err" "${args[@]}" > "$WORK/res"
  rm -rf "$WORK"/out*
  if grep -q FAILED "$WORK/res"; then cat "$WORK/err" >&2; fi
  cat "$WORK/res"
}
stat_line() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m=(NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2); printf "%.1f (%.1f-%.1f)", m*1000, v[1]*1000, v[NR]*1000}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "%.4f", (NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2)}'; }
declare -A MED CPU
case_() { # label tool args...
  local label=$1; shift
  local times=() cpus=() t c
  one "$@" > /dev/null  # warm-up
  for _ in $(seq "$RUNS"); do
    one "$@" > "$WORK/line"
    read -r t c < "$WORK/line"
    [ "$t" = FAILED ] && { echo "| $label | failed | |"; return 0; }
    times+=("$t"); cpus+=("$c")
  done
  MED[$label]=$(median "${times[@]}")
  CPU[$label]=$(median "${cpus[@]}")
  echo "| $label | $(stat_line "${times[@]}") | $(awk -v c="${CPU[$label]}" 'BEGIN {printf "%.0f", c * 1000}') |"
}

echo "| case | wall median (min-max) ms | CPU median ms |"
echo "|---|---|---|"
case_ "oci->dir" "$SKIFF" --insecure-policy copy -q "$SRC" "dir:$WORK/out@N@"
case_ "oci->dir, signed" "$SKIFF" --insecure-policy copy -q --sign-identity "$REG/bench/hello:v1" \
  --sign-by-sigstore-private-key "$WORK/key.private" --sign-passphrase-file "$WORK/pw" "$SRC" "dir:$WORK/out@N@"
decrypt=()
for _ in $(seq "$RUNS"); do
  "$SKIFF" --debug --insecure-policy copy -q --sign-identity "$REG/bench/hello:v1" \
    --sign-by-sigstore-private-key "$WORK/key.private" --sign-passphrase-file "$WORK/pw" "$SRC" "dir:$WORK/out-dbg" 2>&1 \
    | sed -n 's/.*decrypted in \([0-9.]*\) ms.*/\1/p' >> "$WORK/decrypt"
  rm -rf "$WORK/out-dbg"
done
mapfile -t decrypt < "$WORK/decrypt"
echo "| key decryption (inside the signed copy) | $(printf '%s\n' "${decrypt[@]}" | sort -g | awk '{v[NR]=$1} END {printf "%.1f (%.1f-%.1f)", (NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2), v[1], v[NR]}') | |"
PLAIN=--src-tls-verify=false
case_ "registry->dir" "$SKIFF" --insecure-policy --registries.d "$WORK/none.d" copy -q $PLAIN "$IMAGE" "dir:$WORK/out@N@"
case_ "registry->dir, attachments" "$SKIFF" --insecure-policy --registries.d "$WORK/regd" copy -q $PLAIN "$IMAGE" "dir:$WORK/out@N@"
case_ "registry->dir, verified (sigstoreSigned)" "$SKIFF" --policy "$WORK/policy.json" --registries.d "$WORK/regd" copy -q $PLAIN "$IMAGE" "dir:$WORK/out@N@"
case_ "skopeo registry->dir, attachments" skopeo --insecure-policy --registries.d "$WORK/regd" copy -q $PLAIN "$IMAGE" "dir:$WORK/out@N@"
d=$(printf '%s\n' "${decrypt[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2)}')
awk -v a="${MED[oci->dir]}" -v b="${MED[oci->dir, signed]}" -v ca="${CPU[oci->dir]}" -v cb="${CPU[oci->dir, signed]}" -v d="$d" \
  'BEGIN {printf "\nsigning adds %.1f ms wall (%.0f ms CPU): key decryption %.1f ms + %.1f ms for the rest\n", (b-a)*1000, (cb-ca)*1000, d, (b-a)*1000-d}'
awk -v a="${MED[registry->dir]}" -v b="${MED[registry->dir, verified (sigstoreSigned)]}" -v c="${MED[registry->dir, attachments]}" \
  -v ca="${CPU[registry->dir]}" -v cb="${CPU[registry->dir, verified (sigstoreSigned)]}" \
  'BEGIN {printf "verifying adds %.1f ms wall (%.0f ms CPU) over an unsigned copy, %.1f ms over copying the attachments unverified\n", (b-a)*1000, (cb-ca)*1000, (b-c)*1000}'
