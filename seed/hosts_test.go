package seed

import (
	"strings"
	"testing"
)

const fleetSeed = `version: 1
host:
  hostname: pve
  timezone: Europe/Berlin
  ntp: [0.pool.ntp.org, 1.pool.ntp.org]
network:
  management:
    name: vmbr0
    ports: [eno1]
    address: 192.168.10.10/24
    gateway: 192.168.10.1
  bridges:
    - name: vmbr1
      ports: [eno2]
      comment: storage
zfs:
  pools:
    - {name: tank, external: true}
  datasets:
    - {name: tank/vm, external: true}
    - {name: tank/fast, external: true}
  storages:
    - id: local-tank
      type: zfspool
      dataset: tank/vm
      content: [images, rootdir]
repos:
  packages: [htop]
users:
  - name: ops
    groups: [sudo]
hosts:
  - name: pve-a
    match: {serial: ABC123}
    overlay:
      host: {hostname: pve-a, ntp: [ntp.lab.example]}
      network:
        management: {address: 192.168.10.11/24}
        bridges:
          - name: vmbr1
            mtu: 9000
          - name: vmbr2
            ports: [eno3]
      zfs:
        storages:
          - id: local-tank
            dataset: tank/fast
      users:
        - name: backupops
  - match: {mac: "3C-EC-EF-00-00-02"}
    overlay:
      host: {hostname: pve-b, timezone: ~}
      repos: ~
`

