package nfs

import (
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// TestNfsdRunning: the kernel's thread count is the sign of a running
// server (nfsd(7)); no nfsd filesystem means none runs.
func TestNfsdRunning(t *testing.T) {
	root := host.NewDirRoot(t.TempDir())
	if up, err := nfsdRunning(root); err != nil || up {
		t.Errorf("no nfsd filesystem: %v, %v; want not running", up, err)
	}
	for threads, want := range map[string]bool{"0\n": false, "8\n": true, "": false} {
		if err := root.WriteFile(nfsdThreads, []byte(threads), 0o644, host.Owner{}); err != nil {
			t.Fatal(err)
		}
		if up, err := nfsdRunning(root); err != nil || up != want {
			t.Errorf("threads %q: %v, %v; want %v", threads, up, err, want)
		}
	}
}
