#!/usr/bin/env bash
# Runs the README's two commands as a newcomer meets them: on a fresh Debian 12 (bookworm)
# userland with nothing but nodejs, npm, git and ca-certificates, in a systemd-nspawn container
# that shares the host's network (the package registries) and has what the root tests need
# (all capabilities, /dev/net/tun, writable /proc/sys and cgroups). Nothing is downloaded
# outside the package registries. Takes 30–60 min on 2 cores (most of it `.ci/run`).
#
# Usage (root): .ci/fresh_debian.sh [--dev-only] [DIR]   (DIR default /var/tmp/labman-fresh; keep
#   it out of a checkout: the container's tree is large and owned by root; --dev-only: steps 1–3)
#   1. mmdebstrap: minbase + nodejs npm git ca-certificates, from this machine's apt mirrors
#   2. git clone of this checkout's current branch into DIR/rootfs/root/labman
#   3. inside: `npm install -g deno@2.9.6 && deno task dev`, GET the banner's /v1/models,
#      SIGINT, exit code 0
#   4. inside: `./.ci/run` with the container's own, empty /var/cache/labman-ci
# Logs: DIR/dev.log, DIR/ci.log. Exit status: that of step 4 (1 if an earlier step failed).
# LABMAN_FRESH_CA=/path/a.crt:/path/b.crt adds CA certificates to the container's trust store
# (for networks whose egress re-signs TLS); Deno and pip are then told to use that store.
set -euo pipefail
[[ $(id -u) == 0 ]] || { echo "fresh_debian: Cannot build a rootfs: not root — run it as root" >&2; exit 1; }
for t in mmdebstrap systemd-nspawn git; do
  command -v "$t" >/dev/null || {
    echo "fresh_debian: Cannot find $t — apt-get install mmdebstrap systemd-container git" >&2
    exit 1
  }
done
DEV_ONLY=0
if [[ "${1:-}" == --dev-only ]]; then DEV_ONLY=1; shift; fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-/var/tmp/labman-fresh}
ROOT="$DIR/rootfs"
BRANCH=$(git -C "$REPO" rev-parse --abbrev-ref HEAD)
mkdir -p "$DIR"

. "$REPO/tests/systemd/apt_mirror.sh"
MIRROR=$(apt_mirror bookworm) SECURITY=$(apt_mirror bookworm-security)
[[ -n "$MIRROR" && -n "$SECURITY" ]] || {
  echo "fresh_debian: Cannot find the bookworm and bookworm-security mirrors in /etc/apt — add them" >&2
  exit 1
}

t0=$SECONDS
echo "== 1. fresh Debian 12 rootfs in $ROOT"
rm -rf "$ROOT"
# One-line sources.list, as debian-installer writes it (cloud images use deb822 instead).
mmdebstrap --variant=minbase --mode=root --include=nodejs,npm,git,ca-certificates \
  bookworm "$ROOT" "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
  "deb $SECURITY bookworm-security main" >"$DIR/mmdebstrap.log" 2>&1 ||
  { tail -20 "$DIR/mmdebstrap.log" >&2; exit 1; }
echo "   done in $((SECONDS - t0))s"
nspawn_env=()
if [[ -n "${LABMAN_FRESH_CA:-}" ]]; then
  IFS=: read -ra cas <<<"$LABMAN_FRESH_CA"
  for c in "${cas[@]}"; do cp "$c" "$ROOT/usr/local/share/ca-certificates/$(basename "${c%.crt}").crt"; done
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1
  nspawn_env=(-E DENO_TLS_CA_STORE=system -E PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
fi

echo "== 2. git clone (branch $BRANCH)"
git clone -q -b "$BRANCH" "$REPO" "$ROOT/root/labman"
git -C "$ROOT/root/labman" log --oneline -1

# in_container CMD…: a login shell as root in the container, in a cgroup of its own (without a
# host systemd, nspawn --keep-unit leaves payload/ and supervisor/ under its caller's cgroup).
in_container() {
  local cg="lmfresh-$$" rc=0 h
  for h in unified systemd; do
    if [[ -d /sys/fs/cgroup/$h ]]; then mkdir -p "/sys/fs/cgroup/$h/$cg"; fi
  done
  (
    for h in unified systemd; do
      if [[ -d /sys/fs/cgroup/$h/$cg ]]; then echo "$BASHPID" >"/sys/fs/cgroup/$h/$cg/cgroup.procs"; fi
    done
    # API_VFS_WRITABLE: the tests write /proc/sys/net in their namespaces and make cgroups for
    # their own nested systemd-nspawn, as they do on a real machine.
    SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 exec nice -n 10 systemd-nspawn -q -D "$ROOT" -M "lmfresh-$$" \
      --register=no --keep-unit --pipe --capability=all --bind=/dev/net/tun "${nspawn_env[@]}" \
      /bin/bash -lc "$*"
  ) || rc=$?
  find /sys/fs/cgroup/{unified,systemd}/"$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  return "$rc"
}

echo "== 3. npm install -g deno@2.9.6 && deno task dev"
t=$SECONDS
cat >"$ROOT/root/dev-check.sh" <<'EOF'
#!/bin/bash
set -u
cd /root/labman
npm install -g deno@2.9.6 || exit 1
# Ctrl-C reaches the whole foreground process group: give dev one (setsid) and signal it.
setsid timeout 300 deno task dev >/root/dev.log 2>&1 &
pid=$!
for _ in $(seq 1 240); do
  grep -q "Ctrl-C stops it" /root/dev.log && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
url=$(grep -oE 'curl http://[^ ]+/models' /root/dev.log | head -1 | cut -d' ' -f2)
[[ -n "$url" ]] || { echo "no banner"; cat /root/dev.log; kill -INT -- "-$pid"; exit 1; }
# A fresh minbase has no curl: Node's fetch is what this machine has.
node -e 'fetch(process.argv[1]).then(async (r) => { console.log("GET", process.argv[1], r.status, (await r.text()).slice(0, 120)); process.exit(r.ok ? 0 : 1); })' "$url"
got=$?
kill -INT -- "-$pid"
wait "$pid"
rc=$?
echo "deno task dev exited with $rc after SIGINT"
((got == 0 && rc == 0))
EOF
chmod +x "$ROOT/root/dev-check.sh"
if in_container /root/dev-check.sh; then dev_ok=1; else dev_ok=0; fi
cp "$ROOT/root/dev.log" "$DIR/dev.log" 2>/dev/null || true
echo "   done in $((SECONDS - t))s (log: $DIR/dev.log)"

if ((DEV_ONLY)); then ((dev_ok)) && exit 0 || exit 1; fi

echo "== 4. ./.ci/run (empty cache)"
t=$SECONDS
rc=0
in_container 'cd /root/labman && ./.ci/run' 2>&1 | tee "$DIR/ci.log" || rc=$?
echo "   done in $((SECONDS - t))s (log: $DIR/ci.log)"
((dev_ok)) || { echo "fresh_debian: deno task dev failed (log: $DIR/dev.log)" >&2; exit 1; }
exit "$rc"
