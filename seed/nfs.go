package seed

import (
	"net/netip"
	"strconv"
	"strings"
)

// NFS is the kernel NFS server's exports.
type NFS struct {
	Exports []Export `yaml:"exports" json:"exports"`
}

// Export is one exported path.
type Export struct {
	Path    string         `yaml:"path" json:"path"`
	Clients []ExportClient `yaml:"clients" json:"clients"`
}

// ExportClient is one client spec (host, CIDR, wildcard) and its options.
type ExportClient struct {
	Host    string   `yaml:"host" json:"host"`
	Options []string `yaml:"options,omitempty" json:"options,omitempty"`
}

var nfsFlags = map[string]string{ // option -> the option it contradicts
	"rw": "ro", "ro": "rw", "sync": "async", "async": "sync",
	"secure": "insecure", "insecure": "secure", "wdelay": "no_wdelay", "no_wdelay": "wdelay",
	"hide": "nohide", "nohide": "hide", "crossmnt": "", "subtree_check": "no_subtree_check",
	"no_subtree_check": "subtree_check", "secure_locks": "insecure_locks", "insecure_locks": "secure_locks",
	"root_squash": "no_root_squash", "no_root_squash": "root_squash", "all_squash": "no_all_squash",
	"no_all_squash": "all_squash", "no_acl": "", "mp": "", "pnfs": "no_pnfs", "no_pnfs": "pnfs",
}

var nfsValued = map[string]func(string) bool{
	"anonuid": digits, "anongid": digits,
	// exports(5): fsid=num|root|uuid.
	"fsid":       func(v string) bool { return v == "root" || digits(v) || uuid.match(v) },
	"sec":        reNFSSec.match,
	"mountpoint": reAbsPath.match, "mp": reAbsPath.match,
}

func digits(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// check holds the nfs section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (n *NFS) check(c *checker) {
	if len(n.Exports) == 0 {
		c.errf("nfs.exports", "required: at least one export")
	}
	paths := dups{}
	for i, e := range n.Exports {
		ep := index("nfs.exports", i)
		if c.required(ep+".path", e.Path) {
			c.pattern(ep+".path", e.Path, reAbsPath.match, "an absolute path without spaces")
			c.pathCheck(ep+".path", e.Path, false)
			if clean := cleanKey(e.Path); clean != e.Path && reAbsPath.match(e.Path) && !HasDotDot(e.Path) {
				// The real exportfs reads /srv/a/ and /srv/a/. back as
				// /srv/a (found by FuzzRenderExports), so the export would
				// not be the path the seed and the module compare.
				c.errf(ep+".path", "write the path as %s: exportfs reads %q back as that", clean, e.Path)
			}
			paths.seen(c, ep+".path", cleanKey(e.Path), "export")
		}
		if len(e.Clients) == 0 {
			c.errf(ep+".clients", "required: at least one client (host, CIDR or *)")
		}
		hosts := dups{}
		for j, cl := range e.Clients {
			cp := index(ep+".clients", j)
			if c.required(cp+".host", cl.Host) {
				if _, err := netip.ParsePrefix(cl.Host); err != nil && !ip(cl.Host) && !reNFSHost.match(cl.Host) {
					c.errf(cp+".host", "%q is not an NFS client (host name, IP, CIDR, wildcard or @netgroup)", cl.Host)
				}
				hosts.seen(c, cp+".host", cl.Host, "client")
			}
			opts := map[string]string{}
			for k, o := range cl.Options {
				op := index(cp+".options", k)
				name, val, valued := strings.Cut(o, "=")
				if valued {
					check, ok := nfsValued[name]
					if !ok || !check(val) {
						c.errf(op, "%q is not an NFS export option", o)
						continue
					}
				} else if _, ok := nfsFlags[name]; !ok {
					c.errf(op, "%q is not an NFS export option", o)
					continue
				}
				if first, ok := opts[name]; ok {
					c.errf(op, "duplicate option %q (first at %s)", name, first)
				}
				if other := nfsFlags[name]; other != "" {
					if first, ok := opts[other]; ok {
						c.errf(op, "%s contradicts %s (%s)", name, other, first)
					}
				}
				opts[name] = op
			}
		}
	}
}
