// Package fake is a stateful fake of exportfs and of the systemctl verbs the
// nfs module uses. `exportfs -ra` loads /etc/exports and
// /etc/exports.d/*.exports from the Root with the module's own exports(5)
// parser, fails like the real one on a path that does not exist, and keeps
// the table; `exportfs -v` prints it in the real format (options expanded
// with the kernel defaults, "*" as <world>, long paths wrapped).
package fake

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/nfs"
)

// Server is the kernel export table and the service state.
type Server struct {
	mu      sync.Mutex
	Root    host.Root
	Table   []nfs.Entry
	Enabled map[string]bool
	Active  map[string]bool
	// Queued are units with a start job waiting in systemd's queue (the
	// boot's, held back by phoenix-local.service's Before=): `systemctl
	// show` prints their Job=, and RunQueued runs them.
	Queued map[string]bool
}

// New returns a stopped server with an empty table.
func New(root host.Root) *Server {
	return &Server{Root: root, Enabled: map[string]bool{}, Active: map[string]bool{}, Queued: map[string]bool{}}
}

// Register installs exportfs and systemctl on r.
func (s *Server) Register(r *fakehost.Runner) {
	r.Handle("exportfs", s.Exportfs)
	r.Handle("systemctl", s.Systemctl)
}

// RunQueued runs the queued start jobs, as systemd does once the units
// ordered before them are done.
func (s *Server) RunQueued() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for u, q := range s.Queued {
		if q {
			s.start(u)
		}
	}
	s.Queued = map[string]bool{}
}

// start starts unit u if it is not running. nfs-server's start exports the
// files: its ExecStartPre=-/usr/sbin/exportfs -r (nfs-utils
// systemd/nfs-server.service; "-": a failure does not stop the start).
func (s *Server) start(u string) {
	if s.Active[u] {
		return
	}
	s.Active[u] = true
	delete(s.Queued, u)
	if u == nfs.Service {
		_ = s.load()
	}
}

// Boot forgets the live table and stops services not enabled, as a reboot
// does; an enabled nfs-server loads the files again.
func (s *Server) Boot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Table = nil
	s.Active = map[string]bool{}
	for u, on := range s.Enabled {
		s.Active[u] = on
	}
	if s.Active[nfs.Service] {
		_ = s.load()
	}
}

// Effects dumps the table and services.
func (s *Server) Effects() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString(s.verbose())
	for _, m := range []map[string]bool{s.Enabled, s.Active} {
		var on []string
		for u, v := range m {
			if v {
				on = append(on, u)
			}
		}
		sort.Strings(on)
		fmt.Fprintf(&b, "units: %s\n", strings.Join(on, " "))
	}
	return b.String()
}

// kernelDefaults are the options exportfs -v shows unless overridden.
var kernelDefaults = [][2]string{ // option, its opposite
	{"sync", "async"}, {"wdelay", "no_wdelay"}, {"hide", "nohide"}, {"no_subtree_check", "subtree_check"},
	{"sec=sys", "sec="}, {"ro", "rw"}, {"secure", "insecure"}, {"root_squash", "no_root_squash"},
	{"no_all_squash", "all_squash"},
}

func expand(opts []string) []string {
	var out []string
	has := func(o string) bool {
		for _, x := range opts {
			if x == o || strings.HasSuffix(o, "=") && strings.HasPrefix(x, o) {
				return true
			}
		}
		return false
	}
	for _, d := range kernelDefaults {
		switch {
		case has(d[1]):
			for _, x := range opts {
				if x == d[1] || strings.HasSuffix(d[1], "=") && strings.HasPrefix(x, d[1]) {
					out = append(out, x)
				}
			}
		default:
			out = append(out, d[0])
		}
	}
	for _, x := range opts {
		known := false
		for _, d := range kernelDefaults {
			if x == d[0] || x == d[1] || strings.HasSuffix(d[1], "=") && strings.HasPrefix(x, d[1]) {
				known = true
			}
		}
		if !known {
			out = append(out, x)
		}
	}
	return out
}

