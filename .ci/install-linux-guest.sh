#!/usr/bin/env bash
# Fetches what Emulator.Tests/Guest/LinuxGuestTests.cs boots: Debian's arm64 cloud kernel (its Image) and the
# qemu_fw_cfg.ko module of the same build, into /var/cache/mmusim-linux (or $MMUSIM_LINUX_CACHE). Idempotent and
# quiet: nothing is fetched when both files are there. QEMU and the cross assembler come from install-qemu.sh.
set -euo pipefail
dir=${MMUSIM_LINUX_CACHE:-/var/cache/mmusim-linux}
if [ -s "$dir/Image" ] && [ -s "$dir/qemu_fw_cfg.ko" ]; then
  exit 0
fi
mkdir -p "$dir"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq >/dev/null
# The metapackage names the current kernel package; download that one (not installed: it is extracted).
pkg=$(apt-cache depends linux-image-cloud-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || { echo "install-linux-guest: no arm64 cloud kernel package found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
(cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1)
dpkg-deb -x "$tmp"/*.deb "$tmp/x"
cp "$tmp"/x/boot/vmlinuz-* "$dir/Image.tmp"
find "$tmp/x" -name qemu_fw_cfg.ko -exec cp {} "$dir/qemu_fw_cfg.ko" \;
mv "$dir/Image.tmp" "$dir/Image"
