package samba

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/modules/internal/svc"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths, commands and names, in one place.
const (
	SmbConf = "/etc/samba/smb.conf"
	// PackagedConf is Debian's default smb.conf. samba-common ships it,
	// and its postinst installs it as SmbConf (samba-common.postinst of
	// Debian 13: `ucf --three-way --debconf-ok /usr/share/samba/smb.conf
	// "$CONFIG"`; Debian 12's first applies the debconf answers for the
	// workgroup and WINS, which are then the only changes).
	PackagedConf = "/usr/share/samba/smb.conf"
	DropIn       = "/etc/samba/phoenix.conf"
	ScratchDir   = "/run/phoenix/samba"
	Package      = "samba"
	Service      = "smbd.service"

	TestparmCmd   = "testparm"
	PdbeditCmd    = "pdbedit"
	SmbpasswdCmd  = "smbpasswd"
	SmbcontrolCmd = "smbcontrol"
	SystemctlCmd  = "systemctl"

	block     = "samba"
	reloadKey = "samba/reload-pending"
)

// Module is the samba module.
type Module struct{}

var _ modules.Module = (*Module)(nil)

// New returns the samba module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "samba" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.Samba != nil }

// SmbdBin is the package's server binary: the early stage's cheap sign
// that samba is installed.
const SmbdBin = "/usr/sbin/smbd"

// Early implements modules.Early: with Samba installed, the module only
// writes files, runs testparm and pdbedit, and queues smbd's start. The
// binary stands for the package (a stat, not a dpkg-query: the early stage
// is on smbd's way to starting); Converge then reads dpkg's status file
// (apt.RequireInstalled), and if the package is not installed after all
// the engine leaves the module to phoenix.service.
func (*Module) Early(_ context.Context, env *modules.Env) (bool, string) {
	if !host.Exists(env.Root, SmbdBin) {
		return false, Package + " is not installed (it comes from the network)"
	}
	return true, ""
}

// Alongside implements modules.Concurrent. samba waits for users when it
// needs their accounts (tdbsam users, a share's owner) or a share lies
// below HomeBase, where useradd creates directories; and for nfs when a
// share and an export overlap and the share's directory is missing:
// samba would create it, and nfs, before it in the order, requires it to
// exist. Over an existing directory samba changes only its owner and
// mode, which nfs does not read (it checks that the export is a directory
// and, on a dataset, mounted).
func (*Module) Alongside(_ context.Context, env *modules.Env) []string {
	s := env.Seed
	along := []string{"host", "users", "nfs"}
	drop := func(name string) { along = slices.DeleteFunc(along, func(n string) bool { return n == name }) }
	if len(s.Samba.Users) > 0 {
		drop("users")
	}
	for _, sh := range s.Samba.Shares {
		if sh.Owner != "" || modules.Overlap(sh.Path, modules.HomeBase) {
			drop("users")
		}
		if s.NFS != nil {
			for _, e := range s.NFS.Exports {
				if modules.Overlap(sh.Path, e.Path) && !isDir(env.Root, sh.Path) {
					drop("nfs")
				}
			}
		}
	}
	return along
}

// Converge implements modules.Module.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	return (&run{Steps: s}).converge(ctx)
}

type run struct {
	*modules.Steps
	configChanged bool
}

func (r *run) cmd(ctx context.Context, c host.Cmd) (string, error) {
	out, err := r.Env.Runner.Run(ctx, c)
	return string(out.Stdout), err
}

func (r *run) converge(ctx context.Context) error {
	sb := r.Env.Seed.Samba
	conf, err := Render(sb)
	if err != nil {
		return err
	}
	a := apt.New(r.Env.Runner)
	var missing []string
	if r.Env.EarlyStage && !r.Dry {
		if err := apt.RequireInstalled(r.Env.Root, Package); err != nil {
			return err
		}
	} else if missing, err = a.Missing(ctx, Package); err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := r.Do("install "+Package, func() error {
			_, err := a.Install(ctx, Package)
			return err
		}); err != nil {
			return err
		}
		if r.Dry {
			r.Changes = append(r.Changes, "write "+DropIn, "include it from "+SmbConf, "users and shares")
			return nil
		}
	}
	if err := r.config(ctx, conf); err != nil {
		return err
	}
	for _, sh := range sb.Shares {
		if r.Env.Seed.ZFS != nil && r.Env.Seed.DatasetAt(sh.Path) == "" {
			r.Notes = append(r.Notes, fmt.Sprintf("share %s (%s) is on no seed dataset (dataset paths come from their mountpoints)", sh.Name, sh.Path))
		}
		if err := r.shareDir(sh); err != nil {
			return err
		}
	}
	if err := r.users(ctx, sb.Users); err != nil {
		return err
	}
	return r.service(ctx)
}

