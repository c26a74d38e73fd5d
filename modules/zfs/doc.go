// Package zfs is the storage module: ZFS pools from by-id disks, datasets
// with converged properties, the ARC limit (persisted and live), and the
// Proxmox storages on those datasets.
//
// Safety comes first. Before any disk is wiped or given to `zpool create`,
// every disk of the pool is checked through lsblk, /proc/mounts, sysfs
// holders and the zpool status/import listings; a disk that holds the root
// or boot filesystem, is mounted, or belongs to md, LVM or another pool is
// refused even when the pool says wipe: true. Existing pools are adopted or
// imported, never recreated, so a rerun (or a rerun after a reinstall) just
// converges. Datasets are never destroyed. Mountpoints are decided once, by
// Mountpoint, which the NFS, Samba and LXC modules use too.
package zfs
