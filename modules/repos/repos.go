package repos

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths the module reads and writes (in-root).
const (
	OSRelease   = "/etc/os-release"
	SourcesDir  = "/etc/apt/sources.list.d"
	SourcesList = "/etc/apt/sources.list"
	OwnList     = SourcesDir + "/phoenix-pve.list"
	OwnSources  = SourcesDir + "/phoenix-pve.sources"
	AptConf     = "/etc/apt/apt.conf.d/80phoenix"
	// Keyring is the Proxmox archive key a PVE 9 host ships.
	Keyring = "/usr/share/keyrings/proxmox-archive-keyring.gpg"

	updateKey  = "repos/update-pending"
	upgradeKey = "repos/dist-upgraded"

	disabledPrefix = "#phoenix# "
	disabledMarker = "#phoenix# disabled"
	mirror         = "http://download.proxmox.com/debian"
)

// Releases maps a Debian codename to its Proxmox VE major version and the
// Ceph releases that PVE version ships.
var Releases = map[string]Release{
	"bookworm": {Codename: "bookworm", PVE: 8, Ceph: []string{"quincy", "reef", "squid"}},
	"trixie":   {Codename: "trixie", PVE: 9, Ceph: []string{"squid"}},
}

// Release is one supported Debian/PVE release.
type Release struct {
	Codename string
	PVE      int
	Ceph     []string
}

// deb822 reports whether the release writes .sources files.
func (r Release) deb822() bool { return r.PVE >= 9 }

// Module is the repos module.
type Module struct {
	// APT makes the apt client; tests replace it to inject Sleep.
	APT func(host.Runner) *apt.Client
}

var _ modules.Module = (*Module)(nil)

// New returns the repos module.
func New() *Module { return &Module{APT: apt.New} }

// Name implements modules.Module.
func (*Module) Name() string { return "repos" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.Repos != nil }

