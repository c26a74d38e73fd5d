package seed

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// checker runs the semantic rules over a decoded seed. Every rule reports
// through errf with the path of the offending value; the position comes
// from the decoder's path index (the nearest present parent when the value
// itself is missing).
type checker struct {
	s   *Seed
	rep *Report
	pos map[string]pos
}

func (c *checker) errf(path, format string, args ...any) {
	p := path
	for {
		if at, ok := c.pos[p]; ok {
			c.rep.add(at.line, at.col, path, format, args...)
			return
		}
		parent, ok := parentPath(p)
		if !ok {
			c.rep.add(1, 1, path, format, args...)
			return
		}
		p = parent
	}
}

// has reports whether the seed wrote a value at path.
func (c *checker) has(path string) bool { _, ok := c.pos[path]; return ok }

// required reports a missing or empty required string.
func (c *checker) required(path, v string) bool {
	if v != "" {
		return true
	}
	if c.has(path) {
		c.errf(path, "must not be empty")
	} else {
		c.errf(path, "required")
	}
	return false
}

// intRange checks an integer the seed wrote (absent means "default").
func (c *checker) intRange(path string, v, lo, hi int, unit string) {
	if c.has(path) && (v < lo || v > hi) {
		c.errf(path, "%d out of range %d..%d%s", v, lo, hi, unit)
	}
}

func (c *checker) text(path, v string) {
	if !plain(v) {
		c.errf(path, "must not contain control characters or line breaks")
	}
}

func (c *checker) pattern(path, v string, ok func(string) bool, what string) {
	if v != "" && !ok(v) {
		c.errf(path, "%q is not %s", v, what)
	}
}

// dups reports repeated values in a list: names, disks, ids.
type dups map[string]string // value -> path of first use

func (d dups) seen(c *checker, path, v, what string) {
	if v == "" {
		return
	}
	if first, ok := d[v]; ok {
		c.errf(path, "duplicate %s %q (first at %s)", what, v, first)
		return
	}
	d[v] = path
}

func (c *checker) check() {
	s := c.s
	switch {
	case !c.has("version"):
		c.errf("version", "required: add `version: 1` (supported versions: %d)", Version)
	case s.Version != Version:
		c.errf("version", "unsupported seed version %d (supported versions: %d)", s.Version, Version)
	}
	if s.Host != nil {
		c.host(s.Host)
	}
	if s.Network != nil {
		c.network(s.Network)
	}
	if s.Repos != nil {
		c.repos(s.Repos)
	}
	if s.Kernel != nil {
		c.kernel(s.Kernel)
	}
	if s.NVIDIA != nil {
		c.nvidia(s.NVIDIA)
	}
	if s.ZFS != nil {
		c.zfs(s.ZFS)
	}
	c.users(s.Users)
	if s.NFS != nil {
		c.nfs(s.NFS)
	}
	if s.Samba != nil {
		c.samba(s.Samba)
	}
	if s.Firewall != nil {
		c.firewall(s.Firewall)
	}
	if s.LXC != nil {
		c.lxc(s.LXC)
	}
}

func (c *checker) host(h *Host) {
	if c.required("host.hostname", h.Hostname) {
		c.pattern("host.hostname", h.Hostname, hostname, "a hostname (one DNS label: letters, digits, '-'; put the rest in host.domain)")
	}
	c.pattern("host.domain", h.Domain, domain, "a DNS domain")
	c.pattern("host.timezone", h.Timezone, reTimezone.match, "a timezone such as UTC or Europe/Berlin")
	for i, n := range h.NTP {
		if !hostOrIP(n) {
			c.errf(index("host.ntp", i), "%q is not a hostname or IP address", n)
		}
	}
}

func (c *checker) network(n *Network) {
	names := dups{}
	ports := dups{}
	gateways := 0
	bridge := func(path string, b *Bridge, mgmt bool) {
		if c.required(path+".name", b.Name) {
			c.pattern(path+".name", b.Name, reBridge.match, "a bridge name (vmbr0 .. vmbr9999)")
			names.seen(c, path+".name", b.Name, "bridge")
		}
		for i, p := range b.Ports {
			pp := index(path+".ports", i)
			if !reIface.match(p) {
				c.errf(pp, "%q is not a network interface name", p)
				continue
			}
			ports.seen(c, pp, p, "bridge port")
		}
		var prefix netip.Prefix
		okAddr := false
		if mgmt && b.Address == "" {
			c.required(path+".address", b.Address)
		} else if b.Address != "" {
			if prefix, okAddr = hostCIDR(b.Address); !okAddr {
				c.errf(path+".address", "%q is not an address in CIDR form (e.g. 192.168.1.10/24)", b.Address)
			}
		}
		if b.Gateway != "" {
			gateways++
			gw, err := netip.ParseAddr(b.Gateway)
			switch {
			case err != nil || gw.Zone() != "":
				c.errf(path+".gateway", "%q is not an IP address", b.Gateway)
			case b.Address == "":
				c.errf(path+".gateway", "a gateway needs an address on the same bridge")
			case okAddr && !prefix.Masked().Contains(gw):
				c.errf(path+".gateway", "gateway %s is not in %s", b.Gateway, prefix.Masked())
			}
		}
		if b.VIDs != "" {
			if !b.VLANAware {
				c.errf(path+".vids", "vids needs vlan_aware: true")
			} else if !vidsOK(b.VIDs) {
				c.errf(path+".vids", "%q is not a VLAN list (e.g. \"2-4094\" or \"10 20-30\", ids 2..4094)", b.VIDs)
			}
		}
		c.intRange(path+".mtu", b.MTU, 576, 65520, "")
		c.text(path+".comment", b.Comment)
	}
	bridge("network.management", &n.Management, true)
	for i := range n.Bridges {
		bridge(index("network.bridges", i), &n.Bridges[i], false)
	}
	if gateways > 1 {
		c.errf("network", "only one bridge may have a gateway (the default route); found %d", gateways)
	}
	for i, d := range n.DNS {
		if !ip(d) {
			c.errf(index("network.dns", i), "%q is not an IP address", d)
		}
	}
	for i, d := range n.Search {
		if !domain(d) {
			c.errf(index("network.search", i), "%q is not a DNS domain", d)
		}
	}
}

