#!/usr/bin/env bash
# Builds the Debian bookworm userland that tests/systemd_nspawn_test.ts boots with systemd as
# PID 1 (systemd-nspawn --boot). Built once (~30–60 s) and cached; every test run boots a
# pristine copy through --volatile=overlay, so the cached tree is never modified.
# Usage: tests/systemd/build_rootfs.sh [DEST]   (default /var/cache/labman-ci/nspawn-bookworm)
set -euo pipefail
DEST=${1:-${LABMAN_CI_CACHE:-/var/cache/labman-ci}/nspawn-bookworm}
# Bump when the package list changes so cached trees are rebuilt.
VERSION=1
if [[ -f "$DEST/.lmtest-rootfs-version" && "$(cat "$DEST/.lmtest-rootfs-version")" == "$VERSION" ]]; then
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "build_rootfs: mmdebstrap is not installed — apt-get install mmdebstrap" >&2; exit 1; }
. "$(dirname "$0")/apt_mirror.sh"
MIRROR=$(apt_mirror bookworm)
SECURITY=$(apt_mirror bookworm-security)
[[ -n "$MIRROR" && -n "$SECURITY" ]] || {
  echo "build_rootfs: Cannot find the bookworm and bookworm-security mirrors in /etc/apt/sources.list or /etc/apt/sources.list.d/ — add them" >&2
  exit 1
}
tmp="$DEST.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
# systemd + dbus: PID 1 and systemctl; procps: /bin/kill for ExecReload=; iproute2: `ip`;
# wireguard-go/-tools, libmnl0: the userspace backend; libsodium23: the host's rosenpass
# binary (bound in read-only, like deno) links against it; curl: probes from inside.
mmdebstrap --variant=minbase --mode=root \
  --include=systemd,systemd-sysv,dbus,iproute2,procps,wireguard-go,wireguard-tools,libmnl0,libsodium23,curl \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  bookworm "$tmp" "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
  "deb $SECURITY bookworm-security main"
echo "$VERSION" >"$tmp/.lmtest-rootfs-version"
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
