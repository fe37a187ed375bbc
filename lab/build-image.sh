#!/usr/bin/env bash
# Builds the lab base image localhost/ai4artsed-lab:bookworm: Debian bookworm
# (debootstrap minbase) with systemd as PID 1. Skipped when the image exists;
# --rebuild replaces it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image=localhost/ai4artsed-lab:bookworm
build="$repo/.lab-build"
say() { printf '\n==> [lab-image] %s\n' "$*"; }

rebuild=false
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=true ;;
    *) echo "usage: $0 [--rebuild]" >&2; exit 2 ;;
  esac
done

command -v podman >/dev/null && command -v debootstrap >/dev/null || {
  say "podman/debootstrap missing: running lab/bootstrap.sh first"
  bash "$repo/lab/bootstrap.sh"
}

if podman image exists "$image" && ! $rebuild; then
  say "$image exists (use --rebuild to replace it)"
  exit 0
fi

cleanup() { rm -rf "$build"; }
trap cleanup EXIT
cleanup
mkdir -p "$build"
rootfs="$build/rootfs"

# Same mirror as the host's apt, so the lab follows the host's Debian snapshot.
mirror="$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | sed -n 1p)"
mirror="${mirror:-http://deb.debian.org/debian}"
# libpam-systemd and dbus-user-session: without them a lingering user's manager
# (user@UID.service) fails at start and user units never run.
packages=systemd,systemd-sysv,dbus,libpam-systemd,dbus-user-session,python3,python3-venv,python3-pip,sudo,procps,iproute2,ca-certificates
say "debootstrap bookworm minbase from $mirror (about a minute)"
start=$SECONDS
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$build/debootstrap.log" 2>&1 || {
  tail -40 "$build/debootstrap.log" >&2
  exit 1
}
say "debootstrap done in $((SECONDS - start)) s"

say "container tweaks: empty machine-id, masked units, CA bundle, no apt cache"
# Empty, not absent: systemd then writes a fresh id per container at boot.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
# Hardware and console units that only fail (or hang) inside a container.
for unit in getty@tty1.service serial-getty@.service console-getty.service \
  systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service \
  sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# Inside the container systemd gets no cgroup-empty events (cgroup v1 here, no
# unified mount), so a stopping user manager waits out its 90 s timeout and
# every `podman stop` or reboot of a host with a lingering user ends in SIGKILL.
mkdir -p "$rootfs/etc/systemd/system/user@.service.d"
printf '[Service]\nTimeoutStopSec=3s\n' >"$rootfs/etc/systemd/system/user@.service.d/lab-stop-timeout.conf"
# HTTPS from this host goes through a proxy whose CA lives here; without it
# pip inside the container fails with CERTIFICATE_VERIFY_FAILED.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
fi
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

say "podman import as $image"
start=$SECONDS
tar -C "$rootfs" -c . | podman import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change 'ENV container=podman' \
  - "$image" >/dev/null
say "import done in $((SECONDS - start)) s"
podman image ls "$image"
