package samba_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	aptfake "github.com/phoenix-pve/phoenix/modules/internal/apt/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/samba"
	sambafake "github.com/phoenix-pve/phoenix/modules/samba/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

// debianSmbConf is the start of Debian's stock smb.conf.
const debianSmbConf = `[global]
   workgroup = WORKGROUP
   log file = /var/log/samba/log.%m
   max log size = 1000
   server role = standalone server
   obey pam restrictions = yes
   unix password sync = yes
   passwd program = /usr/bin/passwd %u
   passwd chat = *Enter\snew\s*\spassword:* %n\n *Retype\snew\s*\spassword:* %n\n *password\supdated\ssuccessfully* .
   pam password change = yes
   map to guest = bad user
   passdb backend = tdbsam

[homes]
   comment = Home Directories
   browseable = no
   read only = yes

[printers]
   comment = All Printers
   browseable = no
   path = /var/tmp
   printable = yes
`

// The password the bash original lost: "$$" expanded to a PID.
const bobPassword = "pa$$word `id` $(reboot) \\n 'q' \"dq\""

const sambaSeed = `
users:
  - {name: alice}
  - {name: bob}
samba:
  workgroup: HOMELAB
  server_string: Phoenix NAS
  global: {"log level": "1", "load printers": "no"}
  users:
    - {name: alice, nt_hash: 8846f7eaee8fb117ad06bdd830b7586c}
    - {name: bob, password_file: /etc/phoenix/secrets/bob.pw}
  shares:
    - {name: media, path: /tank/media, comment: Films and music, valid_users: [alice, "@users"], create_mask: "0664", directory_mask: "0775", owner: "alice:users", mode: "2775"}
    - {name: public, path: /srv/public, read_only: true, guest_ok: true, browseable: false}
`

type world struct {
	root *host.DirRoot
	smb  *sambafake.Server
	apt  *aptfake.DB
	run  *fakehost.Runner
}

