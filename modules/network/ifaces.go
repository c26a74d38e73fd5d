package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/seed"
)

// Phoenix writes its bridges into /etc/network/interfaces itself, the only
// file Proxmox reads its network from: pve-common
// src/PVE/Network/Interfaces.pm:1057-1062 (the header PVE writes) says PVE
// "will NOT read its network configuration from sourced files", and the
// GUI's bridge selector lists what that file holds. Each interface Phoenix
// owns (a bridge of the seed and its ports) is one stanza written as PVE's
// own writer writes it (__interface_to_string, Interfaces.pm:549-792), so
// a later GUI edit, which rewrites the whole file in that form, leaves the
// stanzas byte for byte as they are and a reseed converges with no change.
// Everything else in the file (other interfaces, source lines, an inet6
// family of an owned bridge, options the seed does not set) is kept where
// it is.

// stanza is one interface Phoenix owns, rendered without its extras.
type stanza struct {
	name   string
	auto   bool   // an "auto NAME" line goes before it
	method string // inet method: static, dhcp, manual
	lines  []string
	// owns reports whether an option key of an existing stanza is the
	// seed's (replaced) rather than the admin's (kept).
	owns func(key string) bool
	// comment is the seed's comment; "" keeps the admin's.
	comment string
}

// bridgeKeys are the options a seed bridge always sets, in both the
// spellings ifupdown2 accepts (PVE's reader maps them: Interfaces.pm:
// 162-175).
var bridgeKeys = map[string]bool{
	"address": true, "netmask": true, "gateway": true, "broadcast": true,
	"bridge-ports": true, "bridge_ports": true, "bridge-stp": true, "bridge_stp": true,
	"bridge-fd": true, "bridge_fd": true, "bridge-vlan-aware": true, "bridge_vlan_aware": true,
	"bridge-vids": true, "bridge_vids": true,
}

// portKeys are the options a port stanza ("inet manual") owns: it carries
// no address once it is in a bridge (PVE refuses that,
// Interfaces.pm:1015-1017).
var portKeys = map[string]bool{"address": true, "netmask": true, "gateway": true, "broadcast": true}

// stanzas renders the seed's bridges and their ports (ports already
// resolved to interface names) in PVE's form, ports first as PVE orders
// them (eth before bridge, Interfaces.pm:1070-1082).
func stanzas(bridges []seed.Bridge) ([]stanza, []string, error) {
	var ports, brs []stanza
	var owned []string
	seen := map[string]bool{}
	own := func(name, what string) error {
		if !seed.IsIfaceName(name) {
			return fmt.Errorf("%s %q is not an interface name", what, name)
		}
		if seen[name] {
			return fmt.Errorf("interface %q is defined twice", name)
		}
		seen[name] = true
		owned = append(owned, name)
		return nil
	}
	for i, br := range bridges {
		if err := own(br.Name, "bridge"); err != nil {
			return nil, nil, err
		}
		for _, port := range br.Ports {
			if err := own(port, "port of "+br.Name); err != nil {
				return nil, nil, err
			}
			ports = append(ports, stanza{name: port, method: "manual",
				lines: []string{"iface " + port + " inet manual"},
				owns:  func(k string) bool { return portKeys[k] }})
		}
		if why := seed.IfaceCommentProblem(br.Comment); why != "" {
			return nil, nil, fmt.Errorf("%s.comment %q: %s", br.Name, br.Comment, why)
		}
		st := stanza{name: br.Name, auto: true, method: "manual", comment: strings.ReplaceAll(br.Comment, "\n", " ")}
		if br.Address != "" {
			if _, err := netip.ParsePrefix(br.Address); err != nil {
				return nil, nil, fmt.Errorf("%s.address %q: want an address with prefix length like 192.168.1.10/24", br.Name, br.Address)
			}
			st.method = "static"
		} else if i == 0 {
			st.method = "dhcp"
		}
		l := []string{"iface " + br.Name + " inet " + st.method}
		if br.Address != "" {
			l = append(l, "\taddress "+br.Address)
		}
		if br.Gateway != "" {
			gw, err := netip.ParseAddr(br.Gateway)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.gateway %q: %w", br.Name, br.Gateway, err)
			}
			if pfx, err := netip.ParsePrefix(br.Address); err == nil && pfx.Addr() == gw {
				// The commit-confirm check pings the gateway: the host
				// would answer itself and confirm any change.
				return nil, nil, fmt.Errorf("%s.gateway %s is this host's own address", br.Name, br.Gateway)
			}
			l = append(l, "\tgateway "+br.Gateway)
		}
		// PVE's reader sorts the ports (Interfaces.pm:262-270); its
		// writer prints none for an empty bridge (:609-612).
		ps := "none"
		if len(br.Ports) > 0 {
			sorted := slices.Clone(br.Ports)
			slices.Sort(sorted)
			ps = strings.Join(sorted, " ")
		}
		l = append(l, "\tbridge-ports "+ps, "\tbridge-stp off", "\tbridge-fd 0")
		if br.VLANAware {
			vids := br.VIDs
			if vids == "" {
				vids = "2-4094"
			}
			if !seed.IsVIDs(vids) {
				return nil, nil, fmt.Errorf("%s.vids %q: want VLAN ids like \"2-4094\" or \"10 20 30-40\"", br.Name, vids)
			}
			l = append(l, "\tbridge-vlan-aware yes", "\tbridge-vids "+vids)
		} else if br.VIDs != "" {
			return nil, nil, fmt.Errorf("%s.vids needs vlan_aware: true", br.Name)
		}
		mtu := br.MTU != 0
		if mtu {
			if br.MTU < 576 || br.MTU > 65535 {
				return nil, nil, fmt.Errorf("%s.mtu %d out of range", br.Name, br.MTU)
			}
			l = append(l, "\tmtu "+strconv.Itoa(br.MTU))
		}
		st.lines = l
		st.owns = func(k string) bool { return bridgeKeys[k] || (mtu && k == "mtu") }
		brs = append(brs, st)
	}
	return append(ports, brs...), owned, nil
}

