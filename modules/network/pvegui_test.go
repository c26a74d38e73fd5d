package network

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// guiRewrite is what the Proxmox GUI (and API) does to
// /etc/network/interfaces on any network edit: read the file into its
// model and write the whole model back. Ported from pve-common
// src/PVE/Network/Interfaces.pm at f665029 for the interfaces Phoenix and
// the installer write (loopback, physical NICs, Linux bridges; inet and
// inet6 families; unknown options and comments kept): the reader
// __read_etc_network_interfaces (:155-526), the writer
// __write_etc_network_interfaces (:801-1146) and __interface_to_string
// (:549-792). Bonds, VLANs, VXLAN and OVS are not ported: Phoenix writes
// none. edit, when set, changes the model between the two, as a GUI edit
// does. physical lists NICs the kernel has (ip link): PVE adds each one
// missing from the file (:330-339).
func guiRewrite(content string, physical []string, edit func(ifaces map[string]*pveIface)) string {
	ifaces, options := pveRead(content, physical)
	if edit != nil {
		edit(ifaces)
	}
	return pveWrite(ifaces, options)
}

type pveIface struct {
	priority  int
	autostart bool
	families  []string // "inet", "inet6", "" (no family)
	typ       string
	method    map[string]string // by suffix: "" (inet), "6"
	address   map[string]string
	netmask   map[string]string
	gateway   map[string]string
	options   map[string][]string
	comments  map[string]string
	settings  map[string]string // simple options and bridge keys, by PVE's id
	emptyBr   bool
	exists    bool
}

type pveOption struct {
	priority int
	line     string
}

// :162-175
var pveAlternatives = map[string]string{
	"bridge-vlan-aware": "bridge_vlan_aware", "bridge-fd": "bridge_fd", "bridge-stp": "bridge_stp",
	"bridge-ports": "bridge_ports", "bridge-vids": "bridge_vids", "ovs_mtu": "mtu",
}

// :214-238 (the ones that matter here)
var pveSimple = map[string]bool{"mtu": true, "bridge_fd": true, "bridge_vids": true, "bridge-access": true,
	"bridge-learning": true, "bridge-arp-nd-suppress": true, "bridge-unicast-flood": true,
	"bridge-multicast-flood": true, "bridge-disable-mac-learning": true, "link-type": true}

var (
	pveKeyword   = regexp.MustCompile(`^\s*(?:(?:iface|mapping|auto|source|source-directory)\s|allow-)`)
	pveIfaceLine = regexp.MustCompile(`^\s*iface\s+(\S+)(?:\s+(inet6?)\s+(\S+))?\s*$`)
	pveAutoLine  = regexp.MustCompile(`^\s*(allow-auto|auto|allow-ovs|allow-hotplug)\s+(.*)$`)
	pveComment   = regexp.MustCompile(`^\s*#(.*?)\s*$`)
	pveOptLine   = regexp.MustCompile(`^\s*((\S+)\s+(.+))$`)
	pvePhysical  = regexp.MustCompile(`^(?:eth\d+|en[^:.]+|ib[^:.]+|(?:nic|if)\d+)$`) // :19
)