// config validates and installs phoenix.conf and the include block.
func (r *run) config(ctx context.Context, conf string) error {
	smb, err := r.Env.Root.ReadFile(SmbConf)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", SmbConf, err)
	}
	// The admin's part: what smb.conf holds outside Phoenix's block.
	outside, err := host.SetBlock(smb, block, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", SmbConf, err)
	}
	if err := conflicts(outside, r.Env.Seed.Samba); err != nil {
		return err
	}
	include := []byte("include = " + DropIn + "\n")
	old, _ := r.Env.Root.ReadFile(DropIn)
	body, _ := host.GetBlock(smb, block)
	if string(old) == conf && string(body) == string(include) {
		return nil
	}
	r.configChanged = true
	known := knownGood(r.Env.Root, outside, r.Env.Seed.Samba)
	how := " (checked by testparm)"
	if known {
		how = " (no testparm: Debian's default " + SmbConf + " and only Phoenix's own settings)"
	}
	return r.Do("write "+DropIn+" and include it from "+SmbConf+how, func() error {
		candidate, err := host.SetBlock(smb, block, []byte(conf))
		if err != nil {
			return fmt.Errorf("%s: %w", SmbConf, err)
		}
		if !known {
			if err := r.testparm(ctx, candidate); err != nil {
				return err
			}
		}
		// Set before the files change: a crash between here and the
		// reload still reloads on the rerun.
		if err := r.Env.Store.Put(reloadKey, true); err != nil {
			return err
		}
		if _, err := host.WriteIfChanged(r.Env.Root, DropIn, []byte(conf), 0o644, host.Owner{}); err != nil {
			return fmt.Errorf("write %s: %w", DropIn, err)
		}
		if _, err := host.EditBlock(r.Env.Root, SmbConf, block, include, 0o644); err != nil {
			return fmt.Errorf("%s: %w", SmbConf, err)
		}
		return nil
	})
}

// knownGood reports whether testparm's answer on the candidate is known
// before it runs: outside (smb.conf without Phoenix's block) is Debian's
// default smb.conf as samba-common shipped it beside this testparm, or
// there is no smb.conf at all, and the block holds only what Render writes
// from the seed's typed keys, no samba.global. TestKnownGoodTestparm holds
// that case to the real testparm (Debian 12's and 13's default smb.conf,
// and the build machine's, with every typed key at its edges), and
// FuzzRenderSmbConf the free text in it; the e2e guests' checks run
// testparm on what the boot wrote. Anything else (an admin's edit, an extra
// global) is what testparm is for, and it runs. Under emulation testparm
// was a quarter of the early stage's CPU (docs/design-notes.md, "Validators
// whose answer is known").
func knownGood(r host.Root, outside []byte, sb *seed.Samba) bool {
	if len(sb.Global) > 0 {
		return false
	}
	if len(outside) == 0 {
		return true
	}
	packaged, err := r.ReadFile(PackagedConf)
	return err == nil && bytes.Equal(outside, packaged)
}

