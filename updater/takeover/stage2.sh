#!/bin/sh
# Takeover stage 2: runs as PID 1 (busybox init exec'd it in place of itself, after stopping the
# services and killing every process), from the RAM filesystem stage 1 prepared at $T with a
# static busybox, the settings in $T/takeover.env and what must survive in $T/keep/.
#
# Steps, each marked on the console as "[takeover] step NAME start|done|failed" for the harness:
#   copy-to-ram  the downloaded image (checked again) and the tools into RAM
#   pivot        pivot_root into RAM, the disk unmounted
#   flash        the whole disk written from the image (simg-flash); from here there is no way back
#   validate     the disk read back, every byte compared with the image
#   restore      config.json, network files and SSH host keys put on the new partitions
#   boot-flash   the boot firmware written to the board's flash (where the new OS needs it)
#   save-log     this log saved as /mnt/data/balenahup/advanced.<datetime>.log on the new disk
#   reboot
# A failure before `flash` reboots into the old OS, untouched; after it, the device may not boot,
# and the log says so.
T=/run/takeover
export PATH="$T/bin:/bin"
set -o pipefail 2>/dev/null
. "$T/takeover.env"
LOG="$T/advanced.log"
FLASH_STARTED=0

say() {
	line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"
	echo "$line" >> "$LOG"
	echo "[takeover] $*" > /dev/console
}

# Progress to the API, as the updater reports it (busybox wget can only POST; the API takes both).
# Bounded by `timeout`, not wget's -T: Debian's busybox-static 1.35 wget segfaults whenever -T is
# given (measured: every run, any URL), which cost stage 2 every live report.
report() { # percent message status
	[ -n "$API" ] || return 0
	body="{\"percent\":$1,\"message\":\"$2\",\"status\":\"$3\"}"
	if [ -n "$API_KEY" ]; then
		timeout "${REPORT_TIMEOUT:-10}" wget -q -O /dev/null --header "Content-Type: application/json" --header "Authorization: Bearer $API_KEY" \
			--post-data "$body" "$API/v1/devices/$UUID/progress" 2>"$T/wget.err"
	else
		timeout "${REPORT_TIMEOUT:-10}" wget -q -O /dev/null --header "Content-Type: application/json" --post-data "$body" "$API/v1/devices/$UUID/progress" 2>"$T/wget.err"
	fi
	rc=$?
	[ "$rc" -eq 0 ] && return 0
	if [ "$rc" -eq 143 ]; then why="no answer in ${REPORT_TIMEOUT:-10} s"; else why="$(tail -n 1 "$T/wget.err")"; fi
	say "progress report failed: $2 (${why:-wget exit $rc})"
	return 1
}

# The last word for the API, when stage 2 cannot send it: kept on the state partition of the
# disk as it is now (the new one after the flash), where the next OS's report-pending finds it.
pending() { # percent message status
	mkdir -p "$T/mnt/state"
	dev="$(part resin-state)" || return 1
	mount -t ext4 "$dev" "$T/mnt/state" || return 1
	printf '{"percent":%s,"message":"%s","status":"%s"}' "$1" "$2" "$3" > "$T/mnt/state/hup-pending-report.json"
	sync
	umount "$T/mnt/state"
	say "report kept for the next boot to send: $2"
}

# The services were stopped (DHCP client included): put the address stage 1 saw back if it went.
network() {
	[ -n "$NET_IF" ] || return 0
	ip link set lo up
	ip link set "$NET_IF" up
	if ! ip -4 addr show dev "$NET_IF" | grep -q "inet "; then
		ip addr add "$NET_ADDR" dev "$NET_IF" && say "network: $NET_ADDR on $NET_IF again"
	fi
	[ -z "$NET_GW" ] || ip route show | grep -q '^default' || ip route add default via "$NET_GW" dev "$NET_IF"
}

part() { findfs "LABEL=$1" 2>/dev/null; }

# The log goes onto a data partition: the new one after a flash, the old one before.
save_log() {
	mkdir -p "$T/mnt/data"
	dev="$(part resin-data)" || return 1
	mount -t ext4 "$dev" "$T/mnt/data" || return 1
	mkdir -p "$T/mnt/data/balenahup"
	cp "$LOG" "$T/mnt/data/balenahup/advanced.$STAMP.log"
	sync
	umount "$T/mnt/data"
}

finish() {
	sync
	echo "[takeover] rebooting" > /dev/console
	reboot -f
	echo b > /proc/sysrq-trigger
}

fail() { # step message
	say "step $1 failed $2"
	if [ "$FLASH_STARTED" = 1 ]; then
		say "OS update failed after the flash started: the disk holds a partly written OS and may not boot; re-flash it"
	else
		say "OS update failed before the flash: the disk is untouched, rebooting into the running OS"
	fi
	save_log || echo "[takeover] cannot save the log to the data partition" > /dev/console
	report 100 "OS update failed" failed || pending 100 "OS update failed" failed
	finish
}

step() { # name command...
	name="$1"; shift
	say "step $name start"
	started="$(date +%s)"
	# In this shell, not a subshell: pivot changes where everything is, and flash what a failure means.
	if "$@" > "$T/step.out" 2>&1; then
		secs=$(($(date +%s) - started))
		say "step $name done (${secs}s) $(tail -n 1 "$T/step.out")"
	else
		fail "$name" "$(tail -n 1 "$T/step.out")"
	fi
}

