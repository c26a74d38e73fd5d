package apt

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// StatusFile is dpkg's status database: one control-file stanza per
// package, separated by blank lines (Debian Policy, appendix 4 "Control
// files and their fields", 4.2.3 Status; dpkg(1), "INFORMATION ABOUT
// PACKAGES"). dpkg-query -W reads it too.
const StatusFile = "/var/lib/dpkg/status"

// InstalledInStatus reports whether pkg (a name, optionally with an
// :arch qualifier) is installed according to the status file of root,
// read in this process. It answers what Missing asks dpkg-query, without a
// process: the early stage uses it, where each process start is on the
// way of a service's start (modules/nfs, modules/samba).
//
// A stanza's "Status: want error state" is installed when state is
// "installed", whatever the want ("install", "hold") — the second letter
// of db:Status-Abbrev, which Missing tests. Unpacked, half-configured or
// trigger-pending packages are not installed (dpkg(1), package states).
func InstalledInStatus(root host.Root, pkg string) (bool, error) {
	data, err := root.ReadFile(StatusFile)
	if err != nil {
		return false, fmt.Errorf("apt: read %s: %w", StatusFile, err)
	}
	have, err := installedSet(data)
	if err != nil {
		return false, fmt.Errorf("apt: read %s: %w", StatusFile, err)
	}
	return have.has(pkg), nil
}

// installedPkgs is a set of installed packages keyed as Missing keys
// dpkg-query's answer: by name and by name:arch.
type installedPkgs map[string]bool

// has reports whether pkg (name or name:arch, without a version) is in
// the set; an Architecture: all package matches any qualifier.
func (have installedPkgs) has(pkg string) bool {
	n, arch, _ := strings.Cut(name(pkg), ":")
	if arch == "" {
		return have[n]
	}
	return have[n+":"+arch] || have[n+":all"]
}

// installedSet parses a status file into the installed packages.
func installedSet(data []byte) (installedPkgs, error) {
	have := installedPkgs{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	var p, a, state string
	end := func() {
		if p != "" && state == "installed" {
			have[p] = true
			have[p+":"+a] = true
		}
		p, a, state = "", "", ""
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			end()
			continue
		}
		// Continuation lines (Description, Conffiles) start with a space.
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		// Field names are case-insensitive (Policy 5.1).
		switch strings.ToLower(k) {
		case "package":
			p = v
		case "architecture":
			a = v
		case "status":
			if f := strings.Fields(v); len(f) == 3 {
				state = f[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	end()
	return have, nil
}

// RequireInstalled is the early stage's package check (modules/nfs,
// modules/samba): an error unless the status file says pkg is installed.
// No apt-get can run before the network, and a dpkg-query is a process
// start on the way of the service's start (1 s in a TCG guest,
// docs/perf/e2e.md); the engine leaves a failed early module to
// phoenix.service, which installs the package.
func RequireInstalled(root host.Root, pkg string) error {
	ok, err := InstalledInStatus(root, pkg)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is not installed (dpkg status %s); it is installed once the network is up", pkg, StatusFile)
	}
	return nil
}
