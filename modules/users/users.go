package users

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths the module reads and writes (in-root).
const (
	Passwd     = "/etc/passwd"
	Shadow     = "/etc/shadow"
	Group      = "/etc/group"
	Sudoers    = "/etc/sudoers"
	SudoersDir = "/etc/sudoers.d"
)

// Module is the users module.
type Module struct{}

var _ modules.Module = (*Module)(nil)

// New returns the users module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "users" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && len(s.Users) > 0 }

// Early implements modules.Early: accounts, sudo rules and keys are files
// and local tools (useradd, visudo); only Proxmox users need pveum, and
// with it pve-cluster, which is after the network.
func (*Module) Early(_ context.Context, env *modules.Env) (bool, string) {
	for _, u := range env.Seed.Users {
		if u.Proxmox != nil {
			return false, u.Name + " is a Proxmox user (pveum needs pve-cluster)"
		}
	}
	return true, ""
}

// Alongside implements modules.Concurrent: the host module's files (the
// host name, /etc/hosts, the time zone) are nothing useradd, visudo or the
// authorized keys read.
func (*Module) Alongside(context.Context, *modules.Env) []string { return []string{"host"} }

// account is one /etc/passwd entry.
type account struct {
	Name        string
	UID, GID    int
	Home, Shell string
}

// db is the account databases as read from the root.
type db struct {
	users  map[string]account
	groups map[string][]string // group -> members
	hashes map[string]string   // user -> shadow hash (never logged)
}

func readDB(r host.Root) (*db, error) {
	d := &db{users: map[string]account{}, groups: map[string][]string{}, hashes: map[string]string{}}
	for _, f := range []struct {
		path string
		fn   func([]string)
	}{
		{Passwd, func(f []string) {
			if len(f) >= 7 {
				uid, _ := strconv.Atoi(f[2])
				gid, _ := strconv.Atoi(f[3])
				d.users[f[0]] = account{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6]}
			}
		}},
		{Group, func(f []string) {
			if len(f) >= 4 {
				var members []string
				if f[3] != "" {
					members = strings.Split(f[3], ",")
				}
				d.groups[f[0]] = members
			}
		}},
		{Shadow, func(f []string) {
			if len(f) >= 2 {
				d.hashes[f[0]] = f[1]
			}
		}},
	} {
		b, err := r.ReadFile(f.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && f.path == Shadow {
				continue
			}
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				f.fn(strings.Split(line, ":"))
			}
		}
	}
	return d, nil
}

func member(d *db, group, user string) bool {
	for _, m := range d.groups[group] {
		if m == user {
			return true
		}
	}
	return false
}

// keyID is the identity of an authorized_keys line: key type and blob,
// without options or comment, so the same key is never added twice.
func keyID(line string) (string, error) {
	line = strings.TrimSpace(line)
	if strings.ContainsAny(line, "\n\r") {
		return "", errors.New("an SSH key is one line")
	}
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		t := f[i]
		if strings.HasPrefix(t, "ssh-") || strings.HasPrefix(t, "ecdsa-sha2-") || strings.HasPrefix(t, "sk-") {
			blob, err := base64.StdEncoding.DecodeString(f[i+1])
			if err != nil || len(blob) < 4 {
				return "", fmt.Errorf("key of type %s has a bad base64 blob", t)
			}
			// The blob starts with its own type, length-prefixed.
			n := int(blob[0])<<24 | int(blob[1])<<16 | int(blob[2])<<8 | int(blob[3])
			if 4+n > len(blob) || string(blob[4:4+n]) != t {
				return "", fmt.Errorf("key blob is not a %s key", t)
			}
			return t + " " + f[i+1], nil
		}
	}
	return "", errors.New("not an SSH public key line (type base64 [comment])")
}

// step is one change to a user: what Check reports (never a secret) and
// how Apply makes it.
type step struct {
	what string
	do   func(ctx context.Context) error
}

// rootArgs makes the shadow tools work on the Root when it is not "/" and
// they run outside it.
func rootArgs(env *modules.Env) []string {
	if dir := env.CmdPath("/"); dir != "/" {
		return []string{"--root", dir}
	}
	return nil
}

