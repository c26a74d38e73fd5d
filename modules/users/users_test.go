package users

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/users/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

const (
	key1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkqs9I7Z0zwYJDil7h4Y57zUoVoqDdpT2gbEfe7KRgX k1@lab"
	key2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIU69C2lVi3BZp/B0ahV6dl6nUsMUDxKOEWpc9i/9krr k2@lab"
	key3 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFvBfmwP3gUCgwWkJCldYg9FUo2VpkJw9y8WXu9r/LIL k3@lab"
	// The hash of "secret" (mkpasswd -m sha-512 -S saltsalt secret).
	hash = "$6$saltsalt$ax6XzybDfDdJAOn3k43BrrQhy55a5LZ9OT8nqUK7a5uapy93G1Id0hITLFZdiPtv1c3Umk1dmeXb.AUXR2i2D."
)

// A small, fixed account database: the tests do not depend on the build
// machine's.
var etc = map[string]string{
	Passwd:                           "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbob:x:1000:1000:Bob:/home/bob:/bin/sh\n",
	Shadow:                           "root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\nbob:!:20000:0:99999:7:::\n",
	Group:                            "root:x:0:\ndaemon:x:1:\nsudo:x:27:\nusers:x:100:\nbob:x:1000:\n",
	"/etc/gshadow":                   "root:*::\ndaemon:*::\nsudo:*::\nusers:*::\nbob:!::\n",
	"/etc/login.defs":                "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nUMASK 022\nHOME_MODE 0700\nUSERGROUPS_ENAB yes\nENCRYPT_METHOD SHA512\n",
	Sudoers:                          "Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
	"/home/bob/.ssh/authorized_keys": key1 + "\n",
}

func testSeed() *seed.Seed {
	return &seed.Seed{Version: 1, Users: []seed.User{
		{Name: "alice", PasswordHash: hash, Groups: []string{"sudo", "users"}, Sudo: "nopasswd", Shell: "/bin/bash",
			SSHAuthorizedKeys: []string{key1, key2}, Proxmox: &seed.ProxmoxUser{Role: "Administrator"}},
		{Name: "bob", Groups: []string{"users"}, Shell: "/bin/bash", Sudo: "password",
			SSHAuthorizedKeys: []string{"from=\"10.0.0.0/8\" " + key1, key3}},
	}}
}

