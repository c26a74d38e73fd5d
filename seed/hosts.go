package seed

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// HostEntry is one item of `hosts:`: a match on the machine's identity and
// an overlay merged into the base seed for that machine.
type HostEntry struct {
	// Name labels the entry in messages; optional.
	Name  string    `yaml:"name,omitempty" json:"name,omitempty"`
	Match HostMatch `yaml:"match" json:"match"`
	// Overlay holds any top-level keys but version and hosts. Mappings
	// merge key by key, lists of things with a `name` (or `id`) merge item
	// by item, anything else replaces the base's value, and `~` removes it.
	Overlay *Seed `yaml:"overlay,omitempty" json:"overlay,omitempty"`

	node      *yaml.Node // the effective seed's root node (base + overlay)
	effective *Seed
}

// HostMatch says which machine an entry is for. Every key given must match:
// serial and uuid against DMI (/sys/class/dmi/id product_serial and
// product_uuid), mac against any NIC, hostname against /etc/hostname.
type HostMatch struct {
	Serial   string `yaml:"serial,omitempty" json:"serial,omitempty"`
	UUID     string `yaml:"uuid,omitempty" json:"uuid,omitempty"`
	MAC      string `yaml:"mac,omitempty" json:"mac,omitempty"`
	Hostname string `yaml:"hostname,omitempty" json:"hostname,omitempty"`
}

// Identity is what a machine is matched by.
type Identity struct {
	Serial, UUID, Hostname string
	MACs                   []string
}

// String is the entry's label: its name or its match.
func (h *HostEntry) label() string {
	if h.Name != "" {
		return h.Name
	}
	return h.Match.String()
}

func (m HostMatch) String() string {
	var parts []string
	for _, kv := range [][2]string{{"serial", m.Serial}, {"uuid", m.UUID}, {"mac", m.MAC}, {"hostname", m.Hostname}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, ",")
}

func normMAC(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", ":") }

// matches reports whether every key the entry gives matches id. UUIDs,
// MACs and host names compare without case; serials exactly (trimmed).
func (m HostMatch) matches(id Identity) bool {
	if m == (HostMatch{}) {
		return false
	}
	if m.Serial != "" && strings.TrimSpace(m.Serial) != strings.TrimSpace(id.Serial) {
		return false
	}
	if m.UUID != "" && !strings.EqualFold(m.UUID, id.UUID) {
		return false
	}
	if m.Hostname != "" && !strings.EqualFold(m.Hostname, id.Hostname) {
		return false
	}
	if m.MAC != "" {
		found := false
		for _, mac := range id.MACs {
			found = found || normMAC(mac) == normMAC(m.MAC)
		}
		if !found {
			return false
		}
	}
	return true
}

// HostIndex returns the index of the one entry matching id, -1 when none
// matches (and the seed does not require a match). Two matches are an
// error naming both.
func (s *Seed) HostIndex(id Identity) (int, error) {
	found := -1
	for i := range s.Hosts {
		if !s.Hosts[i].Match.matches(id) {
			continue
		}
		if found >= 0 {
			return -1, fmt.Errorf("seed: hosts[%d] (%s) and hosts[%d] (%s) both match this machine (%s): make the matches exclusive",
				found, s.Hosts[found].label(), i, s.Hosts[i].label(), id)
		}
		found = i
	}
	if found < 0 && s.HostsRequired {
		return -1, fmt.Errorf("seed: no hosts entry matches this machine (%s) and hosts_required is set", id)
	}
	return found, nil
}

func (id Identity) String() string {
	return fmt.Sprintf("serial=%q uuid=%q hostname=%q macs=%s", id.Serial, id.UUID, id.Hostname, strings.Join(id.MACs, ","))
}

// For returns the effective seed for a machine: the base plus the one
// matching overlay (validated by Load), and a line saying which entry
// matched. A seed without hosts is its own effective seed.
func (s *Seed) For(id Identity) (*Seed, string, error) {
	if len(s.Hosts) == 0 && !s.HostsRequired {
		return s, "", nil
	}
	i, err := s.HostIndex(id)
	if err != nil {
		return nil, "", err
	}
	if i < 0 {
		return s.baseOnly(), "no hosts entry matches; using the base seed", nil
	}
	return s.Hosts[i].effective, fmt.Sprintf("hosts[%d] (%s) matches", i, s.Hosts[i].label()), nil
}

// HostSeeds is every seed this file can run as: the base (unless
// hosts_required) and each entry's effective seed.
func (s *Seed) HostSeeds() []*Seed {
	var out []*Seed
	if !s.HostsRequired {
		out = append(out, s.baseOnly())
	}
	for i := range s.Hosts {
		if s.Hosts[i].effective != nil {
			out = append(out, s.Hosts[i].effective)
		}
	}
	return out
}

// baseOnly is the seed without its hosts list.
func (s *Seed) baseOnly() *Seed {
	b := *s
	b.Hosts, b.HostsRequired = nil, false
	return &b
}

// Render prints the effective seed for a machine as YAML: the base's and
// the overlay's own text (comments kept), without the hosts list.
func (s *Seed) Render(id Identity) ([]byte, string, error) {
	if _, why, err := s.For(id); err != nil {
		return nil, why, err
	}
	node := s.base
	i, _ := s.HostIndex(id)
	why := "no hosts entry matches; the base seed"
	if i >= 0 {
		node = s.Hosts[i].node
		why = fmt.Sprintf("hosts[%d] (%s) matches", i, s.Hosts[i].label())
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, why, err
	}
	return buf.Bytes(), why, enc.Close()
}

// splitHosts takes hosts and hosts_required out of the root mapping: the
// base is validated (and merged into) without them.
func splitHosts(root *yaml.Node) (base, hosts, required *yaml.Node) {
	if root.Kind != yaml.MappingNode {
		return root, nil, nil
	}
	var keep []*yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "hosts":
			hosts = root.Content[i+1]
		case "hosts_required":
			required = root.Content[i+1]
		default:
			keep = append(keep, root.Content[i], root.Content[i+1])
		}
	}
	if hosts == nil && required == nil {
		return root, nil, nil
	}
	b := *root
	b.Content = keep
	return &b, hosts, required
}

