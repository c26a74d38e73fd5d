package seed

import (
	"strconv"
	"strings"
)

// Firewall is the Proxmox host firewall (pve-firewall host.fw).
type Firewall struct {
	Enable *bool          `yaml:"enable,omitempty" json:"enable,omitempty"` // default true
	Rules  []FirewallRule `yaml:"rules,omitempty" json:"rules,omitempty"`
}

// FirewallRule is one inbound rule.
type FirewallRule struct {
	Action  string `yaml:"action" json:"action"` // ACCEPT, DROP, REJECT
	Proto   string `yaml:"proto,omitempty" json:"proto,omitempty"`
	Dport   string `yaml:"dport,omitempty" json:"dport,omitempty"`
	Source  string `yaml:"source,omitempty" json:"source,omitempty"`
	Comment string `yaml:"comment,omitempty" json:"comment,omitempty"`
}

// check holds the firewall section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (f *Firewall) check(c *checker) {
	for i, r := range f.Rules {
		rp := index("firewall.rules", i)
		switch r.Action {
		case "ACCEPT", "DROP", "REJECT":
		case "":
			c.required(rp+".action", r.Action)
		default:
			c.errf(rp+".action", "%q is not an action: use ACCEPT, DROP or REJECT", r.Action)
		}
		switch r.Proto {
		case "", "tcp", "udp", "icmp", "icmpv6", "sctp", "esp", "ah", "gre":
		default:
			c.errf(rp+".proto", "%q is not a protocol: use tcp, udp, icmp, icmpv6, sctp, esp, ah or gre", r.Proto)
		}
		if r.Dport != "" {
			if !portsOK(r.Dport) {
				c.errf(rp+".dport", "%q is not a port list (e.g. 22, 8006, 5900:5999 or 111,2049; ports 1..65535)", r.Dport)
			} else if leadingZero(r.Dport) {
				// Ambiguous literals are refused, not guessed: C's
				// strtoul(s, 0) and YAML 1.1 read 0022 as octal 18.
				c.errf(rp+".dport", "ambiguous port %q: a number with a leading zero reads as octal to some parsers: write it without the zero", r.Dport)
			} else if r.Proto != "tcp" && r.Proto != "udp" && r.Proto != "sctp" {
				c.errf(rp+".dport", "a destination port needs proto tcp, udp or sctp")
			}
		}
		if r.Source != "" {
			if _, ok := hostCIDR(r.Source); !ok && !ip(r.Source) {
				c.errf(rp+".source", "%q is not an IP address or CIDR", r.Source)
			}
		}
		c.text(rp+".comment", r.Comment)
	}
}

// leadingZero reports whether a port list holds a number written with a
// leading zero (0022).
func leadingZero(s string) bool {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ':' }) {
		if len(f) > 1 && f[0] == '0' {
			return true
		}
	}
	return false
}

func portsOK(s string) bool {
	if !reDport.match(s) {
		return false
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if a < 1 || b > 65535 || a > b {
			return false
		}
	}
	return true
}
