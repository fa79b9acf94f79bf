#!/usr/bin/env bash
# Benchmarks skiff against skopeo in one run and prints a Markdown table.
#
#   bench/run.sh [RUNS] [MB]      (defaults: 5 runs, a ~300 MB image)
#   ONLY=docker-archive bench/run.sh   (only the cases whose label contains that text;
#                                       'A|B' for several)
#   SKIP='jwe|storage' bench/run.sh    (not the cases whose label contains one of these;
#                                       their setup is skipped too, for builds without them)
#   VERBOSE=1 bench/run.sh             (each run's seconds and peak RSS KB on stderr)
#   SKIFF=/tmp/old/skiff bench/run.sh  (time another skiff build against skopeo)
#
# Builds the image set (a multi-layer image of real files from this machine, the small
# example image, the 3-platform example index), starts loopback registries (plain HTTP,
# and TLS + htpasswd), then times each case with both tools, alternating skiff and
# skopeo, reporting median/min/max wall time, peak RSS and the ratio of medians.
# Needs: skopeo, docker-registry, openssl, htpasswd, python3, gnupg, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
MB=${2:-300}
if [ -z "${SKIFF:-}" ]; then  # SKIFF=/path/to/skiff compares another build
  SKIFF=$PWD/target/release/skiff
  cargo build --release --quiet
fi

