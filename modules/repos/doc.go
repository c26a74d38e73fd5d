// Package repos is the "repos" module: the apt repositories of a Proxmox
// host, apt's proxy and IPv4 settings, apt update, dist-upgrade and the
// seed's packages.
//
// The release is read from /etc/os-release: bookworm is PVE 8 (one-line
// .list files), trixie is PVE 9 (deb822 .sources files); Phoenix writes its
// own repository file the way that release does
// (/etc/apt/sources.list.d/phoenix-pve.list or .sources) and removes its
// file of the other format, so no repository is ever listed twice. Entries
// of other files that point at the enterprise repositories, or duplicate a
// repository Phoenix's file provides, are disabled, never deleted: a .list
// line is commented out with "#phoenix# ", a .sources stanza gets
// "Enabled: no" after a "#phoenix# disabled" marker. Reruns undo and redo
// exactly those edits, so setting repos.enterprise: true later re-enables
// them.
//
// The proxy and IPv4 forcing go into /etc/apt/apt.conf.d/80phoenix so that
// every apt call on the host, other modules' included, uses them.
package repos
