package seed

// Repos is the apt repository set-up of a Proxmox host.
type Repos struct {
	Enterprise     bool     `yaml:"enterprise,omitempty" json:"enterprise,omitempty"`
	NoSubscription *bool    `yaml:"no_subscription,omitempty" json:"no_subscription,omitempty"` // default true
	Ceph           string   `yaml:"ceph,omitempty" json:"ceph,omitempty"`                       // none, quincy, reef, squid
	Update         *bool    `yaml:"update,omitempty" json:"update,omitempty"`                   // default true
	DistUpgrade    bool     `yaml:"dist_upgrade,omitempty" json:"dist_upgrade,omitempty"`
	Packages       []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	Proxy          string   `yaml:"proxy,omitempty" json:"proxy,omitempty"`
	ForceIPv4      bool     `yaml:"force_ipv4,omitempty" json:"force_ipv4,omitempty"`
}

// check holds the repos section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (r *Repos) check(c *checker) {
	switch r.Ceph {
	case "", "none", "quincy", "reef", "squid":
	default:
		c.errf("repos.ceph", "%q is not a Ceph release: use none, quincy, reef or squid", r.Ceph)
	}
	if r.Enterprise && r.NoSubscription != nil && *r.NoSubscription {
		c.errf("repos.no_subscription", "enterprise and no_subscription are exclusive: pick one")
	}
	if r.DistUpgrade && r.Update != nil && !*r.Update {
		c.errf("repos.dist_upgrade", "dist_upgrade needs update (apt update first)")
	}
	pk := dups{}
	for i, p := range r.Packages {
		pp := index("repos.packages", i)
		if !rePackage.match(p) {
			c.errf(pp, "%q is not a Debian package name", p)
			continue
		}
		pk.seen(c, pp, p, "package")
	}
	if r.Proxy != "" {
		c.url("repos.proxy", r.Proxy, "an http:// or https:// proxy URL")
	}
}
