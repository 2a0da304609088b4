# Sourced by tests/systemd/build_rootfs.sh and .ci/fresh_debian.sh: `apt_mirror SUITE` prints the
# mirror this machine already uses for SUITE (the only one reachable in CI), from deb822
# *.sources (cloud images) or one-line sources.list entries (`deb [opts] URI SUITE …`,
# debian-installer); nothing when neither names it.
apt_mirror() {
  {
    awk -v s="$1" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==s) print u}' \
      /etc/apt/sources.list.d/*.sources
    awk -v s="$1" '$1=="deb"{i=2; if($i~/^\[/){while(i<NF && $i!~/\]$/) i++; i++} if($(i+1)==s) print $i}' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list
  } 2>/dev/null | head -1 || true # (awk fails on the format this machine does not use)
}
