package seed

// Cluster makes the node a Proxmox VE cluster member with pvecm: it either
// creates the cluster or joins one through a member. It runs right after
// network, before anything writes /etc/pve (storages, ACLs, firewall,
// containers): a joining node's /etc/pve is replaced by the cluster's.
type Cluster struct {
	Create *ClusterCreate `yaml:"create,omitempty" json:"create,omitempty"`
	Join   *ClusterJoin   `yaml:"join,omitempty" json:"join,omitempty"`
}

// ClusterCreate is `pvecm create NAME --link0 ADDR ...`.
type ClusterCreate struct {
	Name  string   `yaml:"name" json:"name"`
	Links []string `yaml:"links,omitempty" json:"links,omitempty"`
}

// ClusterJoin is `pvecm add PEER --fingerprint FP --link0 ADDR ...`, with
// the peer's root password on stdin, or --use_ssh.
type ClusterJoin struct {
	// Name, when given, is the cluster the node must end up in: a node
	// already in another cluster is an error.
	Name         string   `yaml:"name,omitempty" json:"name,omitempty"`
	Peer         string   `yaml:"peer" json:"peer"`
	Fingerprint  string   `yaml:"fingerprint,omitempty" json:"fingerprint,omitempty"`
	PasswordFile string   `yaml:"password_file,omitempty" json:"password_file,omitempty"`
	UseSSH       bool     `yaml:"use_ssh,omitempty" json:"use_ssh,omitempty"`
	Links        []string `yaml:"links,omitempty" json:"links,omitempty"`
}

// clusterName is pvecm create's <clustername>: format pve-node, at most 15
// characters (contract: pvecm create; pve-cluster API2/ClusterConfig.pm).
func clusterName(s string) bool { return len(s) <= 15 && hostname(s) }

// pvecmFingerprint is pvecm add's --fingerprint pattern,
// ([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2} (pve-common fingerprint-sha256).
func pvecmFingerprint(s string) bool {
	if len(s) != 95 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// check holds the cluster section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (cl *Cluster) check(c *checker) {
	switch {
	case cl.Create == nil && cl.Join == nil:
		c.errf("cluster", "give create or join")
		return
	case cl.Create != nil && cl.Join != nil:
		c.errf("cluster.join", "give create or join, not both")
		return
	}
	links := func(path string, ls []string) {
		if len(ls) > 8 {
			c.errf(path, "at most 8 links (link0..link7), got %d", len(ls))
		}
		seen := dups{}
		for i, l := range ls {
			p := index(path, i)
			if !ip(l) {
				c.errf(p, "%q is not an IP address (corosync link address on this node)", l)
				continue
			}
			seen.seen(c, p, l, "link address")
		}
	}
	if cr := cl.Create; cr != nil {
		if c.required("cluster.create.name", cr.Name) && !clusterName(cr.Name) {
			c.errf("cluster.create.name", "%q is not a cluster name (letters, digits, '-'; at most 15 characters)", cr.Name)
		}
		links("cluster.create.links", cr.Links)
		return
	}
	j := cl.Join
	if j.Name != "" && !clusterName(j.Name) {
		c.errf("cluster.join.name", "%q is not a cluster name (letters, digits, '-'; at most 15 characters)", j.Name)
	}
	if c.required("cluster.join.peer", j.Peer) && !hostOrIP(j.Peer) {
		c.errf("cluster.join.peer", "%q is not a host name or IP address", j.Peer)
	}
	switch {
	case j.UseSSH && j.PasswordFile != "":
		c.errf("cluster.join.use_ssh", "give password_file or use_ssh, not both")
	case !j.UseSSH && j.PasswordFile == "":
		c.errf("cluster.join", "give password_file (the peer's root password, for the API join) or use_ssh: true")
	case j.PasswordFile != "" && !reAbsPath.match(j.PasswordFile):
		c.errf("cluster.join.password_file", "%q is not an absolute path on the host", j.PasswordFile)
	}
	switch {
	case j.Fingerprint != "" && !pvecmFingerprint(j.Fingerprint):
		c.errf("cluster.join.fingerprint", "%q is not the peer's SHA-256 certificate fingerprint as pvecm takes it (32 hex pairs joined by ':')", j.Fingerprint)
	case j.Fingerprint == "" && !j.UseSSH:
		// Without it pvecm add asks on the terminal whether to trust the
		// peer's certificate: there is no one at the keyboard.
		c.errf("cluster.join.fingerprint", "required for the API join: the SHA-256 fingerprint of the peer's /etc/pve/local/pve-ssl.pem (pvecm add asks on a terminal otherwise)")
	}
	links("cluster.join.links", j.Links)
}