// identityKeys name the things a list merges by.
var identityKeys = []string{"name", "id"}

// mergeNode merges over into base without changing either: mappings key
// by key, lists of named (or id'd) mappings item by item, anything else
// replaced by over. A null over removes the value (nil result).
func mergeNode(base, over *yaml.Node) *yaml.Node {
	for base != nil && base.Kind == yaml.AliasNode && base.Alias != nil {
		base = base.Alias
	}
	for over.Kind == yaml.AliasNode && over.Alias != nil {
		over = over.Alias
	}
	if over.Kind == yaml.ScalarNode && over.Tag == "!!null" {
		return nil
	}
	if base == nil || base.Kind != over.Kind {
		return over
	}
	switch over.Kind {
	case yaml.MappingNode:
		out := *over
		out.Style = base.Style // render in the base's layout
		out.Content = append([]*yaml.Node(nil), base.Content...)
		for i := 0; i+1 < len(over.Content); i += 2 {
			k, v := over.Content[i], over.Content[i+1]
			j := mapIndex(out.Content, k.Value)
			if j < 0 {
				if m := mergeNode(nil, v); m != nil {
					out.Content = append(out.Content, k, m)
				}
				continue
			}
			if m := mergeNode(out.Content[j+1], v); m != nil {
				out.Content[j+1] = m
			} else {
				out.Content = append(out.Content[:j:j], out.Content[j+2:]...)
			}
		}
		return &out
	case yaml.SequenceNode:
		key := listKey(base, over)
		if key == "" {
			return over
		}
		out := *over
		out.Style = base.Style
		out.Content = append([]*yaml.Node(nil), base.Content...)
		for _, item := range over.Content {
			id := itemID(item, key)
			j := -1
			for x, b := range out.Content {
				if itemID(b, key) == id {
					j = x
					break
				}
			}
			switch m := mergeNode(nil, item); {
			case j < 0 && m != nil:
				out.Content = append(out.Content, item)
			case j >= 0:
				if merged := mergeNode(out.Content[j], item); merged != nil {
					out.Content[j] = merged
				}
			}
		}
		return &out
	}
	return over
}

func mapIndex(content []*yaml.Node, key string) int {
	for i := 0; i+1 < len(content); i += 2 {
		if content[i].Value == key {
			return i
		}
	}
	return -1
}

// listKey is the identity key every item of both lists has, or "".
func listKey(lists ...*yaml.Node) string {
	for _, k := range identityKeys {
		ok := true
		for _, l := range lists {
			for _, item := range l.Content {
				ok = ok && itemID(item, k) != ""
			}
		}
		if ok {
			return k
		}
	}
	return ""
}

func itemID(item *yaml.Node, key string) string {
	for item.Kind == yaml.AliasNode && item.Alias != nil {
		item = item.Alias
	}
	if item.Kind != yaml.MappingNode {
		return ""
	}
	if j := mapIndex(item.Content, key); j >= 0 && item.Content[j+1].Kind == yaml.ScalarNode {
		return item.Content[j+1].Value
	}
	return ""
}

