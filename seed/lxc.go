package seed

import (
	"maps"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LXC is the containers and their shared defaults.
type LXC struct {
	Defaults   *ContainerDefaults    `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	Parallel   int                   `yaml:"parallel,omitempty" json:"parallel,omitempty"` // default 2
	Containers map[string]*Container `yaml:"containers" json:"containers"`                 // keyed by CTID
}

// ContainerDefaults fill unset fields of every container.
type ContainerDefaults struct {
	Storage      string    `yaml:"storage,omitempty" json:"storage,omitempty"`
	Template     string    `yaml:"template,omitempty" json:"template,omitempty"`
	Memory       int       `yaml:"memory,omitempty" json:"memory,omitempty"`
	Swap         *int      `yaml:"swap,omitempty" json:"swap,omitempty"`
	Cores        int       `yaml:"cores,omitempty" json:"cores,omitempty"`
	Bridge       string    `yaml:"bridge,omitempty" json:"bridge,omitempty"`
	Unprivileged *bool     `yaml:"unprivileged,omitempty" json:"unprivileged,omitempty"`
	Onboot       *bool     `yaml:"onboot,omitempty" json:"onboot,omitempty"`
	Features     *Features `yaml:"features,omitempty" json:"features,omitempty"`
	Nameserver   string    `yaml:"nameserver,omitempty" json:"nameserver,omitempty"`
}

// Container is one LXC container, keyed by CTID in LXC.Containers.
type Container struct {
	Hostname       string       `yaml:"hostname" json:"hostname"`
	Description    string       `yaml:"description,omitempty" json:"description,omitempty"`
	Tags           []string     `yaml:"tags,omitempty" json:"tags,omitempty"`
	Template       string       `yaml:"template,omitempty" json:"template,omitempty"` // storage:vztmpl/name
	TemplateURL    string       `yaml:"template_url,omitempty" json:"template_url,omitempty"`
	TemplateFile   string       `yaml:"template_file,omitempty" json:"template_file,omitempty"` // on the seed volume
	TemplateSHA256 string       `yaml:"template_sha256,omitempty" json:"template_sha256,omitempty"`
	CloneFrom      *CloneFrom   `yaml:"clone_from,omitempty" json:"clone_from,omitempty"`
	Memory         int          `yaml:"memory,omitempty" json:"memory,omitempty"` // MiB, 512..131072
	Swap           *int         `yaml:"swap,omitempty" json:"swap,omitempty"`     // MiB
	Cores          int          `yaml:"cores,omitempty" json:"cores,omitempty"`   // 1..32
	RootFS         *RootFS      `yaml:"rootfs,omitempty" json:"rootfs,omitempty"`
	Net            []NetIf      `yaml:"net,omitempty" json:"net,omitempty"`
	Nameserver     string       `yaml:"nameserver,omitempty" json:"nameserver,omitempty"`
	Unprivileged   *bool        `yaml:"unprivileged,omitempty" json:"unprivileged,omitempty"` // default true
	Features       *Features    `yaml:"features,omitempty" json:"features,omitempty"`
	Onboot         *bool        `yaml:"onboot,omitempty" json:"onboot,omitempty"`
	Startup        *Startup     `yaml:"startup,omitempty" json:"startup,omitempty"`
	Mounts         []Mount      `yaml:"mounts,omitempty" json:"mounts,omitempty"`
	GPUs           []int        `yaml:"gpus,omitempty" json:"gpus,omitempty"` // host GPU indexes passed through
	DependsOn      []int        `yaml:"depends_on,omitempty" json:"depends_on,omitempty"`
	Provision      *Provision   `yaml:"provision,omitempty" json:"provision,omitempty"`
	HealthCheck    *HealthCheck `yaml:"health_check,omitempty" json:"health_check,omitempty"`
	Snapshots      []string     `yaml:"snapshots,omitempty" json:"snapshots,omitempty"` // taken after provisioning
	Adopt          bool         `yaml:"adopt,omitempty" json:"adopt,omitempty"`         // take over an existing CT
	External       bool         `yaml:"external,omitempty" json:"external,omitempty"`   // exists; only a clone source
}

// CloneFrom makes a container a clone of another's snapshot.
type CloneFrom struct {
	CTID     int    `yaml:"ctid" json:"ctid"`
	Snapshot string `yaml:"snapshot" json:"snapshot"`
	Full     bool   `yaml:"full,omitempty" json:"full,omitempty"`
}

// RootFS is the container's root volume.
type RootFS struct {
	Storage string `yaml:"storage,omitempty" json:"storage,omitempty"`
	Size    int    `yaml:"size" json:"size"` // GiB, 1..1024
}

// NetIf is one container network interface (netN).
type NetIf struct {
	Name   string `yaml:"name,omitempty" json:"name,omitempty"` // default ethN
	Bridge string `yaml:"bridge,omitempty" json:"bridge,omitempty"`
	IP     string `yaml:"ip,omitempty" json:"ip,omitempty"` // CIDR, dhcp or manual
	GW     string `yaml:"gw,omitempty" json:"gw,omitempty"`
	HWAddr string `yaml:"hwaddr,omitempty" json:"hwaddr,omitempty"`
	VLAN   int    `yaml:"vlan,omitempty" json:"vlan,omitempty"`
	MTU    int    `yaml:"mtu,omitempty" json:"mtu,omitempty"`
}

// Features are pct --features flags.
type Features struct {
	Nesting bool `yaml:"nesting,omitempty" json:"nesting,omitempty"`
	Keyctl  bool `yaml:"keyctl,omitempty" json:"keyctl,omitempty"`
	Fuse    bool `yaml:"fuse,omitempty" json:"fuse,omitempty"`
}

// Startup is pct --startup order,up,down.
type Startup struct {
	Order int `yaml:"order,omitempty" json:"order,omitempty"`
	Up    int `yaml:"up,omitempty" json:"up,omitempty"`
	Down  int `yaml:"down,omitempty" json:"down,omitempty"`
}

// Mount is one mpN: a ZFS dataset or a host path bound into the container.
type Mount struct {
	Dataset  string `yaml:"dataset,omitempty" json:"dataset,omitempty"`
	HostPath string `yaml:"host_path,omitempty" json:"host_path,omitempty"`
	Path     string `yaml:"path" json:"path"` // inside the container
	ReadOnly bool   `yaml:"read_only,omitempty" json:"read_only,omitempty"`
}

// Provision is what runs inside a container after it first starts.
type Provision struct {
	Features []string `yaml:"features,omitempty" json:"features,omitempty"` // base, docker, nvidia
	Locale   string   `yaml:"locale,omitempty" json:"locale,omitempty"`
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	Scripts  []Script `yaml:"scripts,omitempty" json:"scripts,omitempty"`
}

// Script is a file from the seed volume pushed into the container and run.
type Script struct {
	File string   `yaml:"file" json:"file"` // relative to the seed volume
	Args []string `yaml:"args,omitempty" json:"args,omitempty"`
}

// HealthCheck is a command run inside the container until it succeeds.
type HealthCheck struct {
	Command  []string `yaml:"command" json:"command"`
	Retries  int      `yaml:"retries,omitempty" json:"retries,omitempty"`   // default 5
	Interval string   `yaml:"interval,omitempty" json:"interval,omitempty"` // Go duration, default 5s
}

// check holds the lxc section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (l *LXC) check(c *checker) {
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
	c.containerSource(p, id, ct, d, all)
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
	c.containerNet(p, id, ct, d, macs, addrs)
	c.pattern(p+".nameserver", ct.Nameserver, ip, "an IP address")
	if s := ct.Startup; s != nil {
		c.intRange(p+".startup.order", s.Order, 0, 1<<20, "")
		c.intRange(p+".startup.up", s.Up, 0, 86400, " s")
		c.intRange(p+".startup.down", s.Down, 0, 86400, " s")
	}
	c.containerMounts(p, id, ct)
	c.containerRefs(p, id, ct, all)
	c.containerProvision(p, id, ct)
	snaps := dups{}
	for i, s := range ct.Snapshots {
		sp := index(p+".snapshots", i)
		if !reSnapshot.match(s) || s == "current" {
			c.errf(sp, "%q is not a snapshot name (a letter, then letters, digits, _ -; 2..40 long; not current)", s)
			continue
		}
		snaps.seen(c, sp, s, "snapshot")
	}
	if len(ct.Snapshots) > 0 && len(ct.Mounts) > 0 {
		// Every mount is a bind mount (mpN: /host/path,mp=...), and
		// Proxmox snapshots a container only when every mount point has
		// the snapshot feature: pve-guest-common src/PVE/AbstractConfig.pm
		// :754-756 dies "snapshot feature is not available", and
		// pve-storage src/PVE/Storage.pm:502-516 gives a path none. A
		// clone of such a container dies too (pve-container
		// src/PVE/API2/LXC.pm:2109).
		c.errf(p+".snapshots", "Proxmox cannot snapshot a container with mounts: %s is a bind mount, and pct snapshot refuses with \"snapshot feature is not available\"; drop snapshots here, or take them on a container without mounts and give this one its mounts when it is cloned from it (clone_from, then mounts)", index(p+".mounts", 0))
	}
	c.text(p+".description", strings.ReplaceAll(ct.Description, "\n", " "))
	if n := len(ct.Description); n > MaxCTDescription {
		c.errf(p+".description", "%d bytes: Proxmox takes at most %d (pct create --description); shorten it", n, MaxCTDescription)
	}
}

// Proxmox's limits on what the lxc module passes to pct, from pve-container
// (commit 94f5585): description maxLength 8192 (src/PVE/LXC/Config.pm
// :615-621) and ostemplate maxLength 255 (src/PVE/API2/LXC.pm:163-168).
// The hostname (Config.pm:608-614: dns-name, maxLength 255) is held to one
// DNS label of at most 63 by hostname(), inside that limit. Perl counts
// characters; these count bytes, which is never looser.
const (
	MaxCTDescription = 8192
	MaxCTTemplate    = 255
)

// containerSource checks where the root filesystem comes from of container p.
func (c *checker) containerSource(p string, id int, ct *Container, d *ContainerDefaults, all map[int]*Container) {
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
		c.url(p+".template_url", ct.TemplateURL, "an http(s) URL")
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
}

// containerNet checks the network interfaces of container p.
func (c *checker) containerNet(p string, id int, ct *Container, d *ContainerDefaults, macs, addrs dups) {
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
			if why := hostAddressProblem(pr); why != "" {
				c.errf(np+".ip", "%s %s: give a host address", pr.Addr(), why)
			}
			if at := c.bridgeAddress(pr.Addr()); strings.HasSuffix(at, ".gateway") {
				c.errf(np+".ip", "%s is the router's address (%s): give the container an address of its own", pr.Addr(), at)
			} else if at != "" {
				c.errf(np+".ip", "%s is the host's own address (%s)", pr.Addr(), at)
			}
			if n.GW != "" {
				if gw, err := netip.ParseAddr(n.GW); err == nil && !pr.Masked().Contains(gw) {
					c.errf(np+".gw", "gateway %s is not in %s", n.GW, pr.Masked())
				} else if err == nil && gw == pr.Addr() {
					c.errf(np+".gw", "gateway %s is the container's own address", n.GW)
				} else if why := hostAddressProblem(netip.PrefixFrom(gw, pr.Bits())); err == nil && why != "" {
					c.errf(np+".gw", "gateway %s %s: give the router's address", gw, why)
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
}

// containerMounts checks the mount points of container p.
func (c *checker) containerMounts(p string, id int, ct *Container) {
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
		case m.Dataset != "" && c.s.Mountpoint(m.Dataset) == "":
			// The lxc module binds the dataset's mountpoint and refuses
			// none and legacy (modules/lxc options).
			c.errf(mp+".dataset", "dataset %q has no mountpoint (none or legacy): there is nothing to bind; give it a mountpoint", m.Dataset)
		case m.Dataset != "" && !PropertyStringSafe(c.s.Mountpoint(m.Dataset)):
			c.errf(mp+".dataset", "the mountpoint %q of dataset %s holds a comma or '=': it lands in the container's mpN property string, where those start a new option", c.s.Mountpoint(m.Dataset), m.Dataset)
		case m.HostPath != "" && !reAbsPath.match(m.HostPath):
			c.errf(mp+".host_path", "%q is not an absolute path without spaces", m.HostPath)
		case m.HostPath != "" && !PropertyStringSafe(m.HostPath):
			c.errf(mp+".host_path", "%q holds a comma or '=': it lands in the container's mpN property string, where those start a new option", m.HostPath)
		case m.HostPath != "":
			c.pathCheck(mp+".host_path", m.HostPath, false)
		}
		if c.required(mp+".path", m.Path) {
			switch {
			case !reAbsPath.match(m.Path) || path.Clean(m.Path) == "/":
				c.errf(mp+".path", "%q is not an absolute path below / inside the container", m.Path)
			case !PropertyStringSafe(m.Path):
				c.errf(mp+".path", "%q holds a comma or '=': it lands in the container's mpN property string (mp=PATH), where those start a new option", m.Path)
			case HasDotDot(m.Path):
				c.errf(mp+".path", "%q has a '..' element: give the path itself", m.Path)
			}
			mpaths.seen(c, mp+".path", cleanKey(m.Path), "mount path")
		}
	}
	if len(ct.Mounts) > 256 {
		c.errf(p+".mounts", "at most 256 mounts (mp0..mp255)")
	}
}

// containerRefs checks GPUs and dependencies of container p.
func (c *checker) containerRefs(p string, id int, ct *Container, all map[int]*Container) {
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
}

// containerProvision checks provisioning and the health check of container p.
func (c *checker) containerProvision(p string, id int, ct *Container) {
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
		c.pattern(pp+".locale", pr.Locale, reLocale.match, "a UTF-8 locale LANG_COUNTRY.UTF-8 such as en_US.UTF-8 (the base feature generates it with localedef)")
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
}

func (c *checker) template(path, t string) {
	if t == "" {
		return
	}
	if len(t) > MaxCTTemplate {
		c.errf(path, "%d bytes: Proxmox takes a template volume of at most %d (pct create ostemplate)", len(t), MaxCTTemplate)
		return
	}
	store, ok := templateVol(t)
	if !ok {
		c.errf(path, "%q is not a template volume STORAGE:vztmpl/FILE (e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst)", t)
		return
	}
	c.storageRef(path, store, "vztmpl")
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

// Container limits, from the originals' phoenix_lxc_configs.json.
const (
	minCTID, maxCTID = 100, 999999999
	minMemory        = 512
	maxMemory        = 131072
	maxCores         = 32
	maxRootFS        = 1024
)
