package fake

import (
	"fmt"
	"sort"
	"strings"
)

// section is one section of a PVE container config: the main one or a
// snapshot.
type section struct {
	Name  string // "" for the main section
	Descr string
	Keys  map[string]string
	Raw   []string // "lxc.key: value" lines, in order
}

// conf is a whole /etc/pve/lxc/<CTID>.conf.
type conf struct {
	Main  section
	Snaps []section
}

func newSection(name string) section { return section{Name: name, Keys: map[string]string{}} }

// parseConf reads the PVE config format: "#" lines are the description,
// "[name]" starts a snapshot section, "lxc.*" keys are raw LXC keys.
func parseConf(data string) (*conf, error) {
	c := &conf{Main: newSection("")}
	cur := &c.Main
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "#"):
			if cur.Descr != "" {
				cur.Descr += "\n"
			}
			cur.Descr += line[1:]
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			c.Snaps = append(c.Snaps, newSection(line[1:len(line)-1]))
			cur = &c.Snaps[len(c.Snaps)-1]
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: unable to parse %q", i+1, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if strings.HasPrefix(k, "lxc.") {
				cur.Raw = append(cur.Raw, k+": "+v)
			} else {
				cur.Keys[k] = v
			}
		}
	}
	return c, nil
}

func (s *section) write(b *strings.Builder) {
	if s.Descr != "" {
		for _, l := range strings.Split(s.Descr, "\n") {
			b.WriteString("#" + l + "\n")
		}
	}
	keys := make([]string, 0, len(s.Keys))
	for k := range s.Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s: %s\n", k, s.Keys[k])
	}
	for _, r := range s.Raw {
		b.WriteString(r + "\n")
	}
}

func (c *conf) String() string {
	var b strings.Builder
	c.Main.write(&b)
	for i := range c.Snaps {
		fmt.Fprintf(&b, "\n[%s]\n", c.Snaps[i].Name)
		c.Snaps[i].write(&b)
	}
	return b.String()
}

func (c *conf) snap(name string) *section {
	for i := range c.Snaps {
		if c.Snaps[i].Name == name {
			return &c.Snaps[i]
		}
	}
	return nil
}

func (s section) clone(name string) section {
	n := newSection(name)
	n.Descr = s.Descr
	for k, v := range s.Keys {
		n.Keys[k] = v
	}
	n.Raw = append([]string(nil), s.Raw...)
	return n
}

// props parses a PVE property string ("name=eth0,bridge=vmbr0"); a part
// without "=" is the value of defaultKey.
func props(s, defaultKey string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" {
		return m, nil
	}
	for _, p := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			if defaultKey == "" {
				return nil, fmt.Errorf("missing key in comma-separated list property")
			}
			k, v = defaultKey, p
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key in comma-separated list property: %s", k)
		}
		m[k] = v
	}
	return m, nil
}

// joinProps renders a property map with order first, the rest sorted.
func joinProps(m map[string]string, first ...string) string {
	var parts []string
	seen := map[string]bool{}
	for _, k := range first {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+v)
			seen[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// joinDefault renders a property map whose default key def is printed bare
// first, as pct prints "mp0: /tank/media,mp=/media".
func joinDefault(m map[string]string, def string, first ...string) string {
	v, ok := m[def]
	if !ok {
		return joinProps(m, first...)
	}
	rest := map[string]string{}
	for k, x := range m {
		if k != def {
			rest[k] = x
		}
	}
	if len(rest) == 0 {
		return v
	}
	return v + "," + joinProps(rest, first...)
}
