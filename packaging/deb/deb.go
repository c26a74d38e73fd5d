// Package deb builds phoenix_VERSION_amd64.deb with nfpm (used as a
// library, pinned in packaging/go.mod). Everything in the package is made
// from the repository's own sources at build time:
//
//   - the binary is the one `make build` made;
//   - the systemd units are the embedded ones (package units), with
//     ExecStart= pointing at /usr/sbin/phoenix (units.WithBinary);
//   - phoenix(8) and the completions come from the binary's usage text
//     (package clidoc), phoenix-seed(5) from docs/seed.md;
//   - the copyright file lists the Go modules linked into the binary (read
//     from its build info) with their license texts from the module cache.
//
// The layout follows Debian policy and what Proxmox's own packages do:
// /usr/sbin, /usr/lib/systemd/system, /usr/share/{doc,man}/..., and no
// conffiles, because Phoenix ships no configuration: the seed in
// /etc/phoenix is the admin's.
package deb

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/packaging/clidoc"
	"github.com/phoenix-pve/phoenix/units"
)

// Name is the package name.
const Name = "phoenix"

// Paths inside the package.
const (
	DocDir    = "/usr/share/doc/" + Name
	Man8      = "/usr/share/man/man8/phoenix.8.gz"
	Man5      = "/usr/share/man/man5/phoenix-seed.5.gz"
	BashComp  = "/usr/share/bash-completion/completions/phoenix"
	ZshComp   = "/usr/share/zsh/vendor-completions/_phoenix"
	FishComp  = "/usr/share/fish/vendor_completions.d/phoenix.fish"
	Homepage  = "https://github.com/phoenix-pve/phoenix"
	Copyright = DocDir + "/copyright"
	Changelog = DocDir + "/changelog.Debian.gz"
	Overrides = "/usr/share/lintian/overrides/" + Name
)

// overrides are lintian's exceptions, each with its reason.
const overrides = `# /usr/sbin/phoenix is a Go program built with CGO_ENABLED=0 on purpose: it
# runs on a fresh Proxmox host before anything else is installed, and in
# chroots and images (docs/design-notes.md). lintian recognises Go programs
# only by a source package's Build-Depends on golang-go, which a package
# built outside Debian's archive does not have.
phoenix: statically-linked-binary [usr/sbin/phoenix]
# Phoenix is not uploaded to Debian: there is no ITP bug to close.
phoenix: initial-upload-closes-no-bugs
# Answer-server requests report pve-manager's version, read (read-only)
# from var/lib/dpkg/status through the root Phoenix acts on: an offline
# image as well as the running system, where this host's dpkg-query would
# answer for the wrong system (seed/remote/sysinfo.go).
phoenix: uses-dpkg-database-directly [usr/sbin/phoenix]
`

// Docs are the repository files shipped in DocDir (source, destination
// relative to DocDir).
var Docs = [][2]string{
	{"README.md", "README.md"},
	{"docs/operator.md", "operator.md"},
	{"docs/packaging.md", "packaging.md"},
	{"docs/seed.md", "seed.md"},
	{"docs/migrating.md", "migrating.md"},
	{"docs/examples/seed.yaml", "examples/seed.yaml"},
}

//go:embed scripts/postinst scripts/prerm scripts/postrm
var scripts embed.FS

// Options says what to build.
type Options struct {
	Repo       string    // the repository root
	Binary     string    // the built phoenix (static, CGO_ENABLED=0)
	Version    string    // as `git describe --tags --always --dirty` prints it
	Date       time.Time // the commit date: mtimes, man page dates, changelog
	OutDir     string    // where the .deb goes
	Maintainer string    // "Name <email>"
	Work       string    // a scratch directory for the staged files
}

