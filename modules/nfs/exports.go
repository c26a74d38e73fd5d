package nfs

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Entry is one exported path with its clients.
type Entry struct {
	Path    string
	Clients []Client
}

// Client is one client spec and its options.
type Client struct {
	Host    string // host, CIDR, wildcard, @netgroup, gss/krb5, or * (also shown as <world>)
	Options []string
}

// ParseExports parses exports(5) text: "# comments", a path (quoted, or
// with \040-style octal escapes) then client(options) specs, "\" line
// continuation; a bare "(options)" is the default client "*". It also
// reads `exportfs -v` output, whose long paths put the clients on the next,
// indented line, and which spells the "*" client "<world>".
func ParseExports(text string) ([]Entry, error) {
	var out []Entry
	text = strings.ReplaceAll(text, "\\\n", " ")
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 && !inQuotes(line, i) {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		fields, err := splitFields(strings.TrimSpace(line))
		if err != nil {
			return nil, fmt.Errorf("exports line %d: %w", n+1, err)
		}
		start := 0
		if indented && len(out) > 0 && !strings.HasPrefix(fields[0], "/") {
			// exportfs -v: clients of the previous (long) path.
		} else {
			p := unescape(fields[0])
			if !strings.HasPrefix(p, "/") {
				return nil, fmt.Errorf("exports line %d: %q is not an absolute path", n+1, fields[0])
			}
			out = append(out, Entry{Path: p})
			start = 1
		}
		e := &out[len(out)-1]
		for _, f := range fields[start:] {
			c, err := parseClient(f)
			if err != nil {
				return nil, fmt.Errorf("exports line %d: %w", n+1, err)
			}
			e.Clients = append(e.Clients, c)
		}
	}
	return out, nil
}

func inQuotes(s string, i int) bool { return strings.Count(s[:i], `"`)%2 == 1 }

// splitFields splits on blanks, keeping "quoted paths" whole.
func splitFields(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case (r == ' ' || r == '\t') && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out, nil
}

