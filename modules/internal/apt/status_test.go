package apt

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// statusSample has the states dpkg(1) lists, a held package, a package
// of two architectures and continuation lines that look like fields.
const statusSample = `Package: samba
Status: install ok installed
Priority: optional
Architecture: amd64
Description: SMB/CIFS file, print, and login server for Unix
 Package: not-a-field
 Status: install ok installed

Package: chrony
Status: hold ok installed
Architecture: amd64

Package: nfs-kernel-server
Status: install ok half-configured
Architecture: amd64

Package: jq
Status: deinstall ok config-files
Architecture: amd64

Package: libfoo
Status: install ok installed
Architecture: i386

Package: libfoo
Status: install ok unpacked
Architecture: amd64

Package: tzdata
status: install ok installed
architecture: all
`

func TestInstalledInStatus(t *testing.T) {
	root := host.NewDirRoot(t.TempDir())
	if _, err := InstalledInStatus(root, "samba"); err == nil {
		t.Error("no status file: want an error")
	}
	if err := root.WriteFile(StatusFile, []byte(statusSample), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	for pkg, want := range map[string]bool{
		"samba": true, "samba=2:4.22": true, "chrony": true,
		"nfs-kernel-server": false, "jq": false, "not-a-field": false, "missing": false,
		"libfoo": true, "libfoo:i386": true, "libfoo:amd64": false,
		"tzdata": true, "tzdata:amd64": true,
	} {
		got, err := InstalledInStatus(root, pkg)
		if err != nil || got != want {
			t.Errorf("InstalledInStatus(%q) = %v, %v; want %v", pkg, got, err, want)
		}
	}
}

// TestInstalledInStatusAgreesWithDpkgQuery: on a Debian machine, the
// in-process answer is dpkg-query's for every package it knows.
func TestInstalledInStatusAgreesWithDpkgQuery(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("no dpkg-query")
	}
	if _, err := os.Stat(StatusFile); err != nil {
		t.Skip("no dpkg database")
	}
	out, err := exec.Command("dpkg-query", "-W", `-f=${Package}:${Architecture} ${db:Status-Abbrev}\n`).Output()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(StatusFile)
	if err != nil {
		t.Fatal(err)
	}
	have, err := installedSet(data)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if got, want := have.has(f[0]), installed(f[1]); got != want {
			t.Errorf("%s: in the status file %v, dpkg-query says %q", f[0], got, f[1])
		}
		if got := have.has(strings.Split(f[0], ":")[0]); installed(f[1]) && !got {
			t.Errorf("%s: installed, but its bare name is not", f[0])
		}
		n++
	}
	if n == 0 {
		t.Fatal("dpkg-query listed nothing")
	}
	// And through the file, as the early stage reads it.
	if ok, err := InstalledInStatus(host.NewDirRoot("/"), "dpkg"); err != nil || ok != have.has("dpkg") {
		t.Errorf("InstalledInStatus(dpkg) = %v, %v; the parsed file says %v", ok, err, have.has("dpkg"))
	}
}
