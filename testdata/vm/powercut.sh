# shellcheck shell=bash
# powercut.sh: the "powercut" scenario of testdata/vm/e2e.sh (sourced by it;
# `make powercut` runs it alone with more kills; issue 16, "Power cuts in the
# VM"). It provisions the full seed (testdata/vm/seeds/full.yaml) and kills
# qemu with SIGKILL at chosen moments of the run, several times on one disk
# (a chain), then boots until the run ends and checks three things:
# provisioning converges, every state file parses, and nothing is duplicated
# (pools, datasets, accounts, keys, sudoers, exports, shares, modules,
# Proxmox calls). The guest side is phoenix-e2e-check's powercut mode.
#
# Moments, aimed with the console's phoenix.log lines (the checker streams
# phoenix.log to the console as it grows):
#   pool    the first "$ zpool create" line, then 0-1.5 s (pool creation)
#   cmd     the k-th "$ <command>" line (k 1-8), then 0-0.5 s (between or
#           during commands)
#   write   the k-th line announcing a file write (k 1-3), then 0-0.2 s
#   random  the first phoenix.log line, then 0-30 s
# Each chain's first kill is a pool kill (a pool is created once per disk);
# the others are shuffled. A boot that reboots (the kernel module) before
# its kill is relaunched with the same kill armed; a boot that ends the run
# before its moment comes ends the chain ("missed"). Every choice comes from
# bash's RANDOM seeded with POWERCUT_SEED (printed), so POWERCUT_SEED=N
# replays the same plan (the guest's timing still varies).
#
# A SIGKILL of qemu loses what the guest had not yet written to its virtual
# disk (its page cache, unflushed journal); what qemu had written is in the
# host's page cache and survives, as it would in a disk's non-volatile cache.
#
# Env: POWERCUT_KILLS (kills in all, default 3), POWERCUT_CHAIN (kills per
# disk, default 4), POWERCUT_SEED (default: from the clock).
# shellcheck disable=SC2317 # reached through "scenario_$s"
# shellcheck disable=SC2153,SC2034 # LAST, TAG, BOOTN...: e2e.sh's

# pc_watch LOG PIDFILE PATTERN K DELAY OUT: once LOG has K lines matching
# PATTERN, wait DELAY s and SIGKILL the qemu whose pid is in PIDFILE; write
# what was killed when to OUT. Returns when qemu is gone either way.
pc_watch() {
	local log=$1 pidf=$2 pat=$3 k=$4 delay=$5 out=$6 pid='' i=0 line t last
	while [ ! -s "$pidf" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	pid=$(cat "$pidf" 2>/dev/null) || return 0
	[ -n "$pid" ] || return 0
	# (A guest kernel panic ends qemu in e2e.sh's boot, which leaves the
	# panic line in LOG.panic; the caller relaunches.)
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$(grep -aEc "$pat" "$log" 2>/dev/null)" -ge "$k" ]; then
			line=$(grep -aE "$pat" "$log" | sed -n "${k}p")
			sleep "$delay"
			kill -0 "$pid" 2>/dev/null || return 0
			t=$EPOCHREALTIME
			last=$(grep -a 'phoenix.log: ' "$log" | tail -1)
			kill -KILL "$pid" 2>/dev/null || return 0
			printf 'killed=%s\ntrigger=%s\nlast=%s\n' "$t" "$line" "$last" >"$out"
			return 0
		fi
		sleep 0.1
	done
}

# pc_pattern KIND: the console lines a kind of moment counts.
pc_pattern() {
	case $1 in
	pool) echo 'phoenix\.log: .*\$ zpool create' ;;
	cmd) echo 'phoenix\.log: [^ ]+ \$ ' ;;
	write) echo 'phoenix\.log: .*(writ|install SSH|sudoers|modprobe|modules-load|timezone|host name|hostname)' ;;
	random) echo 'phoenix\.log: ' ;;
	esac
}