// loadHosts decodes the hosts list, merges every overlay into the base and
// validates each effective seed. Problems name the entry; one that is the
// same for several entries (from the base) is reported once.
func loadHosts(rep *Report, s *Seed, basePos map[string]pos, base, hosts, required *yaml.Node, fromBase map[Problem]bool) {
	if hosts == nil {
		if s.HostsRequired {
			rep.add(required.Line, required.Column, "hosts_required", "set, but there is no hosts list")
		}
		return
	}
	for hosts.Kind == yaml.AliasNode && hosts.Alias != nil {
		hosts = hosts.Alias
	}
	if hosts.Kind != yaml.SequenceNode {
		rep.add(hosts.Line, hosts.Column, "hosts", "expected a list, got %s", kindName(hosts))
		return
	}
	s.Hosts = make([]HostEntry, len(hosts.Content))
	type seen struct {
		first, more int
	}
	shared := map[Problem]*seen{}
	var order []Problem
	for i, item := range hosts.Content {
		path := index("hosts", i)
		h := &s.Hosts[i]
		for item.Kind == yaml.AliasNode && item.Alias != nil {
			item = item.Alias
		}
		if item.Kind != yaml.MappingNode {
			rep.add(item.Line, item.Column, path, "expected a mapping with match and overlay, got %s", kindName(item))
			continue
		}
		// name and match through the strict decoder; overlay by merging.
		var overlay *yaml.Node
		head := *item
		head.Content = nil
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == "overlay" {
				overlay = item.Content[j+1]
				continue
			}
			head.Content = append(head.Content, item.Content[j], item.Content[j+1])
		}
		d := &decoder{rep: rep, pos: map[string]pos{}, bad: map[string]bool{}}
		d.decode(&head, reflect.ValueOf(h).Elem(), path, false)
		checkMatch(rep, h, item, path)
		if overlay == nil {
			overlay = &yaml.Node{Kind: yaml.MappingNode}
		}
		for overlay.Kind == yaml.AliasNode && overlay.Alias != nil {
			overlay = overlay.Alias
		}
		if overlay.Kind != yaml.MappingNode {
			rep.add(overlay.Line, overlay.Column, path+".overlay", "expected a mapping of seed sections, got %s", kindName(overlay))
			continue
		}
		for j := 0; j+1 < len(overlay.Content); j += 2 {
			switch k := overlay.Content[j]; k.Value {
			case "version", "hosts", "hosts_required":
				rep.add(k.Line, k.Column, path+".overlay."+k.Value, "not allowed in an overlay: it belongs to the whole seed")
			}
		}
		merged := mergeNode(base, overlay)
		// The overlay alone, typed: problems come from the merged seed.
		od := &decoder{rep: &Report{}, pos: map[string]pos{}, bad: map[string]bool{}}
		h.Overlay = new(Seed)
		od.decode(overlay, reflect.ValueOf(h.Overlay).Elem(), "", false)
		h.node = merged
		hrep := &Report{File: rep.File}
		h.effective = decodeHost(hrep, s, basePos, merged, overlay)
		for _, p := range hrep.Problems {
			if fromBase[p] {
				continue
			}
			if sn, ok := shared[p]; ok {
				sn.more++
				continue
			}
			shared[p] = &seen{first: i}
			order = append(order, p)
		}
	}
	for _, p := range order {
		sn := shared[p]
		who := fmt.Sprintf("hosts[%d] (%s)", sn.first, s.Hosts[sn.first].label())
		if sn.more > 0 {
			who += fmt.Sprintf(" and %d more", sn.more)
		}
		if p.Path != "" {
			p.Path = who + ": " + p.Path
		} else {
			p.Path = who
		}
		rep.Problems = append(rep.Problems, p)
	}
	checkOverlaps(rep, s, hosts)
}

