#!/usr/bin/env bash
# fleet.sh: a fleet of real Debian hosts on this machine for pinery's tests and demo.
#
#   bash .ci/fleet.sh up | down | status        (as root; packages: .ci/install-deps.sh)
#   bash .ci/fleet.sh power on|off|status hN    (out-of-band power, for pinery's power tests)
#
# Each host is a booted bookworm root filesystem (systemd as PID 1, real OpenSSH) in its own
# network namespace, run by systemd-nspawn on an overlay over a cached base. Hosts h1..hN:
# FLEET_AMD64 (default 3) amd64 hosts first, then FLEET_ARM64 (default 1) arm64 hosts running
# under qemu-user, then FLEET_EXTRA_AMD64 (default 2) more amd64 hosts: h1-h3 and h5-h6 amd64,
# h4 arm64 by default (tests that need many hosts use h5, h6; the arm64 host keeps its name). Host N is 10.231.0.(10+N); the machine is 10.231.0.1 on bridge fleet0 and runs
# apt-cacher-ng on 10.231.0.1:3142, which the hosts' apt uses. Hosts reach nothing else (the
# machine does not forward for them, and their resolver is 127.0.0.1 so lookups fail fast).
#
# Written to $FLEET_DIR (default: <repository>/.fleet): id_ed25519(.pub) the controller key,
# known_hosts (real host keys, for strict checking) and inventory.hcl (pinery's format). Every
# host accepts that key for root and for user `pinery` (uid 1000, passwordless sudo).
#
# Facts for tests:
# - arm64 hosts: systemd units using LoadCredential= or PrivateNetwork=yes fail under
#   qemu-user. The arm64 base carries a systemd generator,
#   /etc/systemd/system-generators/pinery-qemu-user, that gives every such unit (including units
#   of packages installed later) a drop-in clearing LoadCredential= and setting
#   PrivateNetwork=no, at boot and at every `systemctl daemon-reload` (which package scripts run
#   before starting a unit). A test that writes such a unit itself must daemon-reload first.
# - Stop or reboot a host only from inside (`systemctl poweroff|reboot`); a reboot is booted
#   again by the host's loop (nspawn exit code 133). Never SIGTERM nspawn: under qemu-user the
#   arm64 PID 1 takes it as the rescue signal and never exits.
# - Console of host N: /var/lib/pinery-fleet/hN/console.log; its root: .../hN/root.
# - Faults: `ip link set vf-hN down`, `tc qdisc add dev vf-hN root netem delay 30ms`,
#   `nsenter -t $(fleet.sh pid1 hN) -a ...` to act inside host N.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FLEET_DIR=${FLEET_DIR:-$(dirname "$HERE")/.fleet}
FLEET_AMD64=${FLEET_AMD64:-3}
FLEET_ARM64=${FLEET_ARM64:-1}
FLEET_EXTRA_AMD64=${FLEET_EXTRA_AMD64:-2}
BOOT_TIMEOUT=${FLEET_BOOT_TIMEOUT:-90}   # seconds per amd64 host; arm64 hosts get 3x
STOP_TIMEOUT=${FLEET_STOP_TIMEOUT:-30}

CACHE=/var/cache/pinery-fleet          # bases and package cache: survive `down`
STATE=/var/lib/pinery-fleet            # per-host state: removed by `down`
ACNG_STATE=$STATE/apt-cacher-ng
ACNG_CACHE=$CACHE/apt-cacher-ng
NET=10.231.0
BRIDGE=fleet0
GW=$NET.1
ACNG_PORT=3142
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
INCLUDE=openssh-server,python3,systemd-sysv,dbus,sudo,ca-certificates
BASE_VERSION=2                         # bump when the base recipe changes: forces a rebuild
CG1=/sys/fs/cgroup/systemd             # named v1 hierarchy (hybrid mode); empty on pure cgroup2
CG2=/sys/fs/cgroup/unified
SSH_OPTS=(-F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=3
  -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR)

T0=${EPOCHREALTIME/./}

# ---------------------------------------------------------------------------------------------
# helpers

elapsed() { # seconds since $1 (microseconds), one decimal
  local us=$(( ${EPOCHREALTIME/./} - $1 ))
  printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}
log() { printf '[fleet %6ss] %s\n' "$(elapsed "$T0")" "$*"; }
die() { printf 'fleet: error: %s\n' "$*" >&2; exit 1; }

