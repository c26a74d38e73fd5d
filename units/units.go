package units

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Unit names and the places they are installed to.
const (
	// Boot is the unit that runs `phoenix run` at boot until done.
	Boot = "phoenix.service"
	// Local is the early stage, pulled in by Boot (Wants=), never enabled.
	Local = "phoenix-local.service"
	// ReseedPath watches /etc/phoenix/seed.yaml.
	ReseedPath = "phoenix-reseed.path"
	// ReseedService is started by ReseedPath.
	ReseedService = "phoenix-reseed.service"

	// Dir is where the units are installed: the admin's unit directory, as
	// /usr/local/sbin is the admin's binary directory. Neither belongs to a
	// package, so dpkg never fights over them.
	Dir = "/etc/systemd/system"
	// Binary is the installed phoenix; every ExecStart= uses this path.
	Binary = "/usr/local/sbin/phoenix"
	// SeedFile is the admin's seed, watched by ReseedPath.
	SeedFile = "/etc/phoenix/seed.yaml"
	// DisabledFile switches Phoenix off at boot when it exists.
	DisabledFile = "/etc/phoenix/disabled"

	// PackageDir and PackageBinary are where the Debian package puts the
	// units and the binary: the directories dpkg owns (docs/packaging.md).
	PackageDir    = "/usr/lib/systemd/system"
	PackageBinary = "/usr/sbin/phoenix"
)

// unitDirs are the directories a unit file may be installed in, in
// systemd's precedence order (systemd.unit(5), "Unit File Load Path"): the
// admin's copy in /etc overrides the package's.
var unitDirs = []string{Dir, PackageDir, "/lib/systemd/system"}

//go:embed phoenix.service phoenix-local.service phoenix-reseed.path phoenix-reseed.service
var files embed.FS

// Unit is one embedded unit file.
type Unit struct {
	Name string
	Data []byte
}

// All returns every unit Phoenix installs, sorted by name.
func All() []Unit {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	var out []Unit
	for _, e := range entries {
		data, _ := files.ReadFile(e.Name())
		out = append(out, Unit{Name: e.Name(), Data: data})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WithBinary returns u with every reference to Binary replaced by bin: the
// package's units run /usr/sbin/phoenix, and are made from the embedded files
// so the two layouts cannot drift.
func (u Unit) WithBinary(bin string) Unit {
	return Unit{Name: u.Name, Data: bytes.ReplaceAll(u.Data, []byte(Binary), []byte(bin))}
}

// Enabled lists the units `phoenix install --enable` enables: the boot unit,
// the path unit, and the reseed service, which also runs once per boot to
// pick up a seed replaced while the host was off. Only the boot unit is
// ever disabled by the engine.
func Enabled() []string { return []string{Boot, ReseedPath, ReseedService} }

// Read returns the embedded unit called name.
func Read(name string) ([]byte, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("units: no unit %q", name)
	}
	return data, nil
}

// Path is the installed path of the unit called name.
func Path(name string) string { return path.Join(Dir, name) }

// WantedBy returns the targets listed by WantedBy= in the [Install] section
// of a unit file, in order, without duplicates.
func WantedBy(data []byte) []string {
	var out []string
	seen := map[string]bool{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			continue
		}
		if section != "Install" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(key) != "WantedBy" {
			continue
		}
		for _, t := range strings.Fields(val) {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}
