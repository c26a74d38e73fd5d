// Package network is the "network" module: the management bridge (vmbr0
// with its physical port, address and gateway), extra bridges (VLAN-aware
// ones too) and DNS.
//
// Bridges are written in the ifupdown2 format Proxmox uses, as the drop-in
// /etc/network/interfaces.d/phoenix; /etc/network/interfaces keeps
// everything else, gets a `source /etc/network/interfaces.d/*` line if it
// lacks one, and has its own stanzas for the interfaces the drop-in now
// defines commented out (two stanzas for one interface would be merged by
// ifupdown2).
//
// A change is applied with `ifreload -a` and confirmed by pinging the
// gateway, the way Talos's try mode confirms a configuration. If the
// gateway does not answer, the previous files are restored, ifreload runs
// again, and Apply fails saying it rolled back. The previous files are kept
// in the Store before anything is written, so a crash between the write
// and the confirmation still ends in a confirmation or a rollback on the
// next run.
package network