arch_of() { # host number -> amd64|arm64
  if (($1 <= FLEET_AMD64 || $1 > FLEET_AMD64 + FLEET_ARM64)); then echo amd64; else echo arm64; fi
}
addr_of() { echo "$NET.$((10 + $1))"; }
total() { echo $((FLEET_AMD64 + FLEET_ARM64 + FLEET_EXTRA_AMD64)); }

# Host numbers that have any piece on this machine (state dir, netns, veth, cgroup), so that
# down and up also find what a crashed run left behind.
present_hosts() {
  {
    local d
    for d in "$STATE"/h[0-9]* "$CG2"/fleet/h[0-9]* ${CG1:+"$CG1"/fleet/h[0-9]*}; do
      [[ -e $d ]] && echo "${d##*/h}"
    done
    ip netns list 2>/dev/null | sed -n 's/^fleet-h\([0-9]\+\).*/\1/p'
    ip -o link show 2>/dev/null | sed -n 's/^[0-9]\+: vf-h\([0-9]\+\)[@:].*/\1/p'
  } | sort -nu
}

# Unmounts everything at or below $1 (deepest first), then removes it without crossing into
# another filesystem: a killed mmdebstrap leaves /proc, /sys and /dev mounted in its target.
safe_rm() {
  local p=$1 m
  [[ -e $p ]] || return 0
  findmnt -rn -o TARGET | awk -v p="$p" '$0 == p || index($0, p "/") == 1' | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -rf --one-file-system "$p"
}

pid_alive() { [[ -n ${1:-} && -d /proc/$1 ]]; }

runner_pid() { # PID of host N's boot loop, if running
  local f=$STATE/h$1/run.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$STATE/h$1/run.sh" &&
    echo "$pid"
}

cgroup_pids() { # every process in host N's cgroups
  local c
  for c in "$CG2/fleet/h$1" ${CG1:+"$CG1/fleet/h$1"}; do
    if [[ -d $c ]]; then find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
  done | sort -nu
}

pid1() { # host N's PID 1 as seen from the machine: the process whose innermost PID is 1
  local p
  for p in $(cgroup_pids "$1"); do
    awk '$1 == "NSpid:" && NF > 2 && $NF == 1 { ok = 1 } END { exit !ok }' \
      "/proc/$p/status" 2>/dev/null && { echo "$p"; return 0; }
  done
  return 1
}

system_state() { # systemctl is-system-running inside host N, or "down"
  local p
  p=$(pid1 "$1") || { echo down; return; }
  timeout 10 nsenter -t "$p" -a systemctl is-system-running 2>/dev/null || true
}