// needShadowTools skips when the real useradd/chpasswd/visudo cannot run
// against a throwaway root here (they chroot, so they need root).
func needShadowTools(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("useradd --root and chpasswd --root chroot into the root: needs uid 0")
	}
	for _, tool := range []string{"useradd", "usermod", "chpasswd", "visudo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

type box struct {
	root *host.DirRoot
	run  *fakehost.Runner
	pve  *fake.PVE
	env  *modules.Env
	log  *bytes.Buffer
}

func newBox(t testing.TB) *box {
	needShadowTools(t)
	root := testkit.Root(t, etc)
	for p, mode := range map[string]fs.FileMode{Shadow: 0o640, "/etc/gshadow": 0o640, Sudoers: 0o440} {
		if err := root.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Chown("/home/bob", host.Owner{UID: 1000, GID: 1000}); err != nil {
		t.Fatal(err)
	}
	b := &box{root: root, run: fakehost.New(), pve: fake.New(t.TempDir()), log: &bytes.Buffer{}}
	// The real shadow tools, confined to the temp root by --root; the real
	// visudo. Only pveum is a fake: Proxmox cannot be installed here.
	for _, tool := range []string{"useradd", "usermod", "chpasswd", "visudo"} {
		b.run.Handle(tool, testkit.Real)
	}
	b.run.Handle("pveum", b.pve.Handler)
	b.env = &modules.Env{Seed: testSeed(), Runner: b.run, Root: root, Store: modules.NewStore(root),
		Log: slog.New(slog.NewTextHandler(b.log, nil))}
	return b
}

func (b *box) converge(t *testing.T) modules.Result {
	t.Helper()
	res, err := modules.Apply(context.Background(), New(), b.env)
	if err != nil {
		t.Fatal(err)
	}
	if pending, err := modules.Check(context.Background(), New(), b.env); err != nil || len(pending) != 0 {
		t.Fatalf("not converged: %q %v", pending, err)
	}
	return res
}

func line(t *testing.T, r host.Root, file, user string) string {
	t.Helper()
	for _, l := range strings.Split(testkit.Read(t, r, file), "\n") {
		if strings.HasPrefix(l, user+":") {
			return l
		}
	}
	return ""
}

func TestFirstRunRerunDrift(t *testing.T) {
	b := newBox(t)
	pending, err := modules.Check(context.Background(), New(), b.env)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, "first.check", strings.Join(pending, "\n")+"\n")
	b.run.Reset()
	b.converge(t)
	testkit.Golden(t, "first.calls", testkit.Scrub(b.run.Log(), b.root))

	if l := line(t, b.root, Passwd, "alice"); l != "alice:x:1001:1001::/home/alice:/bin/bash" {
		t.Errorf("passwd: %q", l)
	}
	if l := line(t, b.root, Passwd, "bob"); !strings.HasSuffix(l, ":/bin/bash") {
		t.Errorf("bob's shell: %q", l)
	}
	if l := line(t, b.root, Shadow, "alice"); !strings.HasPrefix(l, "alice:"+hash+":") {
		t.Errorf("shadow: %q", l)
	}
	if l := line(t, b.root, Group, "sudo"); l != "sudo:x:27:alice" {
		t.Errorf("group: %q", l)
	}
	if l := line(t, b.root, Group, "users"); l != "users:x:100:alice,bob" {
		t.Errorf("group: %q", l)
	}
	// SSH: owner from the root's passwd, modes 700/600, keys merged.
	for p, want := range map[string]fs.FileMode{"/home/alice/.ssh": 0o700 | fs.ModeDir, "/home/alice/.ssh/authorized_keys": 0o600, "/home/bob/.ssh/authorized_keys": 0o600} {
		fi, err := b.root.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode %v want %v", p, fi.Mode(), want)
		}
		uid := 1001
		if strings.HasPrefix(p, "/home/bob") {
			uid = 1000
		}
		if o := host.FileOwner(fi); o.UID != uid || o.GID != uid {
			t.Errorf("%s owner %v", p, o)
		}
	}
	if got := testkit.Read(t, b.root, "/home/bob/.ssh/authorized_keys"); got != key1+"\n"+key3+"\n" {
		t.Errorf("bob's keys (key1 once, with or without options):\n%s", got)
	}
	// Proxmox.
	st, _ := b.pve.Load()
	if len(st.Users) != 2 || len(st.ACL) != 1 || st.ACL[0] != (fake.ACL{Path: "/", RoleID: "Administrator", Type: "user", UGID: "alice@pam", Propagate: 1}) {
		t.Errorf("pveum state %+v", st)
	}

	// Rerun: reads only.
	b.run.Reset()
	res := b.converge(t)
	if len(res.Changed) != 0 || b.run.Log() != strings.Repeat("pveum user list --output-format json\npveum acl list --output-format json\npveum role list --output-format json\n", 2) {
		t.Errorf("rerun changed %q ran:\n%s", res.Changed, b.run.Log())
	}

	// Drift: alice leaves sudo, her hash is changed, her sudo rule is
	// deleted, bob's key file loses its mode.
	testkit.Write(t, b.root, Group, strings.Replace(testkit.Read(t, b.root, Group), "sudo:x:27:alice", "sudo:x:27:", 1))
	testkit.Write(t, b.root, Shadow, strings.Replace(testkit.Read(t, b.root, Shadow), hash, "$6$x$y", 1))
	if err := b.root.Remove(sudoFile("alice")); err != nil {
		t.Fatal(err)
	}
	if err := b.root.Chmod("/home/bob/.ssh/authorized_keys", 0o644); err != nil {
		t.Fatal(err)
	}
	pending, _ = modules.Check(context.Background(), New(), b.env)
	if len(pending) != 4 {
		t.Errorf("drift: %q", pending)
	}
	b.converge(t)
}

// A password hash never reaches argv, the call log, the Store, Check
// output, Result, the module's log or an error.
func TestPasswordNeverLeaks(t *testing.T) {
	b := newBox(t)
	pending, _ := modules.Check(context.Background(), New(), b.env)
	res := b.converge(t)
	var stdin []byte
	b.run.Handle("chpasswd", func(_ context.Context, c fakehost.Call) fakehost.Result {
		stdin = c.Stdin
		// Worst case: a tool that echoes its input in its error.
		return fakehost.Fail(1, "chpasswd: line 1: cannot parse "+string(c.Stdin))
	})
	testkit.Write(t, b.root, Shadow, strings.Replace(testkit.Read(t, b.root, Shadow), hash, "!", 1))
	_, err := modules.Apply(context.Background(), New(), b.env)
	if err == nil {
		t.Fatal("chpasswd failure not reported")
	}
	if string(stdin) != "alice:"+hash+"\n" {
		t.Errorf("stdin %q", stdin)
	}
	var haystack strings.Builder
	for _, c := range b.run.Calls() {
		haystack.WriteString(c.String() + strings.Join(c.Env, " ") + "\n")
	}
	haystack.WriteString(b.run.Log() + strings.Join(pending, "\n") + strings.Join(res.Changed, "\n") + strings.Join(res.Notes, "\n") + b.log.String() + err.Error())
	_ = filepath.WalkDir(b.root.Path("/var/lib/phoenix"), func(p string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			haystack.Write(data)
		}
		return nil
	})
	for _, secret := range []string{hash, "ax6XzybDfDdJAOn3k43"} {
		if strings.Contains(haystack.String(), secret) {
			t.Errorf("password hash leaked:\n%s", haystack.String())
		}
	}
	if !strings.Contains(err.Error(), "chpasswd") {
		t.Errorf("error lost its context: %v", err)
	}
}

