// Package image writes seed images: an ISO9660 (with Joliet and Rock Ridge,
// through go-diskfs), a bare FAT filesystem, or a USB-stick image with an MBR
// or GPT partition table and one FAT partition, all labelled PHOENIX.
//
// FAT is written by a small writer of our own (fat.go): go-diskfs v1.9's
// FAT32 writer produces images that fsck.vfat rejects at some sizes and only
// does FAT32. Ours writes FAT12, FAT16 or FAT32 with the cluster count in the
// range each type requires, two FAT copies, long file names, and fixed
// timestamps so the same inputs give the same bytes. Every image it makes is
// checked with fsck.vfat -n and mtools in the tests.
package image
