package host

import (
	"io/fs"
	"os"
	"syscall"
)

func ownerMatches(fi fs.FileInfo, o Owner) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	if os.Geteuid() != 0 {
		return true // cannot chown anyway; see chownIfNeeded
	}
	return int(st.Uid) == o.UID && int(st.Gid) == o.GID
}

// FileOwner returns the numeric owner of fi.
func FileOwner(fi fs.FileInfo) Owner {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return Owner{UID: int(st.Uid), GID: int(st.Gid)}
	}
	return Owner{}
}