// decodeHost is decodeCheck for a host's effective seed, sparing the work
// for what the overlay leaves alone: the sections it touches are decoded
// again from the merged node, the others are the base's (already decoded,
// positions kept). Every rule then runs on the whole effective seed.
func decodeHost(rep *Report, base *Seed, basePos map[string]pos, merged, overlay *yaml.Node) *Seed {
	eff := *base
	eff.Hosts, eff.HostsRequired, eff.base = nil, false, nil
	d := &decoder{rep: rep, pos: map[string]pos{}, bad: map[string]bool{}}
	touched := map[string]bool{}
	v := reflect.ValueOf(&eff).Elem()
	fs := fieldsOf(v.Type())
	for j := 0; j+1 < len(overlay.Content); j += 2 {
		kn := d.resolve(overlay.Content[j])
		k := kn.Value
		switch k {
		case "version", "hosts", "hosts_required":
			continue
		}
		idx := -1
		for _, f := range fs {
			if f.key == k {
				idx = f.index
			}
		}
		if idx < 0 {
			d.unknown(kn, "", k, fs)
			continue
		}
		touched[k] = true
		f := v.Field(idx)
		f.Set(reflect.Zero(f.Type()))
		if mi := mapIndex(merged.Content, k); mi >= 0 {
			d.decode(merged.Content[mi+1], f, k, false)
		}
	}
	if d.stopped {
		return &eff // the node limit: its one error says it all
	}
	decodeProblems := len(rep.Problems)
	c := &checker{s: &eff, rep: rep, pos: d.pos, basePos: basePos, touched: touched}
	c.check()
	kept := rep.Problems[:decodeProblems]
	for _, p := range rep.Problems[decodeProblems:] {
		if !under(p.Path, d.bad) {
			kept = append(kept, p)
		}
	}
	rep.Problems = kept
	return &eff
}

// checkMatch: a match needs at least one key, each well-formed.
func checkMatch(rep *Report, h *HostEntry, item *yaml.Node, path string) {
	at := func(key string) (int, int) {
		if j := mapIndex(item.Content, "match"); j >= 0 {
			m := item.Content[j+1]
			if key != "" {
				if k := mapIndex(m.Content, key); k >= 0 {
					return m.Content[k+1].Line, m.Content[k+1].Column
				}
			}
			return m.Line, m.Column
		}
		return item.Line, item.Column
	}
	m := h.Match
	if m == (HostMatch{}) {
		l, c := at("")
		rep.add(l, c, path+".match", "required: give at least one of serial, uuid, mac, hostname")
		return
	}
	if m.MAC != "" && !mac(normMAC(m.MAC)) {
		l, c := at("mac")
		rep.add(l, c, path+".match.mac", "%q is not a MAC address (aa:bb:cc:dd:ee:ff)", m.MAC)
	}
	if m.UUID != "" && !uuidSyntax(m.UUID) {
		l, c := at("uuid")
		rep.add(l, c, path+".match.uuid", "%q is not a UUID (8-4-4-4-12 hex digits, as /sys/class/dmi/id/product_uuid)", m.UUID)
	}
	if m.Hostname != "" && !hostname(m.Hostname) {
		l, c := at("hostname")
		rep.add(l, c, path+".match.hostname", "%q is not a host name (one DNS label)", m.Hostname)
	}
	if m.Serial != "" && (!plain(m.Serial) || strings.TrimSpace(m.Serial) != m.Serial) {
		l, c := at("serial")
		rep.add(l, c, path+".match.serial", "%q: a serial has no control characters or surrounding spaces", m.Serial)
	}
}

func uuidSyntax(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// checkOverlaps refuses two entries where one's match is contained in the
// other's: a machine matching the larger always matches both. Entries are
// grouped by their match values, so 1,000 distinct serials cost one pass.
func checkOverlaps(rep *Report, s *Seed, hosts *yaml.Node) {
	type kv struct{ k, v string }
	pairs := func(m HostMatch) []kv {
		var out []kv
		for _, p := range []kv{{"serial", m.Serial}, {"uuid", strings.ToLower(m.UUID)}, {"mac", normMAC(m.MAC)}, {"hostname", strings.ToLower(m.Hostname)}} {
			if p.v != "" {
				out = append(out, p)
			}
		}
		return out
	}
	byPair := map[kv][]int{}
	for i := range s.Hosts {
		for _, p := range pairs(s.Hosts[i].Match) {
			byPair[p] = append(byPair[p], i)
		}
	}
	reported := map[[2]int]bool{}
	for i := range s.Hosts {
		ps := pairs(s.Hosts[i].Match)
		if len(ps) == 0 {
			continue
		}
		// Entries holding every pair of i: candidates share its first pair.
		for _, j := range byPair[ps[0]] {
			if j == i || reported[[2]int{min(i, j), max(i, j)}] {
				continue
			}
			other := map[kv]bool{}
			for _, p := range pairs(s.Hosts[j].Match) {
				other[p] = true
			}
			all := true
			for _, p := range ps {
				all = all && other[p]
			}
			if all {
				reported[[2]int{min(i, j), max(i, j)}] = true
				n := hosts.Content[max(i, j)]
				rep.add(n.Line, n.Column, index("hosts", max(i, j)), "its match overlaps hosts[%d] (%s): a machine matching %s matches both",
					min(i, j), s.Hosts[min(i, j)].label(), s.Hosts[j].Match)
			}
		}
	}
}
