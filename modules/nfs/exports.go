package nfs

import (
	"fmt"
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