// Build writes the package and returns its path.
func Build(ctx context.Context, o Options) (string, error) {
	if o.Maintainer == "" {
		o.Maintainer = "Phoenix maintainers <phoenix-pve@users.noreply.github.com>"
	}
	upstream := UpstreamVersion(o.Version, o.Date)
	full := upstream + "-1"
	stage := filepath.Join(o.Work, "stage")
	if err := os.RemoveAll(stage); err != nil {
		return "", err
	}
	var contents files.Contents
	add := func(dest string, data []byte, mode fs.FileMode) error {
		src := filepath.Join(stage, filepath.FromSlash(dest))
		if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(src, data, mode); err != nil {
			return err
		}
		contents = append(contents, &files.Content{
			Source: src, Destination: dest, Type: files.TypeFile,
			FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root", MTime: o.Date},
		})
		return nil
	}

	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return "", fmt.Errorf("deb: %w", err)
	}
	if err := add(units.PackageBinary, bin, 0o755); err != nil {
		return "", err
	}
	for _, u := range units.All() {
		if err := add(units.PackageDir+"/"+u.Name, u.WithBinary(units.PackageBinary).Data, 0o644); err != nil {
			return "", err
		}
	}

	cli, err := clidoc.Read(ctx, Name, clidoc.ExecRunner(o.Binary))
	if err != nil {
		return "", err
	}
	info := clidoc.ManInfo{Version: Name + " " + upstream, Date: o.Date.UTC().Format("2006-01-02")}
	man8 := info
	man8.Files = []clidoc.ManFile{
		{Path: units.SeedFile, What: "The seed: what this host should become. See phoenix-seed(5)."},
		{Path: units.DisabledFile, What: "When it exists, phoenix.service does nothing at boot."},
		{Path: bootstrap.StateDir, What: "Markers of the modules that converged, and the run's status (phoenix status)."},
		{Path: bootstrap.LogFile, What: "The log of every run."},
		{Path: units.PackageDir + "/" + units.Boot, What: "Runs phoenix run at boot until every module converged; then disables itself."},
		{Path: units.PackageDir + "/" + units.Local, What: "The early stage: the modules that need no network, before the network and smbd/nfs-server; pulled in by phoenix.service."},
		{Path: units.PackageDir + "/" + units.ReseedPath, What: "Watches the seed; a changed seed re-runs the modules whose section changed."},
		{Path: units.PackageDir + "/" + units.ReseedService, What: "Applies a changed seed; also runs once per boot for a seed replaced while the host was off."},
	}
	man8.SeeAlso = []string{"phoenix-seed(5)", "systemctl(1)", "pct(1)", "pvesm(1)", "zpool(8)"}
	if err := add(Man8, gz([]byte(cli.Man8(man8, "first-boot provisioner for Proxmox VE hosts"))), 0o644); err != nil {
		return "", err
	}
	seedMD, err := os.ReadFile(filepath.Join(o.Repo, "docs", "seed.md"))
	if err != nil {
		return "", fmt.Errorf("deb: %w", err)
	}
	man5 := info
	man5.SeeAlso = []string{"phoenix(8)"}
	if err := add(Man5, gz([]byte(clidoc.Man5("phoenix-seed", "Phoenix seed file format, version 1", man5, string(seedMD)))), 0o644); err != nil {
		return "", err
	}
	for _, c := range []struct {
		dest, text string
	}{{BashComp, cli.Bash()}, {ZshComp, cli.Zsh()}, {FishComp, cli.Fish()}} {
		if err := add(c.dest, []byte(c.text), 0o644); err != nil {
			return "", err
		}
	}

	for _, d := range Docs {
		data, err := os.ReadFile(filepath.Join(o.Repo, d[0]))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a doc not written yet is not a reason to fail the build
		}
		if err != nil {
			return "", fmt.Errorf("deb: %w", err)
		}
		if err := add(DocDir+"/"+d[1], data, 0o644); err != nil {
			return "", err
		}
	}
	cr, err := copyright(ctx, o.Binary)
	if err != nil {
		return "", err
	}
	if err := add(Copyright, []byte(cr), 0o644); err != nil {
		return "", err
	}
	if err := add(Changelog, gz([]byte(changelog(full, o))), 0o644); err != nil {
		return "", err
	}

	if err := add(Overrides, []byte(overrides), 0o644); err != nil {
		return "", err
	}

	sc := map[string]string{}
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		text, err := script(name)
		if err != nil {
			return "", err
		}
		p := filepath.Join(o.Work, name)
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			return "", err
		}
		sc[name] = p
	}

	pkg := &nfpm.Info{
		Name:          Name,
		Arch:          "amd64",
		Platform:      "linux",
		Version:       upstream,
		VersionSchema: "none",
		Release:       "1",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    o.Maintainer,
		Homepage:      Homepage,
		Description: "first-boot provisioner for Proxmox VE hosts\n" +
			"Phoenix turns a freshly installed Proxmox VE host into the machine a\n" +
			"declarative seed file describes: network, repositories, ZFS pools and\n" +
			"storages, users, NFS and Samba shares, the NVIDIA driver and LXC\n" +
			"containers. It validates the whole seed first, resumes across reboots\n" +
			"and never redoes finished work. Installing the package starts nothing:\n" +
			"provisioning begins once a seed is in place and phoenix.service is\n" +
			"enabled.",
		MTime: o.Date,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Umask:    0o022,
			Scripts: nfpm.Scripts{
				PostInstall: sc["postinst"],
				PreRemove:   sc["prerm"],
				PostRemove:  sc["postrm"],
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	}
	pkg = nfpm.WithDefaults(pkg)
	if err := nfpm.Validate(pkg); err != nil {
		return "", fmt.Errorf("deb: %w", err)
	}
	packager, err := nfpm.Get("deb")
	if err != nil {
		return "", fmt.Errorf("deb: %w", err)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(o.OutDir, fmt.Sprintf("%s_%s_amd64.deb", Name, full))
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if err := packager.Package(pkg, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("deb: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}

// gz compresses as lintian wants for man pages and changelogs: maximum
// compression and no timestamp or file name in the header.
func gz(data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = w.Write(data)
	_ = w.Close()
	return b.Bytes()
}

var (
	tagged  = regexp.MustCompile(`^v?(\d+(?:\.\d+)*)(?:-(\d+)-g([0-9a-f]+))?(-dirty)?$`)
	hashVer = regexp.MustCompile(`^([0-9a-f]{7,40})(-dirty)?$`)
)

// UpstreamVersion turns `git describe --tags --always --dirty` into a
// Debian upstream version that sorts in build order:
//
//	v1.2.0                -> 1.2.0
//	v1.2.0-3-gabc1234     -> 1.2.0+git3.abc1234
//	abc1234 (no tag yet)  -> 0~git20261201.abc1234
//	...-dirty             -> ...+dirty (or .dirty)
//
// (Debian policy 5.6.12: the upstream version starts with a digit; "~"
// sorts before anything, so every tagged release supersedes untagged builds.)
func UpstreamVersion(describe string, date time.Time) string {
	if m := tagged.FindStringSubmatch(describe); m != nil {
		v := m[1]
		if m[2] != "" {
			v += "+git" + m[2] + "." + m[3]
		}
		if m[4] != "" {
			if m[2] != "" {
				v += ".dirty"
			} else {
				v += "+dirty"
			}
		}
		return v
	}
	v := "0~git" + date.UTC().Format("20060102")
	if m := hashVer.FindStringSubmatch(describe); m != nil {
		v += "." + m[1]
		if m[2] != "" {
			v += ".dirty"
		}
	}
	return v
}

func changelog(version string, o Options) string {
	return fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n"+
		"  * Built from git describe %s.\n"+
		"  * The project's history is its git log: %s\n\n"+
		" -- %s  %s\n",
		Name, version, o.Version, Homepage, o.Maintainer, o.Date.UTC().Format(time.RFC1123Z))
}

// script renders a maintainer script, so unit names and directories come
// from the packages that own them, not from copies.
func script(name string) (string, error) {
	text, err := scripts.ReadFile("scripts/" + name)
	if err != nil {
		return "", err
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", fmt.Errorf("deb: %s: %w", name, err)
	}
	var b strings.Builder
	err = t.Execute(&b, map[string]string{
		"Boot":       units.Boot,
		"Enabled":    strings.Join(units.Enabled(), " "),
		"ReseedPath": units.ReseedPath,
		"SeedFile":   units.SeedFile,
		"SeedDir":    filepath.Dir(units.SeedFile),
		"StateDir":   bootstrap.StateDir,
		"LogDir":     bootstrap.LogDir,
	})
	if err != nil {
		return "", fmt.Errorf("deb: %s: %w", name, err)
	}
	return b.String(), nil
}

// copyright is the DEP-5 copyright file: Phoenix itself, then Go and each
// module linked into the binary with its license (Apache-2.0 by reference
// to /usr/share/common-licenses, as Debian policy 12.5 asks; others in full).
func copyright(ctx context.Context, bin string) (string, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("deb: build info of %s: %w", bin, err)
	}
	env := func(k string) (string, error) {
		out, err := exec.CommandContext(ctx, "go", "env", k).Output()
		if err != nil {
			return "", fmt.Errorf("deb: go env %s: %w", k, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	modcache, err := env("GOMODCACHE")
	if err != nil {
		return "", err
	}
	goroot, err := env("GOROOT")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n" +
		"Upstream-Name: phoenix\nSource: " + Homepage + "\n" +
		"Comment: /usr/sbin/phoenix is a statically linked Go program; it contains\n" +
		" the Go standard library and the modules listed below (from the binary's\n" +
		" build info), whose license texts follow.\n\n" +
		"Files: *\nCopyright: the Phoenix authors\nLicense: none-declared\n" +
		" The Phoenix repository does not declare a license yet.\n")
	type mod struct{ path, version, dir string }
	mods := []mod{{"go (standard library)", bi.GoVersion, goroot}}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		esc, err := escapePath(d.Path)
		if err != nil {
			return "", err
		}
		mods = append(mods, mod{d.Path, d.Version, filepath.Join(modcache, esc+"@"+d.Version)})
	}
	sort.Slice(mods[1:], func(i, j int) bool { return mods[1+i].path < mods[1+j].path })
	apache := false
	for _, m := range mods {
		text, err := licenseText(m.dir)
		if err != nil {
			return "", fmt.Errorf("deb: license of %s %s: %w", m.path, m.version, err)
		}
		id := licenseID(text)
		fmt.Fprintf(&b, "\nFiles: %s %s\nCopyright: see the license text\nLicense: %s\n", m.path, m.version, id)
		if id == "Apache-2.0" {
			apache = true
			continue
		}
		b.WriteString(indent(text))
	}
	if apache {
		b.WriteString("\nLicense: Apache-2.0\n On Debian systems, the complete text of the Apache License, Version 2.0\n" +
			" can be found in \"/usr/share/common-licenses/Apache-2.0\".\n")
	}
	return b.String(), nil
}

// escapePath is the module cache's case encoding (golang.org/x/mod/module
// EscapePath): an upper-case letter becomes '!' and its lower case.
func escapePath(p string) (string, error) {
	var b strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			b.WriteRune(r + 'a' - 'A')
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}

func licenseText(dir string) (string, error) {
	for _, n := range []string{"LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "LICENCE"} {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil {
			return string(data), nil
		}
	}
	return "", fmt.Errorf("no LICENSE file in %s", dir)
}

// licenseID names the license by the text's own words (the SPDX/DEP-5
// short names); an unknown text is shipped in full as "other".
func licenseID(t string) string {
	apache := strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0")
	switch {
	case apache && strings.Contains(t, "Permission is hereby granted, free of charge"):
		return "Expat and Apache-2.0" // gopkg.in/yaml.v3: both, by file; shipped in full
	case apache:
		return "Apache-2.0"
	case strings.Contains(t, "Permission is hereby granted, free of charge"):
		return "Expat"
	case strings.Contains(t, "Redistribution and use in source and binary forms") && strings.Contains(t, "Neither the name"):
		return "BSD-3-clause"
	case strings.Contains(t, "Redistribution and use in source and binary forms"):
		return "BSD-2-clause"
	case strings.Contains(t, "Mozilla Public License"):
		return "MPL-2.0"
	}
	return "other"
}

// indent makes a license text a DEP-5 continuation: each line starts with a
// space, empty lines are " .".
func indent(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			b.WriteString(" .\n")
			continue
		}
		b.WriteString(" " + l + "\n")
	}
	return b.String()
}
