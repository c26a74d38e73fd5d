// Package fake is a stateful fake of Proxmox's pveum for the subcommands
// Phoenix uses: `user list --output-format json`, `user add USERID`,
// `acl list --output-format json`, `role list --output-format json` and
// `acl modify PATH --users U --roles R`. Every call is checked against
// Proxmox's published contract first (modules/internal/pvecontract); the
// built-in roles and privileges of PVE 8 and 9 come from
// pve-access-control (roles.go). It follows pveum's JSON output fields and its behaviour on errors:
// the message on stderr and exit status 255 (a Perl die in the PVE CLI).
//
// The state is a JSON file in a directory, so the same fake serves as a
// fakehost handler in-process and as a `pveum` command on PATH in
// testscript (Main reads the directory from $FAKE_STATE).
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/pvecontract"
)

// User is one entry of `pveum user list --output-format json`.
type User struct {
	UserID    string `json:"userid"`
	Enable    int    `json:"enable"`
	Expire    int    `json:"expire"`
	RealmType string `json:"realm-type"`
}

// ACL is one entry of `pveum acl list --output-format json`.
type ACL struct {
	Path      string `json:"path"`
	RoleID    string `json:"roleid"`
	Type      string `json:"type"`
	UGID      string `json:"ugid"`
	Propagate int    `json:"propagate"`
}

// State is the fake's user.cfg.
type State struct {
	Users []User `json:"users"`
	ACL   []ACL  `json:"acl"`
}

// Role is one entry of `pveum role list --output-format json`
// (pve-access-control src/PVE/API2/Role.pm:41-67).
type Role struct {
	RoleID  string `json:"roleid"`
	Privs   string `json:"privs"`
	Special int    `json:"special"`
}

// Roles lists the built-in roles of PVE major (8 or 9).
func Roles(major int) []string {
	var out []string
	for r := range builtin[major].Roles {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// PVE is the fake over a state directory.
type PVE struct {
	Dir string
	// Major is the PVE major whose built-in roles exist (default 9).
	Major int
	mu    sync.Mutex
}

func (p *PVE) major() int {
	if p.Major == 0 {
		return 9
	}
	return p.Major
}

// New returns a fake keeping its state in dir, seeded like a fresh
// install (root@pam, Administrator on /).
func New(dir string) *PVE {
	p := &PVE{Dir: dir}
	if _, err := os.Stat(p.file()); errors.Is(err, fs.ErrNotExist) {
		_ = p.save(State{Users: []User{{UserID: "root@pam", Enable: 1, RealmType: "pam"}}})
	}
	return p
}

func (p *PVE) file() string { return filepath.Join(p.Dir, "pveum.json") }

// Load returns the current state.
func (p *PVE) Load() (State, error) {
	var s State
	err := fakehost.LoadState(p.file(), &s)
	return s, err
}

func (p *PVE) save(s State) error { return fakehost.SaveState(p.file(), s) }

// Dump is the canonical state for fault tests.
func (p *PVE) Dump() string {
	s, _ := p.Load()
	b, _ := json.Marshal(s)
	return string(b)
}

// Handler is the fakehost handler for "pveum".
func (p *PVE) Handler(_ context.Context, c fakehost.Call) fakehost.Result {
	out, errOut, code := p.run(c.Cmd.Args)
	return fakehost.Result{Stdout: out, Stderr: errOut, Code: code}
}

func (p *PVE) run(args []string) (string, string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Every call is checked against Proxmox's published contract first.
	call, err := pvecontract.CheckStrict("pveum", args)
	if err != nil {
		var ce *pvecontract.Error
		if errors.As(err, &ce) {
			return "", ce.Msg, ce.Code
		}
		return "", err.Error() + "\n", 255
	}
	s, err := p.Load()
	if err != nil {
		return "", err.Error() + "\n", 255
	}
	die := func(format string, a ...any) (string, string, int) {
		return "", fmt.Sprintf(format, a...) + "\n", 255
	}
	opts := call.Params
	jsonOut := func(v any) (string, string, int) {
		if opts["output-format"] != "json" {
			return die("pveum (fake): only --output-format json is modelled")
		}
		b, _ := json.Marshal(v)
		return string(b) + "\n", "", 0
	}
	roles := builtin[p.major()].Roles
	switch call.Command {
	case "user list":
		return jsonOut(s.Users)
	case "acl list":
		return jsonOut(s.ACL)
	case "role list":
		var out []Role
		for _, r := range Roles(p.major()) {
			out = append(out, Role{RoleID: r, Privs: strings.Join(roles[r], ","), Special: 1})
		}
		return jsonOut(out)
	case "user add":
		id := opts["userid"]
		_, realm, _ := strings.Cut(id, "@")
		// API2/User.pm:325-363 (create_user): only a duplicate is refused
		// here; the realm is not looked up unless a password is set.
		for _, u := range s.Users {
			if u.UserID == id {
				return die("create user failed: user '%s' already exists", id)
			}
		}
		s.Users = append(s.Users, User{UserID: id, Enable: 1, RealmType: realm})
		sort.Slice(s.Users, func(i, j int) bool { return s.Users[i].UserID < s.Users[j].UserID })
	case "acl modify":
		path := opts["path"]
		if !strings.HasPrefix(path, "/") {
			// API2/ACL.pm:163-166: check_path (AccessControl.pm:1281);
			// only its leading "/" is modelled.
			return die("400 Parameter verification failed.\npath: invalid ACL path '%s'\n%s", path, pvecontract.MustLoad().Tools["pveum"].Commands["acl modify"].Usage)
		}
		// pve-access-control src/PVE/API2/ACL.pm:183-187: every role must
		// exist, before anything changes.
		for _, r := range splitList(opts["roles"]) {
			if _, ok := roles[r]; !ok {
				return die("role '%s' does not exist", r)
			}
		}
		for _, u := range splitList(opts["users"]) {
			found := false
			for _, x := range s.Users {
				found = found || x.UserID == u
			}
			if !found {
				// API2/ACL.pm:239.
				return die("user '%s' does not exist", u)
			}
		}
		for _, u := range splitList(opts["users"]) {
			for _, r := range splitList(opts["roles"]) {
				dup := false
				for _, a := range s.ACL {
					dup = dup || (a.Path == path && a.UGID == u && a.RoleID == r && a.Type == "user")
				}
				if !dup {
					s.ACL = append(s.ACL, ACL{Path: path, RoleID: r, Type: "user", UGID: u, Propagate: 1})
				}
			}
		}
	default:
		return die("pveum (fake): command '%s' is not modelled", call.Command)
	}
	if err := p.save(s); err != nil {
		return die("%v", err)
	}
	return "", "", 0
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

// Main runs the fake as a command: pveum ARGS..., state in $FAKE_STATE.
func Main(args []string, stdout, stderr io.Writer) int {
	dir := os.Getenv("FAKE_STATE")
	if dir == "" {
		fmt.Fprintln(stderr, "fake pveum: FAKE_STATE is not set")
		return 2
	}
	out, errOut, code := New(dir).run(args)
	io.WriteString(stdout, out)
	io.WriteString(stderr, errOut)
	return code
}
