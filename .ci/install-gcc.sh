#!/usr/bin/env bash
# The C compiler and objcopy for CConfigTests (C cell configurations compiled as jailhouse's build compiles its
# configs). Idempotent and quiet: installs only what is missing.
set -euo pipefail
if command -v gcc >/dev/null 2>&1 && command -v objcopy >/dev/null 2>&1; then
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc binutils >/dev/null
