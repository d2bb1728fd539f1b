#!/usr/bin/env bash
# Installs the xz command (Debian's xz-utils), zstd and gzip for the compressed-input tests, which make multi-stream
# .xz and multi-frame .zst files with them (Emulator.Tests/Tracing/CompressedInputTests.cs), and xxhsum (xxhash), the
# oracle of the input digests (Emulator.Tests/Hostile/ProvenanceTests.cs). Idempotent and quiet: apt-get runs only
# when one is missing.
set -euo pipefail
if ! command -v xz >/dev/null 2>&1 || ! command -v gzip >/dev/null 2>&1 || ! command -v zstd >/dev/null 2>&1 || ! command -v xxhsum >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends xz-utils gzip zstd xxhash >/dev/null 2>&1 \
    || { echo "install-xz: apt-get install xz-utils gzip zstd xxhash failed" >&2; exit 1; }
fi