var octal = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\\[0-7]{3}`) })

func unescape(s string) string {
	return octal().ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.ParseUint(m[1:], 8, 8)
		return string(rune(n))
	})
}

// escape writes a path the way exports(5) reads it: blanks, quotes, "#" and
// backslashes as \ooo octal.
func escape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r <= ' ' || r == '"' || r == '#' || r == '\\' || r == 0x7f {
			fmt.Fprintf(&b, "\\%03o", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func parseClient(f string) (Client, error) {
	host, opts := f, ""
	if i := strings.IndexByte(f, '('); i >= 0 {
		if !strings.HasSuffix(f, ")") {
			return Client{}, fmt.Errorf("%q: unbalanced parenthesis", f)
		}
		host, opts = f[:i], f[i+1:len(f)-1]
	}
	if host == "" || host == "<world>" {
		host = "*"
	}
	c := Client{Host: host}
	if opts != "" {
		c.Options = strings.Split(opts, ",")
	}
	return c, nil
}

// Render writes entries as exports(5) lines, one path per line.
func Render(entries []Entry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(escape(e.Path))
		for _, c := range e.Clients {
			fmt.Fprintf(&b, " %s(%s)", c.Host, strings.Join(c.Options, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}

var (
	reHostname = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)
	})
	reWildcard = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?i)[a-z0-9*?\[\]-]+(\.[a-z0-9*?\[\]-]+)*$`) })
	reNetgroup = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^@[A-Za-z0-9_.-]+$`) })
	reGSS      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^gss/(krb5|krb5i|krb5p)$`) })
	reUUID     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-fA-F-]{32,36}$`) })
)

// ValidateClient checks an exports(5) client spec: a host name, an IPv4 or
// IPv6 address, a network as CIDR or address/netmask, a wildcard
// (*.example.com, "*" for everyone), an @netgroup or gss/krb5[ip].
func ValidateClient(h string) error {
	switch {
	case h == "*":
		return nil
	case reNetgroup().MatchString(h), reGSS().MatchString(h):
		return nil
	case strings.Contains(h, "/"):
		addr, mask, _ := strings.Cut(h, "/")
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return fmt.Errorf("client %q: %q is not an IP address", h, addr)
		}
		if n, err := strconv.Atoi(mask); err == nil {
			if n < 0 || n > a.BitLen() {
				return fmt.Errorf("client %q: prefix length %d out of range", h, n)
			}
			return nil
		}
		m, err := netip.ParseAddr(mask)
		if err != nil || !a.Is4() || !m.Is4() || !contiguous(m) {
			return fmt.Errorf("client %q: %q is neither a prefix length nor an IPv4 netmask", h, mask)
		}
		return nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if strings.ContainsAny(h, "*?[") {
		if !reWildcard().MatchString(h) {
			return fmt.Errorf("client %q: not a valid wildcard host pattern", h)
		}
		return nil
	}
	if !reHostname().MatchString(h) || len(h) > 253 {
		return fmt.Errorf("client %q: not a host name, address, network, wildcard or @netgroup", h)
	}
	return nil
}

func contiguous(m netip.Addr) bool {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return v == 0 || (^v)&(^v+1) == 0
}

// flagOptions are the valueless export options of exports(5), with the
// option each contradicts.
var flagOptions = map[string]string{
	"rw": "ro", "ro": "rw", "sync": "async", "async": "sync",
	"secure": "insecure", "insecure": "secure", "wdelay": "no_wdelay", "no_wdelay": "wdelay",
	"hide": "nohide", "nohide": "hide", "crossmnt": "", "subtree_check": "no_subtree_check",
	"no_subtree_check": "subtree_check", "insecure_locks": "secure_locks", "secure_locks": "insecure_locks",
	"no_auth_nlm": "auth_nlm", "auth_nlm": "no_auth_nlm", "root_squash": "no_root_squash",
	"no_root_squash": "root_squash", "all_squash": "no_all_squash", "no_all_squash": "all_squash",
	"mp": "", "pnfs": "no_pnfs", "no_pnfs": "pnfs", "security_label": "", "no_acl": "",
}

// valueOptions are the key=value options and their value checks.
var valueOptions = map[string]func(string) bool{
	"anonuid": isUint, "anongid": isUint,
	"fsid": func(v string) bool {
		return v == "root" || isUint(v) || reUUID().MatchString(v)
	},
	"sec": func(v string) bool {
		for _, s := range strings.Split(v, ":") {
			switch s {
			case "sys", "krb5", "krb5i", "krb5p":
			default:
				return false
			}
		}
		return true
	},
	"mountpoint": func(v string) bool { return strings.HasPrefix(v, "/") },
	"mp":         func(v string) bool { return strings.HasPrefix(v, "/") },
	"refer":      func(v string) bool { return strings.Contains(v, "@") },
	"replicas":   func(v string) bool { return strings.Contains(v, "@") },
	"xprtsec": func(v string) bool {
		for _, s := range strings.Split(v, ":") {
			switch s {
			case "none", "tls", "mtls":
			default:
				return false
			}
		}
		return true
	},
}

func isUint(v string) bool { _, err := strconv.ParseUint(v, 10, 32); return err == nil }

// ValidateOptions checks export options: known names, valid values, no
// contradictions (rw with ro), no duplicates.
func ValidateOptions(opts []string) error {
	seen := map[string]bool{}
	for _, o := range opts {
		name, val, hasVal := strings.Cut(o, "=")
		if hasVal {
			check, ok := valueOptions[name]
			if !ok {
				return fmt.Errorf("option %q: not an export option taking a value", o)
			}
			if !check(val) {
				return fmt.Errorf("option %q: bad value", o)
			}
		} else if _, ok := flagOptions[name]; !ok {
			return fmt.Errorf("option %q: not an export option", o)
		}
		if seen[name] {
			return fmt.Errorf("option %q given twice", name)
		}
		if other := flagOptions[name]; !hasVal && other != "" && seen[other] {
			return fmt.Errorf("options %q and %q contradict each other", other, name)
		}
		seen[name] = true
	}
	return nil
}

// withDefaults adds what exportfs would otherwise warn about: sync (the
// safe choice) and no_subtree_check, unless the seed chose. ro stays the
// default, as in exports(5): rw must be asked for.
func withDefaults(opts []string) []string {
	out := append([]string(nil), opts...)
	has := func(a, b string) bool {
		for _, o := range opts {
			if o == a || o == b {
				return true
			}
		}
		return false
	}
	if !has("sync", "async") {
		out = append(out, "sync")
	}
	if !has("subtree_check", "no_subtree_check") {
		out = append(out, "no_subtree_check")
	}
	return out
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}