func (m *Module) plan(ctx context.Context, env *modules.Env) ([]step, error) {
	d, err := readDB(env.Root)
	if err != nil {
		return nil, err
	}
	var steps []step
	var pve *pveState
	run := func(name string, args []string, stdin []byte) error {
		_, err := env.Runner.Run(ctx, host.Cmd{Name: name, Args: args, Stdin: stdin, Timeout: 2 * time.Minute})
		return err
	}
	// The seed's own rules (one home: seed/users.go), for a seed built in
	// Go rather than loaded; `phoenix validate` reports the same first.
	if err := env.Seed.SectionErr("users"); err != nil {
		return nil, err
	}
	for _, u := range env.Seed.Users {
		for _, g := range u.Groups {
			if _, ok := d.groups[g]; !ok {
				return nil, fmt.Errorf("%s: group %q does not exist (create it, or install the package that does)", u.Name, g)
			}
		}
		u := u
		acct, exists := d.users[u.Name]
		// The twin of validate's rule (seed.SystemAccount): an existing
		// account with a system UID is only managed when the seed says so.
		if exists && seed.SystemUID(acct.UID) && !u.System {
			return nil, fmt.Errorf("%s is a system account (uid %d): set system: true on it to let Phoenix manage it", u.Name, acct.UID)
		}
		if !exists {
			args := append(rootArgs(env), "--create-home", "--user-group")
			if u.Shell != "" {
				args = append(args, "--shell", u.Shell)
			}
			if len(u.Groups) > 0 {
				args = append(args, "--groups", strings.Join(u.Groups, ","))
			}
			args = append(args, "--", u.Name)
			steps = append(steps, step{u.Name + ": create account", func(context.Context) error {
				return run("useradd", args, nil)
			}})
		} else {
			if u.Shell != "" && acct.Shell != u.Shell {
				steps = append(steps, step{u.Name + ": shell " + u.Shell, func(context.Context) error {
					return run("usermod", append(rootArgs(env), "--shell", u.Shell, "--", u.Name), nil)
				}})
			}
			var missing []string
			for _, g := range u.Groups {
				if !member(d, g, u.Name) {
					missing = append(missing, g)
				}
			}
			if len(missing) > 0 {
				steps = append(steps, step{u.Name + ": add to groups " + strings.Join(missing, ","), func(context.Context) error {
					return run("usermod", append(rootArgs(env), "--append", "--groups", strings.Join(missing, ","), "--", u.Name), nil)
				}})
			}
		}
		if u.PasswordHash != "" && d.hashes[u.Name] != u.PasswordHash {
			steps = append(steps, step{u.Name + ": set password hash", func(context.Context) error {
				// The hash goes on stdin only; an error never carries it.
				err := run("chpasswd", append(rootArgs(env), "--encrypted"), []byte(u.Name+":"+u.PasswordHash+"\n"))
				if err != nil {
					return host.NewRedactor(u.PasswordHash).Error(err)
				}
				return nil
			}})
		}
		sudoSteps, err := m.sudo(env, u)
		if err != nil {
			return nil, err
		}
		steps = append(steps, sudoSteps...)
		keySteps, err := m.keys(env, u, exists, acct)
		if err != nil {
			return nil, err
		}
		steps = append(steps, keySteps...)
		if u.Proxmox != nil {
			if pve == nil {
				if pve, err = readPVE(ctx, env.Runner); err != nil {
					return nil, err
				}
			}
			if err := pve.checkRole(u); err != nil {
				return nil, err
			}
			steps = append(steps, pve.steps(u, run)...)
		}
	}
	return steps, nil
}

// sudoFile is where a user's sudo rule lives. sudo skips files whose name
// contains a '.', so a '.' in the user name becomes '_'.
func sudoFile(name string) string {
	return path.Join(SudoersDir, "phoenix-"+strings.ReplaceAll(name, ".", "_"))
}

// sudoRule is the sudoers.d file for a user's sudo setting (password or
// nopasswd).
func sudoRule(name, sudo string) []byte {
	rule := "ALL=(ALL:ALL) ALL"
	if sudo == "nopasswd" {
		rule = "ALL=(ALL:ALL) NOPASSWD: ALL"
	}
	return []byte("# Managed by phoenix (seed users[].sudo); edits are overwritten.\n" + name + " " + rule + "\n")
}