ssh_ok() { # host N answers ssh as $2 (default root) with the fleet key and known_hosts
  timeout 15 ssh "${SSH_OPTS[@]}" -i "$FLEET_DIR/id_ed25519" \
    -o UserKnownHostsFile="$FLEET_DIR/known_hosts" "${2:-root}@$(addr_of "$1")" true \
    </dev/null >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------
# machine preparation

need_tools() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  local t missing=()
  for t in mmdebstrap systemd-nspawn nsenter ip ssh ssh-keygen apt-cacher-ng findmnt flock \
    setsid pgrep ss; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  ((${#missing[@]} == 0)) || die "missing ${missing[*]}: run .ci/install-deps.sh"
}

# One fleet.sh at a time. Processes started from here close fd 9 so they do not hold the lock.
take_lock() {
  mkdir -p /run/lock
  exec 9>/run/lock/pinery-fleet.lock
  flock -w 300 9 || die "another fleet.sh run holds /run/lock/pinery-fleet.lock"
}

# Pure cgroup2 machines have one hierarchy; this one (hybrid) has the named v1 one beside it.
detect_cgroups() {
  if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then CG1='' CG2=/sys/fs/cgroup; fi
}

prepare_machine() {
  # cgroups: each host boots from its own cgroup in both hierarchies, else all containers share
  # one payload cgroup and interfere.
  if [[ -n $CG1 ]]; then
    if ! mountpoint -q "$CG1"; then
      mkdir -p "$CG1" && mount -t cgroup -o none,name=systemd cgroup "$CG1"
    fi
    if ! mountpoint -q "$CG2"; then
      mkdir -p "$CG2" && mount -t cgroup2 cgroup2 "$CG2"
    fi
  fi
  # With the default 128 inotify instances boots stall from about the 21st host.
  local cur
  cur=$(cat /proc/sys/fs/inotify/max_user_instances)
  ((cur >= 1024)) || sysctl -qw fs.inotify.max_user_instances=1024
  grep -qw overlay /proc/filesystems || modprobe overlay
  ((FLEET_ARM64 == 0)) || prepare_binfmt
}

# arm64 binaries run through qemu-user-static, registered with flags POCF:
# - F: the kernel opens the interpreter once, here, so it also works inside the arm64 root,
#   where no /usr/libexec/qemu-binfmt exists (update-binfmts registers without F);
# - C (implies O): credentials come from the binary, not the interpreter, so setuid programs
#   such as sudo work on the arm64 host (Debian's registration leaves C out).
prepare_binfmt() {
  local bm=/proc/sys/fs/binfmt_misc conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  mountpoint -q $bm || mount -t binfmt_misc binfmt_misc $bm
  if [[ -e $bm/qemu-aarch64 ]]; then
    grep -q '^flags: POCF$' $bm/qemu-aarch64 && return 0
    echo -1 >$bm/qemu-aarch64
  fi
  [[ -f $conf ]] || die "$conf missing: install qemu-user-static"
  grep -v '^#' $conf | sed 's/:[A-Z]*$/:POCF/' >$bm/register
}

ensure_key() {
  mkdir -p "$FLEET_DIR"
  if [[ ! -f $FLEET_DIR/id_ed25519 ]]; then
    ssh-keygen -q -t ed25519 -N '' -C pinery-fleet -f "$FLEET_DIR/id_ed25519"
    log "key: generated $FLEET_DIR/id_ed25519"
  elif [[ ! -f $FLEET_DIR/id_ed25519.pub ]]; then
    ssh-keygen -y -f "$FLEET_DIR/id_ed25519" >"$FLEET_DIR/id_ed25519.pub"
  fi
  chmod 600 "$FLEET_DIR/id_ed25519"
}

# ---------------------------------------------------------------------------------------------
# bases

base_ok() { # base for $1 complete and of the current recipe
  grep -qx "version=$BASE_VERSION" "$CACHE/base-$1/etc/pinery-fleet-base" 2>/dev/null
}

# Builds into a temporary directory and renames it into place, so an interrupted build never
# leaves a half base behind.
build_base() {
  local arch=$1 final=$CACHE/base-$1 tmp=$CACHE/.base-$1.tmp log=$CACHE/base-$1.log
  safe_rm "$tmp"
  # The essential hook writes throwaway ssh host keys natively before openssh-server is
  # configured, so its postinst does not generate them (about 20 s under qemu); fix_base
  # removes them again. ($1 is expanded by mmdebstrap: the target directory.)
  # shellcheck disable=SC2016
  if ! mmdebstrap --variant=minbase --arch="$arch" --include="$INCLUDE" \
    --essential-hook='mkdir -p "$1/etc/ssh" && ssh-keygen -q -A -f "$1"' \
    "$SUITE" "$tmp" "$MIRROR" >"$log" 2>&1 9>&-; then
    tail -n 30 "$log" >&2
    safe_rm "$tmp"
    die "mmdebstrap $arch failed (log: $log)"
  fi
  # Called plainly (not in an || list, where bash would ignore set -e inside it).
  fix_base "$tmp" "$arch" >>"$log" 2>&1
  safe_rm "$final"
  mv "$tmp" "$final"
}

fix_base() {
  local root=$1 arch=$2
  # Per-host identity is written when a host is created.
  rm -f "$root"/etc/ssh/ssh_host_*
  : >"$root/etc/machine-id"
  echo fleet >"$root/etc/hostname"
  # The console belongs to nspawn's log pipe; a getty there would only spin.
  ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"
  # The machine's resolver is unreachable from the fleet network: fail lookups fast.
  rm -f "$root/etc/resolv.conf"
  echo 'nameserver 127.0.0.1' >"$root/etc/resolv.conf"
  # apt through the fleet's cache; compressed indexes and no translations keep hosts small
  # (19 MB per host after an update instead of about 180 MB).
  cat >"$root/etc/apt/apt.conf.d/01pinery-fleet" <<EOF
Acquire::http::Proxy "http://$GW:$ACNG_PORT";
Acquire::GzipIndexes "true";
Acquire::Languages "none";
EOF
  # An unprivileged user for tests of login with sudo. Password "*": no password login, but not
  # "locked", which sshd would refuse even for keys.
  useradd -R "$root" -u 1000 -U -m -s /bin/bash -p '*' pinery
  echo 'pinery ALL=(ALL:ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/pinery"
  chmod 440 "$root/etc/sudoers.d/pinery"
  # Journal in memory: a persistent one costs 8 MB of disk per host at first boot.
  mkdir -p "$root/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' \
    >"$root/etc/systemd/journald.conf.d/pinery-fleet.conf"
  if [[ $arch == arm64 ]]; then install_qemu_generator "$root"; fi
  printf 'version=%s\narch=%s\nsuite=%s\nbuilt=%s\n' \
    "$BASE_VERSION" "$arch" "$SUITE" "$(date -u +%FT%TZ)" >"$root/etc/pinery-fleet-base"
}

# Units with LoadCredential= or PrivateNetwork=yes fail under qemu-user. A generator (rather than
# fixed drop-ins) also covers units that packages install later: it runs at boot and at every
# daemon-reload, which package scripts do before they start a new unit.
install_qemu_generator() {
  local g=$1/etc/systemd/system-generators/pinery-qemu-user
  mkdir -p "${g%/*}"
  cat >"$g" <<'EOF'
#!/bin/sh
# pinery fleet (arm64 under qemu-user): give every service that uses LoadCredential= or
# PrivateNetwork= a drop-in that clears LoadCredential= and sets PrivateNetwork=no; both fail
# under qemu-user. Output goes to the generator directory, so nothing in /etc is touched.
out=${1:-/run/systemd/generator}
for dir in /etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system \
           /usr/lib/systemd/system; do
  [ -d "$dir" ] || continue
  grep -rlsE '^[[:space:]]*(LoadCredential|LoadCredentialEncrypted|PrivateNetwork)[[:space:]]*=' \
    "$dir" | while read -r f; do
    case $f in
      *.service) unit=${f##*/} ;;
      *.service.d/*.conf) unit=${f%/*}; unit=${unit##*/}; unit=${unit%.d} ;;
      *) continue ;;
    esac
    mkdir -p "$out/$unit.d"
    printf '[Service]\nLoadCredential=\nLoadCredentialEncrypted=\nPrivateNetwork=no\n' \
      >"$out/$unit.d/zz-pinery-qemu-user.conf"
  done
done
exit 0
EOF
  chmod 755 "$g"
}

ensure_bases() {
  local arch need=() pids=() t p
  ((FLEET_AMD64 + FLEET_EXTRA_AMD64 == 0)) || base_ok amd64 || need+=(amd64)
  ((FLEET_ARM64 == 0)) || base_ok arm64 || need+=(arm64)
  if ((${#need[@]} == 0)); then
    log "bases: cached in $CACHE"
    return
  fi
  # A base is only replaced with no host on top of it.
  local n
  for n in $(present_hosts); do destroy_host "$n"; done
  mkdir -p "$CACHE"
  t=${EPOCHREALTIME/./}
  log "bases: building ${need[*]} (amd64 ~40 s, arm64 ~5 min; logs $CACHE/base-*.log)"
  # In parallel: amd64 mostly waits for downloads while arm64 keeps a core busy in qemu.
  for arch in "${need[@]}"; do
    build_base "$arch" &
    pids+=($!)
  done
  local rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  if ((rc != 0)); then
    for arch in "${need[@]}"; do base_ok "$arch" || tail -n 20 "$CACHE/base-$arch.log" >&2; done
    die "building bases failed (logs: $CACHE/base-*.log)"
  fi
  log "bases: built ${need[*]} in $(elapsed "$t") s"
}

# ---------------------------------------------------------------------------------------------
# network and package cache

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$GW/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # No forwarding for traffic from the fleet, whatever the machine's global setting: hosts
  # reach the machine's bridge address and each other, nothing beyond.
  sysctl -qw "net.ipv4.conf.$BRIDGE.forwarding=0"
  log "network: bridge $BRIDGE $GW/24"
}

acng_pid() {
  local pid
  pid=$(cat "$ACNG_STATE/pid" 2>/dev/null) || return 1
  pid_alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == apt-cacher-ng ]] && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# apt-cacher-ng from a private copy of its configuration: the packaged backends_debian names a
# mirror that does not resolve here, and its cache stays under $CACHE across `down`.
ensure_acng() {
  if acng_pid >/dev/null && port_open "$GW" "$ACNG_PORT"; then
    log "apt-cacher-ng: running on $GW:$ACNG_PORT"
    return
  fi
  stop_acng
  if ss -ltnH "sport = :$ACNG_PORT" | grep -q .; then
    ss -ltnpH "sport = :$ACNG_PORT" >&2
    die "port $ACNG_PORT is taken by another process (a system apt-cacher-ng? stop it)"
  fi
  local conf=$ACNG_STATE/conf
  mkdir -p "$ACNG_STATE/log" "$ACNG_CACHE"
  rm -rf "$conf"
  cp -a /etc/apt-cacher-ng "$conf"
  echo "$MIRROR/" >"$conf/backends_debian"
  cat >"$conf/zzz-pinery-fleet.conf" <<EOF
CacheDir: $ACNG_CACHE
LogDir: $ACNG_STATE/log
Port: $ACNG_PORT
BindAddress: $GW
PidFile: $ACNG_STATE/acng.pid
SocketPath: $ACNG_STATE/socket
ForeGround: 1
EOF
  # Foreground under setsid, so its PID is ours to stop and it outlives this shell.
  detach apt-cacher-ng -c "$conf" </dev/null >>"$ACNG_STATE/log/stdout.log" 2>&1
  echo $! >"$ACNG_STATE/pid"
  local i
  for ((i = 0; i < 100; i++)); do
    port_open "$GW" "$ACNG_PORT" && { log "apt-cacher-ng: started on $GW:$ACNG_PORT"; return; }
    acng_pid >/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$ACNG_STATE/log/"* >&2 || true
  die "apt-cacher-ng did not start"
}

stop_acng() {
  local pid i
  if pid=$(acng_pid); then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$ACNG_STATE/pid"
}

# ---------------------------------------------------------------------------------------------
# hosts

# A host is kept by `up` when its loop runs, its systemd is up, it is of the wanted arch and it
# takes the current key: then nothing about it can be stale.
host_healthy() {
  local n=$1 d=$STATE/h$1
  runner_pid "$n" >/dev/null || return 1
  [[ $(cat "$d/arch" 2>/dev/null) == "$(arch_of "$n")" ]] || return 1
  cmp -s "$d/root/root/.ssh/authorized_keys" "$FLEET_DIR/id_ed25519.pub" || return 1
  [[ -s $d/known_hosts ]] || return 1
  case $(system_state "$n") in running | degraded) ;; *) return 1 ;; esac
  timeout 15 ssh "${SSH_OPTS[@]}" -i "$FLEET_DIR/id_ed25519" -o UserKnownHostsFile="$d/known_hosts" \
    "root@$(addr_of "$n")" true </dev/null >/dev/null 2>&1
}

