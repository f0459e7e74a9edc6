#!/bin/sh
# pinery-zram-swap: swap on compressed RAM (zram), written by pinery's
# zram_swap resource and run by pinery-zram-swap.service. Do not edit:
# pinery overwrites it.
#
#   pinery-zram-swap start SIZE ALGORITHMS PRIORITY
#   pinery-zram-swap stop
#
# SIZE is PERCENT% of MemTotal, or a size with a K, M or G suffix (powers of
# 1024); ALGORITHMS is a comma-separated preference list: the first one the
# kernel offers is used, and a fallback is logged. The device is hot-added
# and removed again on stop, so zram0 stays free for other tools.
#
# Exit status (pinery explains it): 10 no zram support in the kernel, 11
# /sys is read-only (a container), 12 no listed algorithm is offered, 13 the
# kernel refused to add or size a device, 14 no /dev node appeared, 15
# mkswap failed, 16 swapon was refused, 2 bad usage.
set -u
set -f
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
state=/run/pinery-zram-swap
ctl=/sys/class/zram-control

log() { echo "pinery-zram-swap: $*" >&2; }

stop() {
	[ -r "$state" ] || return 0
	dev=
	read -r dev <"$state" || :
	case $dev in
	zram[0-9]*)
		while read -r name _; do
			if [ "$name" = "/dev/$dev" ]; then
				swapoff "/dev/$dev" || { log "swapoff /dev/$dev failed (not enough free RAM to take the swapped pages back?)"; return 1; }
				break
			fi
		done </proc/swaps
		echo 1 >"/sys/block/$dev/reset" 2>/dev/null
		echo "${dev#zram}" >"$ctl/hot_remove" 2>/dev/null
		;;
	esac
	rm -f "$state"
}

# fail cleans up what start made so far and exits with $1.
fail() {
	code=$1
	shift
	log "$*"
	stop || :
	exit "$code"
}

start() {
	size=$1 algos=$2 prio=$3
	stop || exit 1
	if [ ! -d "$ctl" ] && command -v modprobe >/dev/null 2>&1; then
		modprobe zram 2>/dev/null || :
	fi
	[ -d "$ctl" ] || fail 10 "the kernel has no zram device support (no $ctl, and modprobe zram failed or is not installed)"
	# Checked before hot_add: reading hot_add adds a device even where no
	# device can then be configured, and that device would be left behind.
	[ -w "$ctl/hot_remove" ] || fail 11 "/sys is read-only here, so no zram device can be set up (a container shares its host's kernel: set up zram swap on the host)"

	n=$(cat "$ctl/hot_add") || fail 13 "the kernel refused to add a zram device"
	dev=zram$n
	echo "$dev" >"$state" || fail 1 "cannot write $state"

	offered=$(tr -d '[]' <"/sys/block/$dev/comp_algorithm")
	algo= first=
	IFS=,
	for a in $algos; do
		[ -n "$first" ] || first=$a
		IFS=' '
		for o in $offered; do
			[ "$o" = "$a" ] && algo=$a && break
		done
		IFS=,
		[ -z "$algo" ] || break
	done
	IFS=' '
	[ -n "$algo" ] || fail 12 "none of the algorithms $algos is offered by this kernel (it offers: $offered)"
	[ "$algo" = "$first" ] || log "$first is not offered by this kernel (it offers: $offered); using $algo"
	echo "$algo" >"/sys/block/$dev/comp_algorithm" || fail 13 "the kernel refused algorithm $algo for /dev/$dev"

	case $size in
	*%)
		kb=
		while read -r k v _; do
			[ "$k" = MemTotal: ] && kb=$v && break
		done </proc/meminfo
		[ -n "$kb" ] || fail 1 "no MemTotal in /proc/meminfo"
		bytes=$((kb * ${size%\%} / 100 * 1024))
		;;
	*K) bytes=$((${size%K} * 1024)) ;;
	*M) bytes=$((${size%M} * 1024 * 1024)) ;;
	*G) bytes=$((${size%G} * 1024 * 1024 * 1024)) ;;
	*) fail 2 "bad size $size" ;;
	esac
	echo "$bytes" >"/sys/block/$dev/disksize" || fail 13 "the kernel refused a size of $bytes bytes for /dev/$dev"

	i=0
	while [ ! -b "/dev/$dev" ] && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -b "/dev/$dev" ] || fail 14 "/dev/$dev did not appear (is udev running?)"
	mkswap "/dev/$dev" >/dev/null || fail 15 "mkswap /dev/$dev failed"
	swapon -p "$prio" "/dev/$dev" || fail 16 "swapon /dev/$dev was refused"
	log "swap on /dev/$dev: $bytes bytes, $algo, priority $prio"
}

case ${1:-} in
start)
	[ $# -eq 4 ] || { log "usage: $0 start SIZE ALGORITHMS PRIORITY"; exit 2; }
	start "$2" "$3" "$4"
	;;
stop) stop ;;
*)
	log "usage: $0 start SIZE ALGORITHMS PRIORITY | stop"
	exit 2
	;;
esac