func vidsOK(s string) bool {
	if !reVIDs.match(s) {
		return false
	}
	for _, r := range strings.Fields(s) {
		lo, hi, isRange := strings.Cut(r, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if a < 2 || b > 4094 || a > b {
			return false
		}
	}
	return true
}

func (c *checker) repos(r *Repos) {
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
	if r.Proxy != "" && !httpURL(r.Proxy) {
		c.errf("repos.proxy", "%q is not an http:// or https:// proxy URL", r.Proxy)
	}
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

func (c *checker) nvidia(n *NVIDIA) {
	if c.required("nvidia.version", n.Version) {
		c.pattern("nvidia.version", n.Version, reDriver.match, "an NVIDIA driver version (e.g. \"580.76.05\")")
	}
	switch n.Source {
	case "":
		c.required("nvidia.source", n.Source)
	case "runfile":
		if n.Runfile == nil {
			c.errf("nvidia.runfile", "required when source is runfile: give runfile.url (with sha256) or runfile.file")
		}
	case "packages":
		if n.Runfile != nil {
			c.errf("nvidia.runfile", "only used when source is runfile")
		}
	default:
		c.errf("nvidia.source", "%q is not a driver source: use runfile or packages", n.Source)
	}
	if r := n.Runfile; r != nil {
		hasURL, hasFile := c.has("nvidia.runfile.url"), c.has("nvidia.runfile.file")
		switch {
		case !hasURL && !hasFile:
			c.errf("nvidia.runfile", "give url (with sha256) or file")
		case hasURL && hasFile:
			c.errf("nvidia.runfile", "url and file are exclusive: give one")
		}
		if r.URL != "" {
			if !httpURL(r.URL) {
				c.errf("nvidia.runfile.url", "%q is not an http(s) URL", r.URL)
			}
			if r.SHA256 == "" {
				c.errf("nvidia.runfile.sha256", "required with url: a download is only run once its SHA-256 matches")
			}
		}
		if r.File != "" && !relPath(r.File) {
			c.errf("nvidia.runfile.file", "%q is not a path relative to the seed volume", r.File)
		}
		c.pattern("nvidia.runfile.sha256", r.SHA256, reSHA256.match, "a SHA-256 (64 lowercase hex digits)")
		for i, f := range r.Flags {
			if !strings.HasPrefix(f, "-") || !plain(f) || strings.Contains(f, " ") {
				c.errf(index("nvidia.runfile.flags", i), "%q is not an installer flag (one --flag per item)", f)
			}
		}
	}
}

var reservedPools = map[string]bool{"mirror": true, "raidz": true, "raidz1": true, "raidz2": true, "raidz3": true, "draid": true, "spare": true, "log": true, "cache": true, "special": true, "dedup": true}

// minDisks is the smallest disk count of each layout and vdev type.
var minDisks = map[string]int{"single": 1, "mirror": 2, "raidz1": 3, "raidz2": 4, "raidz3": 5}

func (c *checker) zfs(z *ZFS) {
	if z.ARCMax != "" && !reSize.match(z.ARCMax) {
		c.errf("zfs.arc_max", "%q is not a size: a whole number with an optional unit K, M, G or T (e.g. 32G)", z.ARCMax)
	}
	pools := map[string]*Pool{}
	disks := dups{}
	for i := range z.Pools {
		p := &z.Pools[i]
		pp := index("zfs.pools", i)
		if c.required(pp+".name", p.Name) {
			switch {
			case !rePool.match(p.Name):
				c.errf(pp+".name", "%q is not a pool name (a letter, then letters, digits, _ . : -)", p.Name)
			case reservedPools[p.Name] || len(p.Name) > 1 && p.Name[0] == 'c' && p.Name[1] >= '0' && p.Name[1] <= '9':
				c.errf(pp+".name", "%q is reserved by ZFS", p.Name)
			}
			if _, dup := pools[p.Name]; dup {
				c.errf(pp+".name", "duplicate pool %q", p.Name)
			}
			pools[p.Name] = p
		}
		c.zprops(pp+".options", p.Options)
		c.zprops(pp+".properties", p.Properties)
		c.mountpoint(pp, p.Mountpoint, p.Properties)
		if p.External {
			for _, k := range []string{"layout", "disks", "vdevs", "ashift", "options", "wipe"} {
				if c.has(pp + "." + k) {
					c.errf(pp+"."+k, "an external pool exists already and is never created: remove %s", k)
				}
			}
			continue
		}
		c.intRange(pp+".ashift", p.Ashift, 9, 16, "")
		c.diskList(pp+".disks", p.Disks, disks, p.Name)
		switch p.Layout {
		case "":
			c.required(pp+".layout", p.Layout)
		case "stripe":
			if len(p.Disks) > 0 {
				c.errf(pp+".disks", "a stripe takes its disks in vdevs, not disks")
			}
			if len(p.VDevs) == 0 {
				c.errf(pp+".vdevs", "a stripe needs at least one vdev (each a mirror or raidz group)")
			}
			for j, v := range p.VDevs {
				vp := index(pp+".vdevs", j)
				c.diskList(vp+".disks", v.Disks, disks, p.Name)
				switch minDisks[v.Type] {
				case 0, 1:
					c.errf(vp+".type", "%q is not a vdev type: use mirror, raidz1, raidz2 or raidz3", v.Type)
				default:
					if len(v.Disks) < minDisks[v.Type] {
						c.errf(vp+".disks", "a %s vdev needs at least %d disks, got %d", v.Type, minDisks[v.Type], len(v.Disks))
					}
				}
			}
		default:
			want, ok := minDisks[p.Layout]
			if !ok {
				c.errf(pp+".layout", "%q is not a layout: use single, mirror, raidz1, raidz2, raidz3 or stripe", p.Layout)
				break
			}
			if len(p.VDevs) > 0 {
				c.errf(pp+".vdevs", "vdevs are only for layout stripe")
			}
			switch {
			case p.Layout == "single" && len(p.Disks) != 1:
				c.errf(pp+".disks", "layout single takes exactly 1 disk, got %d", len(p.Disks))
			case len(p.Disks) < want:
				c.errf(pp+".disks", "layout %s needs at least %d disks, got %d", p.Layout, want, len(p.Disks))
			}
		}
	}
	datasets := map[string]*Dataset{}
	mounts := dups{}
	for i := range z.Datasets {
		d := &z.Datasets[i]
		dp := index("zfs.datasets", i)
		if c.required(dp+".name", d.Name) {
			parts := strings.Split(d.Name, "/")
			switch {
			case len(parts) < 2:
				c.errf(dp+".name", "%q is a pool, not a dataset: name datasets POOL/NAME (set pool-wide values in the pool's properties)", d.Name)
			case slices.ContainsFunc(parts, func(s string) bool { return !reDSPart.match(s) }):
				c.errf(dp+".name", "%q is not a dataset name (POOL/NAME, letters, digits, _ . : -)", d.Name)
			case pools[parts[0]] == nil:
				c.errf(dp+".name", "pool %q is not declared in zfs.pools (declare it with external: true if it exists already)", parts[0])
			}
			if _, dup := datasets[d.Name]; dup {
				c.errf(dp+".name", "duplicate dataset %q", d.Name)
			}
			datasets[d.Name] = d
		}
		c.zprops(dp+".properties", d.Properties)
		c.mountpoint(dp, d.Mountpoint, d.Properties)
		if d.Mountpoint != "" && d.Mountpoint != "none" && d.Mountpoint != "legacy" {
			mounts.seen(c, dp+".mountpoint", d.Mountpoint, "mountpoint")
		}
		c.pattern(dp+".owner", d.Owner, reOwner.match, "an owner (user or user:group)")
		c.pattern(dp+".mode", d.Mode, reMode.match, "an octal mode such as \"0775\" (quote it)")
	}
	ids := dups{}
	onDataset := dups{}
	for i := range z.Storages {
		st := &z.Storages[i]
		sp := index("zfs.storages", i)
		if c.required(sp+".id", st.ID) {
			if !reStorageID.match(st.ID) {
				c.errf(sp+".id", "%q is not a Proxmox storage id (lowercase letter first; letters, digits, - _ .)", st.ID)
			} else if wellKnownStorage[st.ID] != "" && !st.External {
				c.errf(sp+".id", "%q is a Proxmox default storage: pick another id, or mark it external: true", st.ID)
			}
			ids.seen(c, sp+".id", st.ID, "storage id")
		}
		allowed := storageContent[st.Type]
		switch {
		case st.External:
			// An external storage only says what it holds, if anything.
			for _, k := range []string{"type", "dataset", "sparse"} {
				if c.has(sp + "." + k) {
					c.errf(sp+"."+k, "an external storage exists already and is never created: remove %s", k)
				}
			}
			allowed = storageContent["dir"]
		case st.Type == "":
			c.required(sp+".type", st.Type)
		case allowed == nil:
			c.errf(sp+".type", "%q is not a storage type: use zfspool or dir", st.Type)
		}
		if !st.External && c.required(sp+".dataset", st.Dataset) {
			ds, isDS := datasets[st.Dataset]
			switch {
			case !isDS && pools[st.Dataset] == nil:
				c.errf(sp+".dataset", "dataset %q is not declared in zfs.datasets (declare it with external: true if it exists already)", st.Dataset)
			case isDS && st.Type == "dir" && (ds.Mountpoint == "none" || ds.Mountpoint == "legacy"):
				c.errf(sp+".dataset", "a dir storage needs a mounted dataset; %q has mountpoint %s", st.Dataset, ds.Mountpoint)
			}
			onDataset.seen(c, sp+".dataset", st.Dataset, "storage on dataset")
		}
		if len(st.Content) == 0 && !st.External {
			c.errf(sp+".content", "required: a list such as [images, rootdir]")
		}
		seenC := dups{}
		for j, ct := range st.Content {
			cp := index(sp+".content", j)
			if allowed != nil && !slices.Contains(allowed, ct) {
				kind := "a " + st.Type + " storage"
				if st.External {
					kind = "a storage"
				}
				c.errf(cp, "%q is not a content type of %s (use %s)", ct, kind, strings.Join(allowed, ", "))
				continue
			}
			seenC.seen(c, cp, ct, "content type")
		}
		if st.Sparse != nil && st.Type != "zfspool" && !st.External {
			c.errf(sp+".sparse", "sparse applies to zfspool storages only")
		}
	}
}

var storageContent = map[string][]string{
	"zfspool": {"images", "rootdir"},
	"dir":     {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"},
}

// wellKnownStorage are the storages a stock Proxmox install has, and the
// content they hold there: a container may use them without declaring them.
var wellKnownStorage = map[string]string{"local": "vztmpl", "local-lvm": "rootdir", "local-zfs": "rootdir"}

func (c *checker) diskList(path string, list []string, used dups, pool string) {
	for i, d := range list {
		p := index(path, i)
		if !reByID.match(d) {
			if strings.HasPrefix(d, "/dev/") {
				c.errf(p, "%q: use a stable /dev/disk/by-id/ path (/dev/sdX names change between boots)", d)
			} else {
				c.errf(p, "%q is not a /dev/disk/by-id/ path", d)
			}
			continue
		}
		if first, ok := used[d]; ok {
			c.errf(p, "disk %q is used twice (first at %s)", d, first)
			continue
		}
		used[d] = p
	}
}

func (c *checker) zprops(path string, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := join(path, k)
		if !reZProp.match(k) {
			c.errf(p, "%q is not a ZFS property name", k)
		}
		if c.required(p, m[k]) {
			c.text(p, m[k])
		}
	}
}

// mountpoint checks a pool's or dataset's mountpoint, which must be set in
// one place only: the bash originals changed mountpoints back and forth.
func (c *checker) mountpoint(path, mp string, props map[string]string) {
	if mp != "" && mp != "none" && mp != "legacy" && !reAbsPath.match(mp) {
		c.errf(path+".mountpoint", "%q is not an absolute path, none or legacy", mp)
	}
	if _, ok := props["mountpoint"]; ok {
		c.errf(join(path+".properties", "mountpoint"), "set the mountpoint with the mountpoint key, not as a property")
	}
}

func (c *checker) users(us []User) {
	names := dups{}
	for i := range us {
		u := &us[i]
		up := index("users", i)
		if c.required(up+".name", u.Name) {
			c.pattern(up+".name", u.Name, reUser.match, "a user name (lowercase letter or _, then lowercase letters, digits, _ -; at most 32)")
			names.seen(c, up+".name", u.Name, "user")
		}
		if u.PasswordHash != "" && !cryptHash(u.PasswordHash) {
			if strings.HasPrefix(u.PasswordHash, "$") {
				c.errf(up+".password_hash", "not a supported crypt hash: use yescrypt ($y$), SHA-512 ($6$) or SHA-256 ($5$): `mkpasswd -m yescrypt` or `openssl passwd -6`")
			} else {
				// Never echo the value: it is probably a plaintext password.
				c.errf(up+".password_hash", "looks like a plaintext password: give a crypt hash (make one with `mkpasswd -m yescrypt` or `openssl passwd -6`), or \"!\" to lock the password")
			}
		}
		for j, g := range u.Groups {
			if !reUser.match(g) {
				c.errf(index(up+".groups", j), "%q is not a group name", g)
			}
		}
		switch u.Sudo {
		case "", "password", "nopasswd":
		default:
			c.errf(up+".sudo", "%q is not a sudo mode: use password or nopasswd (or leave it out)", u.Sudo)
		}
		c.pattern(up+".shell", u.Shell, reAbsPath.match, "an absolute path to a shell")
		for j, k := range u.SSHAuthorizedKeys {
			if msg := sshKey(k); msg != "" {
				c.errf(index(up+".ssh_authorized_keys", j), "%s", msg)
			}
		}
		if px := u.Proxmox; px != nil {
			c.pattern(up+".proxmox.realm", px.Realm, reRealm.match, "a Proxmox realm (e.g. pam or pve)")
			if c.required(up+".proxmox.role", px.Role) {
				c.pattern(up+".proxmox.role", px.Role, reRole.match, "a Proxmox role (e.g. Administrator)")
			}
			c.pattern(up+".proxmox.path", px.Path, reACLPath.match, "an ACL path (e.g. / or /vms/100)")
		}
	}
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
	"fsid":       func(v string) bool { return v == "root" || digits(v) || reNFSHost.match(v) },
	"sec":        reNFSSec.match,
	"mountpoint": reAbsPath.match, "mp": reAbsPath.match,
}

func digits(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

func (c *checker) nfs(n *NFS) {
	if len(n.Exports) == 0 {
		c.errf("nfs.exports", "required: at least one export")
	}
	paths := dups{}
	for i, e := range n.Exports {
		ep := index("nfs.exports", i)
		if c.required(ep+".path", e.Path) {
			c.pattern(ep+".path", e.Path, reAbsPath.match, "an absolute path without spaces")
			paths.seen(c, ep+".path", e.Path, "export")
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

func (c *checker) samba(s *Samba) {
	c.pattern("samba.workgroup", s.Workgroup, reWorkgroup.match, "a NetBIOS workgroup (at most 15 letters, digits, _ . ! -)")
	c.text("samba.server_string", s.ServerString)
	for _, k := range slices.Sorted(maps.Keys(s.Global)) {
		p := join("samba.global", k)
		lk := strings.Join(strings.Fields(strings.ToLower(k)), " ")
		switch {
		case !reSmbKey.match(k):
			c.errf(p, "%q is not a Samba parameter name", k)
		case lk == "workgroup" || lk == "server string":
			c.errf(p, "set %s with samba.%s, not in global", lk, strings.ReplaceAll(lk, " ", "_"))
		}
		c.text(p, s.Global[k])
	}
	users := dups{}
	for i, u := range s.Users {
		up := index("samba.users", i)
		if c.required(up+".name", u.Name) {
			c.pattern(up+".name", u.Name, reUser.match, "a user name")
			users.seen(c, up+".name", u.Name, "samba user")
		}
		hasHash, hasFile := c.has(up+".nt_hash"), c.has(up+".password_file")
		switch {
		case !hasHash && !hasFile:
			c.errf(up, "give nt_hash or password_file")
		case hasHash && hasFile:
			c.errf(up+".password_file", "nt_hash and password_file are exclusive: give one")
		}
		if u.NTHash != "" && !reNTHash.match(u.NTHash) {
			c.errf(up+".nt_hash", "not an NT hash: 32 hex digits (never a plaintext password)")
		}
		if u.PasswordFile != "" && !relPath(u.PasswordFile) && !reAbsPath.match(u.PasswordFile) {
			c.errf(up+".password_file", "%q is not a file path (absolute on the host, or relative to the seed volume)", u.PasswordFile)
		}
	}
	seedUsers := map[string]bool{}
	for _, u := range c.s.Users {
		seedUsers[u.Name] = true
	}
	shares := dups{}
	for i, sh := range s.Shares {
		sp := index("samba.shares", i)
		if c.required(sp+".name", sh.Name) {
			switch ln := strings.ToLower(sh.Name); {
			case !reShare.match(sh.Name):
				c.errf(sp+".name", "%q is not a share name (at most 80 letters, digits, spaces, _ . $ -)", sh.Name)
			case ln == "global" || ln == "homes" || ln == "printers":
				c.errf(sp+".name", "%q is a reserved Samba section", sh.Name)
			}
			shares.seen(c, sp+".name", strings.ToLower(sh.Name), "share")
		}
		if c.required(sp+".path", sh.Path) {
			c.pattern(sp+".path", sh.Path, reAbsPath.match, "an absolute path without spaces")
		}
		c.text(sp+".comment", sh.Comment)
		for j, v := range sh.ValidUsers {
			vp := index(sp+".valid_users", j)
			if g, isGroup := strings.CutPrefix(v, "@"); isGroup {
				if !reUser.match(g) {
					c.errf(vp, "%q is not a group name", g)
				}
				continue
			}
			if !reUser.match(v) {
				c.errf(vp, "%q is not a user name (or @group)", v)
			} else if users[v] == "" && !seedUsers[v] {
				c.errf(vp, "user %q is not declared in samba.users or users", v)
			}
		}
		c.pattern(sp+".create_mask", sh.CreateMask, reMode.match, "an octal mask such as \"0664\" (quote it)")
		c.pattern(sp+".directory_mask", sh.DirectoryMask, reMode.match, "an octal mask such as \"0775\" (quote it)")
		c.pattern(sp+".owner", sh.Owner, reOwner.match, "an owner (user or user:group)")
		c.pattern(sp+".mode", sh.Mode, reMode.match, "an octal mode such as \"0775\" (quote it)")
	}
}

func (c *checker) firewall(f *Firewall) {
	for i, r := range f.Rules {
		rp := index("firewall.rules", i)
		switch r.Action {
		case "ACCEPT", "DROP", "REJECT":
		case "":
			c.required(rp+".action", r.Action)
		default:
			c.errf(rp+".action", "%q is not an action: use ACCEPT, DROP or REJECT", r.Action)
		}
		switch r.Proto {
		case "", "tcp", "udp", "icmp", "icmpv6", "sctp", "esp", "ah", "gre":
		default:
			c.errf(rp+".proto", "%q is not a protocol: use tcp, udp, icmp, icmpv6, sctp, esp, ah or gre", r.Proto)
		}
		if r.Dport != "" {
			if !portsOK(r.Dport) {
				c.errf(rp+".dport", "%q is not a port list (e.g. 22, 8006, 5900:5999 or 111,2049; ports 1..65535)", r.Dport)
			} else if r.Proto != "tcp" && r.Proto != "udp" && r.Proto != "sctp" {
				c.errf(rp+".dport", "a destination port needs proto tcp, udp or sctp")
			}
		}
		if r.Source != "" {
			if _, ok := hostCIDR(r.Source); !ok && !ip(r.Source) {
				c.errf(rp+".source", "%q is not an IP address or CIDR", r.Source)
			}
		}
		c.text(rp+".comment", r.Comment)
	}
}

func portsOK(s string) bool {
	if !reDport.match(s) {
		return false
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if a < 1 || b > 65535 || a > b {
			return false
		}
	}
	return true
}

// Container limits, from the originals' phoenix_lxc_configs.json.
const (
	minCTID, maxCTID = 100, 999999999
	minMemory        = 512
	maxMemory        = 131072
	maxCores         = 32
	maxRootFS        = 1024
)

func (c *checker) lxc(l *LXC) {
	c.intRange("lxc.parallel", l.Parallel, 1, 16, "")
	d := l.Defaults
	if d == nil {
		d = &ContainerDefaults{}
	}
	const dp = "lxc.defaults"
	c.storageRef(dp+".storage", d.Storage, "rootdir")
	c.template(dp+".template", d.Template)
	c.intRange(dp+".memory", d.Memory, minMemory, maxMemory, " MiB")
	if d.Swap != nil {
		c.intRange(dp+".swap", *d.Swap, 0, maxMemory, " MiB")
	}
	c.intRange(dp+".cores", d.Cores, 1, maxCores, "")
	c.bridgeRef(dp+".bridge", d.Bridge)
	c.pattern(dp+".nameserver", d.Nameserver, ip, "an IP address")

	if !c.has("lxc.containers") {
		c.errf("lxc.containers", "required: a mapping of CTID to container")
	}
	ids := slices.Sorted(maps.Keys(l.Containers))
	byID := map[int]*Container{}
	for _, k := range ids {
		id, err := strconv.Atoi(k)
		if err != nil || id < minCTID || id > maxCTID || strconv.Itoa(id) != k {
			c.errf(join("lxc.containers", k), "container key %q is not a CTID (a number %d..%d)", k, minCTID, maxCTID)
			continue
		}
		byID[id] = l.Containers[k]
	}
	ctids := make([]int, 0, len(byID))
	for id := range byID {
		ctids = append(ctids, id)
	}
	sort.Ints(ctids)
	macs, addrs := dups{}, dups{}
	for _, id := range ctids {
		c.container(id, byID[id], d, byID, macs, addrs)
	}
	c.cycles(ctids, byID)
}

func (c *checker) container(id int, ct *Container, d *ContainerDefaults, all map[int]*Container, macs, addrs dups) {
	p := join("lxc.containers", strconv.Itoa(id))
	if ct.External && ct.Adopt {
		c.errf(p+".adopt", "external and adopt are exclusive: external containers are only clone sources, adopted ones are managed")
	}
	if !ct.External && c.required(p+".hostname", ct.Hostname) {
		c.pattern(p+".hostname", ct.Hostname, hostname, "a hostname (one DNS label)")
	} else if ct.Hostname != "" {
		c.pattern(p+".hostname", ct.Hostname, hostname, "a hostname (one DNS label)")
	}
	for i, t := range ct.Tags {
		if !reTag.match(t) {
			c.errf(index(p+".tags", i), "%q is not a tag (lowercase letters, digits, _ + . -)", t)
		}
	}
	// Where the root filesystem comes from: exactly one source.
	var sources []string
	for _, k := range []string{"template", "template_url", "template_file", "clone_from"} {
		if c.has(p + "." + k) {
			sources = append(sources, k)
		}
	}
	switch {
	case len(sources) > 1:
		c.errf(p+"."+sources[1], "%s and %s are exclusive: a container has one source", sources[0], sources[1])
	case len(sources) == 0 && d.Template == "" && !ct.External && !ct.Adopt:
		c.errf(p, "no template: set template, template_url, template_file or clone_from (or lxc.defaults.template)")
	}
	c.template(p+".template", ct.Template)
	if ct.TemplateURL != "" {
		if !httpURL(ct.TemplateURL) {
			c.errf(p+".template_url", "%q is not an http(s) URL", ct.TemplateURL)
		}
		if ct.TemplateSHA256 == "" {
			c.errf(p+".template_sha256", "required with template_url: a download is only used once its SHA-256 matches")
		}
	}
	if ct.TemplateFile != "" && !relPath(ct.TemplateFile) {
		c.errf(p+".template_file", "%q is not a path relative to the seed volume", ct.TemplateFile)
	}
	c.pattern(p+".template_sha256", ct.TemplateSHA256, reSHA256.match, "a SHA-256 (64 lowercase hex digits)")
	if cf := ct.CloneFrom; cf != nil {
		cp := p + ".clone_from"
		src, ok := all[cf.CTID]
		switch {
		case !c.has(cp + ".ctid"):
			c.errf(cp+".ctid", "required")
		case cf.CTID == id:
			c.errf(cp+".ctid", "a container cannot be cloned from itself")
		case !ok:
			c.errf(cp+".ctid", "container %d is not in lxc.containers (declare it with external: true if it exists already)", cf.CTID)
		}
		if c.required(cp+".snapshot", cf.Snapshot) {
			switch {
			case !reSnapshot.match(cf.Snapshot) || cf.Snapshot == "current":
				c.errf(cp+".snapshot", "%q is not a snapshot name", cf.Snapshot)
			case ok && !src.External && !slices.Contains(src.Snapshots, cf.Snapshot):
				c.errf(cp+".snapshot", "container %d does not take snapshot %q: add it to its snapshots", cf.CTID, cf.Snapshot)
			}
		}
	}
	c.intRange(p+".memory", ct.Memory, minMemory, maxMemory, " MiB")
	if ct.Swap != nil {
		c.intRange(p+".swap", *ct.Swap, 0, maxMemory, " MiB")
	}
	c.intRange(p+".cores", ct.Cores, 1, maxCores, "")
	if r := ct.RootFS; r != nil {
		if !c.has(p + ".rootfs.size") {
			c.errf(p+".rootfs.size", "required: size in GiB (1..%d)", maxRootFS)
		}
		c.intRange(p+".rootfs.size", r.Size, 1, maxRootFS, " GiB")
		c.storageRef(p+".rootfs.storage", r.Storage, "rootdir")
	}
	if !ct.External && ct.CloneFrom == nil && (ct.RootFS == nil || ct.RootFS.Storage == "") && d.Storage == "" {
		c.errf(p, "no storage for the root filesystem: set rootfs.storage or lxc.defaults.storage")
	}
	names := dups{}
	for i, n := range ct.Net {
		np := index(p+".net", i)
		name := n.Name
		if name == "" {
			name = "eth" + strconv.Itoa(i)
		} else if !reNetName.match(name) {
			c.errf(np+".name", "%q is not an interface name (eth0 .. eth31)", name)
		}
		names.seen(c, np+".name", name, "interface")
		br := n.Bridge
		if br == "" {
			br = d.Bridge
			if br == "" {
				c.errf(np+".bridge", "required (or set lxc.defaults.bridge)")
			}
		}
		c.bridgeRef(np+".bridge", n.Bridge)
		if b := c.bridge(br); b != nil && n.VLAN != 0 && !b.VLANAware {
			c.errf(np+".vlan", "bridge %s is not vlan_aware, so it cannot carry vlan %d", br, n.VLAN)
		}
		static := false
		switch n.IP {
		case "", "dhcp", "manual":
		default:
			pr, ok := hostCIDR(n.IP)
			if !ok {
				c.errf(np+".ip", "%q is not an address in CIDR form, dhcp or manual", n.IP)
				break
			}
			static = true
			addrs.seen(c, np+".ip", pr.Addr().String(), "container address")
			if n.GW != "" {
				if gw, err := netip.ParseAddr(n.GW); err == nil && !pr.Masked().Contains(gw) {
					c.errf(np+".gw", "gateway %s is not in %s", n.GW, pr.Masked())
				}
			}
		}
		if n.GW != "" {
			switch {
			case !ip(n.GW):
				c.errf(np+".gw", "%q is not an IP address", n.GW)
			case !static:
				c.errf(np+".gw", "a gateway needs a static ip (CIDR)")
			}
		}
		if n.HWAddr != "" {
			if !reMAC.match(n.HWAddr) {
				c.errf(np+".hwaddr", "%q is not a MAC address (xx:xx:xx:xx:xx:xx)", n.HWAddr)
			} else if b, _ := strconv.ParseUint(n.HWAddr[:2], 16, 8); b&1 == 1 {
				c.errf(np+".hwaddr", "%q is a multicast MAC address: the first byte must be even", n.HWAddr)
			} else {
				macs.seen(c, np+".hwaddr", strings.ToLower(n.HWAddr), "MAC address")
			}
		}
		c.intRange(np+".vlan", n.VLAN, 1, 4094, "")
		c.intRange(np+".mtu", n.MTU, 576, 65520, "")
	}
	c.pattern(p+".nameserver", ct.Nameserver, ip, "an IP address")
	if s := ct.Startup; s != nil {
		c.intRange(p+".startup.order", s.Order, 0, 1<<20, "")
		c.intRange(p+".startup.up", s.Up, 0, 86400, " s")
		c.intRange(p+".startup.down", s.Down, 0, 86400, " s")
	}
	mpaths := dups{}
	for i, m := range ct.Mounts {
		mp := index(p+".mounts", i)
		hasDS, hasHost := c.has(mp+".dataset"), c.has(mp+".host_path")
		switch {
		case !hasDS && !hasHost:
			c.errf(mp, "give dataset or host_path")
		case hasDS && hasHost:
			c.errf(mp+".host_path", "dataset and host_path are exclusive: give one")
		case m.Dataset != "" && !c.datasetDeclared(m.Dataset):
			c.errf(mp+".dataset", "dataset %q is not declared in zfs.datasets (declare it with external: true if it exists already)", m.Dataset)
		case m.HostPath != "" && !reAbsPath.match(m.HostPath):
			c.errf(mp+".host_path", "%q is not an absolute path without spaces", m.HostPath)
		}
		if c.required(mp+".path", m.Path) {
			if !reAbsPath.match(m.Path) || m.Path == "/" {
				c.errf(mp+".path", "%q is not an absolute path below / inside the container", m.Path)
			}
			mpaths.seen(c, mp+".path", m.Path, "mount path")
		}
	}
	if len(ct.Mounts) > 256 {
		c.errf(p+".mounts", "at most 256 mounts (mp0..mp255)")
	}
	gpus := map[int]bool{}
	for i, g := range ct.GPUs {
		gp := index(p+".gpus", i)
		switch {
		case g < 0 || g > 63:
			c.errf(gp, "%d is not a GPU index (0..63)", g)
		case gpus[g]:
			c.errf(gp, "duplicate GPU %d", g)
		}
		gpus[g] = true
	}
	if len(ct.GPUs) > 0 && c.s.NVIDIA == nil {
		c.errf(p+".gpus", "GPU passthrough needs the nvidia section (the host driver)")
	}
	for i, dep := range ct.DependsOn {
		dp := index(p+".depends_on", i)
		switch _, ok := all[dep]; {
		case dep == id:
			c.errf(dp, "a container cannot depend on itself")
		case !ok:
			c.errf(dp, "container %d is not in lxc.containers (declare it with external: true if it exists already)", dep)
		}
	}
	if pr := ct.Provision; pr != nil {
		pp := p + ".provision"
		for i, f := range pr.Features {
			switch f {
			case "base", "docker":
			case "nvidia":
				if len(ct.GPUs) == 0 {
					c.errf(index(pp+".features", i), "feature nvidia needs gpus")
				}
			default:
				c.errf(index(pp+".features", i), "%q is not a provisioning feature: use base, docker or nvidia", f)
			}
		}
		c.pattern(pp+".locale", pr.Locale, reLocale.match, "a locale such as en_US.UTF-8")
		for i, pk := range pr.Packages {
			if !rePackage.match(pk) {
				c.errf(index(pp+".packages", i), "%q is not a Debian package name", pk)
			}
		}
		for i, s := range pr.Scripts {
			sp := index(pp+".scripts", i)
			if c.required(sp+".file", s.File) && !relPath(s.File) {
				c.errf(sp+".file", "%q is not a path relative to the seed volume", s.File)
			}
			for j, a := range s.Args {
				c.text(index(sp+".args", j), a)
			}
		}
	}
	if h := ct.HealthCheck; h != nil {
		hp := p + ".health_check"
		if len(h.Command) == 0 {
			c.errf(hp+".command", "required: the command as a list, e.g. [systemctl, is-active, docker]")
		}
		for i, a := range h.Command {
			if i == 0 {
				c.required(index(hp+".command", 0), a)
			}
			c.text(index(hp+".command", i), a)
		}
		c.intRange(hp+".retries", h.Retries, 1, 100, "")
		if h.Interval != "" {
			if iv, err := time.ParseDuration(h.Interval); err != nil || !reInterval.match(h.Interval) || iv <= 0 || iv > time.Hour {
				c.errf(hp+".interval", "%q is not a duration between 1ms and 1h (e.g. 5s)", h.Interval)
			}
		}
	}
	snaps := dups{}
	for i, s := range ct.Snapshots {
		sp := index(p+".snapshots", i)
		if !reSnapshot.match(s) || s == "current" {
			c.errf(sp, "%q is not a snapshot name (a letter, then letters, digits, _ -; 2..40 long; not current)", s)
			continue
		}
		snaps.seen(c, sp, s, "snapshot")
	}
	c.text(p+".description", strings.ReplaceAll(ct.Description, "\n", " "))
}

func (c *checker) datasetDeclared(name string) bool {
	if c.s.ZFS == nil {
		return false
	}
	for _, d := range c.s.ZFS.Datasets {
		if d.Name == name {
			return true
		}
	}
	return false
}

// storageRef checks a storage a container uses: a seed storage holding
// that content, one declared external, or a Proxmox default.
func (c *checker) storageRef(path, id, content string) {
	if id == "" {
		return
	}
	if c.s.ZFS != nil {
		for _, st := range c.s.ZFS.Storages {
			if st.ID != id {
				continue
			}
			if (!st.External || len(st.Content) > 0) && !slices.Contains(st.Content, content) {
				c.errf(path, "storage %q does not hold %s content: add %s to its content", id, content, content)
			}
			return
		}
	}
	switch wellKnownStorage[id] {
	case content:
		return
	case "":
		c.errf(path, "storage %q is not declared in zfs.storages (declare it with external: true if it exists already)", id)
	default:
		c.errf(path, "Proxmox default storage %q does not hold %s content; use another storage or declare it with external: true", id, content)
	}
}

func (c *checker) template(path, t string) {
	if t == "" {
		return
	}
	store, ok := templateVol(t)
	if !ok {
		c.errf(path, "%q is not a template volume STORAGE:vztmpl/FILE (e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst)", t)
		return
	}
	c.storageRef(path, store, "vztmpl")
}

// bridgeRef checks a bridge a container uses: the management bridge or
// one in network.bridges when the seed has a network section.
func (c *checker) bridgeRef(path, name string) {
	if name == "" {
		return
	}
	if !reBridge.match(name) {
		c.errf(path, "%q is not a bridge name (vmbr0 .. vmbr9999)", name)
		return
	}
	if c.s.Network != nil && c.bridge(name) == nil {
		c.errf(path, "bridge %q is not declared in network (management or bridges)", name)
	}
}

// bridge is the seed's bridge of that name, nil when the seed has no
// network section or no such bridge.
func (c *checker) bridge(name string) *Bridge {
	n := c.s.Network
	if n == nil {
		return nil
	}
	if n.Management.Name == name {
		return &n.Management
	}
	for i := range n.Bridges {
		if n.Bridges[i].Name == name {
			return &n.Bridges[i]
		}
	}
	return nil
}

// cycles reports each dependency cycle once: depends_on and clone_from
// both order containers.
func (c *checker) cycles(ctids []int, all map[int]*Container) {
	edges := func(id int) []int {
		ct := all[id]
		var out []int
		if ct.CloneFrom != nil && all[ct.CloneFrom.CTID] != nil && ct.CloneFrom.CTID != id {
			out = append(out, ct.CloneFrom.CTID)
		}
		for _, d := range ct.DependsOn {
			if all[d] != nil && d != id {
				out = append(out, d)
			}
		}
		return out
	}
	const (
		white = iota
		grey
		black
	)
	color := map[int]int{}
	var stack []int
	var visit func(id int)
	visit = func(id int) {
		color[id] = grey
		stack = append(stack, id)
		for _, nx := range edges(id) {
			switch color[nx] {
			case white:
				visit(nx)
			case grey:
				i := slices.Index(stack, nx)
				cyc := append(slices.Clone(stack[i:]), nx)
				parts := make([]string, len(cyc))
				for j, v := range cyc {
					parts[j] = strconv.Itoa(v)
				}
				c.errf(join("lxc.containers", strconv.Itoa(nx)), "dependency cycle: %s", strings.Join(parts, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
	}
	for _, id := range ctids {
		if color[id] == white {
			visit(id)
		}
	}
}