func pveRead(content string, physical []string) (map[string]*pveIface, []pveOption) {
	ifaces := map[string]*pveIface{}
	get := func(n string) *pveIface {
		if ifaces[n] == nil {
			ifaces[n] = &pveIface{method: map[string]string{}, address: map[string]string{}, netmask: map[string]string{},
				gateway: map[string]string{}, options: map[string][]string{}, comments: map[string]string{}, settings: map[string]string{}}
		}
		return ifaces[n]
	}
	var options []pveOption
	priority := 2
	lines := strings.Split(content, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if regexp.MustCompile(`^\s*#`).MatchString(line) {
			continue // top-level comments are dropped (:181)
		}
		if m := pveAutoLine.FindStringSubmatch(line); m != nil {
			for _, n := range strings.Fields(m[2]) {
				get(n).autostart = true
			}
			continue
		}
		if m := pveIfaceLine.FindStringSubmatch(line); m != nil {
			d := get(m[1])
			if d.priority == 0 {
				d.priority = priority
				priority++
			}
			fam, suffix := m[2], ""
			if fam == "inet6" {
				suffix = "6"
			}
			d.families = append(d.families, fam)
			if m[3] != "" {
				d.method[suffix] = m[3]
			}
			for i+1 < len(lines) {
				l := strings.TrimRight(lines[i+1], " \t")
				if c := pveComment.FindStringSubmatch(l); c != nil {
					d.comments[suffix] += c[1] + "\n"
					i++
					continue
				}
				if pveKeyword.MatchString(l) {
					break
				}
				o := pveOptLine.FindStringSubmatch(l)
				if o == nil {
					break // a blank line ends the stanza
				}
				i++
				id, value := o[2], o[3]
				if alt, ok := pveAlternatives[id]; ok {
					id = alt
				}
				switch {
				case id == "address" || id == "netmask" || id == "gateway":
					switch id {
					case "address":
						d.address[suffix] = value
					case "netmask":
						d.netmask[suffix] = value
					case "gateway":
						d.gateway[suffix] = value
					}
				case pveSimple[id]:
					d.settings[id] = value
				case id == "bridge_ports":
					set := map[string]bool{}
					for _, p := range strings.Fields(value) {
						if p == "none" {
							d.emptyBr = true
							continue
						}
						set[p] = true
					}
					var ps []string
					for p := range set {
						ps = append(ps, p)
					}
					sort.Strings(ps) // :262-270
					if old, ok := d.settings["bridge_ports"]; ok && len(ps) > 0 {
						d.settings["bridge_ports"] = old + " " + strings.Join(ps, " ")
					} else {
						d.settings["bridge_ports"] = strings.Join(ps, " ")
					}
				case id == "bridge_stp":
					if regexp.MustCompile(`(?i)^\s*(on|yes)\s*$`).MatchString(value) {
						d.settings[id] = "on"
					} else {
						d.settings[id] = "off"
					}
				case id == "bridge_vlan_aware":
					d.settings[id] = "1"
				default:
					d.options[suffix] = append(d.options[suffix], o[1])
				}
			}
			continue
		}
		if regexp.MustCompile(`\w`).MatchString(line) {
			options = append(options, pveOption{priority, line})
			priority++
		}
	}
	for _, p := range physical { // :330-339
		get(p).exists = true
	}
	if ifaces["lo"] == nil { // :347-354
		d := get("lo")
		d.priority, d.autostart, d.method[""], d.families = 1, true, "loopback", []string{"inet"}
	}
	for name, d := range ifaces { // :356-526
		_, hasPorts := d.settings["bridge_ports"]
		switch {
		case hasPorts || d.emptyBr:
			d.typ = "bridge"
			if _, ok := d.settings["bridge_stp"]; !ok {
				d.settings["bridge_stp"] = "off"
			}
			if _, ok := d.settings["bridge_fd"]; !ok && d.settings["bridge_stp"] == "off" {
				d.settings["bridge_fd"] = "0"
			}
		case pvePhysical.MatchString(name):
			d.typ = "eth"
		case name == "lo":
			d.typ = "loopback"
		default:
			d.typ = "unknown"
		}
		if d.method[""] == "" {
			d.method[""] = "manual"
		}
		if d.method["6"] == "" {
			d.method["6"] = "manual"
		}
		if c := d.comments["6"]; c != "" { // :497-499
			d.comments[""] += c
			delete(d.comments, "6")
		}
		if len(d.families) == 0 {
			d.families = []string{"inet"}
		}
	}
	return ifaces, options
}

// :1064-1066
var pveTypePrio = map[string]int{"loopback": 100000, "eth": 200000, "bridge": 500000}

