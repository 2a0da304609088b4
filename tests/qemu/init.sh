#!/bin/busybox sh
# /init of the labman kernel-WireGuard test guest (static busybox, see tests/qemu/initramfs.ts).
# Loads the modules listed in /modules.order, mounts the host's / read-only over virtio-9p at
# /host with writable tmpfs /tmp and /run, chroots into it and runs the guest Deno script named
# on the kernel command line (lmrepo=, lmscript=, lmdeno=, lmnpm=). Always powers off at the end.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /host
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

say() { echo "LABMAN-INIT $*"; }
finish() {
  say "exit $1"
  sync
  poweroff -f
  sleep 5
}

for m in $(cat /modules.order); do
  insmod "/lib/modules/$m" || { say "insmod $m failed"; finish 90; }
done

for kv in $(cat /proc/cmdline); do
  case "$kv" in
  lmrepo=* | lmscript=* | lmdeno=* | lmnpm=*) eval "${kv%%=*}='${kv#*=}'" ;;
  esac
done
[ -n "$lmrepo" ] && [ -n "$lmscript" ] && [ -n "$lmdeno" ] || {
  say "missing lmrepo=/lmscript=/lmdeno= on the kernel command line"
  finish 91
}

mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /host ||
  { say "9p mount failed"; finish 92; }
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
mount -t tmpfs -o mode=755 tmpfs /host/run
# A checkout under /tmp or /run (CI clones anywhere) is hidden by those tmpfs: mount it again.
case "$lmrepo" in
/tmp/* | /run/*)
  mkdir -p "/host$lmrepo"
  mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose lmrepo "/host$lmrepo" ||
    { say "repo 9p mount failed"; finish 93; }
  ;;
esac
ip link set lo up

# Deno writes its caches into DENO_DIR: a tmpfs one, with the host's npm cache linked read-only.
mkdir -p /host/tmp/denodir /host/tmp/lmbin
[ -n "$lmnpm" ] && ln -s "$lmnpm" /host/tmp/denodir/npm
cp /bin/busybox /host/tmp/lmbin/busybox
say "chroot $(cut -d' ' -f1 /proc/uptime)s"

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp DENO_DIR=/tmp/denodir NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 LMBUSYBOX=/tmp/lmbin/busybox
chroot /host /bin/sh -c 'cd "$1" && exec "$2" run -A --cached-only "$3"' sh "$lmrepo" "$lmdeno" "$lmscript"
finish $?
