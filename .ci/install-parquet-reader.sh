#!/usr/bin/env bash
# Installs an independent Parquet reader for the test that reads `--results FILE.parquet` back outside .NET
# (Emulator.Tests/Reporting/IndependentParquetReaderTests.cs): hyparquet, a pure-JavaScript Parquet reader, from npm
# into a cache folder (MMUSIM_PARQUET_READER, default ~/.cache/mmusim/parquet-reader), and Debian's nodejs and npm
# only when node or npm is missing. Idempotent and quiet: nothing is fetched when the pinned version is there.
set -euo pipefail
version=1.31.5
dir=${MMUSIM_PARQUET_READER:-${XDG_CACHE_HOME:-$HOME/.cache}/mmusim/parquet-reader}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1 \
    || { echo "install-parquet-reader: apt-get install nodejs npm failed" >&2; exit 1; }
fi
if [ -f "$dir/node_modules/hyparquet/package.json" ] \
   && grep -q "\"version\": \"$version\"" "$dir/node_modules/hyparquet/package.json"; then
  exit 0
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || printf '{ "name": "mmusim-parquet-reader", "private": true }\n' > "$dir/package.json"
npm install --prefix "$dir" --silent --no-audit --no-fund --save-exact "hyparquet@$version" >/dev/null 2>&1 \
  || { echo "install-parquet-reader: npm install hyparquet@$version failed" >&2; exit 1; }
