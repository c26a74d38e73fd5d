package samba_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/samba"
)

// TestRealPassdb runs the module's exact pdbedit and smbpasswd calls (argv
// and stdin) through the REAL tools (apt package samba), against a private
// tdbsam in a temp dir: the only change is the injected config file option.
// It proves that a "$$" password reaches the passdb intact through
// smbpasswd's stdin, that the NT hash import works and updates an existing
// entry, and that the module reads real `pdbedit -L -w` output right (the
// rerun changes nothing).
func TestRealPassdb(t *testing.T) {
	for _, tool := range []string{"pdbedit", "smbpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt package samba)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("pdbedit needs root")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "smb.conf")
	for _, d := range []string{"private", "lock", "state", "cache", "pid"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(conf, []byte("[global]\n   server role = standalone server\n   passdb backend = tdbsam\n"+
		"   private dir = "+dir+"/private\n   lock directory = "+dir+"/lock\n   state directory = "+dir+"/state\n"+
		"   cache directory = "+dir+"/cache\n   pid directory = "+dir+"/pid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	// Users that exist on this machine too (the real tools check).
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.root.WriteFile("/etc/passwd", []byte("root:x:0:0::/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nbin:x:2:2::/bin:/usr/sbin/nologin\n"), 0o644, host.Owner{}))
	must(w.root.WriteFile("/etc/phoenix/secrets/bin.pw", []byte(bobPassword+"\n"), 0o600, host.Owner{}))
	realRun := host.NewExecRunner()
	withConf := func(flag string) fakehost.Handler {
		return func(ctx context.Context, c fakehost.Call) fakehost.Result {
			cmd := c.Cmd
			cmd.Args = append([]string{flag, conf}, cmd.Args...)
			out, err := realRun.Run(ctx, cmd)
			return fakehost.Result{Stdout: string(out.Stdout), Stderr: string(out.Stderr), Code: host.ExitCode(err)}
		}
	}
	w.run.Handle("pdbedit", withConf("-s"))
	w.run.Handle("smbpasswd", withConf("-c"))

	// daemon and bin exist on every machine; as system accounts they
	// need system: true.
	y := `
users:
  - {name: daemon, system: true}
  - {name: bin, system: true}
samba:
  users:
    - {name: daemon, nt_hash: 8846f7eaee8fb117ad06bdd830b7586c}
    - {name: bin, password_file: /etc/phoenix/secrets/bin.pw}
`
	s := testkit.Seed(t, y)
	if _, err := modules.Apply(context.Background(), samba.New(), w.env(s)); err != nil {
		t.Fatal(err)
	}
	list := func() string {
		out, err := exec.Command("pdbedit", "-s", conf, "-L", "-w").Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	got := list()
	if !strings.Contains(got, "daemon:1:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:") {
		t.Errorf("NT hash not imported:\n%s", got)
	}
	if !strings.Contains(got, "bin:2:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:"+samba.NTHash(bobPassword)+":") {
		t.Errorf("password not intact (want hash %s):\n%s", samba.NTHash(bobPassword), got)
	}
	if _, err := os.Stat(w.root.Path(samba.ScratchDir + "/import.smbpasswd")); err == nil {
		t.Error("import file left behind")
	}
	res, err := modules.Apply(context.Background(), samba.New(), w.env(s))
	if err != nil || len(res.Changed) > 0 {
		t.Errorf("rerun against the real passdb: %q %v", res.Changed, err)
	}
	s.Samba.Users[0].NTHash = "31d6cfe0d16ae931b73c59d7e0c089c0"
	if _, err := modules.Apply(context.Background(), samba.New(), w.env(s)); err != nil {
		t.Fatal(err)
	}
	if got := list(); !strings.Contains(got, "daemon:1:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:31D6CFE0D16AE931B73C59D7E0C089C0:") {
		t.Errorf("changed hash not applied:\n%s", got)
	}
}
