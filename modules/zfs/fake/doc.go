// Package fake holds stateful fakes of the storage tools the zfs module
// drives: zpool, zfs, lsblk, wipefs and sgdisk, and registers the one pvesm
// fake (modules/internal/fake/pvesm) with this World's ZFS facts. One World keeps the
// disks, pools (with their vdev layout and whether they are imported),
// datasets with local properties, and the Root's /etc/pve/storage.cfg; every fake reads and changes
// that one state, so a `zpool create` shows up in `lsblk` as zfs_member
// partitions and a `pvesm add zfspool` records the dataset's mountpoint, as
// on a real host. Output formats follow the real tools: `zfs get
// -H -p`, `lsblk --json -b`, `zpool status -P -L`, the `zpool import` listing,
// `pvesm status`, and the /etc/pve/storage.cfg section format. Exit codes are
// the real ones (zfs/zpool 1 for errors and 2 for usage, pvesm 255).
//
// The same World serves in-process (Register on a fakehost.Runner) and as
// commands on PATH in testscript (Main, state kept as JSON in $FAKE_STATE).
// Nothing here ever runs a real disk tool.
package fake