// /etc/sudoers is never written; rules reach sudoers.d whole (by rename
// from a name sudo ignores), and the real visudo accepts what is there.
// The boot runs no visudo: FuzzRenderSudoers proves the rules.
func TestSudoersNeverEditedAndRulesChecked(t *testing.T) {
	b := newBox(t)
	before, _ := os.Stat(b.root.Path(Sudoers))
	b.run.Handle("visudo", func(ctx context.Context, c fakehost.Call) fakehost.Result {
		t.Errorf("visudo run at converge: %v", c.Cmd.Args)
		return testkit.Real(ctx, c)
	})
	b.converge(t)
	after, _ := os.Stat(b.root.Path(Sudoers))
	if testkit.Read(t, b.root, Sudoers) != etc[Sudoers] || !after.ModTime().Equal(before.ModTime()) {
		t.Error("/etc/sudoers was written")
	}
	for _, u := range []string{"alice", "bob"} {
		p := sudoFile(u)
		fi, err := b.root.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o440 {
			t.Fatalf("%s: %v %v", p, fi, err)
		}
		// The real visudo on the installed file.
		if out, err := exec.Command("visudo", "-c", "-f", b.root.Path(p)).CombinedOutput(); err != nil {
			t.Errorf("visudo -cf %s: %v: %s", p, err, out)
		}
	}
	ents, _ := b.root.ReadDir(SudoersDir)
	if len(ents) != 2 {
		t.Errorf("leftover files in sudoers.d: %v", ents)
	}
	if !strings.Contains(testkit.Read(t, b.root, sudoFile("alice")), "alice ALL=(ALL:ALL) NOPASSWD: ALL\n") {
		t.Error("alice's rule")
	}

	// Removing sudo from the seed removes the rule.
	b.env.Seed.Users[1].Sudo = ""
	b.converge(t)
	if host.Exists(b.root, sudoFile("bob")) {
		t.Error("bob's rule left")
	}
}

func TestBadHostState(t *testing.T) {
	t.Run("missing group", func(t *testing.T) {
		b := newBox(t)
		b.env.Seed.Users[0].Groups = []string{"docker"}
		_, err := modules.Apply(context.Background(), New(), b.env)
		if err == nil || !strings.Contains(err.Error(), `group "docker" does not exist`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown proxmox role", func(t *testing.T) {
		// The seed's rule (seed/users.go) refuses it, before any command.
		b := newBox(t)
		b.env.Seed.Users[0].Proxmox.Role = "Wizard"
		_, err := modules.Apply(context.Background(), New(), b.env)
		if err == nil || !strings.Contains(err.Error(), `"Wizard" is not a built-in Proxmox role`) {
			t.Errorf("err = %v", err)
		}
		if calls := b.run.Calls(); len(calls) != 0 {
			t.Errorf("ran %d commands before refusing the role", len(calls))
		}
	})
	t.Run("built-in role this host lacks", func(t *testing.T) {
		// A built-in role the running host does not list (an older or a
		// changed PVE): the host check refuses it before any change.
		b := newBox(t)
		b.env.Seed.Users[0].Proxmox.Role = "PVEAuditor"
		b.run.Handle("pveum", func(ctx context.Context, c fakehost.Call) fakehost.Result {
			if len(c.Cmd.Args) >= 2 && c.Cmd.Args[0] == "role" && c.Cmd.Args[1] == "list" {
				return fakehost.Result{Stdout: `[{"roleid":"Administrator","privs":"","special":1}]`}
			}
			return b.pve.Handler(ctx, c)
		})
		_, err := modules.Apply(context.Background(), New(), b.env)
		if err == nil || !strings.Contains(err.Error(), `Proxmox role "PVEAuditor" does not exist on this host`) {
			t.Errorf("err = %v", err)
		}
		// Reported before any change: no account was made.
		for _, c := range b.run.Calls() {
			if c.Name != "pveum" || !slices.Contains(c.Args, "list") {
				t.Errorf("ran %s %v before refusing the role", c.Name, c.Args)
			}
		}
	})
	t.Run("no pveum", func(t *testing.T) {
		b := newBox(t)
		b.run.Handle("pveum", nil)
		b.run.Unknown = nil
		_, err := modules.Check(context.Background(), New(), b.env)
		if err == nil || host.ExitCode(err) != 127 {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("plain password refused", func(t *testing.T) {
		b := newBox(t)
		b.env.Seed.Users[0].PasswordHash = "hunter2"
		_, err := modules.Check(context.Background(), New(), b.env)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad key", func(t *testing.T) {
		b := newBox(t)
		b.env.Seed.Users[0].SSHAuthorizedKeys = []string{"ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x"}
		if _, err := modules.Check(context.Background(), New(), b.env); err == nil {
			t.Error("accepted")
		}
	})
}

// The merged authorized_keys is read by the real ssh-keygen.
func TestAuthorizedKeysReadBySSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	b := newBox(t)
	b.converge(t)
	out, err := exec.Command("ssh-keygen", "-l", "-f", b.root.Path("/home/bob/.ssh/authorized_keys")).CombinedOutput()
	if err != nil || strings.Count(string(out), "ED25519") != 2 {
		t.Errorf("ssh-keygen -l: %v\n%s", err, out)
	}
}
