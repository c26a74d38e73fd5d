package bootstrap_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// doneRoot is a root where a seed with every section has been fully run by
// one test module per section (markers for all of them).
func doneRoot(b *testing.B) (bootstrap.Options, *host.DirRoot) {
	root := host.NewDirRoot(b.TempDir()) // fsync on, as in production
	s := &seed.Seed{Version: 1, Host: &seed.Host{Hostname: "pve1"}, Network: &seed.Network{}, Repos: &seed.Repos{},
		Kernel: &seed.Kernel{}, NVIDIA: &seed.NVIDIA{}, ZFS: &seed.ZFS{}, Users: []seed.User{{Name: "a"}},
		NFS: &seed.NFS{}, Samba: &seed.Samba{}, Firewall: &seed.Firewall{}, LXC: &seed.LXC{}}
	var mods []modules.Module
	for _, n := range seed.Sections {
		mods = append(mods, &tmod{name: n})
	}
	o := bootstrap.Options{Root: root, Runner: fakehost.New(), Modules: mods, Seed: s, SeedName: "seed.yaml",
		SeedData: []byte("version: 1\n"), Version: "bench", BootID: "b", LockWait: time.Second, Stderr: io.Discard,
		Reboot: func(context.Context) error { return nil }}
	if out, err := bootstrap.Run(context.Background(), o); err != nil || !out.Complete {
		b.Fatalf("setup run: %+v %v", out, err)
	}
	return o, root
}

// BenchmarkRunAllDone is `phoenix run` on a provisioned host, in process:
// lock, seed copy check, markers, status, completion check.
func BenchmarkRunAllDone(b *testing.B) {
	o, _ := doneRoot(b)
	for b.Loop() {
		out, err := bootstrap.Run(context.Background(), o)
		if err != nil || len(out.Ran) != 0 {
			b.Fatalf("%+v %v", out, err)
		}
	}
}

// BenchmarkReadStatus is the work of `phoenix status --json`.
func BenchmarkReadStatus(b *testing.B) {
	_, root := doneRoot(b)
	for b.Loop() {
		if st, found, err := bootstrap.ReadStatus(root); err != nil || !found || st.State != bootstrap.Done {
			b.Fatal(st.State, found, err)
		}
	}
}