create_host() {
  local n=$1 arch d root base ip pub
  arch=$(arch_of "$n") d=$STATE/h$n root=$STATE/h$n/root base=$CACHE/base-$(arch_of "$n")
  ip=$(addr_of "$n")
  mkdir -p "$d/upper" "$d/work" "$root"
  echo "$arch" >"$d/arch"
  mount -t overlay "fleet-h$n" -o "lowerdir=$base,upperdir=$d/upper,workdir=$d/work" "$root"

  echo "h$n" >"$root/etc/hostname"
  {
    printf '127.0.0.1\tlocalhost\n127.0.1.1\th%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$n"
    printf '%s\tfleet-gw\n' "$GW"
    local m
    for ((m = 1; m <= $(total); m++)); do printf '%s\th%s\n' "$(addr_of "$m")" "$m"; done
  } >"$root/etc/hosts"
  tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
  # apt's daily timers are Persistent: a fresh host runs apt-get update at boot and holds apt's
  # lock while the tests install packages. Test hosts have no use for them.
  ln -sf /dev/null "$root/etc/systemd/system/apt-daily.timer"
  ln -sf /dev/null "$root/etc/systemd/system/apt-daily-upgrade.timer"
  ssh-keygen -q -A -f "$root" >/dev/null
  for pub in "$root"/etc/ssh/ssh_host_*_key.pub; do
    echo "$ip $(cut -d' ' -f1,2 "$pub")"
  done >"$d/known_hosts"

  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$FLEET_DIR/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
  install -d -m 700 -o 1000 -g 1000 "$root/home/pinery/.ssh"
  install -m 600 -o 1000 -g 1000 "$FLEET_DIR/id_ed25519.pub" "$root/home/pinery/.ssh/authorized_keys"

  # Network: eth0 in the host's namespace, the other end on the bridge.
  ip netns add "fleet-h$n"
  ip link add "vf-h$n" type veth peer name eth0 netns "fleet-h$n"
  ip link set "vf-h$n" master "$BRIDGE" up
  ip -n "fleet-h$n" link set lo up
  ip -n "fleet-h$n" addr add "$ip/24" dev eth0
  ip -n "fleet-h$n" link set eth0 up
  ip -n "fleet-h$n" route add default via "$GW"

  mkdir -p "$CG2/fleet/h$n" ${CG1:+"$CG1/fleet/h$n"}
  write_runner "$n"
}