// testparm runs the real testparm on a candidate config. Unknown or
// invalid parameters, which testparm only warns about, fail too.
func (r *run) testparm(ctx context.Context, candidate []byte) error {
	if err := r.Env.Root.MkdirAll(ScratchDir, 0o700, host.Owner{}); err != nil {
		return err
	}
	p := path.Join(ScratchDir, "candidate.conf")
	if err := r.Env.Root.WriteFile(p, candidate, 0o600, host.Owner{}); err != nil {
		return err
	}
	defer r.Env.Root.Remove(p)
	out, err := r.Env.Runner.Run(ctx, host.Cmd{Name: TestparmCmd, Args: []string{"-s", r.Env.CmdPath(p)}})
	var bad []string
	for _, line := range strings.Split(string(out.Stderr), "\n") {
		if strings.Contains(line, "Unknown parameter encountered") || strings.Contains(line, "Ignoring") || strings.Contains(line, "Error loading") {
			bad = append(bad, strings.TrimSpace(line))
		}
	}
	if err != nil || len(bad) > 0 {
		msg := strings.Join(bad, "; ")
		if err != nil {
			msg = err.Error()
		}
		if host.Exists(r.Env.Root, SmbConf) && !r.passes(ctx, r.Env.CmdPath(SmbConf)) {
			msg += " (the current " + SmbConf + " fails testparm too: fix it first)"
		}
		return fmt.Errorf("testparm rejected the new configuration (nothing was changed): %s", msg)
	}
	return nil
}

// passes reports whether testparm accepts a config file as it is.
func (r *run) passes(ctx context.Context, file string) bool {
	_, err := r.Env.Runner.Run(ctx, host.Cmd{Name: TestparmCmd, Args: []string{"-s", file}})
	return err == nil
}

// conflicts refuses seed shares that the admin's part of smb.conf
// (outside Phoenix's block) defines too: Samba would merge the two
// sections.
func conflicts(outside []byte, sb *seed.Samba) error {
	defined := map[string]bool{}
	for _, line := range strings.Split(string(outside), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			defined[strings.ToLower(strings.TrimSpace(t[1:len(t)-1]))] = true
		}
	}
	for _, sh := range sb.Shares {
		if defined[strings.ToLower(sh.Name)] {
			return fmt.Errorf("share %q: %s defines [%s] already; rename the share or remove it there", sh.Name, SmbConf, sh.Name)
		}
	}
	return globalConflicts(outside)
}

