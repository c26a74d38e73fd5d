// Package fake is a stateful fake of the Samba tools the samba module
// drives: pdbedit (-L -w, -x -u, -i smbpasswd:FILE, which adds or updates
// like the real one), smbpasswd -a -s (the
// password and its confirmation on stdin), smbcontrol smbd reload-config,
// and systemctl for smbd. It keeps the passdb as user -> NT hash and the
// configuration smbd last loaded, so a test sees exactly which password
// (byte for byte) reached Samba and whether smbd runs the new config.
// testparm is never faked: tests run the real one.
package fake

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/samba"
)

// Server is the passdb and smbd.
type Server struct {
	mu      sync.Mutex
	Root    host.Root
	Users   map[string]string // name -> NT hash
	Enabled bool
	Active  bool
	// Queued is a start job waiting in systemd's queue (the boot's, held
	// back by phoenix-local.service's Before=): `systemctl show` prints its
	// Job=, and RunQueued runs it.
	Queued bool
	Loaded string // the Phoenix config smbd last (re)loaded
	// NSSUnknown are users in the root's /etc/passwd that the name
	// service does not resolve (an LDAP/SSSD host, a broken nsswitch):
	// pdbedit cannot map them to a Unix account.
	NSSUnknown map[string]bool
}

// New returns a stopped smbd with an empty passdb.
func New(root host.Root) *Server { return &Server{Root: root, Users: map[string]string{}} }

// Register installs the fakes on r.
func (s *Server) Register(r *fakehost.Runner) {
	r.Handle("pdbedit", s.Pdbedit)
	r.Handle("smbpasswd", s.Smbpasswd)
	r.Handle("smbcontrol", s.Smbcontrol)
	r.Handle("systemctl", s.Systemctl)
}

// RunQueued runs the queued start job, as systemd does once the units
// ordered before smbd are done: smbd starts and loads the config.
func (s *Server) RunQueued() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Queued && !s.Active {
		s.Active = true
		s.load()
	}
	s.Queued = false
}

// Boot restarts smbd if enabled, loading the current config.
func (s *Server) Boot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Active = s.Enabled
	s.Loaded = ""
	if s.Active {
		s.load()
	}
}

// Effects dumps the passdb and the loaded config.
func (s *Server) Effects() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	var names []string
	for n := range s.Users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "user %s %s\n", n, s.Users[n])
	}
	fmt.Fprintf(&b, "enabled=%v active=%v\nloaded:\n%s", s.Enabled, s.Active, s.Loaded)
	return b.String()
}

// load reads what smbd would: smb.conf and, if it includes it, the drop-in.
func (s *Server) load() {
	conf, _ := s.Root.ReadFile(samba.SmbConf)
	s.Loaded = string(conf)
	if strings.Contains(string(conf), "include = "+samba.DropIn) {
		d, _ := s.Root.ReadFile(samba.DropIn)
		s.Loaded += string(d)
	}
}

func (s *Server) unixUser(name string) (int, bool) {
	b, err := s.Root.ReadFile("/etc/passwd")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 3 && f[0] == name {
			var uid int
			fmt.Sscan(f[2], &uid)
			return uid, true
		}
	}
	return 0, false
}

// Pdbedit fakes the pdbedit calls.
func (s *Server) Pdbedit(_ context.Context, c fakehost.Call) fakehost.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.Cmd.Args
	switch {
	case len(a) == 2 && a[0] == "-L" && a[1] == "-w":
		var names []string
		for n := range s.Users {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			uid, _ := s.unixUser(n)
			fmt.Fprintf(&b, "%s:%d:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:%s:[U          ]:LCT-6560A1B2:\n", n, uid, s.Users[n])
		}
		return fakehost.OK(b.String())
	case len(a) == 3 && a[0] == "-x" && a[1] == "-u":
		if _, ok := s.Users[a[2]]; !ok {
			return fakehost.Fail(255, "Username not found!\nFailed to delete entry for user "+a[2]+".\n")
		}
		delete(s.Users, a[2])
		return fakehost.OK("")
	case len(a) >= 2 && a[0] == "-i" && strings.HasPrefix(a[1], "smbpasswd:"):
		if len(a) == 4 && (a[2] != "-e" || a[3] != "tdbsam") {
			return fakehost.Fail(255, "fake pdbedit: only -e tdbsam is modelled\n")
		}
		file := strings.TrimPrefix(a[1], "smbpasswd:")
		if !strings.HasPrefix(file, "/") || strings.HasPrefix(file, "/dev/") || strings.HasPrefix(file, "/proc/") {
			// Samba 4.17 imports nothing from /dev/stdin and says so only
			// by not importing; the fake does the same.
			return fakehost.OK("")
		}
		fi, err := os.Stat(file)
		if err != nil {
			return fakehost.Fail(255, "Can't initialize passdb backend.\n")
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return fakehost.Fail(255, fmt.Sprintf("fake pdbedit: %s is readable by others (%v)\n", file, fi.Mode().Perm()))
		}
		b, _ := os.ReadFile(file)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Split(l, ":")
			if len(f) < 5 {
				return fakehost.Fail(255, "Bad smbpasswd line\n")
			}
			if _, ok := s.unixUser(f[0]); !ok || s.NSSUnknown[f[0]] {
				// Observed with the real pdbedit -i (Samba 4.17, security
				// review L5): it exits 0 and imports nothing for a user NSS
				// does not know; only -d 3 logs "smbpasswd database is
				// corrupt!". The Samba source was not checked here.
				continue
			}
			s.Users[f[0]] = strings.ToUpper(f[3])
		}
		return fakehost.OK("")
	}
	return fakehost.Fail(255, "fake pdbedit: call not modelled: "+strings.Join(a, " ")+"\n")
}