# The boot loop, as a file of its own so a running host does not depend on this script staying
# unchanged. Why each piece:
# - it joins host N's own cgroups before starting nspawn (containers must not share one);
# - nspawn's output goes into a pipe: written to a file, the console is never drained and PID 1
#   blocks once it has logged enough;
# - exit code 133 means the host ran `systemctl reboot`: boot it again.
write_runner() {
  local n=$1 d=$STATE/h$1 join=''
  [[ -z $CG1 ]] || join="echo \$\$ >\"$CG1/fleet/h$n/cgroup.procs\""
  cat >"$d/run.sh" <<EOF
#!/bin/bash
# Boot loop of fleet host h$n, written by .ci/fleet.sh.
echo \$\$ >"$CG2/fleet/h$n/cgroup.procs"
$join
while :; do
  echo "=== fleet: booting h$n at \$(date -u +%FT%TZ) ===" >>"$d/console.log"
  systemd-nspawn -D "$d/root" -M h$n --register=no --keep-unit \\
    --network-namespace-path=/run/netns/fleet-h$n --console=passive --resolv-conf=off -b \\
    </dev/null 2>&1 | cat >>"$d/console.log"
  rc=\${PIPESTATUS[0]}
  echo "=== fleet: nspawn exited with \$rc ===" >>"$d/console.log"
  [ "\$rc" = 133 ] || exit "\$rc"
done
EOF
}

