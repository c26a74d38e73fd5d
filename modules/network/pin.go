package network

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// NIC name pinning, as pve-network-interface-pinning does it (pve-manager
// PVE/CLI/pve_network_interface_pinning.pm at 14a22df): one systemd .link
// file per NIC in /usr/local/lib/systemd/network (:177), named
// 50-pmx-NAME.link (:211-214; 50-pve- is the older prefix it still reads,
// :188-197), matching the NIC's MAC address and giving it a fixed name
// (:202-209). udev applies it whenever the device appears, so a new kernel
// whose naming policy would call the NIC something else (PVE 9 kernels do)
// still gives it the name bridge-ports uses.
//
// Unlike the tool's default (fresh nicN names, which need a reboot before
// anything can use them, :493), Phoenix pins the name the NIC has now: the
// file changes nothing in this boot, so the bridges can be written and
// confirmed right away, and it holds from the next boot on.
const (
	LinkDir = "/usr/local/lib/systemd/network"
	SysNet  = "/sys/class/net"
)

var linkNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^50-(?:pmx|pve)-(.+)\.link$`) })

// LinkFile is the .link file pinning name to mac, as the tool writes it.
func LinkFile(mac, name string) (string, []byte) {
	return path.Join(LinkDir, "50-pmx-"+name+".link"),
		[]byte(fmt.Sprintf("[Match]\nMACAddress=%s\nType=ether\n\n[Link]\nName=%s\n", mac, name))
}

type nic struct{ name, mac string }

// nics lists the physical NICs the kernel shows, as the tool picks them
// (:335-345): a device behind it (not a bridge, bond or veth), and not an
// SR-IOV virtual function (:329-333). ok is false when /sys/class/net
// cannot be read (an offline root).
func nics(r host.Root) (out []nic, ok bool) {
	ents, err := r.ReadDir(SysNet)
	if err != nil {
		return nil, false
	}
	for _, e := range ents {
		dir := path.Join(SysNet, e.Name())
		if !host.Exists(r, path.Join(dir, "device")) || host.Exists(r, path.Join(dir, "device/physfn")) {
			continue
		}
		b, err := r.ReadFile(path.Join(dir, "address"))
		if err != nil {
			continue
		}
		out = append(out, nic{name: e.Name(), mac: strings.ToLower(strings.TrimSpace(string(b)))})
	}
	return out, true
}

// pins reads the existing .link pins: MAC -> (name, file). The tool's
// parser (:151-175) takes key=value lines under [Match] and [Link].
func pins(r host.Root) (map[string][2]string, error) {
	out := map[string][2]string{}
	ents, err := r.ReadDir(LinkDir)
	if err != nil {
		return out, nil // none yet
	}
	for _, e := range ents {
		if !linkNameRE().MatchString(e.Name()) {
			continue
		}
		p := path.Join(LinkDir, e.Name())
		b, err := r.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var mac, name, section string
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			switch {
			case l == "" || l[0] == '#' || l[0] == ';':
			case l == "[Match]" || l == "[Link]":
				section = l
			case section == "[Match]" && strings.HasPrefix(l, "MACAddress="):
				mac = strings.ToLower(strings.TrimPrefix(l, "MACAddress="))
			case section == "[Link]" && strings.HasPrefix(l, "Name="):
				name = strings.TrimPrefix(l, "Name=")
			}
		}
		if mac != "" && name != "" {
			out[mac] = [2]string{name, p}
		}
	}
	return out, nil
}

type pinPlan struct {
	files files.Plan
	notes []string
}

// pin resolves ports given as MAC addresses to the NIC's name (in place,
// on copies of the Ports slices) and plans a .link file for every physical
// port that has none yet. A MAC no NIC has, or a pin the running system
// has not applied yet (the NIC still has another name), is an error: the
// bridge-ports line would name an interface that is not there.
func pin(r host.Root, bridges []seed.Bridge) (pinPlan, error) {
	var pp pinPlan
	all, ok := nics(r)
	byMAC, byName := map[string]nic{}, map[string]nic{}
	for _, n := range all {
		byMAC[n.mac], byName[n.name] = n, n
	}
	existing, err := pins(r)
	if err != nil {
		return pp, err
	}
	planned := map[string]bool{}
	want := func(n nic) error {
		if pin, ok := existing[n.mac]; ok {
			if pin[0] != n.name {
				return fmt.Errorf("NIC %s (%s) is pinned to the name %s by %s, which this boot has not applied yet: reboot, then run again", n.name, n.mac, pin[0], pin[1])
			}
			return nil
		}
		if planned[n.mac] {
			return nil
		}
		planned[n.mac] = true
		p, data := LinkFile(n.mac, n.name)
		pp.files = append(pp.files, files.File{Path: p, Data: data, Mode: 0o644, Why: "pin the name " + n.name + " to NIC " + n.mac})
		return nil
	}
	offlineNoted := false
	for bi := range bridges {
		b := &bridges[bi]
		b.Ports = slices.Clone(b.Ports)
		for i, p := range b.Ports {
			mac, isMAC := seed.PortMAC(p)
			switch {
			case isMAC && !ok:
				return pp, fmt.Errorf("%s port %s is a MAC address, but %s cannot be read to find its NIC", b.Name, p, SysNet)
			case isMAC:
				n, found := byMAC[mac]
				if !found {
					return pp, fmt.Errorf("%s port %s: no NIC has that MAC address (NICs: %s)", b.Name, p, describe(all))
				}
				b.Ports[i] = n.name
				if err := want(n); err != nil {
					return pp, err
				}
			case !ok:
				if !offlineNoted {
					pp.notes = append(pp.notes, SysNet+" not readable (an offline root?): NIC names not pinned; the next run on the host pins them")
					offlineNoted = true
				}
			default:
				if n, found := byName[p]; found {
					if err := want(n); err != nil {
						return pp, err
					}
				}
				// Not a physical NIC present now (a bond, a VLAN, a NIC
				// not plugged in): nothing to pin.
			}
		}
	}
	sort.Slice(pp.files, func(i, j int) bool { return pp.files[i].Path < pp.files[j].Path })
	return pp, nil
}

func describe(all []nic) string {
	if len(all) == 0 {
		return "none"
	}
	var s []string
	for _, n := range all {
		s = append(s, n.name+" "+n.mac)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
