#!/bin/sh
# build-image.sh builds (once, then from cache) the Debian root that the VM
# end-to-end test boots: systemd, udev, the cloud kernel, sudo, OpenSSH,
# Samba, the NFS server, cloud-init (for the comparison) and ZFS, whose
# kernel modules are built with dkms INSIDE a throw-away copy of that root
# (a chroot), never on the host: the host's apt sources and packages are
# left as they are (contrib is enabled in the guest's sources only).
#
# Every step leaves a stamp under $VM/stamps, so a rerun only does what is
# missing. Output, for SUITE (trixie = PVE 9's base, bookworm = PVE 8's):
#   $VM/base/          the root directory (never booted; variants copy it)
#   $VM/vmlinuz        the guest kernel (cloud flavour, virtio built in)
#   $VM/initrd.img     its initramfs (trixie: a small one, MODULES=list)
#   $VM/kv             the kernel version
#   $VM/zfs/KV/        the ZFS modules built for KV (kept: the cache)
#   $VM/build-times    seconds per step, for docs/perf/e2e.md
# Usage: build-image.sh SUITE VMDIR   (run as root)
# Env:   MIRROR  the Debian mirror (default: the first .../debian URI in
#                this host's apt sources, read only; else deb.debian.org)
#        ZFS=0   skip the ZFS modules (scenarios without a pool)
#        GENERIC=0  skip the generic kernel (only the USB scenario needs it)
set -eu

SUITE=${1:?usage: build-image.sh SUITE VMDIR}
VM=${2:?usage: build-image.sh SUITE VMDIR}
mkdir -p "$VM"
VM=$(cd "$VM" && pwd)
BASE=$VM/base
STAMPS=$VM/stamps
mkdir -p "$STAMPS" "$VM/debcache"

log() { printf '%s build-image[%s]: %s\n' "$(date -u +%H:%M:%S)" "$SUITE" "$*" >&2; }
done_() { touch "$STAMPS/$1"; }
have() { [ -e "$STAMPS/$1" ]; }
took() { echo "$1 $(($(date +%s) - $2))" >>"$VM/build-times"; log "$1 took $(($(date +%s) - $2)) s"; }

[ "$(id -u)" = 0 ] || { echo "build-image: must run as root (debootstrap, chroot)" >&2; exit 2; }

