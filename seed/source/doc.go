// Package source finds the seed Phoenix runs: from --seed, the kernel
// command line, /etc/phoenix, or a removable volume labelled PHOENIX (or
// phoenix/seed.yaml on the Proxmox installer's PROXMOX-AIS volume).
//
// Volumes are read read-only and without mounting: ISO9660 through go-diskfs,
// FAT12/16/32 through a small reader of our own (fat.go says why), whole-disk
// or inside an MBR/GPT partition. A volume is an input from anyone with
// physical access, so after the first completion its seed is only taken when
// seed.yaml.sig verifies against /etc/phoenix/allowed_signers (package
// seed/sign).
package source
