#!/usr/bin/env bash
# Installs the Debian packages the test fleet (.ci/fleet.sh) needs. Idempotent: when everything
# is already installed it does nothing and does not even refresh the package lists.
set -euo pipefail

PKGS=(
  mmdebstrap        # builds the hosts' root filesystems
  qemu-user-static  # runs the arm64 host's userland
  binfmt-support
  systemd-container # systemd-nspawn
  iproute2          # bridge, veth, netns
  apt-cacher-ng     # one package cache for the whole fleet
  openssh-client    # ssh, ssh-keygen
  openssh-server
  procps            # pgrep
  util-linux        # nsenter, flock, findmnt, setsid
  gpgv              # checks pinery's signed apt repositories as apt does
  debian-archive-keyring # a real signed repository's keys for the apt_source tests
  python3-pip       # downloads the wheels the python_venv tests serve to the fleet
  postgresql        # a throwaway server for the PostgreSQL state backend's tests (never the system cluster)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

[[ $(id -u) == 0 ]] || { echo "install-deps: must run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# Package scripts must not start apt-cacher-ng or sshd on the machine: they would listen on every
# address, and fleet.sh runs its own apt-cacher-ng bound to the fleet bridge. A policy-rc.d that
# refuses service starts is the standard switch; add one only for this run if there is none.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi

echo "install-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
echo "install-deps: done"