func newWorld(t testing.TB) *world {
	root := host.NewDirRoot(t.TempDir())
	for p, c := range map[string]string{
		"/etc/passwd":                 "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n",
		"/etc/group":                  "root:x:0:\nusers:x:100:alice,bob\nalice:x:1000:\n",
		samba.SmbConf:                 debianSmbConf,
		"/etc/phoenix/secrets/bob.pw": bobPassword + "\n",
	} {
		if err := root.WriteFile(p, []byte(c), 0o600, host.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.MkdirAll("/tank/media", 0o755, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	w := &world{root: root, smb: sambafake.New(root), apt: aptfake.New(), run: fakehost.New()}
	w.smb.Register(w.run)
	w.apt.Register(w.run)
	realTestparm(w.run)
	return w
}

// realTestparm runs the real testparm (samba-common-bin) for the module.
func realTestparm(r *fakehost.Runner) {
	real := host.NewExecRunner()
	r.Handle("testparm", func(ctx context.Context, c fakehost.Call) fakehost.Result {
		out, err := real.Run(ctx, c.Cmd)
		return fakehost.Result{Stdout: string(out.Stdout), Stderr: string(out.Stderr), Code: host.ExitCode(err)}
	})
}

func (w *world) effects() string {
	return w.smb.Effects() + "packages: " + strings.Join(w.apt.Installed(), " ") + "\n"
}

func (w *world) env(s *seed.Seed) *modules.Env {
	return testkit.Env(s, w.run, w.root)
}

// testparmOK runs the real testparm on a full config and fails where the
// module's check would: an error, or an unknown or ignored parameter.
func testparmOK(t *testing.T, conf string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "smb.conf")
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := host.NewExecRunner().Run(context.Background(), host.Cmd{Name: "testparm", Args: []string{"-s", f}})
	if e := string(out.Stderr); err != nil || strings.Contains(e, "Unknown parameter encountered") || strings.Contains(e, "Ignoring") || strings.Contains(e, "Error loading") {
		t.Errorf("testparm -s failed: %v\n%s\nconfig:\n%s", err, out.Stderr, conf)
	}
}

// inlined is what smbd reads: smb.conf with the include replaced by the
// drop-in's text.
func (w *world) inlined(t *testing.T) string {
	smb, _ := w.root.ReadFile(samba.SmbConf)
	drop, _ := w.root.ReadFile(samba.DropIn)
	return strings.Replace(string(smb), "include = "+samba.DropIn+"\n", string(drop), 1)
}

func TestApplyThenRerun(t *testing.T) {
	w := newWorld(t)
	s := testkit.Seed(t, sambaSeed)
	ctx := context.Background()
	m := samba.New()
	if ch, err := modules.Check(ctx, m, w.env(s)); err != nil || len(ch) == 0 {
		t.Fatalf("Check before: %q %v", ch, err)
	}
	res, err := modules.Apply(ctx, m, w.env(s))
	if err != nil {
		t.Fatal(err)
	}
	log := w.run.Log()
	// The scratch path is a temp dir: make the log stable.
	log = strings.ReplaceAll(log, w.root.Dir(), "$ROOT")
	testkit.GoldenFile(t, "apply.log", log)
	drop, _ := w.root.ReadFile(samba.DropIn)
	testkit.GoldenFile(t, "phoenix.conf", string(drop))
	smb, _ := w.root.ReadFile(samba.SmbConf)
	if !strings.HasPrefix(string(smb), debianSmbConf) || !strings.HasSuffix(string(smb), "include = "+samba.DropIn+"\n# END PHOENIX samba\n") {
		t.Errorf("smb.conf: admin part not kept or include not last:\n%s", smb)
	}
	testparmOK(t, w.inlined(t))
	if !strings.Contains(w.smb.Effects(), "[media]") {
		t.Errorf("smbd did not load the config:\n%s", w.smb.Effects())
	}
	if _, err := w.root.Stat(samba.ScratchDir + "/import.smbpasswd"); err == nil {
		t.Error("NT hash import file left behind")
	}
	fi, err := w.root.Stat("/tank/media")
	if err != nil || fi.Mode().Perm() != 0o775 || fi.Mode()&os.ModeSetgid == 0 || host.FileOwner(fi) != (host.Owner{UID: 1000, GID: 100}) {
		t.Errorf("share dir: %v %v %+v", err, fi.Mode(), host.FileOwner(fi))
	}
	if len(res.Changed) == 0 {
		t.Error("no changes reported")
	}
	w.run.Reset()
	res, err = modules.Apply(ctx, m, w.env(s))
	if err != nil || len(res.Changed) > 0 {
		t.Errorf("rerun: %q %v", res.Changed, err)
	}
	if ch, err := modules.Check(ctx, m, w.env(s)); err != nil || len(ch) > 0 {
		t.Errorf("Check after: %q %v", ch, err)
	}
}

// TestPasswordsNeverInArgv is bash failure 3 ("$$" expanded to the PID):
// the password file's bytes reach Samba unchanged, on stdin; neither it
// nor the NT hash is in any argv.
func TestPasswordsNeverInArgv(t *testing.T) {
	w := newWorld(t)
	if _, err := modules.Apply(context.Background(), samba.New(), w.env(testkit.Seed(t, sambaSeed))); err != nil {
		t.Fatal(err)
	}
	eff := w.smb.Effects()
	if !strings.Contains(eff, "user bob "+samba.NTHash(bobPassword)+"\n") {
		t.Errorf("bob's password did not arrive intact:\n%s", eff)
	}
	if !strings.Contains(eff, "user alice 8846F7EAEE8FB117AD06BDD830B7586C\n") {
		t.Errorf("alice's hash not imported:\n%s", eff)
	}
	log := strings.ToLower(w.run.Log())
	for _, secret := range []string{"pa$$word", "reboot", strings.ToLower(samba.NTHash(bobPassword)), "8846f7eaee8fb117ad06bdd830b7586c"} {
		if strings.Contains(log, secret) {
			t.Errorf("secret %q in a command line:\n%s", secret, log)
		}
	}
	// A changed password file is applied; an unchanged one is not.
	if err := w.root.WriteFile("/etc/phoenix/secrets/bob.pw", []byte("new secret\n"), 0o600, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	res, err := modules.Apply(context.Background(), samba.New(), w.env(testkit.Seed(t, sambaSeed)))
	if err != nil || len(res.Changed) != 1 || !strings.Contains(w.smb.Effects(), "user bob "+samba.NTHash("new secret")) {
		t.Errorf("password change: %q %v", res.Changed, err)
	}
}

// TestTestparmRejects: a config the real testparm rejects is never put in
// place; smb.conf, the drop-in and the running smbd keep the old one.
func TestTestparmRejects(t *testing.T) {
	w := newWorld(t)
	s := testkit.Seed(t, sambaSeed)
	if _, err := modules.Apply(context.Background(), samba.New(), w.env(s)); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, p := range []string{samba.SmbConf, samba.DropIn} {
		b, _ := w.root.ReadFile(p)
		before[p] = string(b)
	}
	loaded := w.smb.Effects()
	for name, g := range map[string]map[string]string{
		"unknown parameter": {"no such parameter": "1"},
		"invalid value":     {"server max protocol": "SMB9"},
	} {
		t.Run(name, func(t *testing.T) {
			bad := testkit.Seed(t, sambaSeed)
			bad.Samba.Global = g
			w.run.Reset()
			_, err := modules.Apply(context.Background(), samba.New(), w.env(bad))
			if err == nil || !strings.Contains(err.Error(), "testparm rejected the new configuration") {
				t.Fatalf("err = %v", err)
			}
			for p, c := range before {
				if b, _ := w.root.ReadFile(p); string(b) != c {
					t.Errorf("%s changed", p)
				}
			}
			if w.smb.Effects() != loaded {
				t.Error("smbd reloaded")
			}
		})
	}
}

// TestEveryConfigPassesTestparm renders seeds covering every share and
// global option and runs the real testparm on each result.
func TestEveryConfigPassesTestparm(t *testing.T) {
	f := false
	for name, sb := range map[string]*seed.Samba{
		"minimal": {},
		"full":    testkit.Seed(t, sambaSeed).Samba,
		"guest":   {Shares: []seed.Share{{Name: "drop box", Path: "/srv/drop", GuestOK: true, Browseable: &f}}},
		"extras":  {Workgroup: "W", Global: map[string]string{"map to guest": "never", "server signing": "mandatory", "min receivefile size": "16384"}, Shares: []seed.Share{{Name: "x$", Path: "/x", ValidUsers: []string{"@staff"}, CreateMask: "0600", DirectoryMask: "0700"}}},
	} {
		t.Run(name, func(t *testing.T) {
			conf, err := samba.Render(sb)
			if err != nil {
				t.Fatal(err)
			}
			testparmOK(t, debianSmbConf+conf)
			testparmOK(t, conf)
		})
	}
	if _, err := samba.Render(&seed.Samba{Global: map[string]string{"x": "1\n[evil]"}}); err == nil {
		t.Error("newline in a value accepted")
	}
}

// TestReloadOnChange: changing a share rewrites the drop-in and reloads
// smbd with smbcontrol.
func TestReloadOnChange(t *testing.T) {
	w := newWorld(t)
	s := testkit.Seed(t, sambaSeed)
	if _, err := modules.Apply(context.Background(), samba.New(), w.env(s)); err != nil {
		t.Fatal(err)
	}
	s.Samba.Shares[1].ReadOnly = false
	w.run.Reset()
	if _, err := modules.Apply(context.Background(), samba.New(), w.env(s)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.run.Log(), "smbcontrol smbd reload-config\n") || strings.Contains(w.run.Log(), "systemctl enable") {
		t.Errorf("log:\n%s", w.run.Log())
	}
	if !strings.Contains(w.smb.Effects(), "[public]\n   path = /srv/public\n   read only = no") {
		t.Errorf("not reloaded:\n%s", w.smb.Effects())
	}
}

func TestFaults(t *testing.T) {
	fault.Check(t, fault.Scenario{
		Seed:    testkit.Seed(t, sambaSeed),
		Modules: []modules.Module{samba.New()},
		NewWorld: func(t testing.TB) *fault.World {
			w := newWorld(t)
			return &fault.World{Root: w.root, Runner: w.run, Effects: w.effects, Boot: w.smb.Boot}
		},
	})
}

// TestBrokenAdminConfig: when the admin's smb.conf already fails testparm,
// the error says so instead of blaming the seed.
func TestBrokenAdminConfig(t *testing.T) {
	w := newWorld(t)
	if err := w.root.WriteFile(samba.SmbConf, []byte("[global]\n   server min protocol = SMB9\n"), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	_, err := modules.Apply(context.Background(), samba.New(), w.env(testkit.Seed(t, sambaSeed)))
	if err == nil || !strings.Contains(err.Error(), "the current /etc/samba/smb.conf fails testparm too") {
		t.Fatalf("err = %v", err)
	}
	if _, err := w.root.ReadFile(samba.DropIn); err == nil {
		t.Error("drop-in written")
	}
}

// TestL5ImportVerified: pdbedit -i exits 0 without importing a user NSS
// does not know; the module reads the passdb back and fails instead of
// writing a marker for a user with no password.
func TestL5ImportVerified(t *testing.T) {
	w := newWorld(t)
	w.smb.NSSUnknown = map[string]bool{"alice": true}
	s := &seed.Seed{Version: 1, Samba: &seed.Samba{
		Users:  []seed.SambaUser{{Name: "alice", NTHash: "8846f7eaee8fb117ad06bdd830b7586c"}},
		Shares: []seed.Share{{Name: "media", Path: "/tank/media"}},
	}}
	_, err := modules.Apply(context.Background(), samba.New(), w.env(s))
	if err == nil || !strings.Contains(err.Error(), "no such NT hash in the passdb") {
		t.Fatalf("want the silent import caught, got %v", err)
	}
}

// TestL3AdminGlobalNotOverridden: an AD-member smb.conf is refused, not
// silently turned into a standalone server by Phoenix's include.
func TestL3AdminGlobalNotOverridden(t *testing.T) {
	w := newWorld(t)
	ad := "[global]\n   workgroup = CORP\n   security = ADS\n   realm = CORP.EXAMPLE.COM\n   idmap config * : backend = tdb\n"
	if err := w.root.WriteFile(samba.SmbConf, []byte(ad), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	s := &seed.Seed{Version: 1, Samba: &seed.Samba{Shares: []seed.Share{{Name: "media", Path: "/tank/media"}}}}
	_, err := modules.Apply(context.Background(), samba.New(), w.env(s))
	if err == nil || !strings.Contains(err.Error(), `"security" = "ADS"`) {
		t.Fatalf("want the AD member config refused, got %v", err)
	}
	if b, _ := w.root.ReadFile(samba.SmbConf); string(b) != ad {
		t.Fatalf("smb.conf changed:\n%s", b)
	}
}

// TestL2TrailingBackslash: the renderer refuses a value ending in a
// backslash (the twin of validate's rule); real testparm would otherwise
// join the next line into it.
func TestL2TrailingBackslash(t *testing.T) {
	_, err := samba.Render(&seed.Samba{ServerString: `Lab NAS \`, Shares: []seed.Share{{Name: "media", Path: "/tank/media"}}})
	if err == nil || !strings.Contains(err.Error(), "backslash") {
		t.Fatalf("want a refusal, got %v", err)
	}
	_, err = seed.Load("s.yaml", []byte("version: 1\nsamba:\n  server_string: 'Lab NAS \\'\n  shares: [{name: media, path: /tank/media}]\n"))
	if err == nil || !strings.Contains(err.Error(), "backslash") {
		t.Fatalf("validate: want a refusal, got %v", err)
	}
}

// TestEarlyStage: with Samba installed the module can run before the
// network (modules.Early); there smbd has not started (phoenix-local.service
// is ordered before it), so its start is only queued (--no-block: a
// blocking start would wait for the stage itself) and never reloaded, and
// smbd loads the new configuration when it starts. Without the package the
// module waits for the network stage.
func TestEarlyStage(t *testing.T) {
	ctx := context.Background()
	s := testkit.Seed(t, sambaSeed)
	m := samba.New()
	w := newWorld(t)
	if ok, why := m.Early(ctx, w.env(s)); ok || !strings.Contains(why, "not installed") {
		t.Errorf("Early without samba = %v %q, want false, not installed", ok, why)
	}
	w = newWorld(t)
	w.apt = aptfake.New(samba.Package)
	w.apt.Register(w.run)
	w.smb.Enabled = true // as the package leaves it; not started yet
	// The early stage reads dpkg's status file, not dpkg-query.
	if err := w.apt.WriteStatus(w.root); err != nil {
		t.Fatal(err)
	}
	if err := w.root.WriteFile(samba.SmbdBin, nil, 0o755, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	env := w.env(s)
	if ok, _ := m.Early(ctx, env); !ok {
		t.Fatal("Early with samba installed = false")
	}
	env.EarlyStage = true
	if _, err := modules.Apply(ctx, m, env); err != nil {
		t.Fatal(err)
	}
	log := w.run.Log()
	if strings.Contains(log, "dpkg-query") || strings.Contains(log, "apt-get") {
		t.Errorf("early stage: want no package tool, the status file read in-process:\n%s", log)
	}
	if !strings.Contains(log, "systemctl start --no-block smbd.service\n") || strings.Contains(log, "smbcontrol") || strings.Contains(log, "--now") {
		t.Errorf("early stage: want only a queued start, no reload, no blocking start:\n%s", log)
	}
	if !strings.Contains(w.smb.Effects(), "[media]") {
		t.Errorf("smbd did not start with the new config:\n%s", w.smb.Effects())
	}
	// At boot the start job is queued already (held back by the early
	// unit's Before=): one systemctl show, nothing else, and smbd loads
	// the config when the job runs after the stage.
	w2 := newWorld(t)
	w2.apt = aptfake.New(samba.Package)
	w2.apt.Register(w2.run)
	if err := w2.apt.WriteStatus(w2.root); err != nil {
		t.Fatal(err)
	}
	w2.smb.Enabled, w2.smb.Queued = true, true
	env2 := w2.env(s)
	env2.EarlyStage = true
	res2, err := modules.Apply(ctx, m, env2)
	if err != nil {
		t.Fatal(err)
	}
	// The job was there already: nothing queued, so nothing recorded as
	// changed for the service (a 2026-12-03 VM boot's status.json said
	// "queue the start" though no command ran).
	for _, c := range res2.Changed {
		if strings.Contains(c, "smbd.service") {
			t.Errorf("with the start job queued, recorded as changed: %q", c)
		}
	}
	sys := testkit.Commands(w2.run.Log(), "systemctl ", "smbcontrol ")
	if len(sys) != 1 || sys[0] != "systemctl show -p ActiveState -p UnitFileState -p Job smbd.service" {
		t.Errorf("with the boot's start queued: service commands %q, want only systemctl show", sys)
	}
	if strings.Contains(w2.smb.Effects(), "[media]") {
		t.Error("smbd started before the early stage ended")
	}
	w2.smb.RunQueued()
	if !strings.Contains(w2.smb.Effects(), "[media]") {
		t.Errorf("the queued start did not load the new config:\n%s", w2.smb.Effects())
	}
	// Converged afterwards, in the network stage as in the early one.
	if ch, err := modules.Check(ctx, m, w.env(s)); err != nil || len(ch) != 0 {
		t.Errorf("Check after the early stage: %q %v", ch, err)
	}
}

// TestAlongside: which earlier modules samba runs beside in the early
// stage (modules.Concurrent): it waits for users when it needs their
// accounts or a share lies below /home, and for nfs when a share and an
// export overlap and the directory is still missing (samba would create
// what nfs requires to exist).
func TestAlongside(t *testing.T) {
	const nfsPart = "nfs:\n  exports:\n    - {path: /srv/share, clients: [{host: 10.0.2.0/24}]}\n"
	for name, tc := range map[string]struct {
		seed string
		dirs []string
		want []string
	}{
		"independent":          {nfsPart + "samba:\n  shares:\n    - {name: share, path: /srv/share}\n", []string{"/srv/share"}, []string{"host", "users", "nfs"}},
		"directory missing":    {nfsPart + "samba:\n  shares:\n    - {name: share, path: /srv/share/sub}\n", []string{"/srv/share"}, []string{"host", "users"}},
		"other directory":      {nfsPart + "samba:\n  shares:\n    - {name: other, path: /srv/other}\n", nil, []string{"host", "users", "nfs"}},
		"tdbsam users":         {"users:\n  - {name: alice}\nsamba:\n  users:\n    - {name: alice, nt_hash: 8846f7eaee8fb117ad06bdd830b7586c}\n  shares:\n    - {name: s, path: /srv/s}\n", nil, []string{"host", "nfs"}},
		"owned by a seed user": {"users:\n  - {name: alice}\nsamba:\n  shares:\n    - {name: s, path: /srv/s, owner: alice}\n", nil, []string{"host", "nfs"}},
		"below /home":          {"samba:\n  shares:\n    - {name: s, path: /home/alice/s}\n", nil, []string{"host", "nfs"}},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			for _, d := range tc.dirs {
				if err := w.root.MkdirAll(d, 0o755, host.Owner{}); err != nil {
					t.Fatal(err)
				}
			}
			if got := samba.New().Alongside(context.Background(), w.env(testkit.Seed(t, tc.seed))); !slices.Equal(got, tc.want) {
				t.Errorf("Alongside = %q, want %q", got, tc.want)
			}
		})
	}
}