copy_to_ram() {
	mkdir -p "$T/mnt/olddata"
	dev="$(part resin-data)" || { echo "the data partition (resin-data) is not found"; return 1; }
	mount -t ext4 -o ro "$dev" "$T/mnt/olddata" || { echo "cannot mount $dev"; return 1; }
	cp "$T/mnt/olddata/$IMAGE_REL" "$T/image" || { umount "$T/mnt/olddata"; echo "cannot copy the image into RAM"; return 1; }
	umount "$T/mnt/olddata"
	got="$(sha256sum "$T/image" | cut -d' ' -f1)"
	[ "$got" = "$IMAGE_SHA256" ] || { echo "the image in RAM hashes to $got, not $IMAGE_SHA256"; return 1; }
	echo "$(wc -c < "$T/image") bytes of image in RAM, digest checked"
}

pivot() {
	mkdir -p "$T/oldroot" "$T/proc" "$T/sys" "$T/dev"
	mount -t proc proc "$T/proc" && mount -t sysfs sysfs "$T/sys" && mount -t devtmpfs devtmpfs "$T/dev" || { echo "cannot mount proc, sys, dev in RAM"; return 1; }
	cd "$T" && pivot_root . oldroot || { echo "pivot_root into RAM failed"; return 1; }
	T=; LOG=/advanced.log; export PATH=/bin
	sync
	# Everything of the disk goes: mounts under the old root first, then the old root itself.
	for m in $(grep " /oldroot" /proc/mounts | cut -d' ' -f2 | sort -r); do umount "$m" 2>/dev/null || umount -l "$m"; done
	umount /oldroot 2>/dev/null || umount -l /oldroot
	if grep -q "^$DISK" /proc/mounts; then echo "the disk $DISK is still mounted"; return 1; fi
	echo "running from RAM; $DISK unmounted"
}

flash() {
	FLASH_STARTED=1
	report 60 "Flashing the new OS" updating
	gunzip -c /image 2>/gunzip.err | /simg-flash write "$DISK" 2>/simg.err || { echo "$(tail -n 1 /simg.err) $(tail -n 1 /gunzip.err)"; return 1; }
	sync
}

validate() {
	# Every byte read back from the disk (not the cache) and compared with the image.
	echo 3 > /proc/sys/vm/drop_caches
	gunzip -c /image 2>/gunzip.err | /simg-flash verify "$DISK" 2>/simg.err || { echo "$(tail -n 1 /simg.err) $(tail -n 1 /gunzip.err)"; return 1; }
}

restore() {
	blockdev --rereadpt "$DISK" || { echo "the kernel cannot re-read the new partition table"; return 1; }
	for i in 1 2 3 4 5 6 7 8 9 10; do part resin-boot >/dev/null && break; sleep 1; done
	kept=""
	mkdir -p /mnt/boot /mnt/state
	boot="$(part resin-boot)" || { echo "the new disk has no resin-boot"; return 1; }
	mount -t vfat "$boot" /mnt/boot || { echo "cannot mount the new resin-boot"; return 1; }
	cp /keep/boot/config.json /mnt/boot/config.json || { umount /mnt/boot; echo "cannot write config.json"; return 1; }
	kept="config.json"
	for d in system-connections system-proxy; do
		if [ -d "/keep/boot/$d" ]; then mkdir -p "/mnt/boot/$d" && cp -a "/keep/boot/$d/." "/mnt/boot/$d/" && kept="$kept $d"; fi
	done
	sync; umount /mnt/boot
	if [ -d /keep/state ]; then
		state="$(part resin-state)" || { echo "the new disk has no resin-state"; return 1; }
		mount -t ext4 "$state" /mnt/state || { echo "cannot mount the new resin-state"; return 1; }
		cp -a /keep/state/. /mnt/state/ && kept="$kept ssh-host-keys"
		sync; umount /mnt/state
	fi
	KEPT="$kept"
	echo "kept: $kept"
}

boot_flash() {
	mkdir -p /mnt/root
	root="$(part resin-rootA)" || { echo "the new disk has no resin-rootA"; return 1; }
	mount -t ext4 -o ro "$root" /mnt/root || { echo "cannot mount the new root"; return 1; }
	got="$(sha256sum "/mnt/root$FLASH_FILE" | cut -d' ' -f1)"
	if [ "$got" != "$FLASH_SHA256" ]; then umount /mnt/root; echo "the new OS's firmware $FLASH_FILE hashes to $got, not $FLASH_SHA256"; return 1; fi
	cp "/mnt/root$FLASH_FILE" /boot-flash.bin
	umount /mnt/root
	/cfi-flash "$FLASH_BASE" "$FLASH_BANK" /boot-flash.bin
}

say "takeover stage 2 as PID $$: $FROM_VERSION -> $TO_VERSION ($TO_DEVICE_TYPE), disk $DISK"
network
report 50 "Takeover: running from RAM" updating
step copy-to-ram copy_to_ram
step pivot pivot
step flash flash
step validate validate
step restore restore
if [ -n "$FLASH_FILE" ]; then step boot-flash boot_flash; fi
say "OS update done: $FROM_VERSION -> $TO_VERSION; kept: $KEPT; not kept: the contents of /mnt/data (the new OS starts with an empty data partition)"
step save-log save_log
report 100 "Update successful, rebooting" rebooting || pending 100 "Update successful, rebooting" rebooting
finish
