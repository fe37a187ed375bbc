#!/usr/bin/env bash
# The incident, end to end on a lab host: installs what the lab needs, builds
# the image if absent, starts the host, seeds the broken state, shows it
# broken, then (once playbooks/deploy.yml exists) deploys and shows it fixed.
# The host is left running; `make lab-destroy` removes it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
container=ai4artsed-lab
image=localhost/ai4artsed-lab:bookworm
say() { printf '\n==> [demo] %s\n' "$*"; }

on_error() {
  local rc=$?
  printf '\n==> [demo] FAILED (exit %s). The lab host is left as it is for a look:\n' "$rc" >&2
  printf '      podman exec -it %s bash        journalctl inside it shows the units\n' "$container" >&2
  printf '      make lab-destroy                removes it\n' >&2
  exit "$rc"
}
trap on_error ERR

say "1/6 installing the lab's tools (lab/bootstrap.sh)"
bash lab/bootstrap.sh
export PATH="$repo/.venv-lab/bin:$PATH"
export ANSIBLE_CONFIG="$repo/ansible.cfg"

say "2/6 building the lab image if absent (lab/build-image.sh)"
bash lab/build-image.sh

say "3/6 starting a fresh lab host '$container' (systemd as PID 1)"
podman rm --force --time 0 "$container" >/dev/null 2>&1 || true
podman run --detach --name "$container" --hostname "$container" \
  --label ai4artsed.lab=demo \
  --runtime runc --systemd always --cap-add SYS_PTRACE \
  --ulimit nofile=16384:16384 --ulimit nproc=8192:8192 \
  --network bridge "$image" /lib/systemd/systemd >/dev/null
echo "started $(podman inspect --format '{{.Id}}' "$container" | cut -c1-12)"

say "4/6 seeding the incident's broken state (playbooks/lab_seed.yml)"
ansible-playbook -i inventory/lab.yml playbooks/lab_seed.yml

say "5/6 the broken state: two backends, two trees, the 404"
ansible-playbook -i inventory/lab.yml playbooks/lab_show.yml

if [[ -f playbooks/deploy.yml ]]; then
  say "6/6 deploying the fix (playbooks/deploy.yml), then the state again"
  ansible-playbook -i inventory/lab.yml playbooks/deploy.yml
  ansible-playbook -i inventory/lab.yml playbooks/lab_show.yml
else
  say "6/6 playbooks/deploy.yml does not exist yet: nothing to deploy"
fi

say "done. The lab host keeps running:"
echo "  podman exec -it $container bash                  a shell on it"
echo "  ansible-playbook -i inventory/lab.yml playbooks/lab_show.yml   its state again"
echo "  make lab-destroy                                  remove it"
