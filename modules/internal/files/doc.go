// Package files describes the files a module wants on the host (content,
// mode, owner, a symlink, or absence) so that Check and Apply share one
// plan: Check lists the files whose state differs, Apply writes exactly
// those, atomically, through the Root. Used by the host, network, repos,
// kernel and users modules. owner.go also holds the owner/mode helpers the
// zfs and samba modules share (ApplyOwnerMode, LookupOwner).
package files
