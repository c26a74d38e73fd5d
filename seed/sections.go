package seed

import (
	"fmt"
	"slices"
)

// section is one top-level seed key that maps to a module: its key (the
// yaml/json key, and the module's Name), its value in a seed (nil when the
// seed leaves it out) and its rules. The table below is the one list of
// sections: Sections, SectionDigest and the checker all read it, and
// tests hold the Seed struct, schema.json and docs/seed.md to it.
type section struct {
	name  string
	get   func(*Seed) any
	check func(*checker, *Seed)
}

// sections is every module section, in module order. A new section is a
// field in Seed, a file seed/NAME.go with its types and rules, and a row
// here.
var sections = []section{
	of("host", func(s *Seed) *Host { return s.Host }, (*checker).host),
	of("network", func(s *Seed) *Network { return s.Network }, (*checker).network),
	of("cluster", func(s *Seed) *Cluster { return s.Cluster }, (*checker).cluster),
	of("repos", func(s *Seed) *Repos { return s.Repos }, (*checker).repos),
	of("kernel", func(s *Seed) *Kernel { return s.Kernel }, (*checker).kernel),
	of("nvidia", func(s *Seed) *NVIDIA { return s.NVIDIA }, (*checker).nvidia),
	of("zfs", func(s *Seed) *ZFS { return s.ZFS }, (*checker).zfs),
	{
		name: "users",
		get: func(s *Seed) any {
			if len(s.Users) == 0 {
				return nil
			}
			return s.Users
		},
		check: func(c *checker, s *Seed) { c.users(s.Users) },
	},
	of("nfs", func(s *Seed) *NFS { return s.NFS }, (*checker).nfs),
	of("samba", func(s *Seed) *Samba { return s.Samba }, (*checker).samba),
	of("firewall", func(s *Seed) *Firewall { return s.Firewall }, (*checker).firewall),
	of("lxc", func(s *Seed) *LXC { return s.LXC }, (*checker).lxc),
}

// of is the row of a section held by pointer: absent when nil.
func of[T any](name string, get func(*Seed) *T, check func(*checker, *T)) section {
	return section{
		name: name,
		get: func(s *Seed) any {
			if v := get(s); v != nil {
				return v
			}
			return nil
		},
		check: func(c *checker, s *Seed) { check(c, get(s)) },
	}
}

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
