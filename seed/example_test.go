package seed

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const examplePath = "../docs/examples/seed.yaml"

// TestExample checks the shipped example is the realistic host the docs
// promise, not just that it parses.
func TestExample(t *testing.T) {
	s, err := LoadFile(examplePath)
	if err != nil {
		t.Fatalf("example rejected:\n%v", err)
	}
	z := s.ZFS
	if z == nil || len(z.Pools) != 2 {
		t.Fatalf("want two pools, got %+v", z)
	}
	if z.Pools[0].Layout != "mirror" || z.Pools[1].Layout != "raidz1" {
		t.Errorf("want a mirror and a raidz1 pool, got %s and %s", z.Pools[0].Layout, z.Pools[1].Layout)
	}
	if got := z.Pools[0].Properties["atime"]; got != "off" {
		t.Errorf(`atime: off must stay the string "off", got %q`, got)
	}
	types := map[string]bool{}
	for _, st := range z.Storages {
		types[st.Type] = true
	}
	if !types["zfspool"] || !types["dir"] {
		t.Errorf("want zfspool and dir storages, got %v", types)
	}
	// NFS and Samba share the same dataset mountpoints.
	mounts := map[string]bool{}
	for _, d := range z.Datasets {
		mounts[d.Mountpoint] = true
	}
	shared := 0
	for _, e := range s.NFS.Exports {
		for _, sh := range s.Samba.Shares {
			if e.Path == sh.Path && mounts[e.Path] {
				shared++
			}
		}
	}
	if shared == 0 {
		t.Error("want an NFS export and a Samba share on the same dataset mountpoint")
	}
	if len(s.Users) == 0 || s.Users[0].Sudo == "" || len(s.Users[0].SSHAuthorizedKeys) == 0 || s.Users[0].Proxmox == nil {
		t.Errorf("want an admin user with sudo, an SSH key and a Proxmox role, got %+v", s.Users)
	}
	if s.NVIDIA == nil {
		t.Error("want an nvidia section")
	}
	c := s.LXC.Containers
	if len(c) != 3 || c["900"] == nil || c["901"] == nil || c["902"] == nil {
		t.Fatalf("want containers 900, 901, 902, got %v", slices.Sorted(keys(c)))
	}
	if cf := c["901"].CloneFrom; cf == nil || cf.CTID != 900 || !slices.Contains(c["900"].Snapshots, cf.Snapshot) {
		t.Errorf("901 must clone a snapshot 900 takes, got %+v", cf)
	}
	if len(c["901"].GPUs) == 0 {
		t.Error("901 must get the GPU")
	}
	if !slices.Contains(c["902"].DependsOn, 901) {
		t.Error("902 must depend on 901")
	}
	if !strings.Contains(c["902"].Template, ":vztmpl/") {
		t.Error("902 must be created from a template")
	}
}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestSectionDigest checks digests are stable, per section, and "" for an
// absent section.
func TestSectionDigest(t *testing.T) {
	a, err := LoadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LoadFile(examplePath)
	for _, sec := range Sections {
		da, db := SectionDigest(a, sec), SectionDigest(b, sec)
		if da == "" || !strings.HasPrefix(da, "sha256:") || da != db {
			t.Errorf("%s: digests %q and %q", sec, da, db)
		}
	}
	b.LXC.Containers["902"].Memory++
	if SectionDigest(a, "lxc") == SectionDigest(b, "lxc") {
		t.Error("lxc digest did not change with a container's memory")
	}
	if SectionDigest(a, "zfs") != SectionDigest(b, "zfs") {
		t.Error("zfs digest changed with an lxc edit")
	}
	min, err := Load("min.yaml", []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range Sections {
		if d := SectionDigest(min, sec); d != "" {
			t.Errorf("absent %s digests to %q, want empty", sec, d)
		}
	}
	// The same content in YAML and JSON, with keys in another order,
	// digests the same.
	y, err := Load("s.yaml", []byte("version: 1\nhost: {hostname: pve, timezone: UTC}\n"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := Load("s.json", []byte(`{"host": {"timezone": "UTC", "hostname": "pve"}, "version": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if SectionDigest(y, "host") != SectionDigest(j, "host") {
		t.Error("YAML and JSON of the same host section digest differently")
	}
}

// TestJSONPositions checks that JSON seeds get line:col like YAML ones,
// including after `\/` escapes and multi-byte text.
func TestJSONPositions(t *testing.T) {
	data := "{\n  \"version\": 1,\n  \"host\": {\"domain\": \"caf\u00e9\\/x\", \"hostname\": \"a_b\"}\n}\n"
	_, err := Load("s.json", []byte(data))
	var rep *Report
	if !errors.As(err, &rep) {
		t.Fatalf("want *Report, got %v", err)
	}
	want := []string{
		`s.json:3:22: host.domain: "café/x" is not a DNS domain`,
		`s.json:3:45: host.hostname: "a_b" is not a hostname (one DNS label: letters, digits, '-'; put the rest in host.domain)`,
	}
	if got := strings.Split(rep.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestJSONDetection checks that a seed without a .json name is read as
// JSON when it is JSON, so `\/` works from the kernel command line too.
func TestJSONDetection(t *testing.T) {
	if _, err := Load("seed", []byte(`{"version": 1, "repos": {"proxy": "http:\/\/p:3128"}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("seed", []byte("{version: 1}")); err != nil {
		t.Fatalf("YAML flow mapping: %v", err)
	}
}

func TestReportJSON(t *testing.T) {
	_, err := Load("s.yaml", []byte("version: 1\nhost: {hostname: a_b}\n"))
	var rep *Report
	if !errors.As(err, &rep) {
		t.Fatalf("want *Report, got %v", err)
	}
	got := string(rep.JSON())
	for _, want := range []string{`"file": "s.yaml"`, `"valid": false`, `"line": 2`, `"col": 18`, `"path": "host.hostname"`} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON report lacks %s:\n%s", want, got)
		}
	}
}

// TestAliasBomb checks that alias expansion is bounded: 2000 aliased users
// of 1000 aliased groups each would be two million nodes.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nx-anchors:\n  g: &g [" + strings.Repeat("grp, ", 999) + "grp]\n")
	b.WriteString("  u: &u {name: u, groups: *g}\n")
	b.WriteString("users: [" + strings.Repeat("*u, ", 1999) + "*u]\n")
	_, err := Load("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many alias expansions") {
		t.Fatalf("want the expansion limit, got %.300v", err)
	}
}

// TestSecretsNotEchoed checks that a plaintext password written where a
// hash belongs never appears in the report.
func TestSecretsNotEchoed(t *testing.T) {
	const seed = "version: 1\nusers:\n  - {name: a, password_hash: hunter2}\n  - {name: b, password_hash: 314159}\n  - {name: c, password: s3cret}\n" +
		"samba:\n  users:\n    - {name: a, nt_hash: 271828}\n    - {name: b, password: s3cret}\n"
	_, err := Load("s.yaml", []byte(seed))
	if err == nil {
		t.Fatal("seed with plaintext passwords accepted")
	}
	for _, secret := range []string{"hunter2", "314159", "s3cret", "271828"} {
		if strings.Contains(err.Error(), secret) || reportLeaks(err, secret) {
			t.Errorf("report echoes %q:\n%v", secret, err)
		}
	}
}

// reportLeaks reports whether err's JSON report holds secret.
func reportLeaks(err error, secret string) bool {
	var rep *Report
	return errors.As(err, &rep) && strings.Contains(string(rep.JSON()), secret)
}
