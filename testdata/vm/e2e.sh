#!/bin/bash
# e2e.sh: the real-boot end-to-end test of Phoenix (make e2e), and the demo
# (make demo). It boots a debootstrapped Debian 12 under qemu TCG with a
# seed volume attached, relaunching qemu on each guest reboot, and checks
# from the console and from the powered-off disk image (debugfs) that the
# seed was found by its label, the modules ran, the reboot resumed at the
# right module, the boot unit disabled itself, a further boot changes
# nothing, a reseed re-runs only the changed module, a failing seed fails
# closed, and measures Phoenix against cloud-init on equal work.
#
# Usage: e2e.sh [--demo] [--only LIST]   (as root; LIST: full,fail,usb,hook,answer,compare,deb,powercut)
# Env:   VM (default build/vm, the cache), BIN (default bin/phoenix),
#        RUN (default $VM/run, this run's images and logs),
#        E2E_NO_BUILD=1 (use the cached image as it is)
# shellcheck disable=SC2317 # functions are reached through main and "scenario_$s"
set -euo pipefail

cd "$(dirname "$0")/../.."
HERE=testdata/vm
VM=${VM:-build/vm}
BIN=${BIN:-bin/phoenix}
RUN=${RUN:-$VM/run}
# The suite a scenario boots unless it names one (name@suite): trixie, the
# base of Proxmox VE 9. The bookworm scenario keeps PVE 8's base covered.
SUITE0=${E2E_SUITE:-trixie}
DEMO=0
ONLY=${E2E_ONLY:-full,fail,usb,hook,answer,compare,deb,powercut,compare@bookworm}
while [ $# -gt 0 ]; do
	case $1 in
	--demo) DEMO=1 ;;
	--only) ONLY=$2; shift ;;
	*) echo "usage: $0 [--demo] [--only full,fail,usb,hook,answer,compare,deb,powercut[@SUITE],...]" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "e2e: run as root (debootstrap, chroot, image files owned by root)" >&2; exit 2; }
for t in qemu-system-x86_64 debootstrap mkfs.ext4 debugfs e2fsck xorriso mkfs.vfat mcopy python3 pkill; do
	command -v "$t" >/dev/null || { echo "e2e: $t is missing: make vm-deps (installs VM_DEBS, testdata/vm/vm.mk)" >&2; exit 2; }
done
[ -x "$BIN" ] || { echo "e2e: $BIN is missing: make build" >&2; exit 2; }

# TCG (E2E_ACCEL=tcg, the default): it runs anywhere, and the figures in
# docs/perf/e2e.md are TCG's. E2E_ACCEL=kvm is faster where KVM works (on
# the shared build machine, nested KVM stops the guest's kernel with "KVM
# internal error. Suberror: 1", so it is opt-in). report.txt says which ran.
ACCEL=${E2E_ACCEL:-tcg}
case $ACCEL in
kvm) ACCEL_ARGS="-accel kvm -cpu host" ;;
tcg) ACCEL_ARGS="-accel tcg,thread=multi -cpu qemu64" ;;
icount)
	# The guest's clock counts instructions (1 ns each: shift=0) instead of
	# following the host's, so the comparison's seconds do not follow the
	# build machine's speed and load (I/O still completes on the host's
	# clock: the boots still spread; docs/perf/e2e.md, "-icount").
	# One host thread for both vCPUs (icount needs it), so boots take longer
	# on the wall clock. sleep=off: an idle guest's clock jumps to its next
	# timer, so a wait for I/O costs the guest up to a timer's interval
	# (an fsync several). The root disk with cache=unsafe was tried and
	# spread the boots as much.
	ACCEL_ARGS="-accel tcg,thread=single -icount shift=0,sleep=off,align=off -cpu qemu64" ;;
*) echo "e2e: E2E_ACCEL=$ACCEL: tcg, icount or kvm" >&2; exit 2 ;;
esac
T_START=$(date +%s)
say() { printf '\n==> %s\n' "$*" >&2; }
FAILS=()
TAG= # "@suite" on the names of checks off the default suite
# report: a line into report.txt, and onto the terminal unless in the demo
# (whose terminal shows the progress view, then a summary).
report() { if [ "$DEMO" = 1 ]; then cat >>"$RUN/report.txt"; else tee -a "$RUN/report.txt"; fi; }
pass() { printf '  PASS %-28s %s\n' "$1$TAG" "${2:-}" | report; }
fail() { printf '  FAIL %-28s %s\n' "$1$TAG" "${2:-}" | report; FAILS+=("$1$TAG"); }
expect() { # expect NAME DETAIL COMMAND...: PASS when the command succeeds
	local name=$1 detail=$2
	shift 2
	if "$@" >/dev/null 2>&1; then pass "$name" "$detail"; else fail "$name" "$detail"; fi
}
note() { printf '  NOTE %s\n' "$*" | report; }

# The scenarios to run, as "name suite" pairs; the demo is the full one.
if [ "$DEMO" = 1 ]; then ONLY=full; fi
SCEN=()
IFS=, read -ra _list <<<"$ONLY"
for _s in "${_list[@]}"; do
	case $_s in *@*) SCEN+=("${_s%@*} ${_s#*@}") ;; *) SCEN+=("$_s $SUITE0") ;; esac
done
# deb needs `make deb`'s package (DEB=path, else the newest under build/).
# (A fresh clone has no build/ yet: find fails there, which must not end
# the run under set -e and pipefail.)
DEB=${DEB:-$({ find build bin -maxdepth 2 -name 'phoenix_*.deb' -printf '%T@ %p\n' 2>/dev/null || true; } | sort -n | tail -1 | cut -d' ' -f2-)}