WORK=$(mktemp -d /var/tmp/skiff-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for m in $(awk -v w="$WORK" 'index($2, w) == 1 {print $2}' /proc/mounts); do umount -l "$m" || true; done
  [ -d "$WORK/gnupg" ] && GNUPGHOME=$WORK/gnupg gpgconf --kill all 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- images -------------------------------------------------------------------------------
python3 bench/make-image.py "$WORK/big" --mb "$MB" >&2
SMALL=oci:examples/hello-oci:latest
INDEX=oci:examples/multiarch-oci:latest

# --- registries ---------------------------------------------------------------------------
start_registry() { # name port [tls] -> starts docker-registry, waits for /v2/
  local name=$1 port=$2 tls=${3:-}
  mkdir -p "$WORK/$name"
  {
    echo "version: 0.1"
    echo "log: {level: error, accesslog: {disabled: true}}"
    echo "storage: {filesystem: {rootdirectory: $WORK/$name/data}, delete: {enabled: true}}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    if [ -n "$tls" ]; then
      echo "  tls: {certificate: $WORK/certs/server.crt, key: $WORK/certs/server.key}"
      echo "auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}"
    fi
  } > "$WORK/$name/config.yml"
  docker-registry serve "$WORK/$name/config.yml" > "$WORK/$name/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -sk -o /dev/null "http${tls:+s}://127.0.0.1:$port/v2/" && return 0
    sleep 0.1
  done
  echo "registry $name did not start" >&2; cat "$WORK/$name/log" >&2; exit 1
}
mkdir -p "$WORK/certs" "$WORK/ca"
# A CA and a server certificate it signs (rustls refuses a CA used as the server's own).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=skiff-bench-ca \
  -keyout "$WORK/certs/ca.key" -out "$WORK/ca/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
  -keyout "$WORK/certs/server.key" -out "$WORK/certs/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$WORK/certs/ext"
openssl x509 -req -in "$WORK/certs/server.csr" -CA "$WORK/ca/ca.crt" -CAkey "$WORK/certs/ca.key" \
  -CAcreateserial -days 2 -extfile "$WORK/certs/ext" -out "$WORK/certs/server.crt" 2>/dev/null
htpasswd -Bbn bench benchpw > "$WORK/htpasswd" 2>/dev/null
P1=$(free_port); start_registry plain "$P1"
P2=$(free_port); start_registry secure "$P2" tls
R1=127.0.0.1:$P1
R2=127.0.0.1:$P2
PLAIN="--src-tls-verify=false --dest-tls-verify=false"
"$SKIFF" --insecure-policy copy -q --dest-tls-verify=false "oci:$WORK/big:latest" "docker://$R1/bench/big:latest"
"$SKIFF" --insecure-policy copy -q --all --dest-tls-verify=false "$INDEX" "docker://$R1/bench/index:latest"
mkdir -p "$WORK/dirsrc"
"$SKIFF" --insecure-policy copy -q "oci:$WORK/big:latest" "dir:$WORK/dirsrc/big"
# Uncompressed layers, as `docker save` writes them: copying them out means gzipping.
"$SKIFF" --insecure-policy copy -q "oci:$WORK/big:latest" "docker-archive:$WORK/big.tar:bench/big:latest"

# --- measurement --------------------------------------------------------------------------
one_run() { # tool src dest flags... -> "seconds rss_kb"
  local tool=$1 src=$2 dest=$3; shift 3
  rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb  # skopeo's mount cache
  # Each run starts with no dirty pages of an earlier one left to write back.
  sync
  local t0 t1
  t0=$(date +%s%N)
  # shellcheck disable=SC2086 # GLOBAL holds options: --insecure-policy or --policy FILE
  /usr/bin/time -f "%M" -o "$WORK/time" "$tool" ${GLOBAL:---insecure-policy} copy -q "$@" "$src" "$dest" \
    > /dev/null 2> "$WORK/err" || { echo "FAILED"; return 0; }
  t1=$(date +%s%N)
  local line; line="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", (b - a) / 1e9}') $(cat "$WORK/time")"
  [ -n "${VERBOSE:-}" ] && echo "  $(basename "$tool") $line" >&2
  echo "$line"
  # The output goes at once: on this VM, a page cache grown by GBs of outputs made every
  # later run of both tools slow (kernel memcpy into never-touched memory: 0.65 s -> 1.4 s).
  case "$dest" in dir:*|oci:*|oci-archive:*|docker-archive:*) local p=${dest#*:}; rm -rf "${p%%:*}";; esac
  # skopeo bind-mounts the overlay directory onto itself and leaves it mounted.
  case "$dest" in containers-storage:*) local s=${dest#*@}; s=${s%%/root+*}
    while umount -l "$s/root/overlay" 2>/dev/null; do :; done; rm -rf "$s"
    # A store is ~9,800 files and directories. For 60 s after they are deleted (360 s while the inode
    # table block is dirty), ext4 skips their inode numbers on every new file by looking
    # each one up in the cached inode-table blocks (fs/ext4/ialloc.c recently_deleted):
    # the next run of either tool then spent 5-9 s of system time there (perf: 60% of all
    # samples in recently_deleted under ext4_create). Written back and dropped from the
    # cache, those blocks no longer count as recent, as on a machine whose last store
    # deletion was minutes ago (the next run then reads the registry's blobs from disk,
    # whichever tool it is).
    sync
    if [ -w /proc/sys/vm/drop_caches ]; then echo 1 > /proc/sys/vm/drop_caches; fi;;
  esac
}
clear_outputs() { # after each case: leftovers go, the disk settles (this ext4 is mounted
  # with online discard) and, as root, the page cache is dropped
  rm -rf "$WORK"/out*
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 1 > /proc/sys/vm/drop_caches; fi
  sleep 1
}
fresh_dest() { # template -> a destination nobody wrote to yet (runs in a subshell: no counters)
  local d=${1//@N@/$(date +%s%N)}
  case "$d" in dir:*|oci:*|oci-archive:*|docker-archive:*) local p=${d#*:}; rm -rf "${p%%:*}";; esac
  echo "$d"
}
stat_line() { # values... -> "median min max"
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m=(NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2); printf "%.3f %.3f %.3f", m, v[1], v[NR]}'
}
echo "| case | skiff median (min-max) s | skopeo median (min-max) s | ratio | skiff peak RSS MB | skopeo peak RSS MB |"
echo "|---|---|---|---|---|---|"
selected() { # label -> whether ONLY and SKIP (each TEXT or TEXT|TEXT...) let it run
  local want hit=""
  IFS='|' read -ra want <<< "${ONLY:-}"
  [ ${#want[@]} -gt 0 ] || hit=1
  for w in "${want[@]}"; do case "$1" in *"$w"*) hit=1;; esac; done
  [ -n "$hit" ] || return 1
  IFS='|' read -ra want <<< "${SKIP:-}"
  for w in "${want[@]}"; do case "$1" in *"$w"*) return 1;; esac; done
}
bench_case() { # label src dest-template flags...
  local label=$1 src=$2 tmpl=$3; shift 3
  selected "$label" || return 0
  local st=() sm=() kt=() km=() failed=""
  # One untimed run of each tool first: caches warm for both, whoever goes first.
  one_run "$SKIFF" "$src" "$(fresh_dest "$tmpl")" "$@" > /dev/null
  one_run skopeo "$src" "$(fresh_dest "$tmpl")" "$@" > /dev/null
  for _ in $(seq "$RUNS"); do
    read -r t m < <(one_run "$SKIFF" "$src" "$(fresh_dest "$tmpl")" "$@") || true
    [ "$t" = FAILED ] && { failed="skiff: $(tail -1 "$WORK/err")"; break; }
    st+=("$t"); sm+=("$m")
    read -r t m < <(one_run skopeo "$src" "$(fresh_dest "$tmpl")" "$@") || true
    [ "$t" = FAILED ] && { failed="skopeo: $(tail -1 "$WORK/err")"; break; }
    kt+=("$t"); km+=("$m")
  done
  if [ -n "$failed" ]; then echo "| $label | failed: ${failed//|/ } | | | | |"; clear_outputs; return; fi
  read -r a1 a2 a3 <<< "$(stat_line "${st[@]}")"
  read -r b1 b2 b3 <<< "$(stat_line "${kt[@]}")"
  local ratio; ratio=$(awk -v a="$a1" -v b="$b1" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  local rs rk
  rs=$(printf '%s\n' "${sm[@]}" | sort -g | tail -1 | awk '{printf "%.0f", $1/1024}')
  rk=$(printf '%s\n' "${km[@]}" | sort -g | tail -1 | awk '{printf "%.0f", $1/1024}')
  echo "| $label | $a1 ($a2-$a3) | $b1 ($b2-$b3) | $ratio | $rs | $rk |"
  clear_outputs
}
BIG=docker://$R1/bench/big:latest
bench_case "registry->oci" "$BIG" "oci:$WORK/out@N@:latest" $PLAIN
bench_case "registry->dir" "$BIG" "dir:$WORK/out@N@" $PLAIN
bench_case "registry->registry (same host)" "$BIG" "docker://$R1/bench/copy@N@:latest" $PLAIN
bench_case "oci->registry" "oci:$WORK/big:latest" "docker://$R1/bench/push@N@:latest" $PLAIN
bench_case "registry->oci-archive" "$BIG" "oci-archive:$WORK/out@N@.tar:latest" $PLAIN
bench_case "registry->docker-archive" "$BIG" "docker-archive:$WORK/out@N@.tar:bench/big:latest" $PLAIN
bench_case "registry->oci, zstd" "$BIG" "oci:$WORK/out@N@:latest" $PLAIN --dest-compress-format zstd
# Layer encryption: a JWE recipient (RSA), and decrypting an image encrypted for it.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/enc.pem" 2>/dev/null
openssl pkey -in "$WORK/enc.pem" -pubout -out "$WORK/enc.pub.pem"
! selected "registry->oci, decrypt (jwe)" ||
  "$SKIFF" --insecure-policy copy -q $PLAIN --encryption-key "jwe:$WORK/enc.pub.pem" "$BIG" "docker://$R1/bench/encrypted:latest"
bench_case "registry->oci, encrypt (jwe)" "$BIG" "oci:$WORK/out@N@:latest" $PLAIN --encryption-key "jwe:$WORK/enc.pub.pem"
bench_case "registry->oci, decrypt (jwe)" "docker://$R1/bench/encrypted:latest" "oci:$WORK/out@N@:latest" $PLAIN --decryption-key "$WORK/enc.pem"
bench_case "dir->dir" "dir:$WORK/dirsrc/big" "dir:$WORK/out@N@"
bench_case "docker-archive->oci (gzip every layer)" "docker-archive:$WORK/big.tar" "oci:$WORK/out@N@:latest"
bench_case "registry->TLS+auth registry" "$BIG" "docker://$R2/bench/secure@N@:latest" \
  --src-tls-verify=false --dest-cert-dir "$WORK/ca" --dest-creds bench:benchpw
bench_case "--all of the index, registry->registry" "docker://$R1/bench/index:latest" "docker://$R2/bench/index@N@:latest" \
  --all --src-tls-verify=false --dest-cert-dir "$WORK/ca" --dest-creds bench:benchpw
"$SKIFF" --insecure-policy copy -q $PLAIN "$BIG" "docker://$R1/bench/again:latest"
bench_case "re-copy, everything exists" "$BIG" "docker://$R1/bench/again:latest" $PLAIN
bench_case "small image, oci->dir" "$SMALL" "dir:$WORK/out@N@"
# containers-storage, overlay driver: a fresh store per run, and one store holding the image.
CS="$WORK/cs-src"
! selected "containers-storage (overlay)->registry" ||
  "$SKIFF" --insecure-policy copy -q $PLAIN "$BIG" "containers-storage:[overlay@$CS/root+$CS/run]bench/big:latest"
bench_case "registry->containers-storage (overlay)" "$BIG" \
  "containers-storage:[overlay@$WORK/out@N@/root+$WORK/out@N@/run]bench/big:latest" $PLAIN
bench_case "containers-storage (overlay)->registry" "containers-storage:[overlay@$CS/root+$CS/run]bench/big:latest" \
  "docker://$R1/bench/fromcs@N@:latest" $PLAIN
# Named after the registry it was pulled from (as `podman pull` names it): skiff mounts the
# pulled blobs; skopeo would too with its blob-info cache, which each run deletes.
! selected "containers-storage (overlay)->registry, pulled from it" ||
  "$SKIFF" --insecure-policy copy -q $PLAIN "$BIG" "containers-storage:[overlay@$CS/root+$CS/run]$R1/bench/big:latest"
bench_case "containers-storage (overlay)->registry, pulled from it" \
  "containers-storage:[overlay@$CS/root+$CS/run]$R1/bench/big:latest" "docker://$R1/bench/back@N@:latest" $PLAIN

# --- signatures ---------------------------------------------------------------------------
# A GnuPG home with two RSA keys (no passphrase); the small image in dir: with three
# signatures, two by the key the policy does not trust, so every one is checked.
export GNUPGHOME=$WORK/gnupg
mkdir -m 700 "$GNUPGHOME"
for who in trusted other; do
  gpg --batch --passphrase '' --quick-gen-key "bench $who <$who@bench>" rsa2048 sign never 2>/dev/null
done
fpr() { gpg --with-colons --list-keys "$1" | awk -F: '/^fpr/ {print $10; exit}'; }
TRUSTED=$(fpr trusted@bench); OTHER=$(fpr other@bench)
gpg --export "$TRUSTED" > "$WORK/trusted.gpg"
ID=registry.example.com/bench/small:v1
"$SKIFF" --insecure-policy copy -q "$SMALL" "dir:$WORK/dirsrc/small"
"$SKIFF" --insecure-policy copy -q --sign-by "$OTHER" --sign-identity "$ID" "$SMALL" "dir:$WORK/dirsrc/s1"
"$SKIFF" --insecure-policy copy -q --sign-by "$OTHER" --sign-identity "$ID" "dir:$WORK/dirsrc/s1" "dir:$WORK/dirsrc/s2"
"$SKIFF" --insecure-policy copy -q --sign-by "$TRUSTED" --sign-identity "$ID" "dir:$WORK/dirsrc/s2" "dir:$WORK/dirsrc/signed3"
printf '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s","signedIdentity":{"type":"exactReference","dockerReference":"%s"}}]}' \
  "$WORK/trusted.gpg" "$ID" > "$WORK/signed-policy.json"
bench_case "small image, oci->dir, --sign-by (RSA)" "$SMALL" "dir:$WORK/out@N@" --sign-by "$TRUSTED" --sign-identity "$ID"
# The same copy (3 signatures copied along) without and with a policy that verifies them.
bench_case "small image, dir->dir, 3 signatures, no policy check" "dir:$WORK/dirsrc/signed3" "dir:$WORK/out@N@"
GLOBAL="--policy $WORK/signed-policy.json" \
  bench_case "small image, dir->dir, 3 signatures, signedBy policy" "dir:$WORK/dirsrc/signed3" "dir:$WORK/out@N@"