// DetectRelease reads /etc/os-release from the root.
func DetectRelease(r host.Root) (Release, error) {
	b, err := r.ReadFile(OSRelease)
	if err != nil {
		return Release{}, fmt.Errorf("detect release: %w", err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok {
			kv[k] = strings.Trim(v, `"'`)
		}
	}
	code := kv["VERSION_CODENAME"]
	if code == "" {
		code = map[string]string{"12": "bookworm", "13": "trixie"}[kv["VERSION_ID"]]
	}
	rel, ok := Releases[code]
	if !ok || kv["ID"] != "debian" {
		return Release{}, fmt.Errorf("%s: %s %q is not supported (Debian bookworm = PVE 8, trixie = PVE 9)", OSRelease, kv["ID"], code)
	}
	return rel, nil
}

type plan struct {
	rel      Release
	files    files.Plan
	packages []string
}

func (m *Module) plan(env *modules.Env) (*plan, error) {
	s := env.Seed.Repos
	rel, err := DetectRelease(env.Root)
	if err != nil {
		return nil, err
	}
	p := &plan{rel: rel, packages: s.Packages}
	ceph := s.Ceph
	if ceph != "" && ceph != "none" && !slices.Contains(rel.Ceph, ceph) {
		return nil, fmt.Errorf("ceph %q is not available on PVE %d (%s): choose one of %s or none", ceph, rel.PVE, rel.Codename, strings.Join(rel.Ceph, ", "))
	}
	noSub := s.NoSubscription == nil || *s.NoSubscription

	// Phoenix's own repository file, in the release's format.
	type repo struct{ uri, comp string }
	var own []repo
	if noSub {
		own = append(own, repo{mirror + "/pve", "pve-no-subscription"})
	}
	if ceph != "" && ceph != "none" {
		own = append(own, repo{mirror + "/ceph-" + ceph, "no-subscription"})
	}
	ownPath, otherPath := OwnList, OwnSources
	if rel.deb822() {
		ownPath, otherPath = OwnSources, OwnList
	}
	if len(own) == 0 {
		p.files = append(p.files, files.File{Path: ownPath, Absent: true, Why: "no Phoenix repositories"})
	} else {
		var b strings.Builder
		b.WriteString("# Managed by phoenix (seed repos); edits are overwritten.\n")
		var what []string
		for i, r := range own {
			what = append(what, r.comp+" "+path.Base(r.uri))
			if rel.deb822() {
				if i > 0 {
					b.WriteString("\n")
				}
				fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: %s\n", r.uri, rel.Codename, r.comp, Keyring)
			} else {
				fmt.Fprintf(&b, "deb %s %s %s\n", r.uri, rel.Codename, r.comp)
			}
		}
		p.files = append(p.files, files.File{Path: ownPath, Data: []byte(b.String()), Mode: 0o644, Why: "enable " + strings.Join(what, ", ")})
	}
	p.files = append(p.files, files.File{Path: otherPath, Absent: true, Why: "no duplicate in the other format"})

	// Everyone else's files: disable enterprise and duplicates.
	rule := func(uri, comps string) bool {
		u := strings.TrimSuffix(uri, "/")
		if strings.Contains(u, "enterprise.proxmox.com") {
			return !s.Enterprise
		}
		if !strings.Contains(u, "download.proxmox.com/debian/") {
			return false
		}
		base := path.Base(u)
		switch {
		case base == "pve" && strings.Contains(comps, "pve-no-subscription"):
			return noSub // Phoenix's file has it
		case strings.HasPrefix(base, "ceph-"):
			return ceph != "" // the seed decides the Ceph repository
		}
		return false
	}
	others, err := m.others(env.Root, ownPath, otherPath, rule)
	if err != nil {
		return nil, err
	}
	p.files = append(p.files, others...)

	conf, mode, err := aptConf(s)
	if err != nil {
		return nil, err
	}
	if conf == "" {
		p.files = append(p.files, files.File{Path: AptConf, Absent: true, Why: "no proxy or IPv4 setting"})
	} else {
		p.files = append(p.files, files.File{Path: AptConf, Data: []byte(conf), Mode: mode, Why: "apt proxy/IPv4 settings"})
	}
	return p, nil
}

// aptConf is the apt.conf.d drop-in. A proxy with credentials makes the
// file 0600: apt reads its configuration as root.
func aptConf(s *seed.Repos) (string, fs.FileMode, error) {
	var b strings.Builder
	mode := fs.FileMode(0o644)
	if s.Proxy != "" {
		u, err := url.Parse(s.Proxy)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(s.Proxy, "\"\n;") {
			return "", 0, errors.New("proxy is not a URL like http://proxy:3128")
		}
		if u.User != nil {
			mode = 0o600
		}
		fmt.Fprintf(&b, "Acquire::http::Proxy \"%s\";\nAcquire::https::Proxy \"%s\";\n", s.Proxy, s.Proxy)
	}
	if s.ForceIPv4 {
		b.WriteString("Acquire::ForceIPv4 \"true\";\n")
	}
	if b.Len() == 0 {
		return "", 0, nil
	}
	return "// Managed by phoenix (seed repos); edits are overwritten.\n" + b.String(), mode, nil
}

// others returns the wanted content of every other sources file: Phoenix's
// earlier edits undone, then the entries rule selects disabled.
func (m *Module) others(r host.Root, ownPath, otherPath string, rule func(uri, comps string) bool) (files.Plan, error) {
	var paths []string
	if host.Exists(r, SourcesList) {
		paths = append(paths, SourcesList)
	}
	ents, err := r.ReadDir(SourcesDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		p := path.Join(SourcesDir, e.Name())
		if (strings.HasSuffix(p, ".list") || strings.HasSuffix(p, ".sources")) && p != ownPath && p != otherPath && e.Type().IsRegular() {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var plan files.Plan
	for _, p := range paths {
		old, err := r.ReadFile(p)
		if err != nil {
			return nil, err
		}
		fi, err := r.Stat(p)
		if err != nil {
			return nil, err
		}
		var out string
		var n int
		if strings.HasSuffix(p, ".sources") {
			out, n = disableDeb822(undo(string(old)), rule)
		} else {
			out, n = disableList(undo(string(old)), rule)
		}
		why := fmt.Sprintf("disable %d entries", n)
		if n == 0 {
			why = "re-enable entries"
		}
		plan = append(plan, files.File{Path: p, Data: []byte(out), Mode: fi.Mode().Perm(), Owner: host.FileOwner(fi), Why: why})
	}
	return plan, nil
}

// undo reverts Phoenix's earlier edits of a sources file.
func undo(content string) string {
	var out strings.Builder
	lines := strings.SplitAfter(content, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimRight(l, "\n") == disabledMarker {
			i++ // and the "Enabled: no" Phoenix added after it
			continue
		}
		out.WriteString(strings.TrimPrefix(l, disabledPrefix))
	}
	return out.String()
}

// disableList comments out the one-line entries rule selects.
func disableList(content string, rule func(uri, comps string) bool) (string, int) {
	var out strings.Builder
	n := 0
	for _, l := range strings.SplitAfter(content, "\n") {
		f := strings.Fields(strings.SplitN(l, "#", 2)[0])
		if len(f) > 0 && (f[0] == "deb" || f[0] == "deb-src") {
			rest := f[1:]
			if len(rest) > 0 && strings.HasPrefix(rest[0], "[") {
				// skip [ options ]
				for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
					rest = rest[1:]
				}
				if len(rest) > 0 {
					rest = rest[1:]
				}
			}
			if len(rest) >= 1 && rule(rest[0], strings.Join(rest[min(2, len(rest)):], " ")) {
				out.WriteString(disabledPrefix + l)
				n++
				continue
			}
		}
		out.WriteString(l)
	}
	return out.String(), n
}

// disableDeb822 disables the stanzas rule selects with "Enabled: no",
// commenting out a stanza's own Enabled field.
func disableDeb822(content string, rule func(uri, comps string) bool) (string, int) {
	var out strings.Builder
	n := 0
	for _, st := range stanzas(content) {
		var uris []string
		var comps string
		for _, l := range strings.Split(st, "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok || strings.HasPrefix(l, "#") {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "uris":
				uris = strings.Fields(v)
			case "components":
				comps = strings.TrimSpace(v)
			}
		}
		hit := false
		for _, u := range uris {
			hit = hit || rule(u, comps)
		}
		if !hit {
			out.WriteString(st)
			continue
		}
		n++
		body := strings.TrimRight(st, "\n")
		trail := st[len(body):]
		var b strings.Builder
		for _, l := range strings.Split(body, "\n") {
			if k, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "enabled") && !strings.HasPrefix(l, "#") {
				l = disabledPrefix + l
			}
			b.WriteString(l + "\n")
		}
		b.WriteString(disabledMarker + "\nEnabled: no\n")
		out.WriteString(strings.TrimSuffix(b.String(), "\n") + trail)
	}
	return out.String(), n
}