func (m *Module) sudo(env *modules.Env, u seed.User) ([]step, error) {
	final := sudoFile(u.Name)
	want := files.File{Path: final, Absent: true}
	if u.Sudo != "" {
		want = files.File{Path: final, Mode: 0o440, Data: sudoRule(u.Name, u.Sudo)}
	}
	tmp := final + ".phoenix-new"
	pending, err := want.Pending(env.Root)
	if err != nil {
		return nil, err
	}
	if !pending {
		if host.Exists(env.Root, tmp) {
			// Left by an earlier Phoenix, which had visudo check the
			// rule under this name first, crashing before the install.
			return []step{{u.Name + ": remove leftover " + tmp, func(context.Context) error {
				return env.Root.Remove(tmp)
			}}}, nil
		}
		return nil, nil
	}
	if want.Absent {
		return []step{{u.Name + ": remove sudo rule " + final, func(context.Context) error {
			_, err := want.Apply(env.Root)
			return err
		}}}, nil
	}
	return []step{{u.Name + ": sudo " + u.Sudo + " in " + final, func(context.Context) error {
		// No visudo here: the rule is one of sudoRule's two fixed lines
		// around a name from the seed's user-name grammar, and
		// FuzzRenderSudoers holds every name validation lets through to
		// the real sudo parser (visudo -c, and -x reading it back as one
		// rule for that user). visudo took 0.4 s of the early stage
		// under emulation for an answer known in advance
		// (docs/design-notes.md, "Validators whose answer is known").
		// WriteFile installs it by rename from a temporary name with a
		// '.', which sudo ignores (sudoers(5), #includedir).
		_, err := want.Apply(env.Root)
		return err
	}}}, nil
}

func (m *Module) keys(env *modules.Env, u seed.User, exists bool, acct account) ([]step, error) {
	if len(u.SSHAuthorizedKeys) == 0 {
		return nil, nil
	}
	if !exists {
		// Home and ids are known once useradd has run: the step reads them
		// then.
		return []step{{u.Name + ": install SSH keys", func(context.Context) error {
			d, err := readDB(env.Root)
			if err != nil {
				return err
			}
			a, ok := d.users[u.Name]
			if !ok {
				return fmt.Errorf("account not found after useradd")
			}
			kf, err := keyFiles(env.Root, u, a)
			if err != nil {
				return err
			}
			for _, f := range kf {
				if _, err := f.Apply(env.Root); err != nil {
					return err
				}
			}
			return nil
		}}}, nil
	}
	var out []step
	kf, err := keyFiles(env.Root, u, acct)
	if err != nil {
		return nil, err
	}
	for _, f := range kf {
		f := f
		pending, err := f.Pending(env.Root)
		if err != nil {
			return nil, err
		}
		if pending {
			out = append(out, step{u.Name + ": " + f.String(), func(context.Context) error {
				_, err := f.Apply(env.Root)
				return err
			}})
		}
	}
	return out, nil
}

// keyFiles are ~/.ssh and authorized_keys with the seed's keys merged in.
func keyFiles(r host.Root, u seed.User, a account) ([]files.File, error) {
	owner := host.Owner{UID: a.UID, GID: a.GID}
	dir := path.Join(a.Home, ".ssh")
	ak := path.Join(dir, "authorized_keys")
	// The user controls home, ~/.ssh and the file: never read through a
	// symlink, a FIFO or someone else's file (security review H1).
	old, err := host.ReadOwned(r, ak, owner, a.Home, dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", u.Name, err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		if id, err := keyID(l); err == nil {
			have[id] = true
		}
	}
	data := append([]byte{}, old...)
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
		data = append(data, '\n')
	}
	var added int
	for _, k := range u.SSHAuthorizedKeys {
		id, _ := keyID(k)
		if !have[id] {
			have[id] = true
			data = append(data, strings.TrimSpace(k)+"\n"...)
			added++
		}
	}
	return []files.File{
		{Path: a.Home, Dir: true, Mode: 0o750, Owner: owner, IfMissing: true, Why: "home directory"},
		{Path: dir, Dir: true, Mode: 0o700, Owner: owner, Why: "~/.ssh"},
		{Path: ak, Data: data, Mode: 0o600, Owner: owner, Why: fmt.Sprintf("%d SSH keys added", added)},
	}, nil
}