// chunk is a piece of /etc/network/interfaces as PVE's reader sees it
// (Interfaces.pm:180-326): an iface stanza (its line and the option and
// comment lines after it, up to a blank line or the next stanza keyword),
// an auto-style line, or any other line.
type chunk struct {
	iface  string // interface of an iface stanza
	family string // inet, inet6 or ""
	auto   bool   // an auto / allow-auto / allow-hotplug line
	lines  []string
}

func isKeyword(line string) bool {
	t := strings.TrimLeft(line, " \t")
	for _, k := range []string{"iface", "mapping", "auto", "source", "source-directory"} {
		if strings.HasPrefix(t, k+" ") || strings.HasPrefix(t, k+"\t") {
			return true
		}
	}
	return strings.HasPrefix(t, "allow-")
}

func parseChunks(content string) []chunk {
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	if content == "" {
		lines = nil
	}
	var out []chunk
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "iface" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
			c := chunk{iface: f[1], lines: []string{l}}
			if len(f) >= 3 {
				c.family = f[2]
			}
			for i+1 < len(lines) {
				n := lines[i+1]
				if strings.TrimSpace(n) == "" || isKeyword(n) {
					break
				}
				c.lines = append(c.lines, n)
				i++
			}
			out = append(out, c)
		case len(f) >= 2 && (f[0] == "auto" || f[0] == "allow-auto" || f[0] == "allow-hotplug"):
			out = append(out, chunk{auto: true, lines: []string{l}})
		default:
			out = append(out, chunk{lines: []string{l}})
		}
	}
	return out
}

// optionKey is the key of an option line ("\tmtu 9000" -> "mtu"), "" for a
// comment.
func optionKey(line string) string {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, "#") {
		return ""
	}
	k, _, _ := strings.Cut(t, " ")
	k, _, _ = strings.Cut(k, "\t")
	return k
}

// render is st with what the admin added to the existing stanza old
// (options the seed does not set, and comments unless the seed has one)
// after the seed's options, where PVE's writer puts them (other settings,
// options, then comments: Interfaces.pm:763-789).
func (st stanza) render(old []string) []string {
	out := slices.Clone(st.lines)
	var comments []string
	for _, l := range old[min(1, len(old)):] {
		k := optionKey(l)
		switch {
		case k == "":
			comments = append(comments, strings.TrimSpace(l))
		case !st.owns(k):
			out = append(out, "\t"+strings.TrimSpace(l))
		}
	}
	if st.comment != "" {
		comments = []string{"#" + st.comment}
	}
	return append(out, comments...)
}

// mergeInterfaces puts the stanzas into content: each replaces the inet
// (or family-less) stanza of its interface where it stands, later
// duplicates of it are dropped, its name leaves every auto line, and a
// bridge gets "auto NAME" right before it. Interfaces not there yet are
// appended. The rest of content is kept as it is.
func mergeInterfaces(content string, want []stanza) string {
	byName := map[string]int{}
	for i, st := range want {
		byName[st.name] = i
	}
	done := map[string]bool{}
	var out []string
	for _, c := range parseChunks(content) {
		switch {
		case c.auto:
			f := strings.Fields(c.lines[0])
			var keep []string
			for _, n := range f[1:] {
				if _, ok := byName[n]; !ok {
					keep = append(keep, n)
				}
			}
			if len(keep) > 0 {
				out = append(out, f[0]+" "+strings.Join(keep, " "))
			}
			continue
		case c.iface != "" && (c.family == "inet" || c.family == ""):
			i, ok := byName[c.iface]
			if !ok {
				break
			}
			if done[c.iface] {
				continue // a duplicate stanza: the first one is Phoenix's now
			}
			done[c.iface] = true
			if want[i].auto {
				out = append(out, "auto "+c.iface)
			}
			out = append(out, want[i].render(c.lines)...)
			continue
		}
		out = append(out, c.lines...)
	}
	for _, st := range want {
		if done[st.name] {
			continue
		}
		if n := len(out); n > 0 && strings.TrimSpace(out[n-1]) != "" {
			out = append(out, "")
		}
		if st.auto {
			out = append(out, "auto "+st.name)
		}
		out = append(out, st.render(nil)...)
		out = append(out, "")
	}
	// One blank line at most at the end, as PVE leaves it.
	for len(out) > 1 && out[len(out)-1] == "" && out[len(out)-2] == "" {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}
