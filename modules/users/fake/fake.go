// Package fake is a stateful fake of Proxmox's pveum for the subcommands
// Phoenix uses: `user list --output-format json`, `user add USERID`,
// `acl list --output-format json` and `acl modify PATH --users U --roles
// R`. It follows pveum's JSON output fields and its behaviour on errors:
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

// Roles are the built-in roles of PVE 8/9.
var Roles = []string{"Administrator", "NoAccess", "PVEAdmin", "PVEAuditor", "PVEDatastoreAdmin", "PVEDatastoreUser",
	"PVEMappingAdmin", "PVEMappingUser", "PVEPoolAdmin", "PVEPoolUser", "PVESDNAdmin", "PVESDNUser", "PVESysAdmin",
	"PVETemplateUser", "PVEUserAdmin", "PVEVMAdmin", "PVEVMUser"}

// PVE is the fake over a state directory.
type PVE struct {
	Dir string
	mu  sync.Mutex
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
	s, err := p.Load()
	if err != nil {
		return "", err.Error() + "\n", 255
	}
	die := func(format string, a ...any) (string, string, int) {
		return "", fmt.Sprintf(format, a...) + "\n", 255
	}
	if len(args) < 2 {
		return die("ERROR: no command specified")
	}
	opts, pos := parse(args[2:])
	switch args[0] + " " + args[1] {
	case "user list":
		if opts["output-format"] != "json" {
			return die("fake pveum: only --output-format json")
		}
		b, _ := json.Marshal(s.Users)
		return string(b) + "\n", "", 0
	case "acl list":
		if opts["output-format"] != "json" {
			return die("fake pveum: only --output-format json")
		}
		b, _ := json.Marshal(s.ACL)
		return string(b) + "\n", "", 0
	case "user add":
		if len(pos) != 1 {
			return die("400 wrong number of arguments")
		}
		id := pos[0]
		name, realm, ok := strings.Cut(id, "@")
		if !ok || name == "" || (realm != "pam" && realm != "pve") {
			return die("400 Parameter verification failed.\nuserid: value '%s' does not look like a valid user name", id)
		}
		for _, u := range s.Users {
			if u.UserID == id {
				return die("create user failed: user '%s' already exists", id)
			}
		}
		s.Users = append(s.Users, User{UserID: id, Enable: 1, RealmType: realm})
		sort.Slice(s.Users, func(i, j int) bool { return s.Users[i].UserID < s.Users[j].UserID })
	case "acl modify":
		if len(pos) != 1 || !strings.HasPrefix(pos[0], "/") {
			return die("400 Parameter verification failed.\npath: property is missing")
		}
		if opts["roles"] == "" {
			return die("400 Parameter verification failed.\nroles: property is missing")
		}
		for _, r := range strings.Split(opts["roles"], ",") {
			known := false
			for _, k := range Roles {
				known = known || k == r
			}
			if !known {
				return die("role '%s' does not exist", r)
			}
		}
		for _, u := range strings.Split(opts["users"], ",") {
			found := false
			for _, x := range s.Users {
				found = found || x.UserID == u
			}
			if !found {
				return die("user '%s' does not exist", u)
			}
			for _, r := range strings.Split(opts["roles"], ",") {
				dup := false
				for _, a := range s.ACL {
					dup = dup || (a.Path == pos[0] && a.UGID == u && a.RoleID == r && a.Type == "user")
				}
				if !dup {
					s.ACL = append(s.ACL, ACL{Path: pos[0], RoleID: r, Type: "user", UGID: u, Propagate: 1})
				}
			}
		}
	default:
		return die("ERROR: unknown command 'pveum %s %s'", args[0], args[1])
	}
	if err := p.save(s); err != nil {
		return die("%v", err)
	}
	return "", "", 0
}

// parse splits "--key value" options from positional arguments.
func parse(args []string) (map[string]string, []string) {
	opts := map[string]string{}
	var pos []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "--") && i+1 < len(args) {
			opts[strings.TrimPrefix(args[i], "--")] = args[i+1]
			i++
			continue
		}
		pos = append(pos, args[i])
	}
	return opts, pos
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
