// Package source finds the seed Phoenix runs: from --seed, the kernel
// command line, /etc/phoenix, or a removable volume labelled PHOENIX (or
// phoenix/seed.yaml on the Proxmox installer's PROXMOX-AIS volume).
//
// Volumes are read read-only and without mounting, by small bounded readers
// of our own for ISO9660 (plain, Joliet, Rock Ridge), FAT12/16/32 and
// MBR/GPT partition tables: iso.go, fat.go and table.go say why go-diskfs
// v1.9.4's readers are not used on untrusted volumes (its ISO writer is, in
// seed/image). A volume is an input from anyone with
// physical access, so after the first completion its seed is only taken when
// seed.yaml.sig verifies against /etc/phoenix/allowed_signers (package
// seed/sign).
package source
