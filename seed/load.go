package seed

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// LoadFile reads, decodes and validates a seed file. Problems are reported
// against the file's base name.
func LoadFile(path string) (*Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return Load(filepath.Base(path), data)
}

// MaxSize bounds a seed: Load refuses a larger one before parsing it, and
// seed/source reads no more than this from any file or volume.
const MaxSize = 4 << 20

// Load decodes and validates seed bytes. name is used in problem positions;
// the data is read as JSON when name ends in .json or the data starts with
// '{' and is valid JSON, as YAML otherwise. Only the first YAML document is
// read; a second one is an error. An invalid seed returns a nil *Seed and a
// *Report holding every problem, sorted by position.
func Load(name string, data []byte) (s *Seed, err error) {
	rep := &Report{File: name}
	defer func() {
		// yaml.v3 has panicked on crafted input before; a seed must never
		// crash the boot, so a panic becomes a problem.
		if p := recover(); p != nil {
			rep.Problems = nil
			rep.add(0, 0, "", "cannot parse seed: %v", p)
			s, err = nil, rep
		}
	}()
	if len(data) > MaxSize {
		// The same bound the boot applies when it reads a seed
		// (seed/source), so validate never passes what a boot refuses.
		rep.add(0, 0, "", "seed is over the %d-byte limit (a boot refuses it too)", MaxSize)
		return nil, rep
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	root := parse(name, data, rep)
	if root == nil {
		rep.sort()
		return nil, rep
	}
	base, hosts, required := splitHosts(root)
	if hosts == nil && required == nil {
		seed, _ := decodeCheck(rep, root)
		if seed == nil || len(rep.Problems) > 0 {
			rep.sort()
			return nil, rep
		}
		seed.base = root
		return seed, nil
	}
	baseRep := &Report{File: name}
	seed, basePos := decodeCheck(baseRep, base)
	if seed == nil {
		rep.Problems = append(rep.Problems, baseRep.Problems...)
		rep.sort()
		return nil, rep
	}
	if required != nil {
		d := &decoder{rep: rep, pos: map[string]pos{}, bad: map[string]bool{}}
		d.decode(required, reflect.ValueOf(&seed.HostsRequired).Elem(), "hosts_required", false)
	}
	// The base is checked on its own unless it never runs alone
	// (hosts_required); its problems are then those of the effective
	// seeds, reported with the entries.
	fromBase := map[Problem]bool{}
	if !seed.HostsRequired {
		rep.Problems = append(rep.Problems, baseRep.Problems...)
		for _, p := range baseRep.Problems {
			fromBase[p] = true
		}
	}
	loadHosts(rep, seed, basePos, base, hosts, required, fromBase)
	if len(rep.Problems) > 0 {
		rep.sort()
		return nil, rep
	}
	seed.base = base
	return seed, nil
}

// decodeCheck decodes a seed's root node strictly and runs every rule. It
// also returns the positions of the values decoded.
func decodeCheck(rep *Report, root *yaml.Node) (*Seed, map[string]pos) {
	d := &decoder{rep: rep, pos: map[string]pos{}, bad: map[string]bool{}}
	var seed Seed
	d.decode(root, reflect.ValueOf(&seed).Elem(), "", false)
	if d.stopped {
		// Past the node limit the seed is only partly decoded: its rules
		// would report what is merely cut off ("required", ...). Stop at
		// the one clear error and what came before it.
		return nil, nil
	}
	decodeProblems := len(rep.Problems)
	c := &checker{s: &seed, rep: rep, pos: d.pos}
	c.check()
	// A value the decoder already rejected would only repeat itself as a
	// semantic problem ("required", "out of range"): drop those.
	kept := rep.Problems[:decodeProblems]
	for _, p := range rep.Problems[decodeProblems:] {
		if !under(p.Path, d.bad) {
			kept = append(kept, p)
		}
	}
	rep.Problems = kept
	return &seed, d.pos
}

// under reports whether path or one of its parents is in set.
func under(path string, set map[string]bool) bool {
	for {
		if set[path] {
			return true
		}
		parent, ok := parentPath(path)
		if !ok {
			return false
		}
		path = parent
	}
}

// parentPath strips the last element of a path: a.b -> a, a[1] -> a,
// a["x y"] -> a.
func parentPath(path string) (string, bool) {
	if path == "" {
		return "", false
	}
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndex(path, "[\""); i >= 0 && strings.HasSuffix(path, "\"]") {
			return path[:i], true
		}
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i], true
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i], true
	}
	return "", true
}

func isJSON(name string, data []byte) bool {
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(data)
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line ([0-9]+): `) })

// parse returns the root mapping node, or nil after reporting why not.
func parse(name string, data []byte, rep *Report) *yaml.Node {
	if isJSON(name, data) {
		n, err := jsonNode(data)
		if err != nil {
			var je *jsonError
			errors.As(err, &je)
			line, col := newLines(data).at(je.off)
			rep.add(line, col, "", "%s", je.msg)
			return nil
		}
		return n
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			rep.add(0, 0, "", "empty seed: it needs at least `version: 1`")
			return nil
		}
		yamlErr(err, rep)
		return nil
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
	case err != nil:
		yamlErr(err, rep)
		return nil
	default:
		rep.add(second.Line, second.Column, "", "a seed holds one YAML document; remove the second one (after ---)")
		return nil
	}
	if len(doc.Content) == 0 {
		rep.add(0, 0, "", "empty seed: it needs at least `version: 1`")
		return nil
	}
	return doc.Content[0]
}

// yamlErr turns a yaml.v3 error ("yaml: line 3: ...") into problems; its
// syntax errors carry a line but no column.
func yamlErr(err error, rep *Report) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			yamlErr(errors.New("yaml: "+e), rep)
		}
		return
	}
	msg := err.Error()
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		rep.add(line, 0, "", "yaml: %s", msg[len(m[0]):])
		return
	}
	rep.add(0, 0, "", "%s", msg)
}

// SectionDigest is a stable digest of one section ("sha256:" and hex): the
// SHA-256 of the section's canonical JSON (struct fields in declaration
// order, map keys sorted, defaults not filled in). An absent section
// digests to "".
func SectionDigest(s *Seed, name string) string {
	if s == nil {
		return ""
	}
	i := slices.IndexFunc(sections, func(sec section) bool { return sec.name == name })
	if i < 0 {
		return ""
	}
	v := sections[i].get(s)
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
