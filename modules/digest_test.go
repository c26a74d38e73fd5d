package modules_test

import (
	"context"
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

type mod struct {
	name   string
	inputs []string
}

func (m mod) Name() string                                          { return m.name }
func (m mod) Active(*seed.Seed) bool                                { return true }
func (m mod) Check(context.Context, *modules.Env) ([]string, error) { return nil, nil }
func (m mod) Apply(context.Context, *modules.Env) (modules.Result, error) {
	return modules.Result{}, nil
}

type withInputs struct{ mod }

func (m withInputs) Inputs() []string { return m.inputs }

func TestDigestFollowsInputs(t *testing.T) {
	a := &seed.Seed{Version: 1, LXC: &seed.LXC{Parallel: 2}, ZFS: &seed.ZFS{ARCMax: "8G"}}
	b := &seed.Seed{Version: 1, LXC: &seed.LXC{Parallel: 2}, ZFS: &seed.ZFS{ARCMax: "16G"}}

	plain := mod{name: "lxc"}
	if modules.Digest(plain, a) != seed.SectionDigest(a, "lxc") {
		t.Fatal("a module without inputs must digest its own section only")
	}
	if modules.Digest(plain, a) != modules.Digest(plain, b) {
		t.Fatal("a change outside the section changed a plain module's digest")
	}
	in := withInputs{mod{name: "lxc", inputs: []string{"zfs"}}}
	if modules.Digest(in, a) == modules.Digest(in, b) {
		t.Fatal("a change to an input section did not change the digest")
	}
	if first, again := modules.Digest(in, a), modules.Digest(in, a); first != again {
		t.Fatal("digest not stable")
	}
	if got := modules.Digest(in, &seed.Seed{Version: 1, ZFS: a.ZFS}); got != "" {
		t.Fatalf("absent own section must digest to \"\", got %q", got)
	}
}

func (m mod) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}
