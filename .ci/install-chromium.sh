#!/usr/bin/env bash
# Installs Debian's Chromium (and its driver) for the HTML report test, only when missing. Idempotent and quiet.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