# detach runs a daemon in the background under setsid (its PID in $!), holding none of this
# script's descriptors beyond 0-2: a lock its caller holds (flock FILE make test, fd 9 here)
# must not live on in the fleet's daemons, or every later run waits on it forever.
detach() {
  local f fd closes=""
  for f in /proc/$BASHPID/fd/*; do
    fd=${f##*/}
    if ((fd > 2)); then closes+=" $fd>&-"; fi
  done
  # One fork and an immediate exec: $! is the daemon from the start.
  eval "setsid \"\$@\"$closes &"
}

boot_host() {
  local n=$1 d=$STATE/h$1
  detach bash "$d/run.sh" </dev/null >/dev/null 2>&1
  echo $! >"$d/run.pid"
}

# Waits until host N's systemd is running (or degraded) and sshd takes the key. Prints the
# console's tail and fails, naming the host, when that does not happen in time.
wait_host() {
  local n=$1 arch limit state=down start=${EPOCHREALTIME/./} deadline
  arch=$(arch_of "$n")
  limit=$BOOT_TIMEOUT
  [[ $arch == arm64 ]] && limit=$((BOOT_TIMEOUT * 3))
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    if ! runner_pid "$n" >/dev/null; then
      state="exited"
      break
    fi
    state=$(system_state "$n")
    if [[ $state == running || $state == degraded ]] && ssh_ok "$n"; then
      local note=''
      if [[ $state == degraded ]]; then
        note=" (degraded: $(nsenter -t "$(pid1 "$n")" -a systemctl --failed --no-legend --plain 2>/dev/null |
          awk '{print $1}' | paste -sd' '))"
      fi
      log "host h$n ($arch, $(addr_of "$n")): up in $(elapsed "$start") s$note"
      return 0
    fi
    sleep 0.2
  done
  {
    echo "fleet: error: host h$n ($arch, $(addr_of "$n")) did not come up within ${limit}s" \
      "(systemd: ${state:-unknown}); console $STATE/h$n/console.log ends:"
    tail -n 40 "$STATE/h$n/console.log" 2>/dev/null | sed 's/^/  | /'
  } >&2
  return 1
}