# pc_plan N CHAIN: KINDS, KS and DELAYS (arrays), one entry per kill.
pc_plan() {
	local n=$1 chain=$2 i j c others=() tmp
	PC_KIND=() PC_K=() PC_DELAY=()
	for ((i = 0; i < n; i++)); do
		if ((i % chain == 0)); then
			PC_KIND+=(pool)
			others=()
			for ((j = 1; j < chain && i + j < n; j++)); do others+=("$(echo cmd write random | cut -d' ' -f$(((j - 1) % 3 + 1)))"); done
			# Fisher-Yates with the seeded RANDOM.
			for ((j = ${#others[@]} - 1; j > 0; j--)); do
				c=$((RANDOM % (j + 1)))
				tmp=${others[j]} others[j]=${others[c]} others[c]=$tmp
			done
		else
			PC_KIND+=("${others[$(((i % chain) - 1))]}")
		fi
	done
	# RANDOM is drawn here, never inside $(...): a subshell reseeds it.
	local a b
	for ((i = 0; i < n; i++)); do
		a=$RANDOM b=$RANDOM
		case ${PC_KIND[i]} in
		pool) PC_K+=(1) c=$((a % 151)) ;;   # 0-1.50 s
		cmd) PC_K+=($((b % 8 + 1))) c=$((a % 50)) ;;
		write) PC_K+=($((b % 3 + 1))) c=$((a % 20)) ;;
		random) PC_K+=(1) c=$((a % 3000)) ;; # 0-29.99 s
		esac
		PC_DELAY+=("$((c / 100)).$(printf '%02d' $((c % 100)))")
	done
}

# PC_BASE_FILES: what pc-base keeps of a chain, disk.img last: its presence
# says the copy is whole.
PC_BASE_FILES=(zfs1.img zfs2.img seed.iso disk.img)

# pc_new_disk NAME: a fresh disk for a chain (root, seed ISO, ZFS disks).
# Once a chain's first boot has ended in the kernel module's reboot, its
# disks as that boot left them are kept in $RS/pc-base (pc_save_base), and
# every later chain starts from a copy of them: the same state a fresh disk
# reaches after its first boot, which no kill is ever aimed at (each chain's
# first kill is a pool kill, and the pool comes after the reboot). That saves
# the image build and the first boot, about 100 s a chain; POWERCUT_FRESH=1
# builds every disk from scratch instead.
pc_new_disk() {
	local name=$1 f
	PC_FROM_BASE=0
	if [ "${POWERCUT_FRESH:-0}" != 1 ] && [ -s "$RS/pc-base/disk.img" ]; then
		rm -rf --one-file-system "${RS:?}/$name"
		mkdir -p "$RS/$name"
		for f in "${PC_BASE_FILES[@]}"; do cp --sparse=always "$RS/pc-base/$f" "$RS/$name/$f"; done
		PC_FROM_BASE=1
		note "powercut $name: starts from pc-base, the disks of $(cat "$RS/pc-base/from") after its first boot (host, kernel; reboot)"
		zfsargs "$name"
	else
		stage "$name"
		"$BIN" install --root "$RS/$name/root" --enable >"$RS/$name/install.log"
		image "$name"
		seedvol iso "$HERE/seeds/full.yaml" "$RS/$name/seed.iso"
		zfsdisks "$name"
	fi
	# shellcheck disable=SC2054
	PC_ARGS=("${ZFSARGS[@]}" -drive "file=$RS/$name/seed.iso,format=raw,if=none,id=cd,media=cdrom,readonly=on" -device ide-cd,drive=cd
		-pidfile "$RS/$name/qemu.pid")
}

