#!/bin/sh
# build-image.sh builds (once, then from cache) the Debian 12 root that the
# VM end-to-end test boots: systemd, udev, the cloud kernel, sudo, OpenSSH,
# Samba, the NFS server, cloud-init (for the comparison) and ZFS, whose kernel
# modules are built with dkms on the HOST for the guest's kernel.
#
# Every step leaves a stamp under $VM/stamps, so a rerun only does what is
# missing. Output:
#   $VM/base/          the root directory (never booted; variants copy it)
#   $VM/vmlinuz        the guest kernel (cloud flavour, virtio built in)
#   $VM/initrd.img     its initramfs
#   $VM/kv             the kernel version
# Usage: build-image.sh [VMDIR]   (default build/vm; run as root)
set -eu

VM=${1:-build/vm}
mkdir -p "$VM"
VM=$(cd "$VM" && pwd)
BASE=$VM/base
STAMPS=$VM/stamps
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
mkdir -p "$STAMPS" "$VM/debcache"

log() { printf '%s build-image: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
done_() { touch "$STAMPS/$1"; }
have() { [ -e "$STAMPS/$1" ]; }

[ "$(id -u)" = 0 ] || { echo "build-image: must run as root (debootstrap, chroot)" >&2; exit 2; }

# The packages the guest needs. Everything is in one debootstrap so the
# dependency closure is resolved once; contrib is for zfsutils-linux.
# debootstrap does not resolve virtual packages: python3-cffi-backend
# provides the python3-cffi-backend-api-* that cloud-init needs.
PKGS=systemd-sysv,udev,kmod,linux-image-cloud-amd64,initramfs-tools,e2fsprogs,util-linux,tzdata,sudo,openssh-server,samba,nfs-kernel-server,zfsutils-linux,cloud-init,dbus,iproute2,procps,python3-cffi-backend

t0=$(date +%s)
if ! have debootstrap; then
	log "debootstrap $SUITE into $BASE"
	rm -rf "$BASE"
	debootstrap --variant=minbase --components=main,contrib \
		--cache-dir="$VM/debcache" --include="$PKGS" \
		"$SUITE" "$BASE" "$MIRROR" >"$VM/debootstrap.log" 2>&1 ||
		{ tail -30 "$VM/debootstrap.log" >&2; exit 1; }
	done_ debootstrap
	log "debootstrap took $(($(date +%s) - t0)) s"
fi

# The kernel version comes from the root, not from the host's apt: the mirror
# may already carry a newer point release than the one debootstrap installed.
KV=
for k in "$BASE"/boot/vmlinuz-*-cloud-amd64; do KV=${k##*/vmlinuz-}; done
if [ -z "$KV" ] || [ "$KV" = '*' ]; then
	echo "build-image: no kernel in $BASE/boot" >&2
	exit 1
fi
echo "$KV" >"$VM/kv"
log "guest kernel $KV"

# ZFS modules: built on the host with dkms against the guest kernel's headers.
if ! have zfs-modules; then
	t1=$(date +%s)
	if ! grep -q '^Components:.*contrib' /etc/apt/sources.list.d/debian.sources 2>/dev/null; then
		log "adding contrib to the host's apt sources"
		sed -i 's/^Components: main$/Components: main contrib/' /etc/apt/sources.list.d/debian.sources
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"linux-headers-$KV" dkms zfs-dkms >"$VM/dkms.log" 2>&1 ||
		{ tail -30 "$VM/dkms.log" >&2; exit 1; }
	ZV=$(dpkg-query -W -f='${Version}' zfs-dkms | sed 's/-.*//')
	if ! ls /lib/modules/"$KV"/updates/dkms/zfs.ko* >/dev/null 2>&1; then
		log "dkms install zfs/$ZV for $KV"
		dkms install -m zfs -v "$ZV" -k "$KV" >>"$VM/dkms.log" 2>&1 ||
			{ tail -30 "$VM/dkms.log" >&2; exit 1; }
	fi
	mkdir -p "$BASE/lib/modules/$KV/updates/dkms"
	cp /lib/modules/"$KV"/updates/dkms/*.ko* "$BASE/lib/modules/$KV/updates/dkms/"
	depmod -b "$BASE" "$KV"
	done_ zfs-modules
	log "zfs modules took $(($(date +%s) - t1)) s"
fi

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

# The generic kernel, for the one scenario that needs USB (the cloud kernel
# has no USB support). ZFS modules are built for the cloud kernel only.
if [ "${GENERIC:-1}" = 1 ] && ! have generic-kernel; then
	t2=$(date +%s)
	log "installing linux-image-amd64 (for the USB stick scenario)"
	mount -t proc proc "$BASE/proc"
	if ! DEBIAN_FRONTEND=noninteractive chroot "$BASE" apt-get install -y -qq --no-install-recommends \
		linux-image-amd64 >"$VM/generic.log" 2>&1; then
		umount "$BASE/proc"
		tail -20 "$VM/generic.log" >&2
		exit 1
	fi
	umount "$BASE/proc"
	chroot "$BASE" apt-get clean
	done_ generic-kernel
	log "generic kernel took $(($(date +%s) - t2)) s"
fi
if have generic-kernel; then
	for k in "$BASE"/boot/vmlinuz-*-amd64; do
		case $k in *-cloud-amd64) ;; *) KG=${k##*/vmlinuz-} ;; esac
	done
	cp "$BASE/boot/vmlinuz-$KG" "$VM/vmlinuz-generic"
	cp "$BASE/boot/initrd.img-$KG" "$VM/initrd-generic.img"
fi

cp "$BASE/boot/vmlinuz-$KV" "$VM/vmlinuz"
cp "$BASE/boot/initrd.img-$KV" "$VM/initrd.img"
log "base ready in $VM ($(du -sh "$BASE" | cut -f1)), $(($(date +%s) - t0)) s this run"
