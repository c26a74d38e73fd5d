#!/bin/sh
# exportfs.sh EXPORTFS EXPORTS WORK [HOSTS_LINE]: has the real exportfs
# (nfs-utils, from an extracted nfs-kernel-server .deb) read EXPORTS as its
# /etc/exports and prints the etab it writes, which is what it parsed.
#
# exportfs reads /etc/exports and writes /var/lib/nfs/etab, both fixed
# paths, so it runs in a private mount namespace (unshare -m) where WORK/etc
# (a copy of the host's name-service files plus EXPORTS and HOSTS_LINE in
# its hosts file, so client names resolve offline) is /etc, and an
# nfs.conf there moves the state directory to /etc/nfs-state (exportfs
# reads /etc/nfs.conf; the [exportd] section's state-directory-path is the
# one it honours: found by trying, the nfs-utils source line not
# checked). Nothing of the host's changes; no NFS server is needed
# (without /proc/fs/nfsd mounted exportfs only writes etab). Exit 125: the namespace could not be set up (not root).
set -e
exportfs=$1 exports=$2 work=$3
mkdir -p "$work/etc/nfs-state"
for f in hosts nsswitch.conf passwd group netconfig host.conf; do
	if [ -e "/etc/$f" ]; then cp -L "/etc/$f" "$work/etc/$f"; fi
done
[ -z "$4" ] || printf '%s\n' "$4" >>"$work/etc/hosts"
cp "$exports" "$work/etc/exports"
printf '[exportd]\nstate-directory-path=/etc/nfs-state\n' >"$work/etc/nfs.conf"
# shellcheck disable=SC2016 # expanded by the inner sh
exec unshare -m --propagation private sh -c '
	mount --bind "$1/etc" /etc || exit 125
	"$2" -ra || exit $?
	cat /etc/nfs-state/etab' sh "$work" "$exportfs"
