#!/bin/sh
# Phoenix first-boot hook, written by `phoenix bake hook`.
#
# The Proxmox automated installer runs this once, on the first boot of the
# installed system (answer.toml [first-boot], prepare-iso --on-first-boot).
# The installer allows at most 1 MiB, too little for phoenix itself, so the
# hook fetches the binary from a volume labelled PHOENIX (or from phoenix/
# on the installer's PROXMOX-AIS volume), installs it with its units, and
# starts it; phoenix then reads the seed from the volume like any run.
# When it finds no volume, no binary, or the install
# fails, it says so loudly, exits 1, and leaves the host as it was.
#
# Environment, for tests and unusual set-ups:
#   PHOENIX_LABELS  labels to look for, in order (default: PHOENIX PROXMOX-AIS)
#   PHOENIX_ROOT    root directory to install into (default: /; units are
#                   started only when it is /)
set -eu

me=phoenix-first-boot
labels=${PHOENIX_LABELS:-PHOENIX PROXMOX-AIS}
root=${PHOENIX_ROOT:-/}
mnt=
tmp=

say() { printf '%s: %s\n' "$me" "$*" >&2; }

die() {
	printf '\n%s: ERROR: %s\n%s: nothing was installed; the host is untouched.\n\n' "$me" "$*" "$me" >&2
	exit 1
}

cleanup() {
	if [ -n "$mnt" ]; then
		umount "$mnt" 2>/dev/null || true
		rmdir "$mnt" 2>/dev/null || true
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# find_volume LABEL prints the first block device whose filesystem label is
# LABEL, compared case-insensitively (FAT labels are often upper-cased).
find_volume() {
	blkid -c /dev/null -o export 2>/dev/null | awk -v want="$1" '
		/^DEVNAME=/ { dev = substr($0, 9) }
		/^LABEL=/ && toupper(substr($0, 7)) == toupper(want) { print dev; exit }
	'
}

dev=
for label in $labels; do
	dev=$(find_volume "$label")
	if [ -n "$dev" ]; then
		break
	fi
done
if [ -z "$dev" ]; then
	die "no volume labelled $(echo "$labels" | sed 's/ / or /g') found (blkid); attach the Phoenix seed stick"
fi
say "found $label volume $dev"

# TMPDIR is honoured (mktemp(1) convention); the installer leaves it unset.
mnt=$(mktemp -d "${TMPDIR:-/tmp}/phoenix-volume.XXXXXX")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/phoenix-hook.XXXXXX")
mount -o ro "$dev" "$mnt" || die "cannot mount $dev read-only"

bin=
for c in phoenix bin/phoenix phoenix/phoenix; do
	if [ -f "$mnt/$c" ]; then
		bin=$c
		break
	fi
done
[ -n "$bin" ] || die "no phoenix binary on $dev (looked for phoenix, bin/phoenix, phoenix/phoenix)"
cp "$mnt/$bin" "$tmp/phoenix"
chmod 0755 "$tmp/phoenix"

# The seed stays on the volume. The hook never copies it to
# /etc/phoenix/seed.yaml: a local seed is trusted without a signature, so
# that would bypass seed.yaml.sig and /etc/phoenix/require-signed.
# phoenix.service reads it from the volume at run time and applies the same
# trust rules as every other `phoenix run`.
umount "$mnt" || die "cannot unmount $dev"
rmdir "$mnt"
mnt=

"$tmp/phoenix" version >/dev/null 2>&1 || die "$dev:$bin does not run on this host"

"$tmp/phoenix" install --root "$root" --enable || die "phoenix install --root $root --enable failed"
say "phoenix reads the seed from the volume at run time, under its signature rules"

if [ "$root" = / ]; then
	# --no-block: this hook itself runs inside a boot-time unit.
	systemctl start --no-block phoenix-reseed.path phoenix.service || die "cannot start phoenix.service"
	say "phoenix.service started; follow it with: journalctl -fu phoenix"
else
	say "installed into $root; its next boot runs phoenix"
fi
