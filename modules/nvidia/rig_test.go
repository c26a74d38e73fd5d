package nvidia

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/nvidia/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

const (
	kernel = "6.8.12-4-pve"
	v1     = "580.76.05"
	v2     = "580.95.05"
	url1   = "https://download.nvidia.com/XFree86/Linux-x86_64/580.76.05/NVIDIA-Linux-x86_64-580.76.05.run"
	url2   = "https://download.nvidia.com/XFree86/Linux-x86_64/580.95.05/NVIDIA-Linux-x86_64-580.95.05.run"
	debV   = "535.247.01-1~deb12u1"
)

// rig is a fake GPU host: a temp Root mirrored by the fake, a recording
// Runner and the module's Store.
type rig struct {
	t      *testing.T
	root   *host.DirRoot
	fk     *fake.Fake
	run    *fakehost.Runner
	store  *modules.Store
	bundle string
	mod    *Module
}

func newRig(t *testing.T, st *fake.State) *rig {
	t.Helper()
	root := host.NewDirRoot(t.TempDir())
	r := &rig{t: t, root: root, fk: fake.New(t.TempDir(), root.Dir()), run: fakehost.New(),
		store: modules.NewStore(root), bundle: t.TempDir(), mod: New()}
	if st.Downloads == nil {
		st.Downloads = map[string]string{url1: v1, url2: v2}
	}
	if err := r.fk.Save(st); err != nil {
		t.Fatal(err)
	}
	r.fk.Register(r.run)
	return r
}

func (r *rig) state() *fake.State {
	s, err := r.fk.Load()
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *rig) set(fn func(*fake.State)) {
	if err := r.fk.Update(fn); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) boot() {
	if err := r.fk.Boot(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) env(s *seed.Seed) *modules.Env {
	return &modules.Env{Seed: s, Runner: r.run, Root: r.root, Store: r.store, Bundle: r.bundle, BootID: r.state().BootID()}
}

func (r *rig) apply(s *seed.Seed) (modules.Result, error) {
	r.t.Helper()
	return modules.Apply(context.Background(), r.mod, r.env(s))
}

func (r *rig) check(s *seed.Seed) []string {
	r.t.Helper()
	todo, err := modules.Check(context.Background(), r.mod, r.env(s))
	if err != nil {
		r.t.Fatalf("Check: %v", err)
	}
	return todo
}

func (r *rig) progress() Progress {
	var p Progress
	if _, err := r.store.Get(KeyPhase, &p); err != nil {
		r.t.Fatal(err)
	}
	return p
}

func runfileSeed(version, url string) *seed.Seed {
	return &seed.Seed{Version: 1, NVIDIA: &seed.NVIDIA{Version: version, Source: SourceRunfile,
		Runfile: &seed.Runfile{URL: url, SHA256: shaOf(fake.Runfile(version))}}}
}

func packagesSeed(version string) *seed.Seed {
	return &seed.Seed{Version: 1, NVIDIA: &seed.NVIDIA{Version: version, Source: SourcePackages}}
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// mustReboot applies and wants a reboot request.
func (r *rig) mustReboot(s *seed.Seed) modules.Result {
	r.t.Helper()
	res, err := r.apply(s)
	if err != nil {
		r.t.Fatalf("Apply: %v", err)
	}
	if !res.Reboot || res.Reason == "" {
		r.t.Fatalf("Apply: want a reboot with a reason, got %+v", res)
	}
	return res
}

// mustFinish applies and wants success without a reboot.
func (r *rig) mustFinish(s *seed.Seed) modules.Result {
	r.t.Helper()
	res, err := r.apply(s)
	if err != nil {
		r.t.Fatalf("Apply: %v", err)
	}
	if res.Reboot {
		r.t.Fatalf("Apply: unexpected reboot: %s", res.Reason)
	}
	return res
}

// converge drives Apply across simulated boots until done and returns the
// number of reboots.
func (r *rig) converge(s *seed.Seed) int {
	r.t.Helper()
	for boots := 0; boots < 4; boots++ {
		res, err := r.apply(s)
		if err != nil {
			r.t.Fatalf("Apply after %d boots: %v", boots, err)
		}
		if !res.Reboot {
			return boots
		}
		r.boot()
	}
	r.t.Fatal("no convergence after 4 boots")
	return 0
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fakehostFail(code int, stderr string) fakehost.Result { return fakehost.Fail(code, stderr) }

func (r *rig) read(p string) string {
	r.t.Helper()
	b, _ := r.root.ReadFile(p)
	return string(b)
}