// globalConflicts refuses an admin's [global] that makes a different kind
// of server than the standalone one Phoenix's include configures: Phoenix's
// file is included last, so its "server role = standalone server" and
// "passdb backend = tdbsam" would silently win over an AD or domain member
// setup (security review L3). Settings that agree (Debian's default
// smb.conf has the same role and backend) are fine.
func globalConflicts(smb []byte) error {
	want := map[string]func(string) bool{
		"security":       func(v string) bool { return v == "user" || v == "auto" },
		"server role":    func(v string) bool { return strings.HasPrefix(v, "standalone") || v == "auto" },
		"passdb backend": func(v string) bool { return v == "tdbsam" || strings.HasPrefix(v, "tdbsam:") },
		"realm":          func(string) bool { return false },
	}
	inGlobal := false
	for _, line := range joinContinued(string(smb)) {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if strings.HasPrefix(t, "[") {
			inGlobal = strings.EqualFold(strings.TrimSpace(strings.Trim(t, "[]")), "global")
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !inGlobal || !ok {
			continue
		}
		key := strings.ToLower(strings.Join(strings.Fields(k), " "))
		val := strings.ToLower(strings.Join(strings.Fields(v), " "))
		if ok, known := want[key]; known && !ok(val) || strings.HasPrefix(key, "idmap config") {
			return fmt.Errorf("%s [global] sets %q = %q: that is not the standalone tdbsam server Phoenix's samba section makes, and Phoenix's include would override it; remove the samba section from the seed, or the setting from %s", SmbConf, key, strings.TrimSpace(v), SmbConf)
		}
	}
	return nil
}

// joinContinued joins smb.conf lines ending in a backslash with the next
// one, as Samba's parser (lib/util/params.c) does.
func joinContinued(s string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimSuffix(l, `\`)
			continue
		}
		out = append(out, cur+l)
		cur = ""
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// shareDir creates a share's directory if needed and gives it the seed's
// owner and mode.
func (r *run) shareDir(sh seed.Share) error {
	if _, err := r.Env.Root.Stat(sh.Path); errors.Is(err, fs.ErrNotExist) {
		if err := r.Do("create share directory "+sh.Path, func() error {
			return r.Env.Root.MkdirAll(sh.Path, 0o755, host.Owner{})
		}); err != nil {
			return fmt.Errorf("share %q: %w", sh.Name, err)
		}
	}
	if err := files.ApplyOwnerMode(r.Env.Root, sh.Path, sh.Owner, sh.Mode, r.Dry, r.Do); err != nil {
		return fmt.Errorf("share %q: %w", sh.Name, err)
	}
	return nil
}

// passdb reads `pdbedit -L -w`: user -> NT hash.
func (r *run) passdb(ctx context.Context) (map[string]string, error) {
	out, err := r.cmd(ctx, host.Cmd{Name: PdbeditCmd, Args: []string{"-L", "-w"}})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 {
			m[f[0]] = strings.ToUpper(f[3])
		}
	}
	return m, nil
}

func (r *run) users(ctx context.Context, users []seed.SambaUser) error {
	if len(users) == 0 {
		return nil
	}
	have, err := r.passdb(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := r.user(ctx, u, have); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) user(ctx context.Context, u seed.SambaUser, have map[string]string) error {
	// The twin of validate's rule (seed.SystemAccount): an existing
	// account with a system UID gets no Samba password unless the seed
	// says system: true for it.
	if o, err := files.LookupOwner(r.Env.Root, u.Name); err == nil && seed.SystemUID(o.UID) && !r.Env.Seed.SystemAllowed(u.Name) {
		return fmt.Errorf("user %q: UID %d is a system account: set system: true on users[] %s if Phoenix should give it a Samba password", u.Name, o.UID, u.Name)
	}
	cur, exists := have[u.Name]
	switch {
	case u.PasswordFile != "":
		pw, err := r.readSecret(u.PasswordFile)
		if errors.Is(err, fs.ErrNotExist) && exists && !strings.HasPrefix(u.PasswordFile, "/") {
			// The bundle's plaintext copy is removed once the seed
			// completed (cmd/phoenix scrubBundle); the password was set.
			return nil
		}
		if err != nil {
			return fmt.Errorf("user %q: password file: %w", u.Name, unwrapPath(err))
		}
		password := strings.TrimRight(string(pw), "\r\n")
		if strings.ContainsAny(password, "\n\x00") || password == "" {
			return fmt.Errorf("user %q: password file %s must hold one non-empty line", u.Name, u.PasswordFile)
		}
		if exists && cur == NTHash(password) {
			return nil
		}
		return r.Do(fmt.Sprintf("set Samba password of %s (smbpasswd, on stdin)", u.Name), func() error {
			// Twice: smbpasswd -s reads the new password and its
			// confirmation. Bytes on stdin are never expanded by anything.
			stdin := []byte(password + "\n" + password + "\n")
			if _, err := r.cmd(ctx, host.Cmd{Name: SmbpasswdCmd, Args: []string{"-a", "-s", u.Name}, Stdin: stdin}); err != nil {
				return fmt.Errorf("user %q: smbpasswd: %w", u.Name, err)
			}
			return nil
		})
	case u.NTHash != "":
		want := strings.ToUpper(u.NTHash)
		if len(want) != 32 || strings.Trim(want, "0123456789ABCDEF") != "" {
			return fmt.Errorf("user %q: nt_hash is not 32 hex digits", u.Name)
		}
		if exists && cur == want {
			return nil
		}
		return r.Do(fmt.Sprintf("set Samba NT hash of %s (pdbedit import)", u.Name), func() error {
			return r.importHash(ctx, u.Name, want)
		})
	}
	return fmt.Errorf("user %q: give nt_hash or password_file", u.Name)
}

// importHash puts an NT hash into the passdb through a 0600 smbpasswd file
// on tmpfs, removed right after: pdbedit takes a hash only as an argument
// otherwise, and `-i smbpasswd:/dev/stdin` imports nothing (Samba 4.17,
// exit 0). An import over an existing entry updates it.
func (r *run) importHash(ctx context.Context, name, hash string) error {
	o, err := files.LookupOwner(r.Env.Root, name)
	if err != nil {
		return fmt.Errorf("user %q: %w (create the Unix user first)", name, err)
	}
	if err := r.Env.Root.MkdirAll(ScratchDir, 0o700, host.Owner{}); err != nil {
		return err
	}
	p := path.Join(ScratchDir, "import.smbpasswd")
	line := fmt.Sprintf("%s:%d:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:%s:[U          ]:LCT-00000000:\n", name, o.UID, hash)
	if err := r.Env.Root.WriteFile(p, []byte(line), 0o600, host.Owner{}); err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	defer r.Env.Root.Remove(p)
	if _, err := r.cmd(ctx, host.Cmd{Name: PdbeditCmd, Args: []string{"-i", "smbpasswd:" + r.Env.CmdPath(p), "-e", "tdbsam"}}); err != nil {
		return fmt.Errorf("user %q: pdbedit import: %w", name, err)
	}
	// pdbedit -i exits 0 even when it imported nothing (a user NSS does
	// not know: only -d 3 says "smbpasswd database is corrupt!"), so read
	// the passdb back before the marker says the password is set.
	have, err := r.passdb(ctx)
	if err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	if have[name] != hash {
		return fmt.Errorf("user %q: pdbedit -i exited 0 but the user has no such NT hash in the passdb afterwards (is the Unix user known to NSS?)", name)
	}
	return nil
}

// readSecret reads a password file: an absolute path on the host (through
// the Root), or a path relative to the seed volume's bundle.
func (r *run) readSecret(p string) ([]byte, error) {
	if strings.HasPrefix(p, "/") {
		return r.Env.Root.ReadFile(p)
	}
	if r.Env.Bundle == "" || !filepath.IsLocal(p) {
		return nil, fmt.Errorf("%s: not an absolute path, and no seed volume file of that name", p)
	}
	return os.ReadFile(filepath.Join(r.Env.Bundle, p))
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// service makes sure smbd runs the new configuration: started if it was
// not, reloaded if the configuration changed. In the early stage smbd has
// not started yet (phoenix-local.service is ordered before it): its start
// is only queued, and it reads the new configuration when it starts.
func (r *run) service(ctx context.Context) error {
	pending := false
	if _, err := r.Env.Store.Get(reloadKey, &pending); err != nil {
		return err
	}
	if r.Dry && r.configChanged {
		pending = true
	}
	if r.Env.EarlyStage {
		// svc.Early reads the state without a process and, at boot,
		// without waiting for PID 1: each is on smbd's way to starting.
		st, err := svc.Early(ctx, r.Env.Root, r.Env.Runner, Service, nil)
		if err != nil {
			return err
		}
		if !st.Running() {
			if svc.StartQueued(st) {
				r.Say(Service + " starts after the early stage (" + svc.StartJob(st) + ") with the new configuration")
				return r.Env.Store.Delete(reloadKey)
			}
			return r.Do("queue the start of "+Service+" (it loads the new configuration when it starts, after the early stage)", func() error {
				if err := svc.QueueStart(ctx, r.Env.Runner, Service, st); err != nil {
					return err
				}
				return r.Env.Store.Delete(reloadKey)
			})
		}
	}
	_, err := r.cmd(ctx, host.Cmd{Name: SystemctlCmd, Args: []string{"is-enabled", "--quiet", Service}})
	enabled := err == nil
	_, err = r.cmd(ctx, host.Cmd{Name: SystemctlCmd, Args: []string{"is-active", "--quiet", Service}})
	active := err == nil
	up := enabled && active
	switch {
	case !up:
		return r.Do("enable and start "+Service, func() error {
			if _, err := r.cmd(ctx, host.Cmd{Name: SystemctlCmd, Args: []string{"enable", "--now", Service}}); err != nil {
				return fmt.Errorf("start smbd: %w", err)
			}
			if _, err := r.cmd(ctx, host.Cmd{Name: SmbcontrolCmd, Args: []string{"smbd", "reload-config"}}); err != nil {
				return fmt.Errorf("reload smbd: %w", err)
			}
			return r.Env.Store.Delete(reloadKey)
		})
	case pending:
		return r.Do("reload smbd", func() error {
			if _, err := r.cmd(ctx, host.Cmd{Name: SmbcontrolCmd, Args: []string{"smbd", "reload-config"}}); err != nil {
				return fmt.Errorf("reload smbd: %w", err)
			}
			return r.Env.Store.Delete(reloadKey)
		})
	}
	return nil
}

// isDir reports whether p is a directory in root.
func isDir(root host.Root, p string) bool {
	fi, err := root.Stat(p)
	return err == nil && fi.IsDir()
}
