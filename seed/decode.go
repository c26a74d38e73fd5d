package seed

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// The strict decoder walks a yaml.Node tree (YAML, or JSON turned into
// nodes by jsonNode) into the seed types by reflection. It does what
// yaml.v3's KnownFields cannot: every error carries line AND column, every
// error is reported (not just the first), duplicate keys are rejected, and
// scalars must have the type the field wants, so that `off`, `yes` or an
// unquoted `0775` never silently become something the admin did not mean.

// maxNodes bounds the work the decoder does, so that alias chains (a
// "billion laughs" seed) cannot stall a boot.
const maxNodes = 200000

type pos struct{ line, col int }

type decoder struct {
	rep     *Report
	pos     map[string]pos // path -> position of its value node
	bad     map[string]bool
	visited int
	stopped bool
}

func (d *decoder) errAt(n *yaml.Node, path, format string, args ...any) {
	d.rep.add(n.Line, n.Column, path, format, args...)
	d.bad[path] = true
}

// field is one struct field's key and index.
type field struct {
	key   string
	index int
}

var fieldCache sync.Map // reflect.Type -> []field

func fieldsOf(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	var fs []field
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		fs = append(fs, field{name, i})
	}
	fieldCache.Store(t, fs)
	return fs
}

// join appends a mapping key to a path: plain keys with a dot, others
// (spaces, dots, quotes) as ["key"].
func join(path, key string) string {
	simple := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			simple = false
			break
		}
	}
	if !simple {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// resolve follows aliases, counting the nodes they expand to.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "an empty value"
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!str":
			return "a string"
		}
		return "a scalar " + n.Tag
	}
	return "a document"
}

// secret reports whether the value at path may be a password: problems
// about it never echo the value.
func secret(path string) bool {
	p := strings.ToLower(path)
	return strings.Contains(p, "passw") || strings.HasSuffix(p, "hash")
}

var yaml11Bools = map[string]bool{"yes": true, "no": true, "on": true, "off": true, "y": true, "n": true}

// decode fills v from n. loose is set for the values of string maps (ZFS
// properties, Samba globals), where any scalar is kept as its literal text:
// `atime: off` is the string "off", `copies: 2` the string "2".
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, loose bool) {
	if d.stopped {
		return
	}
	d.visited++
	if d.visited > maxNodes {
		d.stopped = true
		d.errAt(n, path, "seed too large or too many alias expansions (more than %d nodes)", maxNodes)
		return
	}
	n = d.resolve(n)
	if _, seen := d.pos[path]; !seen {
		d.pos[path] = pos{n.Line, n.Column}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		d.errAt(n, path, "empty value: give a value or remove the key")
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		d.decode(n, nv.Elem(), path, loose)
		v.Set(nv)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		d.decodeString(n, v, path, loose)
	case reflect.Bool:
		d.decodeBool(n, v, path)
	case reflect.Int:
		d.decodeInt(n, v, path)
	default:
		panic(fmt.Sprintf("seed: decode: unsupported kind %s at %s", v.Kind(), path))
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errAt(n, path, "expected a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(c, s.Index(i), index(path, i), false)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errAt(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, ok := d.key(n.Content[i], path, seen)
		if !ok {
			continue
		}
		ev := reflect.New(v.Type().Elem()).Elem()
		d.decode(n.Content[i+1], ev, join(path, k), v.Type().Elem().Kind() == reflect.String)
		m.SetMapIndex(reflect.ValueOf(k), ev)
	}
	v.Set(m)
}

func (d *decoder) decodeString(n *yaml.Node, v reflect.Value, path string, loose bool) {
	if n.Kind != yaml.ScalarNode {
		d.errAt(n, path, "expected a string, got %s", kindName(n))
		return
	}
	if n.Tag != "!!str" && !loose {
		if secret(path) {
			d.errAt(n, path, "expected a string, got %s: quote it", kindName(n))
			return
		}
		d.errAt(n, path, "expected a string, got %s: quote it (\"%s\") if you mean the text", kindName(n), n.Value)
		return
	}
	if n.Style == 0 && sexagesimal(n.Value) {
		d.errAt(n, path, "ambiguous value %s: YAML 1.1 reads it as a base-60 number: quote it (\"%s\") if you mean the text", n.Value, n.Value)
		return
	}
	if n.Value == "" {
		// "" is never a meaningful value; it is usually a key whose value
		// was forgotten, so say so rather than take a silent default.
		d.errAt(n, path, "empty string: give a value or remove the key")
		return
	}
	v.SetString(n.Value)
}

func (d *decoder) decodeBool(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			v.SetBool(b)
			return
		}
	}
	if n.Kind == yaml.ScalarNode && yaml11Bools[strings.ToLower(n.Value)] {
		d.errAt(n, path, "expected true or false, got %q: YAML 1.1 booleans (yes/no/on/off) are not accepted, write true or false", n.Value)
		return
	}
	d.errAt(n, path, "expected true or false, got %s", kindName(n))
}