// Converge implements modules.Module.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	env := s.Env
	steps, err := m.plan(ctx, env)
	if err != nil {
		return err
	}
	for _, st := range steps {
		s.Say("users: " + st.what)
		if err := s.DoQuiet(st.what, func() error { return st.do(ctx) }); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	if s.Dry {
		return nil
	}
	if b, err := env.Root.ReadFile(Sudoers); err == nil && !includesDir(b) {
		s.Note("/etc/sudoers has no @includedir /etc/sudoers.d: Phoenix's sudo rules are inactive (Phoenix never edits /etc/sudoers)")
	}
	return nil
}

func includesDir(b []byte) bool {
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && (f[0] == "@includedir" || f[0] == "#includedir") && strings.TrimSuffix(f[1], "/") == SudoersDir {
			return true
		}
	}
	return false
}

// pveState is what pveum lists.
type pveState struct {
	users map[string]bool
	acl   map[string]bool // path|ugid|role
	roles []string        // what this host's PVE has, built-in and custom
}

// pveUser and pveACL are the fields of `pveum ... --output-format json`
// that Phoenix reads.
type pveUser struct {
	UserID string `json:"userid"`
}

type pveACL struct {
	Path   string `json:"path"`
	RoleID string `json:"roleid"`
	Type   string `json:"type"`
	UGID   string `json:"ugid"`
}

func readPVE(ctx context.Context, r host.Runner) (*pveState, error) {
	st := &pveState{users: map[string]bool{}, acl: map[string]bool{}}
	out, err := r.Run(ctx, host.Cmd{Name: "pveum", Args: []string{"user", "list", "--output-format", "json"}, Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	var users []pveUser
	if err := json.Unmarshal(out.Stdout, &users); err != nil {
		return nil, fmt.Errorf("pveum user list: %w", err)
	}
	for _, u := range users {
		st.users[u.UserID] = true
	}
	out, err = r.Run(ctx, host.Cmd{Name: "pveum", Args: []string{"acl", "list", "--output-format", "json"}, Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	var acl []pveACL
	if err := json.Unmarshal(out.Stdout, &acl); err != nil {
		return nil, fmt.Errorf("pveum acl list: %w", err)
	}
	for _, a := range acl {
		if a.Type == "user" {
			st.acl[a.Path+"|"+a.UGID+"|"+a.RoleID] = true
		}
	}
	// The roles of the running PVE: names differ between versions (and
	// privileges: PVE 9 dropped VM.Monitor), so a role is checked against
	// what this host has, before any change (pveum acl modify would die
	// "role 'X' does not exist", pve-access-control API2/ACL.pm:183-187,
	// after the account was already made).
	out, err = r.Run(ctx, host.Cmd{Name: "pveum", Args: []string{"role", "list", "--output-format", "json"}, Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	var roles []struct {
		RoleID string `json:"roleid"`
	}
	if err := json.Unmarshal(out.Stdout, &roles); err != nil {
		return nil, fmt.Errorf("pveum role list: %w", err)
	}
	for _, ro := range roles {
		st.roles = append(st.roles, ro.RoleID)
	}
	return st, nil
}

// checkRole reports a role this host does not have.
func (st *pveState) checkRole(u seed.User) error {
	if slices.Contains(st.roles, u.Proxmox.Role) {
		return nil
	}
	return fmt.Errorf("%s: Proxmox role %q does not exist on this host (it has %s); nothing was changed", u.Name, u.Proxmox.Role, strings.Join(st.roles, ", "))
}

func (st *pveState) steps(u seed.User, run func(string, []string, []byte) error) []step {
	realm := u.Proxmox.Realm
	if realm == "" {
		realm = "pam"
	}
	acl := u.Proxmox.Path
	if acl == "" {
		acl = "/"
	}
	id := u.Name + "@" + realm
	var out []step
	if !st.users[id] {
		out = append(out, step{"proxmox user " + id, func(context.Context) error {
			return run("pveum", []string{"user", "add", id}, nil)
		}})
	}
	if !st.acl[acl+"|"+id+"|"+u.Proxmox.Role] {
		out = append(out, step{"proxmox role " + u.Proxmox.Role + " on " + acl + " for " + id, func(context.Context) error {
			return run("pveum", []string{"acl", "modify", acl, "--users", id, "--roles", u.Proxmox.Role}, nil)
		}})
	}
	return out
}