// stanzas splits deb822 content into stanzas, each keeping its trailing
// blank lines, so that joining them gives the content back.
func stanzas(content string) []string {
	var out []string
	var cur strings.Builder
	blank := false
	for _, l := range strings.SplitAfter(content, "\n") {
		if l == "" {
			continue
		}
		isBlank := strings.TrimSpace(l) == ""
		if !isBlank && blank && cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
		blank = isBlank
		cur.WriteString(l)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// Converge implements modules.Module. Its reads (files, the Store,
// dpkg-query) change nothing; apt-get runs only in Apply.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	env := s.Env
	p, err := m.plan(env)
	if err != nil {
		return err
	}
	client := m.APT(env.Runner)
	pending, err := p.files.Pending(env.Root)
	if err != nil {
		return err
	}
	var pendingUpdate bool
	if _, err := env.Store.Get(updateKey, &pendingUpdate); err != nil {
		return err
	}
	if len(pending) > 0 && !pendingUpdate {
		// Recorded before the files change: a crash after the write still
		// runs apt update on the next run.
		pendingUpdate = true
		if !s.Dry {
			if err := env.Store.Put(updateKey, true); err != nil {
				return err
			}
		}
	}
	s.Say(fmt.Sprintf("repos: PVE %d (%s)", p.rel.PVE, p.rel.Codename))
	if _, err := p.files.Converge(s); err != nil {
		return err
	}
	missing, err := client.Missing(ctx, p.packages...)
	if err != nil {
		return err
	}
	upgrade := m.upgradeDue(env)
	if m.update(env) && (pendingUpdate || len(missing) > 0 || upgrade) {
		s.Say("repos: apt-get update")
		if err := s.DoQuiet("apt-get update", func() error { return client.Update(ctx) }); err != nil {
			return err
		}
	}
	if pendingUpdate && !s.Dry {
		if err := env.Store.Delete(updateKey); err != nil {
			return err
		}
	}
	if upgrade {
		s.Say("repos: apt-get dist-upgrade")
		err := s.DoQuiet("apt-get dist-upgrade", func() error {
			if err := client.DistUpgrade(ctx); err != nil {
				return err
			}
			return env.Store.Put(upgradeKey, seed.SectionDigest(env.Seed, "repos"))
		})
		if err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		s.Say("repos: installing " + strings.Join(missing, " "))
		if s.Dry {
			return s.DoQuiet("install "+strings.Join(missing, " "), nil)
		}
		installed, err := client.Install(ctx, missing...)
		if err != nil {
			return err
		}
		if len(installed) > 0 {
			s.Changes = append(s.Changes, "install "+strings.Join(installed, " "))
		}
	}
	return nil
}

func (m *Module) update(env *modules.Env) bool {
	u := env.Seed.Repos.Update
	return u == nil || *u
}

func (m *Module) upgradeDue(env *modules.Env) bool {
	if !env.Seed.Repos.DistUpgrade {
		return false
	}
	var done string
	found, _ := env.Store.Get(upgradeKey, &done)
	return !found || done != seed.SectionDigest(env.Seed, "repos")
}
