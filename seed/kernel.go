package seed

import (
	"maps"
	"slices"
	"strings"
)

// Kernel is the kernel command line and module set-up.
type Kernel struct {
	Cmdline   []string          `yaml:"cmdline,omitempty" json:"cmdline,omitempty"`
	Modules   []string          `yaml:"modules,omitempty" json:"modules,omitempty"`
	Blacklist []string          `yaml:"blacklist,omitempty" json:"blacklist,omitempty"`
	Options   map[string]string `yaml:"options,omitempty" json:"options,omitempty"` // module -> "opt=val ..."
}

// check holds the kernel section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (k *Kernel) check(c *checker) {
	for i, a := range k.Cmdline {
		if !reCmdline.match(a) {
			c.errf(index("kernel.cmdline", i), "%q is not one kernel argument (no spaces, quotes or backslashes; one argument per item)", a)
		} else if !IsKernelArg(a) {
			c.errf(index("kernel.cmdline", i), "kernel argument %q: only letters, digits and _.,:=/+@- are allowed (GRUB's config is sourced by sh)", a)
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
			if !IsModuleOptions(k.Options[m]) {
				c.errf(p, "options %q: only letters, digits, spaces and _.,:=/+- are allowed (modprobe.d syntax)", k.Options[m])
			}
		}
	}
}

// IsKernelArg reports whether a is one kernel argument that is safe in every
// file a boot loader reads: GRUB's /etc/default/grub.d drop-ins are sourced
// by sh, so only letters, digits and _.,:=/+@- are allowed. The kernel module
// applies the same predicate, so validate refuses first what it would refuse.
func IsKernelArg(a string) bool { return a != "" && onlyChars(a, "_.,:=/+@-") }

// IsModuleOptions reports whether o is a modprobe.d options value Phoenix
// writes as is: letters, digits, spaces and _.,:=/+-.
func IsModuleOptions(o string) bool { return o != "" && onlyChars(o, "_.,:=/+ -") }

// IsModuleName reports whether n is a kernel module name (letters, digits,
// _ and -), as validate and the kernel module both require.
func IsModuleName(n string) bool { return reKmod.match(n) }

func onlyChars(s, extra string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(extra, r):
		default:
			return false
		}
	}
	return true
}
