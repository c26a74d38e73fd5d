package seed

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// section is one top-level seed key that maps to a module: its key (the
// yaml/json key, and the module's Name), its value in a seed (nil when the
// seed leaves it out) and its rules. Sections, SectionDigest, SectionErr
// and the checker all read the one table below, and tests hold
// schema.json and docs/seed.md to it.
type section struct {
	name  string
	get   func(*Seed) any
	check func(*checker, *Seed)
}

// sectionRules is what the type of every section field of Seed implements: its
// rules, in the section's own file.
type sectionRules interface{ check(*checker) }

// sections is every module section, in module order: each field of Seed
// that is not a meta key (metaKeys), in field order, named by its json
// key. A new section is its file seed/NAME.go (its type, with a check
// method holding its rules) and its field in Seed; nothing else here.
var sections = func() []section {
	st := reflect.TypeOf(Seed{})
	var out []section
	for i := range st.NumField() {
		f := st.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || slices.Contains(metaKeys, key) {
			continue
		}
		if !f.Type.Implements(reflect.TypeFor[sectionRules]()) {
			panic(fmt.Sprintf("seed: section field Seed.%s: %s has no check(*checker) method", f.Name, f.Type))
		}
		field := func(s *Seed) reflect.Value { return reflect.ValueOf(s).Elem().Field(i) }
		out = append(out, section{
			name: key,
			get: func(s *Seed) any {
				v := field(s)
				if v.IsNil() || v.Kind() == reflect.Slice && v.Len() == 0 {
					return nil
				}
				return v.Interface()
			},
			check: func(c *checker, s *Seed) { field(s).Interface().(sectionRules).check(c) },
		})
	}
	return out
}()

// Sections are the top-level seed keys that map to modules, in module order.
var Sections = func() []string {
	names := make([]string, len(sections))
	for i, sec := range sections {
		names[i] = sec.name
	}
	return names
}()

// SectionErr runs the rules of one section (the ones `phoenix validate`
// reports) over s and returns the first problem, or nil. A module that
// needs a seed rule at run time, for a seed built in Go rather than
// loaded, calls this instead of keeping a copy of the rule. Without a file
// there are no positions, and integer ranges (checked only where the seed
// wrote a value) are not checked.
func (s *Seed) SectionErr(name string) error {
	i := slices.IndexFunc(sections, func(sec section) bool { return sec.name == name })
	if s == nil || i < 0 || sections[i].get(s) == nil {
		return nil
	}
	rep := &Report{}
	sections[i].check(&checker{s: s, rep: rep, pos: map[string]pos{}}, s)
	if len(rep.Problems) == 0 {
		return nil
	}
	p := rep.Problems[0]
	return fmt.Errorf("%s: %s", p.Path, p.Msg)
}
