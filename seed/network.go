package seed

import (
	"net/netip"
	"strconv"
	"strings"
)

// Network is the host's bridges in the ifupdown2 format Proxmox uses.
type Network struct {
	Management Bridge   `yaml:"management" json:"management"`
	Bridges    []Bridge `yaml:"bridges,omitempty" json:"bridges,omitempty"`
	DNS        []string `yaml:"dns,omitempty" json:"dns,omitempty"`
	Search     []string `yaml:"search,omitempty" json:"search,omitempty"`
	// Rollback, when true (the default), restores the previous files if the
	// gateway is unreachable after ifreload.
	Rollback *bool `yaml:"rollback,omitempty" json:"rollback,omitempty"`
}

// Bridge is one Linux bridge (vmbrN).
type Bridge struct {
	Name      string   `yaml:"name" json:"name"`
	Ports     []string `yaml:"ports,omitempty" json:"ports,omitempty"`
	Address   string   `yaml:"address,omitempty" json:"address,omitempty"` // CIDR
	Gateway   string   `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	VLANAware bool     `yaml:"vlan_aware,omitempty" json:"vlan_aware,omitempty"`
	VIDs      string   `yaml:"vids,omitempty" json:"vids,omitempty"` // e.g. "2-4094"
	MTU       int      `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	Comment   string   `yaml:"comment,omitempty" json:"comment,omitempty"`
}

// check holds the network section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (n *Network) check(c *checker) {
	names := dups{}
	ports := dups{}
	addrs := dups{}
	gateways := 0
	bridge := func(path string, b *Bridge, mgmt bool) {
		if c.required(path+".name", b.Name) {
			c.pattern(path+".name", b.Name, reBridge.match, "a bridge name (vmbr0 .. vmbr9999)")
			names.seen(c, path+".name", b.Name, "bridge")
		}
		for i, p := range b.Ports {
			pp := index(path+".ports", i)
			if mac, ok := PortMAC(p); ok {
				// A NIC named by its MAC: the network module pins its
				// name (a systemd .link file) and writes that name.
				ports.seen(c, pp, mac, "bridge port")
				continue
			}
			if !reIface.match(p) {
				c.errf(pp, "%q is not a network interface name or MAC address (aa:bb:cc:dd:ee:ff)", p)
				continue
			}
			ports.seen(c, pp, p, "bridge port")
		}
		var prefix netip.Prefix
		okAddr := false
		if mgmt && b.Address == "" {
			c.required(path+".address", b.Address)
		} else if b.Address != "" {
			if prefix, okAddr = hostCIDR(b.Address); !okAddr {
				c.errf(path+".address", "%q is not an address in CIDR form (e.g. 192.168.1.10/24)", b.Address)
			} else if why := hostAddressProblem(prefix); why != "" {
				c.errf(path+".address", "%s %s: give a host address", prefix.Addr(), why)
			} else {
				addrs.seen(c, path+".address", prefix.Addr().String(), "address (one address on two bridges)")
			}
		}
		if b.Gateway != "" {
			gateways++
			gw, err := netip.ParseAddr(b.Gateway)
			switch {
			case err != nil || gw.Zone() != "":
				c.errf(path+".gateway", "%q is not an IP address", b.Gateway)
			case b.Address == "":
				c.errf(path+".gateway", "a gateway needs an address on the same bridge")
			case okAddr && !prefix.Masked().Contains(gw):
				c.errf(path+".gateway", "gateway %s is not in %s", b.Gateway, prefix.Masked())
			case okAddr && gw == prefix.Addr():
				c.errf(path+".gateway", "gateway %s is this bridge's own address: give the router's address", b.Gateway)
			case okAddr && hostAddressProblem(netip.PrefixFrom(gw, prefix.Bits())) != "":
				c.errf(path+".gateway", "gateway %s %s: give the router's address", gw, hostAddressProblem(netip.PrefixFrom(gw, prefix.Bits())))
			}
		}
		if b.VIDs != "" {
			if !b.VLANAware {
				c.errf(path+".vids", "vids needs vlan_aware: true")
			} else if !vidsOK(b.VIDs) {
				c.errf(path+".vids", "%q is not a VLAN list (e.g. \"2-4094\" or \"10 20-30\", ids 2..4094, no leading zeros)", b.VIDs)
			}
		}
		c.intRange(path+".mtu", b.MTU, 576, 65520, "")
		c.text(path+".comment", b.Comment)
		if why := IfaceCommentProblem(b.Comment); why != "" {
			c.errf(path+".comment", "%s", why)
		}
	}
	bridge("network.management", &n.Management, true)
	for i := range n.Bridges {
		bridge(index("network.bridges", i), &n.Bridges[i], false)
	}
	if gateways > 1 {
		c.errf("network", "only one bridge may have a gateway (the default route); found %d", gateways)
	}
	for i, d := range n.DNS {
		if !ip(d) {
			c.errf(index("network.dns", i), "%q is not an IP address", d)
		}
	}
	for i, d := range n.Search {
		if !domain(d) {
			c.errf(index("network.search", i), "%q is not a DNS domain", d)
		}
	}
}

