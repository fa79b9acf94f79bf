#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs the whole suite.
# Usage: scripts/test-all.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
need=()
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v podman >/dev/null 2>&1 || need+=(podman)
# tests/storage_run.rs: a static busybox is the only program in the image podman runs.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# Signing tests: gpg makes the keys, gpg-agent holds them, gpgconf stops the agents.
command -v gpg >/dev/null 2>&1 && command -v gpg-agent >/dev/null 2>&1 \
  && command -v gpgconf >/dev/null 2>&1 || need+=(gnupg)
# Compressors for the compressed-archive tests.
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
# sif: sources (as containers/image: unsquashfs under fakeroot) and their tests (mksquashfs).
command -v unsquashfs >/dev/null 2>&1 || need+=(squashfs-tools)
command -v fakeroot >/dev/null 2>&1 || need+=(fakeroot)
# Layer encryption: pgp: recipients come from a GnuPG keyring (tests make their keys).
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# The sigstore tests' independent peer (tests/support/sigstore_peer.py) needs Python's
# cryptography and PyNaCl: Debian's packages for Debian's python3, else pip.
if ! python3 -c 'import cryptography, nacl' >/dev/null 2>&1; then
  if [ "$(command -v python3)" = /usr/bin/python3 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-cryptography python3-nacl
  else
    python3 -m pip install --quiet cryptography pynacl
  fi
fi

# The example image must be exactly what its script builds.
python3 examples/build-example-image.py --all --check

cargo test --locked "$@"