# 1. The base roots (cached), one per suite, with only what the scenarios
# on it need: ZFS modules for full and fail, the generic kernel for usb.
declare -A NEED_ZFS NEED_GEN
for _p in "${SCEN[@]}"; do
	read -r _n _su <<<"$_p"
	NEED_ZFS[$_su]=${NEED_ZFS[$_su]:-0} NEED_GEN[$_su]=${NEED_GEN[$_su]:-0}
	case $_n in full | fail | powercut) NEED_ZFS[$_su]=1 ;; usb) NEED_GEN[$_su]=1 ;; esac
done
# A go.mod makes the cache its own (empty) module, so `go test ./...` in the
# repository skips the guest roots (and a chroot's /proc mounted in them).
mkdir -p "$VM"
[ -e "$VM/go.mod" ] || printf '// Not Go: the e2e cache (testdata/vm/e2e.sh). Keeps ./... out of it.\nmodule e2e.invalid/vmcache\n' >"$VM/go.mod"
rm -rf --one-file-system "$RUN"
mkdir -p "$RUN"
: >"$RUN/report.txt"
echo "accelerator: $ACCEL ($ACCEL_ARGS); load $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs" >>"$RUN/report.txt"
T_IMAGES=$(date +%s)
if [ "$DEMO" = 1 ] && [ "${E2E_NO_BUILD:-0}" != 1 ] && [ ! -e "$VM/$SUITE0/stamps/zfs-modules" ]; then
	say "first run: building the $SUITE0 guest once under $VM/$SUITE0 (debootstrap, ~300 MB from the Debian mirror; OpenZFS's kernel modules compiled with dkms in a throw-away chroot); later runs reuse it"
fi
if [ "${E2E_NO_BUILD:-0}" != 1 ]; then
	for _su in "${!NEED_ZFS[@]}"; do
		ZFS=${NEED_ZFS[$_su]} GENERIC=${NEED_GEN[$_su]} "$HERE/build-image.sh" "$_su" "$VM/$_su"
	done
fi
T_IMAGES=$(($(date +%s) - T_IMAGES))

# stage NAME: a copy of the base root for one scenario. Hard links keep it
# fast and small; nothing below writes into a file in place (phoenix install
# and Root write by rename; new files only), so the base stays pristine.
stage() {
	local d=$RS/$1
	rm -rf --one-file-system "$d"
	mkdir -p "$d"
	cp -al "$IMG/base" "$d/root"
	install -m 0755 "$HERE/guest/phoenix-e2e-check" "$d/root/usr/local/sbin/phoenix-e2e-check.new"
	mv "$d/root/usr/local/sbin/phoenix-e2e-check.new" "$d/root/usr/local/sbin/phoenix-e2e-check"
	install -m 0644 "$HERE/guest/phoenix-e2e-check.service" "$d/root/etc/systemd/system/"
	ln -sf /etc/systemd/system/phoenix-e2e-check.service "$d/root/etc/systemd/system/multi-user.target.wants/phoenix-e2e-check.service"
	for t in pvesm pveum pct pveam; do install -m 0755 "$HERE/guest/stub" "$d/root/usr/local/bin/$t"; done
	mkdir -p "$d/root/root/e2e"
}

# image NAME: the root filesystem image, made without a loop mount.
image() {
	mkfs.ext4 -q -F -E root_owner=0:0 -L e2e-root -d "$RS/$1/root" "$RS/$1/disk.img" 3G
}

