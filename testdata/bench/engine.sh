#!/bin/sh
# Engine figures for docs/perf/engine.md: `phoenix run` on a host where
# everything is already done (wall time, peak RSS) and `phoenix status
# --json`. Builds the binary, prepares an offline root with a seed, runs
# once to get it done, then measures N further runs with /usr/bin/time -v
# (apt package "time").
#
#   testdata/bench/engine.sh [N]
set -eu
N=${1:-20}
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -trimpath -ldflags='-s -w' -o "$work/phoenix" ./cmd/phoenix
root=$work/root
mkdir -p "$root/etc/phoenix" "$root/proc/sys/kernel/random"
echo bench-boot > "$root/proc/sys/kernel/random/boot_id"
# Only the host section: the other modules would run real tools on this
# machine. The engine still walks the whole default list (the rest are
# skipped as not in the seed); BenchmarkRunAllDone covers 11 done markers.
cat > "$root/etc/phoenix/seed.yaml" <<'SEED'
version: 1
host:
  hostname: pve1
  domain: example.org
SEED
"$work/phoenix" run --root "$root" >/dev/null 2>&1

# measure LABEL ARGS...: median and max wall time (ns clock around each
# run) and peak RSS (/usr/bin/time -v) over N runs.
measure() {
	label=$1
	shift
	: > "$work/t"
	i=0
	while [ $i -lt "$N" ]; do
		t0=$(date +%s%N)
		"$work/phoenix" "$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		rss=$(/usr/bin/time -v "$work/phoenix" "$@" 2>&1 >/dev/null | awk '/Maximum resident set size/ { print $NF }')
		echo "$(( (t1 - t0) / 1000 )) $rss" >> "$work/t"
		i=$((i + 1))
	done
	sort -n "$work/t" | awk -v label="$label" -v n="$N" '
		{ wall[NR] = $1; if ($2 > rss) rss = $2 }
		END { printf "%-24s median %6.1f ms  max %6.1f ms  peak RSS %5.1f MB  (n=%d)\n",
			label, wall[int((NR + 1) / 2)] / 1000, wall[NR] / 1000, rss / 1024, n }'
}
# Baseline: process start-up alone (the machine's load shows here too).
measure "phoenix version" version
measure "phoenix run (all done)" run --root "$root"
measure "phoenix status --json" status --json --root "$root"
measure "phoenix status" status --root "$root"