// Smbpasswd fakes smbpasswd -a -s NAME.
func (s *Server) Smbpasswd(_ context.Context, c fakehost.Call) fakehost.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.Cmd.Args
	if len(a) != 3 || a[0] != "-a" || a[1] != "-s" {
		return fakehost.Fail(1, "fake smbpasswd: only -a -s NAME is modelled\n")
	}
	lines := strings.SplitN(string(c.Stdin), "\n", 3)
	if len(lines) < 2 || lines[0] != lines[1] {
		return fakehost.Fail(1, "Mismatch - password unchanged.\nUnable to get new password.\n")
	}
	if _, ok := s.unixUser(a[2]); !ok {
		return fakehost.Fail(1, "Failed to add entry for user "+a[2]+".\n")
	}
	s.Users[a[2]] = samba.NTHash(lines[0])
	return fakehost.OK("Added user " + a[2] + ".\n")
}

// Smbcontrol fakes smbcontrol smbd reload-config.
func (s *Server) Smbcontrol(_ context.Context, c fakehost.Call) fakehost.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Join(c.Cmd.Args, " ") != "smbd reload-config" {
		return fakehost.Fail(1, "fake smbcontrol: only smbd reload-config is modelled\n")
	}
	if !s.Active {
		return fakehost.Fail(1, "Can't find pid for destination 'smbd'\n")
	}
	s.load()
	return fakehost.OK("")
}

// Systemctl fakes is-enabled, is-active and enable --now for smbd.
func (s *Server) Systemctl(_ context.Context, c fakehost.Call) fakehost.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.Cmd.Args
	unit := a[len(a)-1]
	if unit != samba.Service && unit != "smbd" {
		return fakehost.Fail(1, "fake systemctl: only smbd is modelled\n")
	}
	switch a[0] {
	case "is-enabled":
		if !s.Enabled {
			return fakehost.Result{Stdout: "disabled\n", Code: 1}
		}
		return fakehost.OK("enabled\n")
	case "is-active":
		if !s.Active {
			return fakehost.Result{Stdout: "inactive\n", Code: 3}
		}
		return fakehost.OK("active\n")
	case "enable":
		s.Enabled = true
		if len(a) == 3 && a[1] == "--now" && !s.Active {
			s.Active = true
			s.load()
		}
		return fakehost.OK("")
	case "restart":
		s.Active = true
		s.load()
		return fakehost.OK("")
	case "show":
		// `systemctl show -p ActiveState -p UnitFileState -p Job`: the
		// values of the properties asked for, "Name=value" per line.
		state, file := "inactive", "disabled"
		if s.Active {
			state = "active"
		}
		if s.Enabled {
			file = "enabled"
		}
		out := "ActiveState=" + state + "\nUnitFileState=" + file + "\n"
		if s.Queued {
			out += "Job=42\n"
		}
		return fakehost.OK(out)
	case "start":
		// With or without --no-block: no job queue here, the start
		// happens at once and loads the config as it is now, which is
		// what the start queued by the early stage loads after it.
		if !s.Active {
			s.Active = true
			s.load()
		}
		s.Queued = false
		return fakehost.OK("")
	}
	return fakehost.Fail(1, "fake systemctl: verb "+a[0]+" is not modelled\n")
}