// IsIfaceName reports whether s is a network interface name as the seed
// and the network module accept it.
func IsIfaceName(s string) bool { return reIface.match(s) }

// IsVIDs reports whether s is a bridge's VLAN id list ("2-4094", "10 20
// 30-40"), each id in 2..4094.
func IsVIDs(s string) bool { return vidsOK(s) }

// IfaceCommentProblem says why a bridge comment would change what
// ifupdown2 reads from /etc/network/interfaces, or "" when it is safe.
// ifupdown2 joins lines at every backslash, inside comments too
// (ifupdown/networkinterfaces.py process_interfaces: filedata.split('\\')),
// so a comment ending in one swallows the next line, often the next
// bridge's "auto" line (found by FuzzRenderInterfaces). With
// template_enable=1 (Debian's ifupdown2.conf:11) and python3-mako
// installed, the whole file is a Mako template first (read_filedata), so
// %, ${ and <% in a comment would run as template code. The network
// module refuses the same.
func IfaceCommentProblem(s string) string {
	switch {
	case strings.Contains(s, `\`):
		return `a backslash in a bridge comment joins the next line of /etc/network/interfaces into it (ifupdown2 line continuation): leave it out`
	case strings.Contains(s, "%") || strings.Contains(s, "${"):
		return `% and ${ in a bridge comment are template syntax for ifupdown2 (Mako): leave them out`
	}
	return ""
}

func vidsOK(s string) bool {
	if !reVIDs.match(s) {
		return false
	}
	for _, r := range strings.Fields(s) {
		lo, hi, isRange := strings.Cut(r, "-")
		if len(lo) > 1 && lo[0] == '0' || len(hi) > 1 && hi[0] == '0' {
			return false // ambiguous: 010 is 8 to a C or YAML 1.1 reader
		}
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if a < 2 || b > 4094 || a > b {
			return false
		}
	}
	return true
}

// bridgeRef checks a bridge a container uses: the management bridge or
// one in network.bridges when the seed has a network section.
func (c *checker) bridgeRef(path, name string) {
	if name == "" {
		return
	}
	if !reBridge.match(name) {
		c.errf(path, "%q is not a bridge name (vmbr0 .. vmbr9999)", name)
		return
	}
	if c.s.Network != nil && c.bridge(name) == nil {
		c.errf(path, "bridge %q is not declared in network (management or bridges)", name)
	}
}

// bridgeAddress is the path of the bridge address a equals, or "".
func (c *checker) bridgeAddress(a netip.Addr) string {
	n := c.s.Network
	if n == nil {
		return ""
	}
	check := func(path string, b *Bridge) string {
		if p, ok := hostCIDR(b.Address); ok && p.Addr() == a {
			return path
		}
		// The router the host routes through is not the host's, but a
		// container given its address takes it over just the same.
		if gw, err := netip.ParseAddr(b.Gateway); err == nil && gw == a {
			return strings.TrimSuffix(path, ".address") + ".gateway"
		}
		return ""
	}
	if at := check("network.management.address", &n.Management); at != "" {
		return at
	}
	for i := range n.Bridges {
		if at := check(index("network.bridges", i)+".address", &n.Bridges[i]); at != "" {
			return at
		}
	}
	return ""
}

// bridge is the seed's bridge of that name, nil when the seed has no
// network section or no such bridge.
func (c *checker) bridge(name string) *Bridge {
	n := c.s.Network
	if n == nil {
		return nil
	}
	if n.Management.Name == name {
		return &n.Management
	}
	for i := range n.Bridges {
		if n.Bridges[i].Name == name {
			return &n.Bridges[i]
		}
	}
	return nil
}

// PortMAC reports whether a bridge port is given as a MAC address
// (six colon-separated hex octets) and returns it in lower case, the form
// the kernel shows in /sys/class/net/*/address.
func PortMAC(p string) (string, bool) {
	if len(p) != 17 {
		return "", false
	}
	for i := 0; i < 17; i++ {
		ch := p[i]
		if i%3 == 2 {
			if ch != ':' {
				return "", false
			}
			continue
		}
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F') {
			return "", false
		}
	}
	return strings.ToLower(p), true
}
