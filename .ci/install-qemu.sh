#!/usr/bin/env bash
# Installs what Emulator.Tests/Guest/QemuGuestTests.cs boots a bare-metal guest with: QEMU's AArch64 system emulator
# and the cross assembler and linker. Idempotent and quiet: apt-get runs only when something is missing.
set -euo pipefail
missing=()
command -v qemu-system-aarch64 >/dev/null 2>&1 || missing+=(qemu-system-arm)
command -v aarch64-linux-gnu-as >/dev/null 2>&1 || missing+=(binutils-aarch64-linux-gnu)
command -v aarch64-linux-gnu-ld >/dev/null 2>&1 || missing+=(binutils-aarch64-linux-gnu)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi
