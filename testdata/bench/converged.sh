#!/bin/sh
# Converged-run and status figures with hyperfine (apt: hyperfine), medians
# against the bare process start (`phoenix version`), for docs/perf/engine.md:
#   - `phoenix run` on a host where everything is done (a new boot: the
#     engine compares digests), and `phoenix run --early` (the early
#     stage, phoenix-local.service) there;
#   - `phoenix run --seed /etc/phoenix/seed.yaml --changed`, what
#     phoenix-reseed.service runs at every boot, in a new boot and in the
#     boot that already ran this seed;
#   - `phoenix status`, `--timings`, `--json`.
#
#   testdata/bench/converged.sh [RUNS]
set -eu
RUNS=${1:-200}
command -v hyperfine >/dev/null || { echo "converged.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/phoenix" ./cmd/phoenix
root=$work/root
mkdir -p "$root/etc/phoenix" "$root/proc/sys/kernel/random"
echo bench-boot-1 > "$root/proc/sys/kernel/random/boot_id"
# Only sections whose modules run no tool on this machine (see engine.sh).
cat > "$root/etc/phoenix/seed.yaml" <<'SEED'
version: 1
host:
  hostname: pve1
  domain: example.org
SEED
"$work/phoenix" run --root "$root" >/dev/null 2>&1
# Later boots: status.json keeps boot 1 (a converged run rewrites nothing).
echo bench-boot-2 > "$root/proc/sys/kernel/random/boot_id"
seed=$root/etc/phoenix/seed.yaml
p=$work/phoenix
hyperfine -N -w 10 -r "$RUNS" --export-json "$work/new.json" \
	-n "version (bare start)" "$p version" \
	-n "run, converged" "$p run --root $root" \
	-n "run --early, converged" "$p run --root $root --early" \
	-n "run --changed, new boot" "$p run --root $root --seed $seed --changed" \
	-n "status" "$p status --root $root" \
	-n "status --timings" "$p status --root $root --timings" \
	-n "status --json" "$p status --json --root $root" >/dev/null
# The boot that already ran this seed (status.json names it).
echo bench-boot-1 > "$root/proc/sys/kernel/random/boot_id"
hyperfine -N -w 10 -r "$RUNS" --export-json "$work/same.json" \
	-n "run --changed, same boot" "$p run --root $root --seed $seed --changed" >/dev/null
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for f in "$work/new.json" "$work/same.json"; do
	python3 -c '
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
for r in rs:
    print("%-26s median %5.2f ms  mean %5.2f ms  min %5.2f ms  (n=%d)" % (r["command"], r["median"]*1e3, r["mean"]*1e3, r["min"]*1e3, len(r["times"])))
' "$f"
done