# host_mirror: the Debian mirror this host's apt already uses (a local
# mirror or proxy is then used for the guest too). Read only.
host_mirror() {
	{
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }'
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
	} | grep -E '/debian/?$' | head -1 | sed 's,/$,,'
}
MIRROR=${MIRROR:-$(host_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# chroot_run CMD...: a command inside $CH with /proc mounted (apt, dkms).
CH=
chroot_run() {
	mount -t proc proc "$CH/proc"
	rc=0
	DEBIAN_FRONTEND=noninteractive chroot "$CH" "$@" || rc=$?
	umount "$CH/proc"
	return $rc
}
cleanup() { [ -n "$CH" ] && mountpoint -q "$CH/proc" && umount "$CH/proc"; return 0; }
trap cleanup EXIT

# The packages the guest needs. Everything is in one debootstrap so the
# dependency closure is resolved once; contrib is for zfsutils-linux.
# debootstrap does not resolve virtual packages: python3-cffi-backend
# provides the python3-cffi-backend-api-* that cloud-init needs.
PKGS=systemd-sysv,udev,kmod,linux-image-cloud-amd64,initramfs-tools,e2fsprogs,util-linux,tzdata,sudo,openssh-server,samba,nfs-kernel-server,zfsutils-linux,cloud-init,dbus,iproute2,procps,python3-cffi-backend

# dpkg without an fsync per unpacked file (force-unsafe-io), while the image
# is built: a build cut short leaves no stamp and starts again from
# scratch, so the durability it buys is not needed; the file is removed
# again before any scenario copies the root.
UNSAFE=etc/dpkg/dpkg.cfg.d/zz-e2e-build-unsafe-io
unsafe_io() { mkdir -p "$1/etc/dpkg/dpkg.cfg.d" && echo force-unsafe-io >"$1/$UNSAFE"; }

t0=$(date +%s)
if ! have debootstrap; then
	log "debootstrap $SUITE from $MIRROR into $BASE"
	rm -rf --one-file-system "$BASE"
	unsafe_io "$BASE"
	debootstrap --variant=minbase --components=main,contrib \
		--cache-dir="$VM/debcache" --include="$PKGS" \
		"$SUITE" "$BASE" "$MIRROR" >"$VM/debootstrap.log" 2>&1 ||
		{ tail -30 "$VM/debootstrap.log" >&2; exit 1; }
	rm -f "$BASE/$UNSAFE"
	done_ debootstrap
	took debootstrap "$t0"
fi

# The kernel version comes from the root, not from any apt index: the
# mirror may already carry a newer point release than the one installed.
KV=
for k in "$BASE"/boot/vmlinuz-*-cloud-amd64; do KV=${k##*/vmlinuz-}; done
if [ -z "$KV" ] || [ "$KV" = '*' ]; then
	echo "build-image: no kernel in $BASE/boot" >&2
	exit 1
fi
echo "$KV" >"$VM/kv"
log "guest kernel $KV"

# Guest configuration shared by every variant.
if ! have config; then
	log "configuring the root"
	echo "phoenix-e2e-base" >"$BASE/etc/hostname"
	printf '127.0.0.1\tlocalhost\n' >"$BASE/etc/hosts"
	# By label: virtio disks are named in PCI probe order, and the extra
	# disks may come first.
	printf 'LABEL=e2e-root\t/\text4\trw,errors=remount-ro\t0\t1\n' >"$BASE/etc/fstab"
	# DHCP on the (restricted, host-only) user-mode NIC via systemd-networkd.
	mkdir -p "$BASE/etc/systemd/network"
	printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >"$BASE/etc/systemd/network/50-dhcp.network"
	chroot "$BASE" systemctl enable systemd-networkd.service >/dev/null 2>&1
	# Only the NIC we have: do not wait for others.
	mkdir -p "$BASE/etc/systemd/system/systemd-networkd-wait-online.service.d"
	printf '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=20\n' \
		>"$BASE/etc/systemd/system/systemd-networkd-wait-online.service.d/any.conf"
	# No login prompt on the console: the console is the test log.
	chroot "$BASE" systemctl mask serial-getty@ttyS0.service getty@tty1.service >/dev/null 2>&1
	# cloud-init only where the comparison enables it, and then NoCloud only,
	# so it does not probe cloud metadata services.
	touch "$BASE/etc/cloud/cloud-init.disabled"
	printf 'datasource_list: [ NoCloud, None ]\n' >"$BASE/etc/cloud/cloud.cfg.d/90_phoenix_e2e.cfg"
	# Keep the pool importable across boots through the cache file, as on PVE.
	chroot "$BASE" systemctl enable zfs-import-cache.service zfs-mount.service zfs.target >/dev/null 2>&1 || true
	# The share the Samba and NFS sections export (a ZFS dataset mounts over
	# it in the full seed; the comparison seeds use it as it is).
	mkdir -p "$BASE/srv/share"
	# qemu boots the kernel and initrd from $VM (-kernel/-initrd); the guest's
	# own initramfs is never used. Regenerating it (the kernel module runs
	# update-initramfs -u -k all) takes minutes under TCG: switch it off.
	sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$BASE/etc/initramfs-tools/update-initramfs.conf"
	done_ config
fi

# ZFS modules: built with dkms inside a copy of the root (the builder),
# against the guest kernel's headers, from the same suite's zfs-dkms as the
# root's zfsutils-linux. Only the .ko files leave the builder: they are kept
# under $VM/zfs/KV and copied into the root; the builder (compiler,
# headers, dkms: ~500 MB the scenarios would copy into every image) is
# deleted. The host gets nothing: no apt source, no package, no module.
if [ "${ZFS:-1}" = 1 ] && ! have zfs-modules; then
	t1=$(date +%s)
	ZC=$VM/zfs/$KV
	if ! ls "$ZC"/zfs.ko* >/dev/null 2>&1; then
		CH=$VM/zfs-builder
		log "building ZFS modules for $KV in a chroot ($CH)"
		rm -rf --one-file-system "$CH"
		cp -a "$BASE" "$CH"
		unsafe_io "$CH"
		# Two steps, so build-times splits the tool chain's download and
		# unpack from the compile (zfs-dkms's postinst runs dkms).
		# The root's own apt index (from debootstrap) matches its kernel;
		# refresh it only when it cannot serve the headers.
		inst="apt-get install -y -q --no-install-recommends linux-headers-$KV dkms"
		# shellcheck disable=SC2086 # $inst is a fixed word list
		if ! chroot_run $inst >"$VM/zfs-build.log" 2>&1; then
			log "refreshing the builder's apt index"
			# shellcheck disable=SC2086
			{ chroot_run apt-get update -q && chroot_run $inst; } >>"$VM/zfs-build.log" 2>&1 ||
				{ tail -30 "$VM/zfs-build.log" >&2; exit 1; }
		fi
		took zfs-toolchain "$t1"
		t3=$(date +%s)
		# With -g0 (below) the objects have no DWARF, from which pahole
		# would make each module's BTF: it fails ("Invalid argument") and
		# with it every configure probe. Kbuild skips BTF when the headers
		# have no vmlinux (scripts/Makefile.modfinal, cmd_btf_ko), so the
		# builder's copy is moved aside. The modules then carry no .BTF
		# section: they load the same; only BPF tools lose their types.
		mv "$CH/usr/src/linux-headers-$KV/vmlinux" "$CH/usr/src/linux-headers-$KV/vmlinux.no-btf" 2>/dev/null || true
		# No debug info: the guest kernel's headers have CONFIG_DEBUG_INFO
		# (full DWARF, -g); Kbuild appends KCFLAGS last, and gcc's last -g
		# option wins, so -g0 turns it off for the configure probes and the
		# module objects alike. dkms strips the debug info from the .ko files
		# it installs anyway (the cached zfs.ko.xz was 1.8 MB), so the
		# modules are the same code; only the compile is lighter.
		# dpkg passes the environment on to zfs-dkms's postinst, and dkms
		# on to make.
		chroot_run env KCFLAGS=-g0 apt-get install -y -q --no-install-recommends zfs-dkms >>"$VM/zfs-build.log" 2>&1 ||
			{ tail -30 "$VM/zfs-build.log" >&2; exit 1; }
		# shellcheck disable=SC2016 # ${Version} is dpkg-query's, not the shell's
		ZV=$(chroot "$CH" dpkg-query -W -f='${Version}' zfs-dkms | sed 's/-.*//')
		# zfs-dkms's postinst builds for the newest kernel that has headers;
		# build explicitly when it did not (the host's kernel is not it).
		if [ -z "$(find "$CH/lib/modules/$KV" -name 'zfs.ko*' 2>/dev/null)" ]; then
			log "dkms install zfs/$ZV for $KV"
			chroot_run dkms install -m zfs -v "$ZV" -k "$KV" >>"$VM/zfs-build.log" 2>&1 ||
				{ tail -30 "$VM/zfs-build.log" >&2; exit 1; }
		fi
		mkdir -p "$ZC.tmp"
		find "$CH/lib/modules/$KV" -path '*/updates/*' -name '*.ko*' -exec cp {} "$ZC.tmp/" \;
		ls "$ZC.tmp"/zfs.ko* >/dev/null 2>&1 || { echo "build-image: dkms built no zfs.ko (see $VM/zfs-build.log)" >&2; exit 1; }
		took zfs-compile "$t3"
		cp "$CH/var/lib/dkms/zfs/$ZV/build/make.log" "$VM/zfs-make.log" 2>/dev/null || true
		echo "$ZV" >"$ZC.tmp/zfs-version"
		rm -rf "$ZC"
		mv "$ZC.tmp" "$ZC"
		rm -rf --one-file-system "$CH"
		CH=
	fi
	mkdir -p "$BASE/lib/modules/$KV/updates/dkms"
	cp "$ZC"/*.ko* "$BASE/lib/modules/$KV/updates/dkms/"
	# The guest's own depmod (the host may have no kmod).
	chroot "$BASE" depmod "$KV"
	done_ zfs-modules
	took zfs-modules "$t1"
fi

# The generic kernel, for the one scenario that needs USB (the cloud kernel
# has no USB support). ZFS modules are built for the cloud kernel only.
if [ "${GENERIC:-1}" = 1 ] && ! have generic-kernel; then
	t2=$(date +%s)
	log "installing linux-image-amd64 (for the USB stick scenario)"
	CH=$BASE
	chroot_run apt-get install -y -qq --no-install-recommends linux-image-amd64 >"$VM/generic.log" 2>&1 ||
		{ tail -20 "$VM/generic.log" >&2; exit 1; }
	CH=
	chroot "$BASE" apt-get clean
	done_ generic-kernel
	took generic-kernel "$t2"
fi
if have generic-kernel; then
	for k in "$BASE"/boot/vmlinuz-*-amd64; do
		case $k in *-cloud-amd64) ;; *) KG=${k##*/vmlinuz-} ;; esac
	done
	cp "$BASE/boot/vmlinuz-$KG" "$VM/vmlinuz-generic"
	cp "$BASE/boot/initrd.img-$KG" "$VM/initrd-generic.img"
fi

# Two waits every TCG boot paid before phoenix.service could start:
# - zfs-share.service (WantedBy=zfs.target) is After=smb.service, so
#   phoenix.service's After=zfs.target waited for nmbd and smbd to start
#   (~40 s of a loaded TCG boot). This image has Samba preinstalled, which
#   a fresh Proxmox VE host has not; the seeds set no sharenfs/sharesmb,
#   the only thing zfs-share does. Disabled, zfs.target no longer pulls it.
# - ldconfig, journal-catalog-update and update-done ran at first boot
#   (ConditionNeedsUpdate: /usr newer than /etc/.updated, which no one had
#   written) and held sysinit.target back; systemd-update-done writes the
#   stamps here instead, on every run (after any step that installed packages).
if ! have lean-boot; then
	chroot "$BASE" systemctl disable zfs-share.service >/dev/null 2>&1 || true
	done_ lean-boot
fi
for u in /usr/lib/systemd/systemd-update-done /lib/systemd/systemd-update-done; do
	if [ -x "$BASE$u" ]; then chroot "$BASE" "$u"; break; fi
done

# A small initramfs for the cloud kernel (on trixie every scenario but usb
# boots it): MODULES=list with only virtio_pci and virtio_blk (the root's
# disk; ext4 is built in; on trixie virtio_pci is too). The stock one
# (MODULES=most, 18 MB) spends ~8 s of every TCG boot in udev loading
# modules the real root's udev loads again anyway (~17 s from /init to
# systemd at load 4; 6.9 s with this one at load 14). MODULES=dep would
# look at the build host's root device, not the guest's. Built from a
# copy of the configuration; the root's own /boot/initrd.img stays as it is.
# The list also has ata_piix and sr_mod, the CD's controller and driver,
# as the stock one has: most scenarios boot with a CD (the seed, the
# cidata, or the plain boot's), and with the CD left to the real root's
# udev, cloud-init-local could look for its cidata before the CD appeared
# (seen under -icount: "No local datasource found", the CD attached 1.3 s
# later). The stamp's name changes with the list, so a cached image gets
# the new initramfs.
# trixie only (SMALL_INITRD=1 elsewhere): bookworm's cloud kernel has
# virtio_pci as a module too, and its small initramfs is not verified yet.
SMALL_INITRD=${SMALL_INITRD:-$([ "$SUITE" = trixie ] && echo 1 || echo 0)}
SMALL_STAMP=small-initrd-cd
if [ "$SMALL_INITRD" = 1 ] && ! have "$SMALL_STAMP"; then
	t4=$(date +%s)
	conf=$BASE/tmp/e2e-initramfs-tools
	rm -rf "$conf"
	cp -a "$BASE/etc/initramfs-tools" "$conf"
	sed -i 's/^MODULES=.*/MODULES=list/' "$conf/initramfs.conf"
	printf 'virtio_pci\nvirtio_blk\nata_piix\nsr_mod\n' >>"$conf/modules"
	CH=$BASE
	chroot_run mkinitramfs -d /tmp/e2e-initramfs-tools -o /tmp/e2e-initrd.img "$KV" >"$VM/initrd.log" 2>&1 ||
		{ tail -20 "$VM/initrd.log" >&2; exit 1; }
	CH=
	mv "$BASE/tmp/e2e-initrd.img" "$VM/initrd-small.img"
	rm -rf "$conf"
	done_ "$SMALL_STAMP"
	took small-initrd "$t4"
fi

cp "$BASE/boot/vmlinuz-$KV" "$VM/vmlinuz"
if [ "$SMALL_INITRD" = 1 ] && have "$SMALL_STAMP"; then
	cp "$VM/initrd-small.img" "$VM/initrd.img"
else
	cp "$BASE/boot/initrd.img-$KV" "$VM/initrd.img"
fi
log "base ready in $VM ($(du -sh "$BASE" | cut -f1)), $(($(date +%s) - t0)) s this run"
