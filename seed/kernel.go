package seed

import (
	"maps"
	"slices"
)

// Kernel is the kernel command line and module set-up.
type Kernel struct {
	Cmdline   []string          `yaml:"cmdline,omitempty" json:"cmdline,omitempty"`
	Modules   []string          `yaml:"modules,omitempty" json:"modules,omitempty"`
	Blacklist []string          `yaml:"blacklist,omitempty" json:"blacklist,omitempty"`
	Options   map[string]string `yaml:"options,omitempty" json:"options,omitempty"` // module -> "opt=val ..."
}

func (c *checker) kernel(k *Kernel) {
	for i, a := range k.Cmdline {
		if !reCmdline.match(a) {
			c.errf(index("kernel.cmdline", i), "%q is not one kernel argument (no spaces, quotes or backslashes; one argument per item)", a)
		}
	}
	mods := dups{}
	for i, m := range k.Modules {
		if !reKmod.match(m) {
			c.errf(index("kernel.modules", i), "%q is not a kernel module name", m)
			continue
		}
		mods.seen(c, index("kernel.modules", i), m, "module")
	}
	for i, m := range k.Blacklist {
		p := index("kernel.blacklist", i)
		if !reKmod.match(m) {
			c.errf(p, "%q is not a kernel module name", m)
			continue
		}
		if first, ok := mods[m]; ok {
			c.errf(p, "module %q is both loaded (%s) and blacklisted", m, first)
		}
	}
	for _, m := range slices.Sorted(maps.Keys(k.Options)) {
		p := join("kernel.options", m)
		if !reKmod.match(m) {
			c.errf(p, "%q is not a kernel module name", m)
		}
		if c.required(p, k.Options[m]) {
			c.text(p, k.Options[m])
		}
	}
}