func pveWrite(ifaces map[string]*pveIface, options []pveOption) string {
	var b strings.Builder
	b.WriteString(`# network interface settings; autogenerated
# Please do NOT modify this file directly, unless you know what
# you're doing.
#
# If you want to manage parts of the network configuration manually,
# please utilize the 'source' or 'source-directory' directives to do
# so.
# PVE will preserve these directives, but will NOT read its network
# configuration from sourced files, so do not attempt to move any of
# the PVE managed interfaces into external files!

`)
	var names []string
	for n := range ifaces {
		names = append(names, n)
	}
	prio := func(n string) (int, bool) {
		root := regexp.MustCompile(`[.:]`).Split(n, 2)[0]
		t := ""
		if d := ifaces[root]; d != nil {
			t = d.typ
		}
		p, ok := pveTypePrio[t]
		return p + strings.Count(n, ".") + strings.Count(n, ":"), ok
	}
	sort.Slice(names, func(i, j int) bool { // :1084-1102
		a, b := names[i], names[j]
		ta, oka := prio(a)
		tb, okb := prio(b)
		if !oka || !okb {
			ta, tb = 0, 0
		}
		pa, pb := ifaces[a].priority, ifaces[b].priority
		if pa == 0 {
			pa = 50000
		}
		if pb == 0 {
			pb = 50000
		}
		if ta+pa != tb+pb {
			return ta+pa < tb+pb
		}
		return a < b
	})
	for _, n := range names {
		d := ifaces[n]
		if len(options) > 0 && options[0].priority < d.priority {
			for len(options) > 0 && options[0].priority < d.priority {
				b.WriteString(options[0].line + "\n")
				options = options[1:]
			}
			b.WriteString("\n")
		}
		if d.autostart {
			b.WriteString("auto " + n + "\n")
		}
		for i, fam := range d.families {
			b.WriteString(pveIfaceString(n, d, fam, i == 0))
		}
	}
	for _, o := range options {
		b.WriteString(o.line + "\n")
	}
	return b.String()
}

func pveIfaceString(name string, d *pveIface, family string, first bool) string {
	suffix := ""
	if family == "inet6" {
		suffix = "6"
	}
	if family != "" && d.method[suffix] == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("iface " + name)
	if family != "" {
		b.WriteString(" " + family + " " + d.method[suffix])
	}
	b.WriteString("\n")
	addAddr := func(s string) {
		if a := d.address[s]; a != "" {
			if !regexp.MustCompile(`/\d+$`).MatchString(a) && d.netmask[s] != "" {
				if _, err := strconv.Atoi(d.netmask[s]); err == nil {
					a += "/" + d.netmask[s]
				}
			}
			b.WriteString("\taddress " + a + "\n")
		}
		if g := d.gateway[s]; g != "" {
			b.WriteString("\tgateway " + g + "\n")
		}
	}
	if family != "" {
		addAddr(suffix)
	} else {
		addAddr("")
		addAddr("6")
	}
	done := map[string]bool{}
	if first && d.typ == "bridge" { // :606-640
		ports := d.settings["bridge_ports"]
		if ports == "" {
			ports = "none"
		}
		b.WriteString("\tbridge-ports " + ports + "\n")
		stp := d.settings["bridge_stp"]
		b.WriteString("\tbridge-stp " + stp + "\n")
		if fd, ok := d.settings["bridge_fd"]; ok {
			n, _ := strconv.Atoi(fd)
			if stp == "off" || (n >= 2 && n <= 30) {
				b.WriteString("\tbridge-fd " + fd + "\n")
			}
		} else if stp == "off" {
			b.WriteString("\tbridge-fd 0\n")
		}
		if _, ok := d.settings["bridge_vlan_aware"]; ok {
			vids := d.settings["bridge_vids"]
			if vids == "" {
				vids = "2-4094"
			}
			b.WriteString("\tbridge-vlan-aware yes\n\tbridge-vids " + vids + "\n")
		}
		if m := d.settings["mtu"]; m != "" {
			b.WriteString("\tmtu " + m + "\n")
		}
		for _, k := range []string{"bridge_ports", "bridge_stp", "bridge_fd", "bridge_vlan_aware", "bridge_vids", "mtu", "bridge-disable-mac-learning"} {
			done[k] = true
		}
	}
	if first { // :763-770: other settings, sorted, truthy only
		var keys []string
		for k := range d.settings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if done[k] || d.settings[k] == "" || d.settings[k] == "0" {
				continue
			}
			b.WriteString(fmt.Sprintf("\t%s %s\n", k, d.settings[k]))
		}
	}
	addOpts := func(s string) { // :772-781
		for _, o := range d.options[s] {
			b.WriteString("\t" + o + "\n")
		}
		for _, c := range strings.Split(strings.TrimSuffix(d.comments[s], "\n"), "\n") {
			if d.comments[s] != "" {
				b.WriteString("#" + c + "\n")
			}
		}
	}
	if family != "" {
		addOpts(suffix)
	} else {
		addOpts("")
		addOpts("6")
	}
	b.WriteString("\n")
	return b.String()
}