# Stops the given hosts: poweroff from inside (all at once), wait with a bound, then kill what
# is left as a last resort.
stop_hosts() {
  local n p left deadline
  for n in "$@"; do
    if p=$(pid1 "$n"); then
      timeout 10 nsenter -t "$p" -a systemctl poweroff --no-block >/dev/null 2>&1 || true
    fi
  done
  deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    left=()
    for n in "$@"; do
      { runner_pid "$n" >/dev/null || [[ -n $(cgroup_pids "$n") ]]; } && left+=("$n")
    done
    ((${#left[@]} == 0 || SECONDS >= deadline)) && break
    sleep 0.2
  done
  for n in "${left[@]}"; do
    log "host h$n: did not power off within ${STOP_TIMEOUT}s, killing it"
    # The loop first, so it does not boot the host again.
    if p=$(runner_pid "$n"); then kill -9 "$p" 2>/dev/null || true; fi
    for p in $(cgroup_pids "$n"); do kill -9 "$p" 2>/dev/null || true; done
  done
  # Killed processes take a moment to leave their cgroups.
  for n in "${left[@]}"; do
    for ((p = 0; p < 50; p++)); do [[ -z $(cgroup_pids "$n") ]] && break; sleep 0.1; done
  done
}

# Removes every piece of host N; safe on partial leftovers.
destroy_host() {
  local n=$1 d=$STATE/h$1 c
  if runner_pid "$n" >/dev/null || [[ -n $(cgroup_pids "$n") ]]; then stop_hosts "$n"; fi
  if mountpoint -q "$d/root"; then umount "$d/root" 2>/dev/null || umount -l "$d/root"; fi
  ip link del "vf-h$n" 2>/dev/null || true
  ip netns del "fleet-h$n" 2>/dev/null || true
  for c in "$CG2/fleet/h$n" ${CG1:+"$CG1/fleet/h$n"}; do
    if [[ -d $c ]]; then find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  safe_rm "$d"
}

write_fleet_files() {
  local n t
  t=$(total)
  for ((n = 1; n <= t; n++)); do cat "$STATE/h$n/known_hosts"; done >"$FLEET_DIR/known_hosts"
  {
    cat <<'EOF'
# Written by .ci/fleet.sh up; paths are relative to this file.
defaults {
  user            = "root"
  identity_file   = "id_ed25519"
  known_hosts     = "known_hosts"
  connect_timeout = "5s"
}
EOF
    for ((n = 1; n <= t; n++)); do
      printf '\nhost "h%s" {\n  address = "%s"\n  groups  = ["%s"]\n}\n' \
        "$n" "$(addr_of "$n")" "$(arch_of "$n")"
    done
    printf '\ngroup "fleet" {\n  hosts = ["h[1:%s]"]\n}\n' "$t"
  } >"$FLEET_DIR/inventory.hcl"
}

# ---------------------------------------------------------------------------------------------
# commands

cmd_up() {
  local t n keep=() new=() pids=() rc=0
  t=$(total)
  ((t >= 1 && t <= 200)) || die "FLEET_AMD64 + FLEET_ARM64 + FLEET_EXTRA_AMD64 must be 1..200 (is $t)"
  need_tools
  take_lock
  prepare_machine
  ensure_key
  ensure_bases
  ensure_bridge
  ensure_acng

  # Keep healthy hosts, clear anything else (crash leftovers, hosts beyond the wanted count).
  # The checks run in parallel: each costs an ssh round trip.
  local present=() healthy
  mapfile -t present < <(present_hosts)
  healthy=$(mktemp -d)
  for n in "${present[@]}"; do
    if ((n <= t)); then { ! host_healthy "$n" || touch "$healthy/$n"; } & pids+=($!); fi
  done
  # Only these: apt-cacher-ng and host loops are children of this shell too.
  for n in "${pids[@]}"; do wait "$n" || true; done
  pids=()
  for n in "${present[@]}"; do
    if [[ -e $healthy/$n ]]; then keep+=("$n"); else destroy_host "$n"; fi
  done
  rm -rf "$healthy"
  for ((n = 1; n <= t; n++)); do
    [[ " ${keep[*]} " == *" $n "* ]] || new+=("$n")
  done
  ((${#keep[@]} == 0)) || log "hosts: kept $(printf 'h%s ' "${keep[@]}")(already up)"

  if ((${#new[@]})); then
    for n in "${new[@]}"; do create_host "$n" & pids+=($!); done
    for n in "${pids[@]}"; do wait "$n" || rc=1; done
    ((rc == 0)) || die "creating hosts failed"
    log "hosts: created ${#new[@]} (overlay, identity, keys, network)"
  fi
  write_fleet_files
  for n in "${new[@]}"; do boot_host "$n"; done
  ((${#new[@]} == 0)) || log "hosts: booting ${#new[@]}"

  pids=()
  for n in "${new[@]}"; do wait_host "$n" & pids+=($!); done
  for n in "${pids[@]}"; do wait "$n" || rc=1; done
  ((rc == 0)) || die "some hosts did not come up (fleet left as is; 'fleet.sh down' clears it)"

  log "fleet up: $t hosts ($((FLEET_AMD64 + FLEET_EXTRA_AMD64)) amd64, $FLEET_ARM64 arm64), inventory $FLEET_DIR/inventory.hcl, total $(elapsed "$T0") s"
}

cmd_down() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  take_lock
  local hosts n
  mapfile -t hosts < <(present_hosts)
  if ((${#hosts[@]})); then
    stop_hosts "${hosts[@]}"
    log "hosts: stopped ${#hosts[@]}"
    for n in "${hosts[@]}"; do destroy_host "$n"; done
    log "hosts: destroyed"
  fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  stop_acng
  local c
  for c in "$CG2/fleet" ${CG1:+"$CG1/fleet"}; do rmdir "$c" 2>/dev/null || true; done
  safe_rm "$ACNG_STATE"
  rmdir "$STATE" 2>/dev/null || true
  # Only our own files: FLEET_DIR may point anywhere.
  rm -f "$FLEET_DIR"/{id_ed25519,id_ed25519.pub,known_hosts,inventory.hcl}
  rmdir "$FLEET_DIR" 2>/dev/null || true
  log "fleet down (bases kept in $CACHE), total $(elapsed "$T0") s"
}

# Out-of-band power for pinery's power tests, like a relay on a board's supply: off kills the
# host at once (even frozen: cgroup.kill, then the freezer is cleared so the next boot runs),
# on boots it without waiting, status exits 0 when on and 1 when off.
cmd_power() {
  local action=$1 n=$2 cg=$CG2/fleet/h$2 p
  [[ -d $STATE/h$n ]] || die "host h$n is not in the fleet"
  case $action in
    off)
      if [[ -e $cg/cgroup.kill ]]; then
        echo 1 >"$cg/cgroup.kill"
      else
        if p=$(runner_pid "$n"); then kill -9 "$p" 2>/dev/null || true; fi
        for p in $(cgroup_pids "$n"); do kill -9 "$p" 2>/dev/null || true; done
      fi
      for ((p = 0; p < 100; p++)); do [[ -z $(cgroup_pids "$n") ]] && break; sleep 0.1; done
      [[ -z $(cgroup_pids "$n") ]] || die "host h$n: processes left after power off"
      [[ ! -e $cg/cgroup.freeze ]] || echo 0 >"$cg/cgroup.freeze"
      echo "=== fleet: power off at $(date -u +%FT%TZ) ===" >>"$STATE/h$n/console.log" ;;
    on)
      if runner_pid "$n" >/dev/null; then echo "h$n is already on"; return 0; fi
      boot_host "$n" ;;
    status)
      if runner_pid "$n" >/dev/null; then echo "h$n: on"; return 0; fi
      echo "h$n: off"
      return 1 ;;
    *) die "usage: fleet.sh power on|off|status hN" ;;
  esac
}

cmd_status() {
  local hosts n ssh
  mapfile -t hosts < <(present_hosts)
  if ((${#hosts[@]} == 0)); then
    echo "fleet: down"
    return 0
  fi
  printf '%-5s %-13s %-6s %-10s %s\n' HOST ADDRESS ARCH SYSTEMD SSH
  for n in "${hosts[@]}"; do
    ssh=no
    [[ -f $FLEET_DIR/known_hosts ]] && ssh_ok "$n" && ssh=yes
    printf '%-5s %-13s %-6s %-10s %s\n' "h$n" "$(addr_of "$n")" \
      "$(cat "$STATE/h$n/arch" 2>/dev/null || echo '?')" "$(system_state "$n")" "$ssh"
  done
  if acng_pid >/dev/null; then echo "apt-cacher-ng: $GW:$ACNG_PORT"; else echo "apt-cacher-ng: stopped"; fi
}

detect_cgroups
case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  power)
    [[ ${3:-} =~ ^h([0-9]+)$ ]] || die "usage: fleet.sh power on|off|status hN"
    cmd_power "${2:-}" "${BASH_REMATCH[1]}" ;;
  pid1) # internal helper for tests: PID of host hN's init, for nsenter
    [[ ${2:-} =~ ^h([0-9]+)$ ]] || die "usage: fleet.sh pid1 hN"
    pid1 "${BASH_REMATCH[1]}" ;;
  *)
    echo "usage: $0 up|down|status   (env: FLEET_AMD64=3 FLEET_ARM64=1 FLEET_DIR=<repo>/.fleet)" >&2
    exit 2 ;;
esac