func (d *decoder) decodeInt(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" && !decimalLiteral(n.Value) {
		d.errAt(n, path, "ambiguous number %s: leading zeros, 0o/0x/0b prefixes, signs and _ read differently in YAML 1.1 and 1.2 (010 is 8 to one, 10 to the other): write it in plain decimal", n.Value)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var i int64
		if err := n.Decode(&i); err == nil && i >= -1<<31 && i < 1<<31 {
			v.SetInt(i)
			return
		}
		d.errAt(n, path, "integer %s out of range", n.Value)
		return
	}
	if _, err := strconv.Atoi(n.Value); err == nil && n.Kind == yaml.ScalarNode {
		d.errAt(n, path, "expected an integer, got a string: remove the quotes")
		return
	}
	d.errAt(n, path, "expected an integer, got %s", kindName(n))
}

// key checks one mapping key: a scalar, not a merge key, not repeated.
func (d *decoder) key(kn *yaml.Node, path string, seen map[string]*yaml.Node) (string, bool) {
	kn = d.resolve(kn)
	if kn.Kind != yaml.ScalarNode || kn.Tag == "!!null" {
		d.errAt(kn, path, "mapping keys must be plain strings")
		return "", false
	}
	k := kn.Value
	if kn.Tag == "!!merge" || k == "<<" && kn.Style == 0 {
		d.errAt(kn, path, "merge keys (<<) are not supported: use lxc.defaults or write the keys out")
		return "", false
	}
	if first, dup := seen[k]; dup {
		// Not errAt: the first value is still checked.
		d.rep.add(kn.Line, kn.Column, join(path, k), "duplicate key %q (first at line %d)", k, first.Line)
		return "", false
	}
	seen[k] = kn
	return k, true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errAt(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fs := fieldsOf(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := n.Content[i]
		k, ok := d.key(kn, path, seen)
		if !ok {
			continue
		}
		idx := -1
		for _, f := range fs {
			if f.key == k {
				idx = f.index
				break
			}
		}
		if idx < 0 {
			d.unknown(d.resolve(kn), path, k, fs)
			continue
		}
		d.decode(n.Content[i+1], v.Field(idx), join(path, k), false)
	}
}

// unknown reports an unknown key with a "did you mean" hint, and a
// specific one for plaintext passwords anywhere in a user (never echoing
// the value).
func (d *decoder) unknown(kn *yaml.Node, path, k string, fs []field) {
	p := join(path, k)
	lk := strings.ToLower(k)
	if strings.Contains(lk, "passw") && lk != "password_hash" && lk != "password_file" {
		switch {
		case strings.HasPrefix(path, "samba.users["):
			d.errAt(kn, p, "plaintext passwords are not accepted: set nt_hash (32 hex digits, e.g. `printf %%s \"$PW\" | iconv -t UTF-16LE | openssl md4 -provider legacy`) or password_file")
			return
		case strings.HasPrefix(path, "users["):
			d.errAt(kn, p, "plaintext passwords are not accepted: put a crypt hash in password_hash (make one with `mkpasswd -m yescrypt` or `openssl passwd -6`)")
			return
		}
	}
	best, bestD := "", 1<<30
	for _, f := range fs {
		if dist := editDistance(lk, f.key); dist < bestD {
			best, bestD = f.key, dist
		}
	}
	limit := len(k) / 3
	if limit < 2 {
		limit = 2
	}
	if best != "" && bestD <= limit {
		d.errAt(kn, p, "unknown key %q (did you mean %q?)", k, best)
		return
	}
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	d.errAt(kn, p, "unknown key %q (known: %s)", k, strings.Join(keys, ", "))
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decimalLiteral reports whether an integer is written in plain decimal:
// "0", or an optional "-" and digits without a leading zero. YAML 1.1 reads
// 010 as octal 8 and 1_000 as 1000, YAML 1.2 reads 010 as 10; a seed must
// not depend on which one a reader follows.
func decimalLiteral(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "0" {
		return true
	}
	if s == "" || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// sexagesimal reports whether a plain scalar is a YAML 1.1 base-60 integer
// or float ([-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?, yaml.org/type/int
// and float): yaml.v3 keeps "1:30" as a string, a YAML 1.1 reader makes it
// 90.
func sexagesimal(s string) bool {
	s = strings.TrimLeft(s, "+-")
	head, rest, ok := strings.Cut(s, ":")
	if !ok || head == "" || head[0] < '0' || head[0] > '9' || strings.Trim(head, "0123456789_") != "" {
		return false
	}
	parts := strings.Split(rest, ":")
	last := parts[len(parts)-1]
	if i := strings.IndexByte(last, '.'); i >= 0 {
		if strings.Trim(last[i+1:], "0123456789_") != "" {
			return false
		}
		parts[len(parts)-1] = last[:i]
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 2 || strings.Trim(p, "0123456789") != "" {
			return false
		}
		if len(p) == 2 && p[0] > '5' {
			return false
		}
	}
	return true
}