func mustLoad(t *testing.T, text string) *Seed {
	t.Helper()
	s, err := Load("fleet.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHostsMerge(t *testing.T) {
	s := mustLoad(t, fleetSeed)
	a, why, err := s.For(Identity{Serial: "ABC123", MACs: []string{"3c:ec:ef:00:00:01"}})
	if err != nil || why != "hosts[0] (pve-a) matches" {
		t.Fatalf("%q %v", why, err)
	}
	if a.Host.Hostname != "pve-a" || a.Host.Timezone != "Europe/Berlin" || strings.Join(a.Host.NTP, ",") != "ntp.lab.example" {
		t.Errorf("host: keys merge, scalar lists replace: %+v", a.Host)
	}
	m := a.Network.Management
	if m.Address != "192.168.10.11/24" || m.Gateway != "192.168.10.1" || strings.Join(m.Ports, ",") != "eno1" {
		t.Errorf("management: %+v", m)
	}
	if len(a.Network.Bridges) != 2 || a.Network.Bridges[0].MTU != 9000 || a.Network.Bridges[0].Comment != "storage" || a.Network.Bridges[1].Name != "vmbr2" {
		t.Errorf("bridges merge by name: %+v", a.Network.Bridges)
	}
	if st := a.ZFS.Storages; len(st) != 1 || st[0].Dataset != "tank/fast" || st[0].Type != "zfspool" {
		t.Errorf("storages merge by id: %+v", st)
	}
	if len(a.Users) != 2 || a.Users[0].Name != "ops" || a.Users[1].Name != "backupops" {
		t.Errorf("users merge by name: %+v", a.Users)
	}
	if a.Hosts != nil {
		t.Errorf("the effective seed carries no hosts")
	}
	b, _, err := s.For(Identity{Serial: "X", MACs: []string{"aa:aa:aa:aa:aa:aa", "3c:ec:ef:00:00:02"}})
	if err != nil || b.Host.Hostname != "pve-b" || b.Host.Timezone != "" || b.Repos != nil {
		t.Fatalf("~ removes: %+v %v", b, err)
	}
	// Section digests follow the effective seed: b's overlay leaves
	// network alone, so its network digest is the base's.
	base, why, _ := s.For(Identity{Serial: "nobody"})
	if why != "no hosts entry matches; using the base seed" || base.Host.Hostname != "pve" {
		t.Fatalf("no match: %q %+v", why, base.Host)
	}
	if SectionDigest(b, "network") != SectionDigest(base, "network") || SectionDigest(b, "host") == SectionDigest(base, "host") {
		t.Errorf("digests: an overlay changes only the sections it touches")
	}
	if SectionDigest(a, "network") == SectionDigest(base, "network") {
		t.Errorf("a's network overlay must change its network digest")
	}
	// The base is unchanged by merging.
	if s.Host.Hostname != "pve" || len(s.Network.Bridges) != 1 || s.Network.Bridges[0].MTU != 0 {
		t.Errorf("base changed: %+v", s.Network.Bridges)
	}
}

func TestHostsMatchRules(t *testing.T) {
	s := mustLoad(t, fleetSeed)
	_, _, err := s.For(Identity{Serial: "ABC123", MACs: []string{"3c:ec:ef:00:00:02"}})
	if err == nil || !strings.Contains(err.Error(), "hosts[0] (pve-a) and hosts[1] (mac=3C-EC-EF-00-00-02) both match") {
		t.Fatalf("two matches: %v", err)
	}
	req := mustLoad(t, strings.Replace(fleetSeed, "hosts:\n", "hosts_required: true\nhosts:\n", 1))
	if _, _, err := req.For(Identity{Serial: "nobody"}); err == nil || !strings.Contains(err.Error(), "hosts_required") {
		t.Fatalf("required: %v", err)
	}
	if _, _, err := req.For(Identity{Serial: "ABC123"}); err != nil {
		t.Fatal(err)
	}
	// Every key of a match must hold.
	two := mustLoad(t, "version: 1\nhosts:\n  - match: {serial: S1, hostname: pve1}\n    overlay: {host: {hostname: pve1}}\n")
	if i, _ := two.HostIndex(Identity{Serial: "S1", Hostname: "other"}); i != -1 {
		t.Errorf("serial alone matched a serial+hostname entry")
	}
	if i, _ := two.HostIndex(Identity{Serial: "S1", Hostname: "PVE1"}); i != 0 {
		t.Errorf("serial+hostname (any case) did not match")
	}
}

func TestHostsValidation(t *testing.T) {
	for _, tc := range []struct {
		name, seed string
		want       []string
		none       []string
	}{{
		name: "overlay problem names its entry, at the overlay's line",
		seed: "version: 1\nhost:\n  hostname: pve\nhosts:\n  - name: pve-a\n    match: {serial: A}\n    overlay:\n      host: {hostname: \"bad name\"}\n  - match: {serial: B}\n",
		want: []string{`fleet.yaml:8:24: hosts[0] (pve-a): host.hostname: "bad name" is not`},
	}, {
		name: "a base problem is reported once, for the base",
		seed: "version: 1\nhost:\n  hostname: pve\n  timezone: \"not a zone\"\nhosts:\n  - match: {serial: A}\n  - match: {serial: B}\n",
		want: []string{"fleet.yaml:4:13: host.timezone:"},
		none: []string{"hosts[0]"},
	}, {
		name: "with hosts_required the base alone is not checked; shared problems once",
		seed: "version: 1\nhosts_required: true\nnetwork:\n  management:\n    name: vmbr0\n    ports: [eno1]\n    address: 10.0.0.1/8\n    gateway: 11.0.0.1\nhosts:\n  - match: {serial: A}\n    overlay: {host: {hostname: a}}\n  - match: {serial: B}\n    overlay: {host: {hostname: b}}\n  - match: {serial: C}\n    overlay: {host: {hostname: c}}\n",
		want: []string{"hosts[0] (serial=A) and 2 more: network.management.gateway"},
	}, {
		name: "match rules",
		seed: "version: 1\nhosts:\n  - match: {}\n  - match: {mac: zz, uuid: \"123\"}\n  - overlay: {}\n  - match: {serial: A}\n    overlay: {version: 1, hosts: []}\n  - match: {serial: A, hostname: x}\n  - match: {serial: A}\n    colour: red\n",
		want: []string{
			"hosts[0].match: required",
			`hosts[1].match.mac: "zz" is not a MAC`,
			`hosts[1].match.uuid: "123" is not a UUID`,
			"hosts[2].match: required",
			"hosts[3].overlay.version: not allowed in an overlay",
			"hosts[3].overlay.hosts: not allowed in an overlay",
			"hosts[4]: its match overlaps hosts[3] (serial=A)",
			"hosts[5]: its match overlaps hosts[4] (serial=A,hostname=x)",
			`hosts[5].colour: unknown key "colour"`,
			"hosts[5]: its match overlaps hosts[3]",
		},
	}, {
		name: "hosts_required without hosts",
		seed: "version: 1\nhosts_required: true\n",
		want: []string{"hosts_required: set, but there is no hosts list"},
	}, {
		name: "wrong shapes",
		seed: "version: 1\nhosts:\n  - match: {serial: A}\n    overlay: [1]\n  - 7\n",
		want: []string{"hosts[0].overlay: expected a mapping of seed sections", "hosts[1]: expected a mapping with match and overlay"},
	}} {
		_, err := Load("fleet.yaml", []byte(tc.seed))
		if err == nil {
			t.Errorf("%s: valid", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: no %q in\n%v", tc.name, w, err)
			}
		}
		for _, w := range tc.none {
			if strings.Contains(err.Error(), w) {
				t.Errorf("%s: unexpected %q in\n%v", tc.name, w, err)
			}
		}
		if n := strings.Count(err.Error(), "\n") + 1; strings.Contains(tc.name, "once") && n != len(tc.want) {
			t.Errorf("%s: %d problems, want %d:\n%v", tc.name, n, len(tc.want), err)
		}
	}
}

func TestHostsRender(t *testing.T) {
	s := mustLoad(t, fleetSeed)
	id := Identity{Serial: "ABC123"}
	out, why, err := s.Render(id)
	if err != nil || why != "hosts[0] (pve-a) matches" {
		t.Fatalf("%q %v", why, err)
	}
	if strings.Contains(string(out), "hosts") || strings.Contains(string(out), "ABC123") {
		t.Errorf("rendered seed still has the hosts list:\n%s", out)
	}
	again, err := Load("rendered.yaml", out)
	if err != nil {
		t.Fatalf("rendered seed does not load: %v\n%s", err, out)
	}
	eff, _, _ := s.For(id)
	for _, sec := range Sections {
		if SectionDigest(again, sec) != SectionDigest(eff, sec) {
			t.Errorf("%s: rendered seed differs from the effective one", sec)
		}
	}
}
