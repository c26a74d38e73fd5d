// Package fake is a stateful fake of dpkg-query and apt-get for tests of
// modules that install packages. It follows the real tools' argument syntax,
// output format (dpkg-query -W -f with ${Package}, ${Architecture},
// ${db:Status-Abbrev}) and exit codes (dpkg-query 1 for an unknown name,
// apt-get 100 for any apt error), and it refuses, like a hung terminal
// would, any apt-get run that could prompt.
package fake

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// DB is the package database and apt's behaviour.
type DB struct {
	mu sync.Mutex
	// Status is package -> db:Status-Abbrev ("ii ", "hi ", "iU ", "un ").
	Status map[string]string
	// Available, when non-nil, is what the archive offers; other names give
	// "Unable to locate package".
	Available map[string]bool
	// Locked makes every apt-get fail the way a held dpkg lock does after
	// DPkg::Lock::Timeout.
	Locked bool
	// FailUpdate, when set, is the stderr of a failing apt-get update.
	FailUpdate string
	// Updates and Upgrades count successful runs.
	Updates, Upgrades int
}

// New returns a DB with the given installed packages.
func New(installed ...string) *DB {
	d := &DB{Status: map[string]string{}}
	for _, p := range installed {
		d.Status[p] = "ii "
	}
	return d
}

// Register installs the handlers for dpkg-query and apt-get on r.
func (d *DB) Register(r *fakehost.Runner) {
	r.Handle("dpkg-query", d.Query)
	r.Handle("apt-get", d.AptGet)
}

// WriteStatus writes the database as dpkg's status file into root
// (/var/lib/dpkg/status, one stanza per package; the Status words for the
// db:Status-Abbrev letters are dpkg-query(1)'s), for code that reads the
// file rather than asking dpkg-query (apt.InstalledInStatus).
func (d *DB) WriteStatus(root host.Root) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	want := map[byte]string{'u': "unknown", 'i': "install", 'h': "hold", 'r': "deinstall", 'p': "purge"}
	state := map[byte]string{'n': "not-installed", 'c': "config-files", 'H': "half-installed", 'U': "unpacked",
		'F': "half-configured", 'W': "triggers-awaited", 't': "triggers-pending", 'i': "installed"}
	names := make([]string, 0, len(d.Status))
	for n := range d.Status {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		ab := d.Status[n] + "   "
		eflag := "ok"
		if ab[2] == 'R' {
			eflag = "reinstreq"
		}
		fmt.Fprintf(&b, "Package: %s\nStatus: %s %s %s\nArchitecture: amd64\n\n", n, want[ab[0]], eflag, state[ab[1]])
	}
	return root.WriteFile("/var/lib/dpkg/status", []byte(b.String()), 0o644, host.Owner{})
}

// Query fakes dpkg-query -W -f=FORMAT [--] NAME...
func (d *DB) Query(_ context.Context, c fakehost.Call) fakehost.Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(c.Cmd.Args) < 2 || c.Cmd.Args[0] != "-W" || !strings.HasPrefix(c.Cmd.Args[1], "-f=") {
		return fakehost.Fail(2, "dpkg-query: error: fake supports only -W -f=FORMAT\n")
	}
	format := strings.TrimPrefix(c.Cmd.Args[1], "-f=")
	var out, errs strings.Builder
	code := 0
	for _, n := range c.Cmd.Args[2:] {
		if n == "--" {
			continue
		}
		st, ok := d.Status[n]
		if !ok {
			fmt.Fprintf(&errs, "dpkg-query: no packages found matching %s\n", n)
			code = 1
			continue
		}
		line := strings.NewReplacer("${Package}", n, "${Architecture}", "amd64", "${db:Status-Abbrev}", st, `\n`, "\n").Replace(format)
		out.WriteString(line)
	}
	return fakehost.Result{Stdout: out.String(), Stderr: errs.String(), Code: code}
}

// AptGet fakes apt-get [-y] [-q] [-o OPT]... VERB [--] [PKG...].
func (d *DB) AptGet(_ context.Context, c fakehost.Call) fakehost.Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	args := c.Cmd.Args
	yes := false
	var verb string
	var pkgs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case verb != "":
			if a != "--" {
				pkgs = append(pkgs, a)
			}
		case a == "-o":
			i++
		case a == "-y" || a == "--yes" || a == "--assume-yes":
			yes = true
		case strings.HasPrefix(a, "-"):
		default:
			verb = a
		}
	}
	if !slices.Contains(c.Cmd.Env, "DEBIAN_FRONTEND=noninteractive") || (!yes && verb != "update") {
		// The real one would wait on a debconf or [Y/n] prompt for ever.
		return fakehost.Fail(1, "fake apt-get: would prompt (no -y or DEBIAN_FRONTEND=noninteractive): Do you want to continue? [Y/n] Abort.\n")
	}
	if d.Locked {
		return fakehost.Fail(100, "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n")
	}
	switch verb {
	case "update":
		if d.FailUpdate != "" {
			return fakehost.Fail(100, d.FailUpdate)
		}
		d.Updates++
	case "dist-upgrade", "upgrade", "full-upgrade":
		d.Upgrades++
	case "install":
		for _, p := range pkgs {
			name := strings.SplitN(p, "=", 2)[0]
			if d.Available != nil && !d.Available[name] {
				return fakehost.Fail(100, "E: Unable to locate package "+name+"\n")
			}
		}
		for _, p := range pkgs {
			d.Status[strings.SplitN(p, "=", 2)[0]] = "ii "
		}
	case "purge", "remove":
		for _, p := range pkgs {
			if _, ok := d.Status[p]; ok {
				d.Status[p] = "pn "
			}
		}
	default:
		return fakehost.Fail(100, "E: Invalid operation "+verb+"\n")
	}
	return fakehost.OK("")
}

// Installed lists the installed packages, sorted: the external state fault
// tests compare.
func (d *DB) Installed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for p, st := range d.Status {
		if len(st) >= 2 && st[1] == 'i' {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