scenario_powercut() {
	local kills=${POWERCUT_KILLS:-3} chain=${POWERCUT_CHAIN:-4} seed=${POWERCUT_SEED:-$(($(date +%s) % 32768))}
	say "powercut: $kills kill(s) of qemu during provisioning of full.yaml, up to $chain per disk; POWERCUT_SEED=$seed"
	echo "powercut@$SU (full.yaml, POWERCUT_SEED=$seed POWERCUT_KILLS=$kills POWERCUT_CHAIN=$chain)" >>"$RUN/report.txt"
	RANDOM=$seed
	rm -rf --one-file-system "${RS:?}/pc-base" # another run's, maybe of another binary
	# Twice as many planned as wanted: a missed kill (the run ended before
	# its moment) does not count, and the plan goes on on a fresh disk.
	local planned=$((kills * 2))
	pc_plan "$planned" "$chain"
	local i plan=
	for ((i = 0; i < planned; i++)); do plan+="${PC_KIND[i]}(k=${PC_K[i]},+${PC_DELAY[i]}s) "; done
	note "powercut: seed $seed, plan: $plan"
	local tsv=$RUN/powercut.tsv
	[ -s "$tsv" ] || printf 'seed\tkill\tchain\tkind\tk\tdelay_s\tboot\tkilled_at_s\ttrigger\tlast_line\tnext_boot\n' >"$tsv"
	local done_kills=0 missed=0 chains=0 name t_chain
	i=0
	while ((done_kills < kills && i < planned)); do
		chains=$((chains + 1))
		name=pc$chains
		t_chain=$(date +%s)
		pc_new_disk "$name"
		local in_chain=0 ended=0 rows=() nexts=()
		while ((done_kills < kills && i < planned)) && ((ended == 0)); do
			# A pool kill starts a chain (a disk's pool is created once).
			if ((in_chain > 0)) && { ((in_chain >= chain)) || [ "${PC_KIND[i]}" = pool ]; }; then break; fi
			local kind=${PC_KIND[i]} k=${PC_K[i]} delay=${PC_DELAY[i]} pat tries=0 out killed=0 w
			pat=$(pc_pattern "$kind")
			out=$RS/$name/kill-$((i + 1)).txt
			rm -f "$out"
			# Relaunched with the same kill armed when the guest reboots first.
			while :; do
				rm -f "$RS/$name/qemu.pid"
				pc_watch "$RS/$name/console-$((BOOTN + 1)).log" "$RS/$name/qemu.pid" "$pat" "$k" "$delay" "$out" &
				w=$!
				boot "$name" powercut "${PC_ARGS[@]}"
				kill "$w" 2>/dev/null || true
				wait "$w" 2>/dev/null || true
				tries=$((tries + 1))
				if [ -s "$out" ]; then killed=1; break; fi
				[ $tries -lt 4 ] || break
				if [ "$LAST" = restart ]; then
					((in_chain > 0)) || [ "$PC_FROM_BASE" = 1 ] || pc_save_base "$name"
					continue
				fi
				# Neither power-off nor reboot, and not our kill: the guest
				# crashed (or hit the harness's timeout). Boot again.
				if [ "$LAST" = other ]; then
					note "boot $BOOTN ($name) ended without power-off or reboot ($(cat "$RS/$name/console-$BOOTN.log.panic" 2>/dev/null || echo 'no kernel line')): not a kill of the plan; booting again"
					continue
				fi
				break
			done
			if [ "$killed" = 1 ]; then
				local t0 kt trig last
				t0=$(awk 'NR == 1 { print $1 }' "$RS/$name/console-$BOOTN.log")
				kt=$(awk -v a="$t0" -F= '/^killed=/ { printf "%.1f", $2 - a }' "$out")
				trig=$(sed -n 's/^trigger=[^ ]* phoenix.log: [^ ]* //p' "$out" | cut -c1-70)
				last=$(sed -n 's/^last=[^ ]* phoenix.log: [^ ]* //p' "$out" | cut -c1-70)
				done_kills=$((done_kills + 1))
				note "kill $((i + 1)) ($name, boot $BOOTN): $kind k=$k +${delay}s: SIGKILL at ${kt} s after launch; trigger '${trig}'; last phoenix.log line '${last}'"
				rows+=("$(printf '%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s' "$seed" $((i + 1)) "$name" "$kind" "$k" "$delay" "$BOOTN" "$kt" "$trig" "$last")")
				nexts+=($((BOOTN + 1)))
			else
				missed=$((missed + 1))
				note "kill $((i + 1)) ($name, boot $BOOTN): $kind k=$k: missed, the boot ended by $LAST before the moment came"
				printf '%s\t%d\t%s\t%s\t%s\t%s\t%d\t-\tmissed (ended by %s)\t-\t-\n' "$seed" $((i + 1)) "$name" "$kind" "$k" "$delay" "$BOOTN" "$LAST" >>"$tsv"
				ended=1
			fi
			i=$((i + 1))
			in_chain=$((in_chain + 1))
		done
		# Converge: boot until the run ends (power-off), no kill armed.
		local boots=0 j
		if ((ended == 0)); then
			while :; do
				boot "$name" powercut "${PC_ARGS[@]}"
				boots=$((boots + 1))
				if [ "$LAST" = other ] && [ $boots -lt 5 ]; then
					note "boot $BOOTN ($name) ended without power-off or reboot ($(cat "$RS/$name/console-$BOOTN.log.panic" 2>/dev/null || echo 'no kernel line')): booting again"
					continue
				fi
				if [ "$LAST" != restart ] || [ $boots -ge 5 ]; then break; fi
			done
		fi
		# Each kill's effect: what the boot after it did first.
		for ((j = 0; j < ${#rows[@]}; j++)); do
			printf '%s\t%s\n' "${rows[j]}" "$(pc_next_note "$RS/$name/console-${nexts[j]}.log")" >>"$tsv"
		done
		pc_checks "$name" "$boots"
		note "chain $name: $(($(date +%s) - t_chain)) s wall, ${#rows[@]} kill(s), converged in $boots more boot(s); load $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "POWERCUT@$SU chain=$name kills=${#rows[@]} wall=$(($(date +%s) - t_chain)) converge_boots=$boots load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" >>"$RUN/times.txt"
		# The disks are GBs each: keep them only when asked.
		[ "${POWERCUT_KEEP:-0}" = 1 ] || rm -f "$RS/$name/disk.img" "$RS/$name/zfs1.img" "$RS/$name/zfs2.img"
		rm -rf --one-file-system "$RS/$name/root"
	done
	[ "${POWERCUT_KEEP:-0}" = 1 ] || rm -rf --one-file-system "${RS:?}/pc-base"
	expect powercut.kills "$done_kills kill(s), $missed missed, $chains disk(s), POWERCUT_SEED=$seed" test "$done_kills" -ge 1
	echo "POWERCUT@$SU seed=$seed kills=$done_kills missed=$missed chains=$chains" >>"$RUN/times.txt"
}

# pc_save_base NAME: keep NAME's disks as its first boot left them, once.
pc_save_base() {
	local f
	[ "${POWERCUT_FRESH:-0}" != 1 ] && [ ! -e "$RS/pc-base/disk.img" ] || return 0
	mkdir -p "$RS/pc-base"
	for f in "${PC_BASE_FILES[@]}"; do cp --sparse=always "$RS/$1/$f" "$RS/pc-base/$f.new" && mv "$RS/pc-base/$f.new" "$RS/pc-base/$f"; done
	echo "$1 (boot $BOOTN)" >"$RS/pc-base/from"
}

# pc_next_note LOG: what the boot after a kill did first: the engine's "did
# not finish; running it again" notice, else the first module it started.
pc_next_note() {
	local n
	n=$(grep -a 'phoenix.log: .*did not finish; running it again' "$1" 2>/dev/null | head -1 | sed 's/.*phoenix.log: [^ ]* //' | cut -c1-90)
	[ -n "$n" ] || n="first: $(grep -a 'phoenix.log: .*: starting' "$1" 2>/dev/null | head -1 | sed 's/.*phoenix.log: [^ ]* //' | cut -c1-60)"
	printf '%s' "$n"
}

# pc_checks NAME BOOTS: the converged boot's checks.
pc_checks() {
	local name=$1 boots=$2 l=$RS/$1/console-$BOOTN.log st fin
	TAG=@$SU/$name
	[ "$SU" = "$SUITE0" ] && TAG=/$name
	st=$(e2eline "$l" 'STATUS rc=')
	expect powercut.converged "phoenix status after $boots more boot(s): $st, ended by $LAST" test "$(field "$st" rc)/$LAST" = 0/poweroff
	expect powercut.no_reboot_loop "boots=$boots <= 3" test "$boots" -le 3
	guest_checks "$l"
	expect powercut.fsck_clean "e2fsck -fn after the converging boot" e2fsck -fn "$RS/$name/disk.img"
	incat "$RS/$name/disk.img" /var/lib/phoenix/status.json >"$RS/$name/status.json"
	expect powercut.status_done "status.json parses, state done" \
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["state"] != "done")' "$RS/$name/status.json"
	fin=$(e2eline "$l" 'LITTER')
	note "powercut $name: temporary files left by killed writes: ${fin#LITTER }"
	# Phoenix's own state tree is swept by every run (host.SweepTemp);
	# elsewhere (/etc, /home) a cut write's temp file stays, ignored by the
	# tools that read those directories (a dot name).
	expect powercut.no_state_litter "no temporary file under /var/lib/phoenix" test "${fin#*/var/lib/phoenix/}" = "$fin"
	TAG=
	[ "$SU" = "$SUITE0" ] || TAG=@$SU
}