# seedvol KIND SEED OUT [FILE...]: a seed volume labelled PHOENIX holding
# SEED as seed.yaml and the FILEs (e.g. the phoenix binary) at its top. KIND
# iso, fat or usb (partition table + FAT). `phoenix seed build` makes it when this binary has that verb;
# else the harness makes the same volume with xorriso / mkfs.vfat + mcopy.
seedvol() {
	local kind=$1 seed=$2 out=$3 dir f
	shift 3
	dir=$(mktemp -d)
	cp "$seed" "$dir/seed.yaml"
	for f in "$@"; do cp "$f" "$dir/"; done
	local help
	help=$("$BIN" seed build --help 2>&1 || true)
	if [[ $help == *--fat* ]]; then
		"$BIN" seed build "--$kind" -o "$out" "$dir/seed.yaml" "$@"
		SEEDVOL_BY="phoenix seed build ($kind)"
	elif [ "$kind" != iso ]; then
		truncate -s 64M "$out"
		mkfs.vfat -n PHOENIX "$out" >/dev/null
		mcopy -i "$out" "$dir"/* ::
		SEEDVOL_BY="mkfs.vfat + mcopy (phoenix seed build not in this binary)"
	else
		xorriso -as mkisofs -quiet -V PHOENIX -r -J -o "$out" "$dir" 2>/dev/null
		SEEDVOL_BY="xorriso (phoenix seed build not in this binary)"
	fi
	rm -rf "$dir"
}

# boot NAME MODE [QEMU ARGS...]: one boot; sets LAST (restart|poweroff|
# other) and WALL (seconds). NIC_ARGS replaces the -nic option (the answer
# scenario adds a guestfwd and a MAC). The console goes to RUN/NAME/console-N.log
# with a wall-clock stamp per line (and to the terminal in demo mode).
BOOTN=0
boot() {
	local name=$1 mode=$2 log t0 t1 raw=/dev/null
	shift 2
	BOOTN=$((BOOTN + 1))
	log=$RS/$name/console-$BOOTN.log
	local demo_args=()
	if [ "$DEMO" = 1 ]; then
		# The progress channel (guest/phoenix-e2e-check writes it) and one
		# raw console log across the boots.
		# shellcheck disable=SC2054 # commas belong to qemu's option syntax
		demo_args=(-device virtio-serial-pci -chardev "file,id=e2eprog,path=$RS/$name/progress.stream,append=on"
			-device virtserialport,chardev=e2eprog,name=e2e.progress)
		raw=$RS/$name/console.log
		echo "H boot $BOOTN: qemu launched (the guest's console goes to $raw)" >>"$RS/$name/progress.stream"
	fi
	t0=$EPOCHREALTIME
	echo "$t0 E2E-HARNESS launch" >"$log"
	# shellcheck disable=SC2086 # $ACCEL_ARGS is a word list
	timeout 900 qemu-system-x86_64 -machine pc $ACCEL_ARGS -smp 2 -m 1024 \
		-no-reboot -display none -serial stdio -monitor none \
		-kernel "${KERNEL:-$IMG/vmlinuz}" -initrd "${INITRD:-$IMG/initrd.img}" \
		-append "root=LABEL=e2e-root rw console=ttyS0 e2e.mode=$mode" \
		-drive "file=$RS/$name/disk.img,format=raw,if=virtio" \
		-nic "${NIC_ARGS:-user,restrict=on,model=virtio-net-pci}" -device virtio-rng-pci "${demo_args[@]}" "$@" </dev/null 2>&1 |
		while IFS= read -r line; do
			line=${line%$'\r'}
			printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$log"
			printf '%s\n' "$line" >>"$raw"
			if [[ $line == *'Kernel panic - not syncing'* || $line == *'kernel BUG at '* || $line == *'] Oops: '* ]] && [ ! -e "$log.panic" ]; then
				# A panicked guest hangs qemu until the timeout, and one
				# whose kernel oopsed (a BUG, a fault in the kernel: seen
				# under TCG, slab lists corrupt) hangs with its locks
				# held: end it now.
				echo "$line" >"$log.panic"
				pkill -KILL -f -- "file=$RS/$name/disk.img,format=raw,if=virtio" || true
			fi
		done || true
	t1=$EPOCHREALTIME
	WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if grep -aq 'reboot: Restarting system' "$log"; then LAST=restart
	elif grep -aq 'reboot: Power down' "$log"; then LAST=poweroff
	else LAST=other; fi
	local why=
	if [ -e "$log.panic" ]; then why="the guest kernel crashed"
	elif [ "$LAST" = other ] && awk -v w="$WALL" 'BEGIN { exit !(w >= 895) }'; then why="hung until the 900 s limit"; fi
	if [ -n "$why" ]; then
		# The console's tail (with the guest's WATCHDOG lines) says where.
		{
			echo "  boot $BOOTN $why: the last console lines ($log):"
			cut -d' ' -f2- "$log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tr -d '\r' | grep -av '^[[:space:]]*$' | tail -40 | cut -c1-200 | sed 's/^/    | /'
		} | report
	fi
	# Wall time from launch to the end of provisioning, when this boot saw it.
	DONE_WALL=$(awk -v a="$t0" '/E2E (PHOENIX|RESEED|CLOUDINIT) finished|E2E RESEED dropped/ { printf "%.1f", $1 - a; exit }' "$log")
	local line
	line=$(printf 'boot %d (%s@%s, %s): %s s wall, ended by %s' "$BOOTN" "$name" "$SU" "$mode" "$WALL" "$LAST")
	echo "  $line" >>"$RUN/report.txt"
	if [ "$DEMO" = 1 ]; then echo "H $line" >>"$RS/$name/progress.stream"; else echo "  $line"; fi
	# A kernel panic before anything of this boot's work is the emulator's
	# (seen under TCG at high load, 8 s into a boot): boot once more, and
	# say so. A second panic stands. powercut relaunches on its own.
	if [ -e "$log.panic" ] && [ "$mode" != powercut ] && [ -z "${E2E_RELAUNCHED:-}" ] && ! grep -aq 'E2E BOOT ' "$log"; then
		note "boot $BOOTN ($name): $(cat "$log.panic") before the checker started; booting once more"
		E2E_RELAUNCHED=1 boot "$name" "$mode" "$@"
	fi
}

# e2eline LOG PATTERN: the last E2E line matching PATTERN (stamp removed).
e2eline() { grep -a "E2E $2" "$1" | tail -1 | cut -d' ' -f2- | tr -d '\r' || true; }
# field LINE KEY: the value of KEY=... in LINE.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
# incat IMG PATH: a file's contents from a powered-off image.
incat() { debugfs -R "cat $2" "$1" 2>/dev/null; }
inexists() { debugfs -R "stat $2" "$1" 2>&1 | grep -q 'Inode:'; }
# guest_checks LOG [PREFIX]: turn the guest's CHECK lines into report lines.
guest_checks() {
	local l name res rest p=${2:-guest}
	while IFS= read -r l; do
		name=$(echo "$l" | awk '{print $4}')
		res=$(echo "$l" | awk '{print $5}')
		rest=$(echo "$l" | cut -d' ' -f6- | cut -c1-90)
		if [ "$res" = PASS ]; then pass "$p.$name" "$rest"
		elif [ "$p" = cloudinit ]; then note "cloud-init side: $name failed: $rest"
		else fail "$p.$name" "$rest"; fi
	done < <(grep -a 'E2E CHECK ' "$1" | tr -d '\r')
}

zfsdisks() {
	truncate -s 1G "$RS/$1/zfs1.img" "$RS/$1/zfs2.img"
	zfsargs "$1"
}

# zfsargs NAME: ZFSARGS for NAME's two ZFS disks as they are.
zfsargs() {
	# shellcheck disable=SC2054 # commas belong to qemu's option syntax
	ZFSARGS=(-drive "file=$RS/$1/zfs1.img,format=raw,if=none,id=z1" -device virtio-blk-pci,drive=z1,serial=zfs1
		-drive "file=$RS/$1/zfs2.img,format=raw,if=none,id=z2" -device virtio-blk-pci,drive=z2,serial=zfs2)
}

# ---------------------------------------------------------------- full
scenario_full() {
	local seed=$HERE/seeds/full.yaml img boots=0 first last_log
	say "full: $seed, seed on an ISO (ide-cd), two virtio disks for a ZFS mirror"
	echo "full@$SU ($(basename "$seed"))" >>"$RUN/report.txt"
	stage full
	"$BIN" install --root "$RS/full/root" --enable >"$RS/full/install.log"
	cp "$HERE/seeds/reseed.yaml" "$RS/full/root/root/e2e/seed-reseed.yaml"
	image full
	img=$RS/full/disk.img
	seedvol iso "$seed" "$RS/full/seed.iso"
	note "seed volume by $SEEDVOL_BY"
	zfsdisks full
	# shellcheck disable=SC2054
	local vol=(-drive "file=$RS/full/seed.iso,format=raw,if=none,id=cd,media=cdrom,readonly=on" -device ide-cd,drive=cd)
	local viewer=
	if [ "$DEMO" = 1 ]; then
		say "booting; live progress below (the raw console goes to $RS/full/console.log)"
		: >"$RS/full/progress.stream"
		python3 "$HERE/progress.py" "$RS/full/progress.stream" &
		viewer=$!
	fi
	first=$((BOOTN + 1))
	local total=0 done_total=""
	while :; do
		boot full phoenix "${ZFSARGS[@]}" "${vol[@]}"
		boots=$((boots + 1))
		if [ -n "$DONE_WALL" ]; then done_total=$(awk -v a="$total" -v b="$DONE_WALL" 'BEGIN{printf "%.1f", a+b}'); fi
		total=$(awk -v a="$total" -v b="$WALL" 'BEGIN{printf "%.1f", a+b}')
		if [ "$LAST" != restart ] || [ "$boots" -ge 5 ]; then break; fi
	done
	last_log=$RS/full/console-$BOOTN.log
	if [ -n "$viewer" ]; then
		echo "H end" >>"$RS/full/progress.stream"
		wait "$viewer" || true
	fi
	grep -a 'E2E STATUSLINE' "$last_log" | cut -d' ' -f4- | tr -d '\r' >"$RS/full/phoenix-status.txt" || true

	local fin; fin=$(e2eline "$last_log" 'PHOENIX finished')
	expect provisioning.ended_by_poweroff "$boots boot(s), last ended by $LAST" test "$LAST" = poweroff
	expect provisioning.reboot_happened "boots=$boots (kernel module needs one)" test "$boots" -ge 2
	expect provisioning.no_reboot_loop "boots=$boots <= 3" test "$boots" -le 3
	note "provisioning: $boots boots, ${total} s wall in all, done at ${done_total:-?} s wall; in the last boot phoenix exited at $(field "$fin" done_s) s after kernel start"
	echo "FULL@$SU boots=$boots wall_total=$total wall_done=${done_total:-} guest_done=$(field "$fin" done_s)" >>"$RUN/times.txt"
	local st; st=$(e2eline "$last_log" 'STATUS rc=')
	expect status.exit0 "phoenix status: $st" test "$(field "$st" rc)" = 0
	guest_checks "$last_log"
	local u; u=$(e2eline "$last_log" 'UNIT phoenix.service')
	expect unit.boot_disabled "$u" test "$(field "$u" enabled)" = disabled
	u=$(e2eline "$last_log" 'UNIT phoenix-reseed.path')
	expect unit.reseed_path_stays "$u" test "$(field "$u" enabled)/$(field "$u" active)" = enabled/active

	# From the powered-off image.
	expect image.fsck_clean "e2fsck -fn" e2fsck -fn "$img"
	expect image.wants_link_gone "/etc/systemd/system/multi-user.target.wants/phoenix.service" sh -c "! debugfs -R 'stat /etc/systemd/system/multi-user.target.wants/phoenix.service' '$img' 2>&1 | grep -q Inode:"
	incat "$img" /var/lib/phoenix/status.json >"$RS/full/status.json"
	if ! python3 "$HERE/status-check.py" "$RS/full/status.json" "$RS/full" "$first" | report; then
		FAILS+=(status-check.py)
	fi
	incat "$img" /var/log/phoenix/phoenix.log >"$RS/full/phoenix.log"
	expect seed.found_by_label "phoenix.log or console names the PHOENIX volume" \
		sh -c "grep -aqi 'label.*PHOENIX\|PHOENIX.*label\|volume.*PHOENIX' '$RS/full/phoenix.log' $RS/full/console-*.log"

	[ "$DEMO" = 1 ] && return 0

	# A further boot changes nothing under /var/lib/phoenix except logs.
	local m1; m1=$(e2eline "$last_log" 'MANIFEST')
	boot full phoenix "${ZFSARGS[@]}" "${vol[@]}"
	local m2; m2=$(e2eline "$RS/full/console-$BOOTN.log" 'MANIFEST')
	local ran; ran=$(e2eline "$RS/full/console-$BOOTN.log" 'PHOENIX finished')
	expect further_boot.phoenix_not_run "$(field "$ran" ran) (0 = never started)" test "$(field "$ran" ran)" = 0
	expect further_boot.state_unchanged "${m1#MANIFEST } vs ${m2#MANIFEST }" test "${m1#MANIFEST }" = "${m2#MANIFEST }"
	echo "FURTHER@$SU wall=$WALL" >>"$RUN/times.txt"

	# Reseed: drop a seed with one changed section; the path unit fires.
	boot full reseed "${ZFSARGS[@]}" "${vol[@]}"
	local rl=$RS/full/console-$BOOTN.log
	local r; r=$(e2eline "$rl" 'RESEED dropped')
	expect reseed.path_unit_ran "$r" test "$(field "$r" result)" = success
	guest_checks "$rl"
	local changed
	# Markers whose content changed between before and after the reseed.
	changed=$(awk 'FNR == NR { b[$1] = $2; next } b[$1] != $2 { sub(/\.json$/, "", $1); printf "%s ", $1 }' \
		<(grep -a 'E2E MARKER-BEFORE' "$rl" | awk '{print $4, $5}') <(grep -a 'E2E MARKER ' "$rl" | awk '{print $4, $5}'))
	expect reseed.only_host_reran "markers changed: ${changed:-none}" test "$changed" = "host "
	echo "RESEED@$SU wall=$WALL dropped_s=$(field "$r" dropped_s) done_s=$(field "$r" done_s)" >>"$RUN/times.txt"
	expect reseed.no_reboot "ended by $LAST" test "$LAST" = poweroff
}

# ---------------------------------------------------------------- fail
scenario_fail() {
	say "fail: a pool on a disk that does not exist, seed on a FAT disk (virtio)"
	echo "fail@$SU (fail.yaml)" >>"$RUN/report.txt"
	stage fail
	"$BIN" install --root "$RS/fail/root" --enable >"$RS/fail/install.log"
	image fail
	seedvol fat "$HERE/seeds/fail.yaml" "$RS/fail/seed.img"
	note "seed volume by $SEEDVOL_BY"
	zfsdisks fail
	local boots=0
	while :; do
		boot fail fail "${ZFSARGS[@]}" -drive "file=$RS/fail/seed.img,format=raw,if=virtio,readonly=on"
		boots=$((boots + 1))
		if [ "$LAST" != restart ] || [ "$boots" -ge 4 ]; then break; fi
	done
	local l=$RS/fail/console-$BOOTN.log st
	st=$(e2eline "$l" 'STATUS rc=')
	expect fail.status_exit1 "phoenix status: $st" test "$(field "$st" rc)" = 1
	expect fail.no_reboot "boots=$boots, last ended by $LAST" test "$boots/$LAST" = 1/poweroff
	# The banner must reach the console by itself, not through the checker.
	expect fail.console_banner "phoenix's own console output names zfs as failed" \
		sh -c "grep -av ' E2E ' $RS/fail/console-*.log | grep -aqi 'zfs.*fail\|fail.*zfs'"
	expect fail.names_the_disk "the missing disk is named on the console" grep -aq 'virtio-nope' "$l"
}

# ---------------------------------------------------------------- usb
scenario_usb() {
	if [ ! -f "$IMG/vmlinuz-generic" ]; then
		say "usb: skipped (no generic kernel in $IMG; build-image.sh with GENERIC=1)"
		note "usb: skipped, no generic kernel"
		return 0
	fi
	say "usb: seed on a USB stick (qemu-xhci + usb-storage), generic kernel"
	echo "usb@$SU (usb.yaml)" >>"$RUN/report.txt"
	stage usb
	"$BIN" install --root "$RS/usb/root" --enable >"$RS/usb/install.log"
	image usb
	seedvol usb "$HERE/seeds/usb.yaml" "$RS/usb/stick.img"
	note "seed volume by $SEEDVOL_BY"
	KERNEL=$IMG/vmlinuz-generic INITRD=$IMG/initrd-generic.img \
		boot usb usb -device qemu-xhci -drive "file=$RS/usb/stick.img,format=raw,if=none,id=stick" \
		-device usb-storage,drive=stick,removable=on
	local l=$RS/usb/console-$BOOTN.log st u
	st=$(e2eline "$l" 'STATUS rc=')
	expect usb.status_exit0 "phoenix status: $st" test "$(field "$st" rc)" = 0
	guest_checks "$l"
	u=$(e2eline "$l" 'UNIT phoenix.service')
	expect usb.boot_disabled "$u" test "$(field "$u" enabled)" = disabled
	incat "$RS/usb/disk.img" /var/lib/phoenix/status.json >"$RS/usb/status.json"
	expect usb.seed_origin "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("seed",{}).get("origin",""))' "$RS/usb/status.json" 2>/dev/null)" \
		python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["state"] != "done")' "$RS/usb/status.json"
	echo "USB@$SU wall=$WALL done_wall=$DONE_WALL" >>"$RUN/times.txt"
}

# ---------------------------------------------------------------- hook
# The Proxmox installer path: the image has no Phoenix, only the first-boot
# hook from `phoenix bake hook`, run once by a oneshot unit as the installer's
# proxmox-first-boot unit would. The hook must find the PHOENIX volume, copy
# the binary off it, install, and start phoenix.service in the same boot.
scenario_hook() {
	say "hook: Proxmox first-boot hook, binary and seed on a FAT volume (virtio)"
	echo "hook@$SU (usb.yaml via bake hook)" >>"$RUN/report.txt"
	stage hook
	local r=$RS/hook/root
	"$BIN" bake hook -o "$r/usr/local/sbin/phoenix-first-boot" >/dev/null
	cat >"$r/etc/systemd/system/e2e-first-boot.service" <<-'UNIT'
	# Stands in for the Proxmox installer's first-boot unit.
	[Unit]
	Description=e2e: run the Proxmox first-boot hook once
	Wants=network-online.target
	After=network-online.target
	ConditionPathExists=!/var/lib/e2e-first-boot.done
	[Service]
	Type=oneshot
	ExecStart=/usr/local/sbin/phoenix-first-boot
	ExecStartPost=/usr/bin/touch /var/lib/e2e-first-boot.done
	StandardOutput=journal+console
	StandardError=journal+console
	[Install]
	WantedBy=multi-user.target
	UNIT
	ln -s /etc/systemd/system/e2e-first-boot.service "$r/etc/systemd/system/multi-user.target.wants/"
	image hook
	seedvol fat "$HERE/seeds/usb.yaml" "$RS/hook/seed.img" "$BIN"
	note "seed volume by $SEEDVOL_BY"
	boot hook hook -drive "file=$RS/hook/seed.img,format=raw,if=virtio,readonly=on"
	local l=$RS/hook/console-$BOOTN.log st u
	expect hook.found_volume "the hook's console line" grep -aq 'phoenix-first-boot: found PHOENIX volume' "$l"
	expect hook.started_phoenix "the hook started phoenix.service" grep -aq 'phoenix-first-boot: phoenix.service started' "$l"
	st=$(e2eline "$l" 'STATUS rc=')
	expect hook.status_exit0 "phoenix status: $st" test "$(field "$st" rc)" = 0
	guest_checks "$l"
	u=$(e2eline "$l" 'UNIT phoenix.service')
	expect hook.boot_disabled "$u" test "$(field "$u" enabled)" = disabled
	u=$(e2eline "$l" 'UNIT phoenix-reseed.path')
	expect hook.reseed_path_enabled "$u" test "$(field "$u" enabled)" = enabled
	# The hook never makes the stick's seed a trusted local seed (M3,
	# docs/iso-baking.md): phoenix reads it from the volume at run time.
	expect hook.seed_not_installed "no /etc/phoenix/seed.yaml in the image" sh -c "! debugfs -R 'stat /etc/phoenix/seed.yaml' '$RS/hook/disk.img' 2>&1 | grep -q Inode:"
	echo "HOOK@$SU wall=$WALL done_wall=$DONE_WALL" >>"$RUN/times.txt"
}

# ---------------------------------------------------------------- deb
# Phoenix installed the Debian way: `make deb`'s package, installed into the
# image with dpkg inside its chroot (maintainer scripts included), then
# enabled explicitly (installing never starts provisioning by itself), then
# provisioned as usual from a seed volume.
scenario_deb() {
	if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
		say "deb: skipped (no phoenix_*.deb under build/ or bin/: make deb, or DEB=path)"
		note "deb: skipped, no package (make deb)"
		return 0
	fi
	say "deb: $(basename "$DEB") installed with dpkg in the chroot, seed on an ISO"
	echo "deb@$SU ($(basename "$DEB"), compare.yaml)" >>"$RUN/report.txt"
	stage deb
	local r=$RS/deb/root
	cp "$DEB" "$r/root/e2e/phoenix.deb"
	mount -t proc proc "$r/proc"
	local rc=0
	# The copy's files are hard links to the base: dpkg replaces files by
	# rename and appends to its logs, so the logs are unlinked first.
	rm -f "$r/var/log/dpkg.log" "$r/var/log/alternatives.log"
	DEBIAN_FRONTEND=noninteractive chroot "$r" dpkg -i /root/e2e/phoenix.deb >"$RS/deb/dpkg.log" 2>&1 || rc=$?
	umount "$r/proc"
	expect deb.dpkg_install "dpkg -i exit $rc (log: $RS/deb/dpkg.log)" test "$rc" = 0
	expect deb.not_enabled_by_install "no wants link after dpkg -i" test ! -e "$r/etc/systemd/system/multi-user.target.wants/phoenix.service"
	# The explicit enable the package's postinst names (offline, in the chroot).
	rc=0
	chroot "$r" systemctl enable phoenix.service phoenix-reseed.path >"$RS/deb/enable.log" 2>&1 || rc=$?
	expect deb.enable "systemctl enable exit $rc" test "$rc" = 0
	touch "$r/root/e2e/compare" "$r/root/e2e/deb"
	image deb
	seedvol iso "$HERE/seeds/compare.yaml" "$RS/deb/seed.iso"
	boot deb phoenix -drive "file=$RS/deb/seed.iso,format=raw,if=none,id=cd,media=cdrom,readonly=on" -device ide-cd,drive=cd
	local l=$RS/deb/console-$BOOTN.log st u
	st=$(e2eline "$l" 'STATUS rc=')
	expect deb.status_exit0 "phoenix status: $st" test "$(field "$st" rc)" = 0
	guest_checks "$l" deb
	u=$(e2eline "$l" 'UNIT phoenix.service')
	expect deb.boot_disabled "$u" test "$(field "$u" enabled)" = disabled
	echo "DEB@$SU wall=$WALL done_wall=$DONE_WALL" >>"$RUN/times.txt"
}

# ---------------------------------------------------------------- compare
# loadwatch NAME / loadstop: sample the host's 1-minute load average every
# 5 s while a boot runs; LOADSTAT is "mean/max" of the samples.
loadwatch() {
	: >"$RS/$1/load.txt"
	(while :; do cut -d' ' -f1 /proc/loadavg >>"$RS/$1/load.txt"; sleep 5; done) &
	LOADPID=$!
}
loadstop() {
	kill "$LOADPID" 2>/dev/null || true
	wait "$LOADPID" 2>/dev/null || true
	LOADSTAT=$(awk '{ s += $1; if ($1 > m) m = $1; n++ } END { if (n) printf "%.1f/%.1f", s / n, m; else print "?" }' "$RS/$1/load.txt")
}
# signed X: X with its sign, two decimals (+3.10, -1.72).
signed() { awk -v x="$1" 'BEGIN { printf "%+.2f", x }'; }
# median N...: the median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# The same work by Phoenix and by cloud-init, and a plain boot, from the
# same image; E2E_COMPARE_RUNS=N (default 1; `make compare`: 3) runs the
# three boots N times back to back and reports the medians. "Done" is the
# same for all three (guest READY line): the latest of the provisioner's
# exits, smbd and nfs-server active, and multi-user.target reached. Each
# boot has one CD (the seed, the cidata, or one nothing reads).
# Per kind: the guest's line that says it finished, and the prefix of its
# checks (the plain boot's are not counted).
KINDS=(plain phoenix cloudinit)
declare -A KIND_DONE=([plain]=TIMES [phoenix]='PHOENIX finished' [cloudinit]='CLOUDINIT finished')
declare -A KIND_CHECKS=([phoenix]=compare [cloudinit]=cloudinit)
scenario_compare() {
	# E2E_COMPARE_RUNS_<SUITE> (E2E_COMPARE_RUNS_BOOKWORM=1) sets one
	# suite's runs apart from the others'.
	local k suitevar=E2E_COMPARE_RUNS_${SU^^}
	local runs=${!suitevar:-${E2E_COMPARE_RUNS:-1}}
	say "compare: the same work by Phoenix and by cloud-init (NoCloud), and a plain boot; $runs run(s)"
	echo "compare@$SU (seeds/compare.yaml vs cidata/user-data), $runs run(s)" >>"$RUN/report.txt"
	local po=() co=() pof=() cof=() redone=
	k=0
	while [ "$k" -lt "$runs" ]; do
		k=$((k + 1))
		local n=cmp$k
		[ "$k" = 1 ] && n="cmp"
		stage "$n-phoenix"
		"$BIN" install --root "$RS/$n-phoenix/root" --enable >"$RS/$n-phoenix/install.log"
		touch "$RS/$n-phoenix/root/root/e2e/compare"
		image "$n-phoenix"
		seedvol iso "$HERE/seeds/compare.yaml" "$RS/$n-phoenix/seed.iso"

		stage "$n-cloudinit"
		rm -f "$RS/$n-cloudinit/root/etc/cloud/cloud-init.disabled"
		image "$n-cloudinit"
		xorriso -as mkisofs -quiet -V cidata -r -J -o "$RS/$n-cloudinit/cidata.iso" "$HERE/cidata" 2>/dev/null

		stage "$n-plain"
		image "$n-plain"
		# The same devices in all three boots: an ISO no tool reads (no
		# seed label, no cidata), so the plain boot probes a CD as the
		# others do.
		mkdir -p "$RS/$n-plain/cd"
		echo "the plain boot's CD: nothing reads it" >"$RS/$n-plain/cd/README"
		xorriso -as mkisofs -quiet -V E2EPLAIN -r -J -o "$RS/$n-plain/plain.iso" "$RS/$n-plain/cd" 2>/dev/null
		# The images are on disk before the first boot starts, not in
		# writeback beside it; then the machine settles: a precaution.
		# On the 2-core build machine a one-thread spin ran slower for
		# 35 s after three images were written and synced, but idle it
		# varied as much, so a cost of the writes is not shown
		# (docs/perf/e2e.md, "Done").
		sync
		sleep "${E2E_SETTLE_S:-45}"

		local kind order=() i
		# The order turns by one each run (plain first in run 1, Phoenix
		# in run 2, cloud-init in run 3), so a drift of the build
		# machine across a run does not always favour the same boot.
		for i in 0 1 2; do order+=("${KINDS[$(((i + k - 1) % 3))]}"); done
		local -A iso=([plain]=$RS/$n-plain/plain.iso [phoenix]=$RS/$n-phoenix/seed.iso [cloudinit]=$RS/$n-cloudinit/cidata.iso)
		local -A fin=() ready=() load=() wall=() donewall=()
		for kind in "${order[@]}"; do
			loadwatch "$n-$kind"
			boot "$n-$kind" "$kind" -drive "file=${iso[$kind]},format=raw,if=none,id=cd,media=cdrom,readonly=on" -device ide-cd,drive=cd
			loadstop "$n-$kind"
			load[$kind]=$LOADSTAT wall[$kind]=$WALL donewall[$kind]=${DONE_WALL:-}
			fin[$kind]=$(e2eline "$RS/$n-$kind/console-$BOOTN.log" "${KIND_DONE[$kind]}")
			ready[$kind]=$(e2eline "$RS/$n-$kind/console-$BOOTN.log" READY)
			[ -z "${KIND_CHECKS[$kind]:-}" ] || guest_checks "$RS/$n-$kind/console-$BOOTN.log" "${KIND_CHECKS[$kind]}"
		done
		# A guest kernel that crashed (boot: a panic, a BUG, an oops; the
		# emulator's, not the provisioner's) leaves no measure: the run is
		# done once more on fresh images, and the report says so. A
		# second crash in the same run stands.
		local crashed=
		for kind in "${order[@]}"; do
			if compgen -G "$RS/$n-$kind/console-*.log.panic" >/dev/null; then crashed+=" $kind"; fi
		done
		if [ -n "$crashed" ] && [ "$redone" != "$k" ]; then
			note "run $k: the guest kernel crashed in the${crashed} boot ($(cat "$RS/$n-${crashed##* }"/console-*.log.panic | head -1 | cut -c1-120)); run $k again on fresh images"
			redone=$k
			k=$((k - 1))
			continue
		fi
		local b=${fin[plain]} p=${fin[phoenix]} c=${fin[cloudinit]} br=${ready[plain]} pr=${ready[phoenix]} cr=${ready[cloudinit]}
		local bl=${load[plain]} pl=${load[phoenix]} cl=${load[cloudinit]}
		local bw=${wall[plain]} pw=${wall[phoenix]} pdw=${donewall[phoenix]} cw=${wall[cloudinit]} cdw=${donewall[cloudinit]}
		local pd cd bd
		pd=$(field "$pr" ready_s) cd=$(field "$cr" ready_s) bd=$(field "$br" ready_s)
		expect compare.phoenix_done "run $k: kernel start to done (phoenix): ${pd:-?} s" test -n "$pd"
		expect compare.cloudinit_done "run $k: kernel start to done (cloud-init): ${cd:-?} s" test -n "$cd"
		echo "COMPARE@$SU run=$k plain_ready=$bd phoenix_ready=$pd cloudinit_ready=$cd plain_multiuser=$(field "$b" multiuser_s) phoenix_exit=$(field "$p" done_s) phoenix_early=$(field "$p" early_s) cloudinit_exit=$(field "$c" done_s) plain_wall=$bw phoenix_wall=$pw phoenix_wall_done=$pdw cloudinit_wall=$cw cloudinit_wall_done=$cdw load_plain=$bl load_phoenix=$pl load_cloudinit=$cl order=$(IFS=,; echo "${order[*]}")" >>"$RUN/times.txt"
		if [ -n "$pd" ] && [ -n "$cd" ] && [ -n "$bd" ]; then
			po+=("$(awk -v p="$pd" -v b="$bd" 'BEGIN { printf "%.2f", p - b }')")
			co+=("$(awk -v c="$cd" -v b="$bd" 'BEGIN { printf "%.2f", c - b }')")
			note "run $k (boots in the order ${order[*]}): kernel start to done: plain $bd s, phoenix $pd s, cloud-init $cd s; over the plain boot: phoenix $(signed "${po[-1]}") s, cloud-init $(signed "${co[-1]}") s (load mean/max during the boots: plain $bl, phoenix $pl, cloud-init $cl)"
		fi
		# The second measure: each boot from its own local-fs.target to
		# done. The boot before it is the same work in all three (Phoenix
		# starts after it; what cloud-init does before it is left out, to
		# its advantage), so the emulated machine's spread there drops out.
		local pf cf bf
		pf=$(field "$pr" localfs_s) cf=$(field "$cr" localfs_s) bf=$(field "$br" localfs_s)
		if [ -n "$pd" ] && [ -n "$cd" ] && [ -n "$bd" ] && [ -n "$pf" ] && [ -n "$cf" ] && [ -n "$bf" ]; then
			pof+=("$(awk -v p="$pd" -v pf="$pf" -v b="$bd" -v bf="$bf" 'BEGIN { printf "%.2f", (p - pf) - (b - bf) }')")
			cof+=("$(awk -v c="$cd" -v cf="$cf" -v b="$bd" -v bf="$bf" 'BEGIN { printf "%.2f", (c - cf) - (b - bf) }')")
			note "run $k from each boot's local-fs.target (plain $bf s, phoenix $pf s, cloud-init $cf s) to done: over the plain boot: phoenix $(signed "${pof[-1]}") s, cloud-init $(signed "${cof[-1]}") s"
			echo "COMPARE-LOCALFS@$SU run=$k plain_localfs=$bf phoenix_localfs=$pf cloudinit_localfs=$cf phoenix_over_plain=${pof[-1]} cloudinit_over_plain=${cof[-1]}" >>"$RUN/times.txt"
		fi
	done
	report_medians COMPARE-MEDIAN "" po co
	report_medians COMPARE-LOCALFS-MEDIAN "from local-fs.target, " pof cof
}

# report_medians TAG PREFIX P C: the note and the times.txt line (TAG) of
# the medians of the arrays named P and C, Phoenix's and cloud-init's
# overheads over the plain boot, one per run; nothing without runs.
report_medians() {
	local -n _po=$3 _co=$4
	[ ${#_po[@]} -gt 0 ] || return 0
	local mp mc
	mp=$(median "${_po[@]}") mc=$(median "${_co[@]}")
	note "$(awk -v w="$2" -v p="$mp" -v c="$mc" -v n=${#_po[@]} 'BEGIN { printf "%smedian over %d run(s): phoenix %+.1f s, cloud-init %+.1f s over the plain boot; phoenix/cloud-init = %.3f", w, n, p, c, (c != 0 ? p / c : 0) }')"
	echo "$1@$SU runs=${#_po[@]} phoenix_over_plain=$mp cloudinit_over_plain=$mc" >>"$RUN/times.txt"
}

# Scenarios kept in their own files (answer.sh: the answer server).
# shellcheck source=testdata/vm/answer.sh
. "$HERE/answer.sh"
# shellcheck source=testdata/vm/powercut.sh
. "$HERE/powercut.sh"

main() {
	local p n t0
	for p in "${SCEN[@]}"; do
		read -r n SU <<<"$p"
		IMG=$VM/$SU RS=$RUN/$SU TAG=
		[ "$SU" = "$SUITE0" ] || TAG=@$SU
		mkdir -p "$RS"
		t0=$(date +%s)
		"scenario_$n"
		echo "SCENARIO $n@$SU wall=$(($(date +%s) - t0)) load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" >>"$RUN/times.txt"
	done

	if [ "$DEMO" = 1 ]; then
		echo "checks: $(grep -c '^  PASS' "$RUN/report.txt") PASS, $(grep -c '^  FAIL' "$RUN/report.txt") FAIL${FAILS[*]:+ (${FAILS[*]})}; $(($(date +%s) - T_START)) s in all, images $T_IMAGES s"
		say "phoenix status, run inside the guest after provisioning:"
		cat "$RUN/$SU/full/phoenix-status.txt"
		echo "console log: $RUN/$SU/full/console.log (time-stamped per boot: console-N.log; checks: $RUN/report.txt)"
		[ ${#FAILS[@]} -eq 0 ]
		exit
	fi
	echo "images: $T_IMAGES s (build or cache check); total e2e wall: $(($(date +%s) - T_START)) s; load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUN/report.txt"
	cat "$RUN/times.txt" 2>/dev/null || true
	echo "checks: $(grep -c '^  PASS' "$RUN/report.txt") PASS, $(grep -c '^  FAIL' "$RUN/report.txt") FAIL" | tee -a "$RUN/report.txt"
	if [ ${#FAILS[@]} -gt 0 ]; then
		echo "e2e: ${#FAILS[@]} check(s) failed: ${FAILS[*]} (report: $RUN/report.txt)" >&2
		exit 1
	fi
	echo "e2e: all checks passed (report: $RUN/report.txt)"
	exit 0
}

# Everything runs from main, parsed whole before it starts, so editing this
# file during a run cannot derail the run.
main
exit $?