// load reads the exports files the way exportfs -r does.
func (s *Server) load() error {
	files := []string{"/etc/exports"}
	if ents, err := s.Root.ReadDir("/etc/exports.d"); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".exports") {
				files = append(files, path.Join("/etc/exports.d", e.Name()))
			}
		}
	}
	var table []nfs.Entry
	for _, f := range files {
		b, err := s.Root.ReadFile(f)
		if err != nil {
			continue
		}
		es, err := nfs.ParseExports(string(b))
		if err != nil {
			return fmt.Errorf("exportfs: %s: %v", f, err)
		}
		for _, e := range es {
			if fi, err := s.Root.Stat(e.Path); err != nil || !fi.IsDir() {
				return fmt.Errorf("exportfs: Failed to stat %s: No such file or directory", e.Path)
			}
			for i := range e.Clients {
				e.Clients[i].Options = expand(e.Clients[i].Options)
			}
			table = append(table, e)
		}
	}
	s.Table = table
	return nil
}

func (s *Server) verbose() string {
	var b strings.Builder
	for _, e := range s.Table {
		for _, c := range e.Clients {
			h := c.Host
			if h == "*" {
				h = "<world>"
			}
			if len(e.Path) < 16 {
				fmt.Fprintf(&b, "%-15s\t%s(%s)\n", e.Path, h, strings.Join(c.Options, ","))
			} else {
				fmt.Fprintf(&b, "%s\n\t\t%s(%s)\n", e.Path, h, strings.Join(c.Options, ","))
			}
		}
	}
	return b.String()
}

// Exportfs fakes `exportfs -ra` and `exportfs -v`.
func (s *Server) Exportfs(_ context.Context, c fakehost.Call) fakehost.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	args := strings.Join(c.Cmd.Args, " ")
	switch args {
	case "-v":
		return fakehost.OK(s.verbose())
	case "-ra", "-r", "-a":
		if err := s.load(); err != nil {
			return fakehost.Fail(1, err.Error()+"\n")
		}
		return fakehost.OK("")
	}
	return fakehost.Fail(1, "fake exportfs: only -ra and -v are modelled\n")
}

// Systemctl fakes is-enabled, is-active (with --quiet) and enable --now.
func (s *Server) Systemctl(_ context.Context, c fakehost.Call) fakehost.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	var verb string
	var units []string
	now, prop := false, false
	for _, a := range c.Cmd.Args {
		switch {
		case prop: // the property name after -p
			prop = false
		case a == "-p":
			prop = true
		case a == "--now":
			now = true
		case strings.HasPrefix(a, "-"):
		case verb == "":
			verb = a
		default:
			if !strings.Contains(a, ".") {
				a += ".service"
			}
			units = append(units, a)
		}
	}
	switch verb {
	case "is-enabled":
		for _, u := range units {
			if !s.Enabled[u] {
				return fakehost.Result{Stdout: "disabled\n", Code: 1}
			}
		}
		return fakehost.OK("enabled\n")
	case "is-active":
		for _, u := range units {
			if !s.Active[u] {
				return fakehost.Result{Stdout: "inactive\n", Code: 3}
			}
		}
		return fakehost.OK("active\n")
	case "enable":
		for _, u := range units {
			s.Enabled[u] = true
			if now {
				s.start(u)
			}
		}
		return fakehost.OK("")
	case "show":
		// `systemctl show -p ActiveState -p UnitFileState -p Job UNIT`.
		var b strings.Builder
		for _, u := range units {
			state, file := "inactive", "disabled"
			if s.Active[u] {
				state = "active"
			}
			if s.Enabled[u] {
				file = "enabled"
			}
			fmt.Fprintf(&b, "ActiveState=%s\nUnitFileState=%s\n", state, file)
			if s.Queued[u] {
				b.WriteString("Job=42\n")
			}
		}
		return fakehost.OK(b.String())
	case "start":
		// With or without --no-block: the fake has no job queue, so the
		// start happens at once, reading the files as they are now (what
		// the queued start after the early stage reads: nothing changes
		// them in between).
		for _, u := range units {
			s.start(u)
		}
		return fakehost.OK("")
	case "restart", "reload", "reload-or-restart", "try-reload-or-restart":
		for _, u := range units {
			s.Active[u] = true
		}
		return fakehost.OK("")
	}
	return fakehost.Fail(1, "fake systemctl: verb "+verb+" is not modelled\n")
}
