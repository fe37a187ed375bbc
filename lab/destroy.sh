#!/usr/bin/env bash
# Removes every lab container: the demo host and any Molecule scenario's
# leftovers (all carry the label ai4artsed.lab). The image stays; rebuild it
# with `bash lab/build-image.sh --rebuild`.
set -euo pipefail

say() { printf '\n==> [lab-destroy] %s\n' "$*"; }
if ! command -v podman >/dev/null; then
  say "podman is not installed: nothing to remove"
  exit 0
fi
mapfile -t ids < <(podman ps --all --quiet --filter label=ai4artsed.lab)
if ((${#ids[@]} == 0)); then
  say "no lab containers"
  exit 0
fi
say "removing ${#ids[@]} lab container(s)"
podman rm --force --time 0 "${ids[@]}"
