#!/usr/bin/env bash
# Installs everything the lab needs on a bare Debian 12 host: podman with runc,
# debootstrap, the controller venv .venv-lab/ and the Ansible collections in
# .collections/. Safe to run again: each step is skipped when already done.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
say() { printf '\n==> [lab-deps] %s\n' "$*"; }
# This host's pip config names local index folders that may not exist; pip
# warns once per package about them, which buries real errors.
pip_quiet() { "$venv/bin/pip" "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

# The ansible wheel is only a carrier for the collections (Galaxy is unreachable).
ansible_bundle_version=12.3.0
collections=(containers/podman community/general ansible/posix)
venv="$repo/.venv-lab"

apt_packages=(podman runc debootstrap uidmap)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "apt packages present: ${apt_packages[*]}"
fi

# crun 1.8 refuses this host's hybrid cgroups, and podman's default nofile
# limit (1048576) is above the hard limit here, so containers fail to start.
conf=/etc/containers/containers.conf
want_conf='# Written by lab/bootstrap.sh of ai4artsed (see LAB notes in README).
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=8192:8192"]

[engine]
runtime = "runc"'
if [[ "$(cat "$conf" 2>/dev/null)" != "$want_conf" ]]; then
  say "writing $conf (runtime runc, ulimits)"
  mkdir -p /etc/containers
  printf '%s\n' "$want_conf" >"$conf"
else
  say "$conf already set"
fi

stamp="$venv/.requirements.sha256"
want_sum="$(sha256sum lab/requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want_sum" ]]; then
  say "creating controller venv $venv"
  python3 -m venv "$venv"
  pip_quiet install -q --upgrade pip
  pip_quiet install -q -r lab/requirements.txt
  echo "$want_sum" >"$stamp"
else
  say "controller venv up to date"
fi

coll_root="$repo/.collections/ansible_collections"
coll_stamp="$repo/.collections/.bundle-version"
if [[ "$(cat "$coll_stamp" 2>/dev/null)" != "$ansible_bundle_version" ]]; then
  say "unpacking collections from ansible==$ansible_bundle_version: ${collections[*]}"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  pip_quiet download -q --no-deps -d "$tmp" "ansible==$ansible_bundle_version"
  wheel=("$tmp"/ansible-*.whl)
  patterns=()
  for c in "${collections[@]}"; do patterns+=("ansible_collections/$c/*"); done
  rm -rf "$coll_root"
  mkdir -p "$repo/.collections"
  "$venv/bin/python" -m zipfile -e "${wheel[0]}" "$tmp/unpacked" >/dev/null
  for c in "${collections[@]}"; do
    mkdir -p "$coll_root/$(dirname "$c")"
    cp -a "$tmp/unpacked/ansible_collections/$c" "$coll_root/$c"
  done
  echo "$ansible_bundle_version" >"$coll_stamp"
else
  say "collections from ansible==$ansible_bundle_version present"
fi

say "versions"
podman --version
runc --version | sed -n 1p
"$venv/bin/ansible" --version | sed -n 1p
PATH="$venv/bin:$PATH" molecule --version | sed -n 1p
say "done"
