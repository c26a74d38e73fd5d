package fault

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// kv is a stateful fake tool: "kv get KEY" prints the value (exit 1 when
// unset), "kv set KEY VALUE", "kv incr KEY". Its map is the World's
// external state.
type kv struct{ m map[string]string }

func (k *kv) handle(_ context.Context, c fakehost.Call) fakehost.Result {
	a := c.Cmd.Args
	switch {
	case len(a) == 2 && a[0] == "get":
		v, ok := k.m[a[1]]
		if !ok {
			return fakehost.Fail(1, "kv: "+a[1]+": not set\n")
		}
		return fakehost.OK(v + "\n")
	case len(a) == 3 && a[0] == "set":
		k.m[a[1]] = a[2]
		return fakehost.OK("")
	case len(a) == 2 && a[0] == "incr":
		var n int
		fmt.Sscan(k.m[a[1]], &n)
		k.m[a[1]] = fmt.Sprint(n + 1)
		return fakehost.OK("")
	}
	return fakehost.Fail(2, "usage: kv get|set|incr KEY [VALUE]\n")
}

func (k *kv) dump() string {
	var ks []string
	for key := range k.m {
		ks = append(ks, key)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, key := range ks {
		fmt.Fprintf(&b, "%s=%s\n", key, k.m[key])
	}
	return b.String()
}

func newWorld(t testing.TB) *World {
	k := &kv{m: map[string]string{}}
	r := fakehost.New()
	r.Handle("kv", k.handle)
	return &World{Root: host.NewDirRoot(t.TempDir()), Runner: r, Effects: k.dump}
}

// hostModule is idempotent: it writes /etc/hostname only when it differs and
// sets the kv key only when it differs.
type hostModule struct{}

func (hostModule) Name() string               { return "host" }
func (hostModule) Active(s *seed.Seed) bool   { return s.Host != nil }
func (hostModule) want(e *modules.Env) string { return e.Seed.Host.Hostname }

func (m hostModule) Check(ctx context.Context, e *modules.Env) ([]string, error) {
	var out []string
	if b, _ := e.Root.ReadFile("/etc/hostname"); string(b) != m.want(e)+"\n" {
		out = append(out, "write /etc/hostname")
	}
	if o, err := e.Runner.Run(ctx, host.Cmd{Name: "kv", Args: []string{"get", "hostname"}}); err != nil || strings.TrimSpace(string(o.Stdout)) != m.want(e) {
		out = append(out, "set hostname")
	}
	return out, nil
}

func (m hostModule) Apply(ctx context.Context, e *modules.Env) (modules.Result, error) {
	var res modules.Result
	ch, err := host.WriteIfChanged(e.Root, "/etc/hostname", []byte(m.want(e)+"\n"), 0o644, host.Owner{})
	if err != nil {
		return res, err
	}
	if ch {
		res.Changed = append(res.Changed, "/etc/hostname")
	}
	o, err := e.Runner.Run(ctx, host.Cmd{Name: "kv", Args: []string{"get", "hostname"}})
	if err != nil && host.ExitCode(err) != 1 {
		return res, err
	}
	if strings.TrimSpace(string(o.Stdout)) != m.want(e) {
		if _, err := e.Runner.Run(ctx, host.Cmd{Name: "kv", Args: []string{"set", "hostname", m.want(e)}}); err != nil {
			return res, err
		}
		res.Changed = append(res.Changed, "hostname")
	}
	return res, nil
}

// kernelModule needs one reboot: it records its phase in the Store and
// finishes in a later boot, never rebooting twice for the same change.
type kernelModule struct{}

func (kernelModule) Name() string             { return "kernel" }
func (kernelModule) Active(s *seed.Seed) bool { return s.Kernel != nil }
func (kernelModule) Check(_ context.Context, e *modules.Env) ([]string, error) {
	if b, _ := e.Root.ReadFile("/etc/kernel/cmdline"); string(b) != "quiet\n" {
		return []string{"set kernel cmdline"}, nil
	}
	return nil, nil
}

func (kernelModule) Apply(_ context.Context, e *modules.Env) (modules.Result, error) {
	var boot string
	if _, err := e.Store.Get("kernel/reboot-boot", &boot); err != nil {
		return modules.Result{}, err
	}
	ch, err := host.WriteIfChanged(e.Root, "/etc/kernel/cmdline", []byte("quiet\n"), 0o644, host.Owner{})
	if err != nil {
		return modules.Result{}, err
	}
	if ch || boot == e.BootID {
		if err := e.Store.Put("kernel/reboot-boot", e.BootID); err != nil {
			return modules.Result{}, err
		}
		return modules.Result{Reboot: true, Reason: "new kernel command line"}, nil
	}
	// Done: forget the phase, so the Store ends the same however we got here.
	return modules.Result{Changed: []string{"kernel cmdline"}}, e.Store.Delete("kernel/reboot-boot")
}

// appendModule is NOT idempotent: every Apply appends a line.
type appendModule struct{}

func (appendModule) Name() string                                          { return "nfs" }
func (appendModule) Active(s *seed.Seed) bool                              { return s.NFS != nil }
func (appendModule) Check(context.Context, *modules.Env) ([]string, error) { return nil, nil }
func (appendModule) Apply(_ context.Context, e *modules.Env) (modules.Result, error) {
	b, _ := e.Root.ReadFile("/etc/exports")
	return modules.Result{}, e.Root.WriteFile("/etc/exports", append(b, "/srv *(ro)\n"...), 0o644, host.Owner{})
}

// incrModule is NOT idempotent in its external effect: every Apply bumps a
// counter in the fake tool.
type incrModule struct{}

func (incrModule) Name() string                                          { return "samba" }
func (incrModule) Active(s *seed.Seed) bool                              { return s.Samba != nil }
func (incrModule) Check(context.Context, *modules.Env) ([]string, error) { return nil, nil }
func (incrModule) Apply(ctx context.Context, e *modules.Env) (modules.Result, error) {
	_, err := e.Runner.Run(ctx, host.Cmd{Name: "kv", Args: []string{"incr", "users"}})
	if err != nil {
		return modules.Result{}, err
	}
	return modules.Result{}, e.Root.WriteFile("/etc/samba/done", []byte("ok\n"), 0o644, host.Owner{})
}

// lyingModule converges but its Check never says so.
type lyingModule struct{ hostModule }

func (lyingModule) Check(context.Context, *modules.Env) ([]string, error) {
	return []string{"always something"}, nil
}

func testSeed() *seed.Seed {
	return &seed.Seed{Version: 1, Host: &seed.Host{Hostname: "pve1"}, Kernel: &seed.Kernel{},
		NFS: &seed.NFS{}, Samba: &seed.Samba{}}
}

func TestIdempotentModulesPass(t *testing.T) {
	st := Check(t, Scenario{
		Seed:     testSeed(),
		Modules:  []modules.Module{hostModule{}, kernelModule{}},
		NewWorld: newWorld,
	})
	// host: kv get + kv set; engine + modules write several records.
	if st.Commands != 2 {
		t.Errorf("Commands = %d, want 2 (kv get, kv set)", st.Commands)
	}
	if st.Writes < 10 || st.Points != 2*st.Commands+st.Writes {
		t.Errorf("stats %+v: want >= 10 writes and points = 2*commands + writes", st)
	}
}

func TestNonIdempotentFileIsCaught(t *testing.T) {
	_, problems := Run(t, Scenario{
		Seed:     testSeed(),
		Modules:  []modules.Module{hostModule{}, appendModule{}},
		NewWorld: newWorld,
	})
	if !anyContains(problems, "/etc/exports:") {
		t.Fatalf("the harness did not report the doubled /etc/exports; problems:\n%s", strings.Join(problems, "\n"))
	}
	if !anyContains(problems, "crash after write") {
		t.Errorf("want the crash-after-write trial named in the report; got:\n%s", strings.Join(problems, "\n"))
	}
}

func TestNonIdempotentEffectIsCaught(t *testing.T) {
	_, problems := Run(t, Scenario{
		Seed:     testSeed(),
		Modules:  []modules.Module{incrModule{}},
		NewWorld: newWorld,
	})
	if !anyContains(problems, "(effects)") || !anyContains(problems, "users=2") {
		t.Fatalf("the harness did not report the doubled external effect; problems:\n%s", strings.Join(problems, "\n"))
	}
}

func TestUnconvergedCheckIsCaught(t *testing.T) {
	_, problems := Run(t, Scenario{
		Seed:     testSeed(),
		Modules:  []modules.Module{lyingModule{}},
		NewWorld: newWorld,
	})
	if !anyContains(problems, "host: Check after a complete run still lists changes") {
		t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
	}
}

// rebootForever never converges: the fault-free run must report it instead
// of looping.
type rebootForever struct{ kernelModule }

func (rebootForever) Apply(context.Context, *modules.Env) (modules.Result, error) {
	return modules.Result{Reboot: true, Reason: "again"}, nil
}

func TestRebootLoopIsReported(t *testing.T) {
	_, problems := Run(t, Scenario{Seed: testSeed(), Modules: []modules.Module{rebootForever{}}, NewWorld: newWorld})
	if len(problems) != 1 || !strings.Contains(problems[0], "reboot limit reached") {
		t.Fatalf("problems = %q, want one fault-free failure naming the reboot limit", problems)
	}
}

func TestIgnore(t *testing.T) {
	for _, tc := range []struct {
		p    string
		g    []string
		want bool
	}{
		{"/var/log/phoenix/phoenix.log", []string{"/var/log/phoenix/**"}, true},
		{"/var/log/phoenix", []string{"/var/log/phoenix/**"}, true},
		{"/var/log/phoenixx", []string{"/var/log/phoenix/**"}, false},
		{"/etc/a.conf", []string{"/etc/*.conf"}, true},
		{"/etc/x/a.conf", []string{"/etc/*.conf"}, false},
	} {
		if got := ignored(tc.p, tc.g); got != tc.want {
			t.Errorf("ignored(%q, %q) = %v", tc.p, tc.g, got)
		}
	}
}

func anyContains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func (m hostModule) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

func (m kernelModule) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

func (m appendModule) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

func (m incrModule) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

func (m lyingModule) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

func (m rebootForever) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

// keyModule is idempotent: it writes /etc/NAME.conf and sets the kv key
// NAME, each only when it differs. With from set, it writes what that
// module's file holds instead of its own name: it depends on it.
type keyModule struct{ name, from string }

func (m keyModule) Name() string { return m.name }
func (m keyModule) Active(s *seed.Seed) bool {
	return seed.SectionDigest(s, m.name) != ""
}

func (m keyModule) want(e *modules.Env) string {
	if m.from == "" {
		return m.name
	}
	b, _ := e.Root.ReadFile("/etc/" + m.from + ".conf")
	return "after " + string(b)
}

func (m keyModule) Check(ctx context.Context, e *modules.Env) ([]string, error) {
	var out []string
	if b, _ := e.Root.ReadFile("/etc/" + m.name + ".conf"); string(b) != m.want(e) {
		out = append(out, "write /etc/"+m.name+".conf")
	}
	if o, err := e.Runner.Run(ctx, host.Cmd{Name: "kv", Args: []string{"get", m.name}}); err != nil || strings.TrimSpace(string(o.Stdout)) != "set" {
		out = append(out, "set "+m.name)
	}
	return out, nil
}

func (m keyModule) Apply(ctx context.Context, e *modules.Env) (modules.Result, error) {
	var res modules.Result
	ch, err := host.WriteIfChanged(e.Root, "/etc/"+m.name+".conf", []byte(m.want(e)), 0o644, host.Owner{})
	if err != nil {
		return res, err
	}
	if ch {
		res.Changed = append(res.Changed, "/etc/"+m.name+".conf")
	}
	o, err := e.Runner.Run(ctx, host.Cmd{Name: "kv", Args: []string{"get", m.name}})
	if err != nil && host.ExitCode(err) != 1 {
		return res, err
	}
	if strings.TrimSpace(string(o.Stdout)) != "set" {
		if _, err := e.Runner.Run(ctx, host.Cmd{Name: "kv", Args: []string{"set", m.name, "set"}}); err != nil {
			return res, err
		}
		res.Changed = append(res.Changed, m.name)
	}
	return res, nil
}

func (m keyModule) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

// beside runs a module in the early stage, at the same time as the
// earlier modules it names (modules.Concurrent).
type beside struct {
	modules.Module
	along []string
}

func (beside) Early(context.Context, *modules.Env) (bool, string) { return true, "" }
func (b beside) Alongside(context.Context, *modules.Env) []string { return b.along }

func besideSeed() *seed.Seed {
	return &seed.Seed{Version: 1, Host: &seed.Host{Hostname: "pve1"},
		Users: []seed.User{{Name: "admin"}}, NFS: &seed.NFS{}, Samba: &seed.Samba{}}
}

func reversed(ready []string) []string {
	out := slices.Clone(ready)
	slices.Reverse(out)
	return out
}

// TestEarlyStageOrders: four modules of the early stage, three of them
// beside the ones before (samba waits for nfs), converge at every fault
// point in the seed's order and in the reverse of it, each boot running
// the early stage and then the network stage.
func TestEarlyStageOrders(t *testing.T) {
	mods := []modules.Module{
		beside{Module: hostModule{}},
		beside{Module: keyModule{name: "users"}, along: []string{"host"}},
		beside{Module: keyModule{name: "nfs"}, along: []string{"host", "users"}},
		beside{Module: keyModule{name: "samba", from: "nfs"}, along: []string{"host", "users"}},
	}
	for _, order := range []struct {
		name string
		pick func([]string) []string
	}{{"seed order", func(r []string) []string { return r }}, {"reversed", reversed}} {
		t.Run(order.name, func(t *testing.T) {
			st := Check(t, Scenario{Seed: besideSeed(), Modules: mods, NewWorld: newWorld, EarlyOrder: order.pick})
			if st.Commands != 8 {
				t.Errorf("Commands = %d, want 8 (each module: kv get, kv set)", st.Commands)
			}
		})
	}
}

// TestEarlyStageDependencyIsCaught: a module that claims to run beside
// one whose file it reads ends differently when it runs first: the
// harness reports it.
func TestEarlyStageDependencyIsCaught(t *testing.T) {
	_, problems := Run(t, Scenario{Seed: besideSeed(), NewWorld: newWorld, EarlyOrder: reversed, Modules: []modules.Module{
		beside{Module: keyModule{name: "nfs"}},
		beside{Module: keyModule{name: "samba", from: "nfs"}, along: []string{"nfs"}},
	}})
	if !anyContains(problems, "end differently in the seed's order") || !anyContains(problems, "/etc/samba.conf") {
		t.Fatalf("the harness did not report the order dependence; problems:\n%s", strings.Join(problems, "\n"))
	}
}
