package network

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/phoenix-pve/phoenix/seed"
)

// FuzzRenderInterfaces: a bridge's values as a seed gives them (port,
// address, gateway, VLAN ids, MTU, comment) are refused by validation or
// rendered so that the real ifupdown2 parser (networkInterfaces, run from
// the extracted .deb by testdata/ifparse.py, templates as ifupdown2.conf
// sets them) reads back the
// bridges and the port with exactly those values and no other option: a
// comment cannot add a line, a value cannot split into two options.
//
//	make build/ifupdown2
//	PHOENIX_IFUPDOWN2=$PWD/build/ifupdown2 go test ./modules/network -run '^$' -fuzz '^FuzzRenderInterfaces$' -parallel 1 -fuzztime 5m
func FuzzRenderInterfaces(f *testing.F) {
	dir := os.Getenv("PHOENIX_IFUPDOWN2")
	if dir == "" {
		f.Skip("PHOENIX_IFUPDOWN2 not set (make build/ifupdown2: an ifupdown2 .deb extracted with dpkg -x)")
	}
	script, err := filepath.Abs("testdata/ifparse.py")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct {
		port, addr, gw, vids, comment string
		mtu                           int
	}{
		{"eno1", "192.168.1.10/24", "192.168.1.1", "2-4094", "LAN", 1500},
		{"eno1.10", "10.0.0.2/8", "", "10 20-30", "a\n\taddress 1.2.3.4/8", 9000},
		{"enp3s0", "fd00::2/64", "fd00::1", "", `trailing \`, 0},
		{"eth-0", "10.1.1.1/30", "10.1.1.2", "", "# auto vmbr9", 576},
		{"x_y", "", "", "", "\\\niface vmbr8 inet dhcp", 0},
	} {
		f.Add(s.port, s.addr, s.gw, s.vids, s.comment, s.mtu)
	}
	share := filepath.Join(dir, "usr/share")
	conf := filepath.Join(dir, "etc/network/ifupdown2")
	f.Fuzz(func(t *testing.T, port, addr, gw, vids, comment string, mtu int) {
		br := map[string]any{"name": "vmbr0", "ports": []string{port}, "comment": comment}
		for k, v := range map[string]string{"address": addr, "gateway": gw, "vids": vids} {
			if v != "" {
				br[k] = v
			}
		}
		if vids != "" {
			br["vlan_aware"] = true
		}
		if mtu != 0 {
			br["mtu"] = mtu
		}
		data, _ := json.Marshal(map[string]any{"version": 1, "network": map[string]any{"management": br,
			// A second bridge after it: a value that swallows the next
			// line takes its auto line.
			"bridges": []any{map[string]any{"name": "vmbr1"}}}})
		s, err := seed.Load("seed.json", data)
		if err != nil {
			return // refused by validation
		}
		b := s.Network.Management
		sts, _, err := stanzas([]seed.Bridge{b, s.Network.Bridges[0]})
		if err != nil {
			t.Fatalf("validation accepts what the module refuses: %v\n%s", err, data)
		}
		text, err := withBridges("", sts)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "interfaces")
		if err := os.WriteFile(file, text, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("python3", script, share, conf, file).Output()
		if err != nil {
			t.Fatalf("ifupdown2's parser: %v\n%s", err, text)
		}
		var parsed struct {
			Ifaces []struct {
				Name   string              `json:"name"`
				Auto   bool                `json:"auto"`
				Config map[string][]string `json:"config"`
			} `json:"ifaces"`
			Errors int `json:"errors"`
		}
		if err := json.Unmarshal(out, &parsed); err != nil {
			t.Fatalf("parser output: %v\n%s", err, out)
		}
		if parsed.Errors != 0 {
			t.Fatalf("%d parse errors\n%s", parsed.Errors, text)
		}
		got := parsed.Ifaces
		want := map[string]map[string]string{
			b.Ports[0]: {},
			"vmbr0":    {"bridge-ports": b.Ports[0], "bridge-stp": "off", "bridge-fd": "0"},
			"vmbr1":    {"bridge-ports": "none", "bridge-stp": "off", "bridge-fd": "0"},
		}
		wb := want["vmbr0"]
		if b.Address != "" {
			wb["address"] = b.Address
		}
		if b.Gateway != "" {
			wb["gateway"] = b.Gateway
		}
		if b.VLANAware {
			wb["bridge-vlan-aware"] = "yes"
			wb["bridge-vids"] = b.VIDs
			if b.VIDs == "" {
				wb["bridge-vids"] = "2-4094"
			}
		}
		if b.MTU != 0 {
			wb["mtu"] = strconv.Itoa(b.MTU)
		}
		if len(got) != len(want) {
			t.Fatalf("%d interfaces read back, want %d\n%s\n%s", len(got), len(want), text, out)
		}
		for _, g := range got {
			w, ok := want[g.Name]
			if !ok {
				t.Fatalf("interface %q read back\n%s\n%s", g.Name, text, out)
			}
			if len(g.Config) != len(w) {
				t.Fatalf("%s: options %v, want %v\n%s", g.Name, g.Config, w, text)
			}
			for k, v := range w {
				if c := g.Config[k]; len(c) != 1 || c[0] != v {
					t.Fatalf("%s: %s reads back as %#v, want %q\n%s", g.Name, k, g.Config[k], v, text)
				}
			}
			if g.Name != b.Ports[0] && !g.Auto {
				t.Fatalf("%s is not auto\n%s", g.Name, text)
			}
		}
	})
}
