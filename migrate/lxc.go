package migrate

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/seed"
)

// features maps the originals' container features to seed provisioning
// features; the others have no seed equivalent.
var features = map[string]string{"base_setup": "base", "docker": "docker", "nvidia": "nvidia"}

var lxcAdvice = map[string]string{
	"lxc_options":                "raw lxc.* options have no seed key: Phoenix writes the GPU device entries itself; others need a provision script on the host",
	"pct_options":                "pct options have no seed key: use the container's own keys (features, mounts, startup)",
	"apparmor_profile":           "Phoenix keeps Proxmox's AppArmor profile; an unconfined container has no seed key",
	"apparmor_manages_nesting":   "Phoenix keeps Proxmox's AppArmor profile; set features.nesting for nested containers",
	"portainer_role":             "Portainer roles have no seed key: install Portainer with a provision script",
	"firewall":                   "container firewall rules have no seed key: use the host firewall (firewall.rules) or a provision script",
	"ports":                      "port lists have no seed key: open them with firewall.rules",
	"tests":                      "the originals' test scripts: use health_check, or a provision script",
	"integration_tests":          "the originals' test scripts: use health_check, or a provision script",
	"run_integration_tests":      "the originals' test scripts: use health_check, or a provision script",
	"id_maps":                    "custom uid/gid maps have no seed key",
	"is_template":                "Phoenix does not convert containers to Proxmox templates: clones use a snapshot (clone_from)",
	"enable_lifecycle_snapshots": "list the snapshots to take in snapshots",
	"traefik_service":            "Traefik settings have no seed key: configure Traefik from a provision script",
	"trigger_sync_on_completion": "no seed key: Phoenix runs each container's provisioning once",
	"bootstrap_ca_url":           "no seed key: fetch certificates from a provision script",
	"vllm_engine_config":         "vLLM settings have no seed key: pass them to the vLLM provision script (provision.scripts[].args)",
	"secondary_network_config":   "only one interface is carried over: add the second to net",
	"volumes":                    "pct volumes (STORAGE:SIZE) have no seed key: declare a dataset in zfs.datasets and mount it with mounts [{dataset, path}]",
	"zfs_volumes":                "pct volumes (STORAGE:SIZE) have no seed key: declare a dataset in zfs.datasets and mount it with mounts [{dataset, path}]",
}

func (c *conv) lxcConfigs(o *obj) {
	o.skip("$schema", "nvidia_repo_url")
	ver := o.str("nvidia_driver_version")
	url := o.str("nvidia_runfile_url")
	if ver != "" && c.s.NVIDIA == nil {
		c.setNVIDIA(o.file, "nvidia_driver_version", ver, url)
	} else if ver != "" && ver != c.s.NVIDIA.Version {
		c.setNVIDIA(o.file, "nvidia_driver_version", ver, url)
	}
	l := &seed.LXC{Containers: map[string]*seed.Container{}}
	c.defaults(l)
	cfgs := o.child("lxc_configs")
	c.snapshotOf = map[int]string{}
	c.addrs = map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(cfgs.m)) {
		ct := newObj(c.r, o.file, cfgs.at(id), cfgs.m[id])
		if n, err := strconv.Atoi(id); err == nil {
			snap, _ := ct.m["template_snapshot_name"].(string)
			c.snapshotOf[n] = snap
		}
	}
	for _, id := range slices.Sorted(maps.Keys(cfgs.m)) {
		cfgs.skip(id)
		ct := newObj(c.r, o.file, cfgs.at(id), cfgs.m[id])
		l.Containers[id] = c.container(ct)
	}
	c.links(o.file, l)
	if len(l.Containers) > 0 {
		c.s.LXC = l
	}
	o.rest(nil)
}

// defaults reads proxmox_defaults of the hypervisor config (the later form).
func (c *conv) defaults(l *seed.LXC) {
	o := c.hyperLXC
	if o == nil || len(o.m) == 0 {
		return
	}
	d := &seed.ContainerDefaults{}
	if ds := o.str("zfs_lxc_pool"); ds != "" {
		d.Storage = c.storageFor(o, "zfs_lxc_pool", ds, "rootdir")
	}
	x := o.child("lxc")
	if n, ok := x.num("cores"); ok {
		d.Cores = n
	}
	if n, ok := x.num("memory_mb"); ok {
		d.Memory = n
	}
	if f := x.str("features"); f != "" {
		d.Features = pctFeatures(x, "features", f)
	}
	if n, ok := x.num("nesting"); ok && n == 1 {
		if d.Features == nil {
			d.Features = &seed.Features{}
		}
		d.Features.Nesting = true
	}
	x.skip("security")
	if x.str("network_config") != "" {
		c.r.lost(x.file, x.at("network_config"), "a default address for every container has no seed key: give each container its net")
	}
	x.rest(nil)
	o.rest(nil)
	if *d != (seed.ContainerDefaults{}) {
		l.Defaults = d
	}
}

func pctFeatures(o *obj, k, s string) *seed.Features {
	f := &seed.Features{}
	for _, kv := range strings.Split(s, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		on := val == "1"
		switch name {
		case "nesting":
			f.Nesting = on
		case "keyctl":
			f.Keyctl = on
		case "fuse":
			f.Fuse = on
		default:
			o.r.lost(o.file, o.at(k), fmt.Sprintf("pct feature %q has no seed key (features takes nesting, keyctl, fuse)", name))
		}
	}
	return f
}

// storageFor finds the storage id the originals meant by a storage_pool:
// a storage id ("quickOS-lxc-disks"), a dataset ("quickOS/lxc-disks") or a
// dataset's last element ("lxc-disks", the first form).
func (c *conv) storageFor(o *obj, k, ref, content string) string {
	z := c.s.ZFS
	if z != nil {
		if _, ok := c.storages[ref]; ok {
			return ref
		}
		for _, st := range z.Storages {
			if st.Dataset == ref || path.Base(st.Dataset) == ref {
				return st.ID
			}
		}
	}
	// Unknown here: an existing storage of the host. It is declared
	// external, so the seed validates and Phoenix never creates it.
	id := strings.ReplaceAll(strings.Trim(ref, "/"), "/", "-")
	z = c.zfs()
	if i, ok := c.storages[id]; ok {
		if !slices.Contains(z.Storages[i].Content, content) {
			z.Storages[i].Content = append(z.Storages[i].Content, content)
		}
	} else {
		c.storages[id] = len(z.Storages)
		z.Storages = append(z.Storages, seed.Storage{ID: id, External: true, Content: []string{content}})
		c.r.lost(o.file, o.at(k), fmt.Sprintf("%q is not a storage the hypervisor config defines: the seed declares storage %q as existing (external: true); check the host has it", ref, id))
	}
	return id
}

func (c *conv) container(o *obj) *seed.Container {
	ct := &seed.Container{Hostname: o.str("name")}
	if ct.Hostname == "" {
		ct.Hostname = "ct" + path.Base(o.path)
		c.r.lost(o.file, o.at("name"), fmt.Sprintf("no name: the seed calls it %s", ct.Hostname))
	}
	if h := hostLabel(ct.Hostname); h != strings.ToLower(ct.Hostname) {
		c.r.lost(o.file, o.at("name"), fmt.Sprintf("not a host name (one DNS label): the seed uses %q", h))
		ct.Hostname = h
	} else {
		ct.Hostname = h
	}
	c.resources(o, ct)
	c.source(o, ct)
	c.netIf(o, ct)
	c.boot(o, ct)
	c.provision(o, ct)
	c.mounts(o, ct)
	o.rest(lxcAdvice)
	return ct
}

// resources converts memory, swap and cores.
func (c *conv) resources(o *obj, ct *seed.Container) {
	if n, ok := o.num("memory_mb"); ok {
		ct.Memory = n
	}
	if n, ok := o.num("swap_mb"); ok {
		ct.Swap = &n
	}
	if n, ok := o.num("cores"); ok {
		ct.Cores = n
	}
}

// source converts where the container comes from (template or clone) and
// its root volume.
func (c *conv) source(o *obj, ct *seed.Container) {
	if t := o.str("template"); t != "" {
		ct.Template = c.template(o, t)
	}
	if f := o.str("template_file"); f != "" {
		c.r.lost(o.file, o.at("template_file"), "put the template on the seed volume and name it in template_file (a path relative to the volume)")
	}
	if src := o.str("clone_from_ctid"); src != "" {
		n, err := strconv.Atoi(src)
		if err != nil {
			c.r.lost(o.file, o.at("clone_from_ctid"), "not a CTID: left out")
		} else {
			snap := c.snapshotOf[n]
			if snap == "" {
				c.r.lost(o.file, o.at("clone_from_ctid"), fmt.Sprintf("container %d takes no snapshot (template_snapshot_name) to clone from: add one to its snapshots and set clone_from.snapshot", n))
				snap = "pre-configured"
			}
			ct.CloneFrom = &seed.CloneFrom{CTID: n, Snapshot: snap}
			ct.Template = ""
		}
	}
	if sp := o.str("storage_pool"); sp != "" {
		ct.RootFS = &seed.RootFS{Storage: c.storageFor(o, "storage_pool", sp, "rootdir")}
	}
	if n, ok := o.num("storage_size_gb"); ok {
		if ct.RootFS == nil {
			ct.RootFS = &seed.RootFS{}
		}
		ct.RootFS.Size = n
	}
	if ct.RootFS != nil && ct.RootFS.Size == 0 {
		// A clone inherits its source's root volume (pct clone); anything
		// else needs a size.
		if ct.CloneFrom == nil {
			c.r.lost(o.file, o.at("storage_pool"), "no storage_size_gb: the seed uses 8 GiB (the Proxmox GUI default); set rootfs.size")
			ct.RootFS.Size = 8
		} else {
			ct.RootFS = nil
		}
	}
}

// netIf converts network_config and the MAC address into net[0].
func (c *conv) netIf(o *obj, ct *seed.Container) {
	nc := o.child("network_config")
	if len(nc.m) > 0 {
		n := seed.NetIf{Name: nc.str("name"), Bridge: nc.str("bridge"), IP: nc.str("ip"), GW: nc.str("gw"), HWAddr: o.str("mac_address")}
		// "vmbr0.20": the VLAN interface on the bridge; pct says
		// bridge=vmbr0,tag=20.
		if br, tag, ok := strings.Cut(n.Bridge, "."); ok {
			if v, err := strconv.Atoi(tag); err == nil {
				n.Bridge, n.VLAN = br, v
				c.r.lost(o.file, nc.at("bridge"), fmt.Sprintf("%s.%d is written bridge %s with vlan %d; %s must be VLAN aware (network.management.vlan_aware)", br, v, br, v, br))
			}
		}
		if n.GW != "" && !strings.Contains(n.IP, "/") {
			c.r.lost(o.file, nc.at("gw"), "a gateway needs a static address (CIDR): left out")
			n.GW = ""
		}
		if n.IP != "" && strings.Contains(n.IP, "/") {
			if other, dup := c.addrs[n.IP]; dup {
				c.r.lost(o.file, nc.at("ip"), fmt.Sprintf("the same address as container %s: left out; give this container its own", other))
				n.IP, n.GW = "", ""
			} else {
				c.addrs[n.IP] = path.Base(o.path)
			}
		}
		ct.Net = []seed.NetIf{n}
		nc.rest(nil)
	} else if mac := o.str("mac_address"); mac != "" {
		c.r.lost(o.file, o.at("mac_address"), "a MAC address without network_config: add it to net[0].hwaddr")
	}
}

// boot converts GPUs, privileges, start-up, snapshots and dependencies.
func (c *conv) boot(o *obj, ct *seed.Container) {
	if g := o.str("gpu_assignment"); g != "" && g != "none" {
		for _, f := range strings.Split(g, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				c.r.lost(o.file, o.at("gpu_assignment"), "not a list of GPU indexes: set gpus")
				ct.GPUs = nil
				break
			}
			ct.GPUs = append(ct.GPUs, n)
		}
	}
	if u, ok := o.boolean("unprivileged"); ok {
		ct.Unprivileged = &u
	}
	if b, ok := o.boolean("start_at_boot"); ok {
		ct.Onboot = &b
	}
	order, okO := o.num("boot_order")
	delay, okD := o.num("boot_delay")
	if (okO && order > 0) || (okD && delay > 0) {
		ct.Startup = &seed.Startup{Order: order, Up: delay}
	}
	if s := o.str("template_snapshot_name"); s != "" {
		ct.Snapshots = []string{s}
	}
	for i, d := range o.strs("dependencies") {
		n, err := strconv.Atoi(d)
		if err != nil {
			c.r.lost(o.file, fmt.Sprintf("%s[%d]", o.at("dependencies"), i), "not a CTID: left out")
			continue
		}
		ct.DependsOn = append(ct.DependsOn, n)
	}
}

// provision converts features, the application script and the health check.
func (c *conv) provision(o *obj, ct *seed.Container) {
	prov := &seed.Provision{}
	for i, f := range o.strs("features") {
		if s, ok := features[f]; ok {
			prov.Features = append(prov.Features, s)
			continue
		}
		c.r.lost(o.file, fmt.Sprintf("%s[%d]", o.at("features"), i), fmt.Sprintf("feature %q is not a Phoenix provisioning feature (base, docker, nvidia): install it with a provision script (provision.scripts)", f))
	}
	if s := o.str("application_script"); s != "" {
		prov.Scripts = []seed.Script{{File: "scripts/" + path.Base(s)}}
		c.r.lost(o.file, o.at("application_script"), fmt.Sprintf("copy %s to scripts/ on the seed volume: Phoenix pushes it into the container and runs it (provision.scripts)", path.Base(s)))
	}
	if len(prov.Features) > 0 || len(prov.Scripts) > 0 {
		ct.Provision = prov
	}
	if hc := o.child("health_check"); len(hc.m) > 0 {
		h := &seed.HealthCheck{Command: argv(hc.str("command"))}
		if n, ok := hc.num("retries"); ok {
			h.Retries = n
		}
		if n, ok := hc.num("interval"); ok {
			h.Interval = fmt.Sprintf("%ds", n) // the scripts slept that many seconds
		}
		hc.rest(nil)
		if len(h.Command) > 0 {
			ct.HealthCheck = h
		}
	}
}

// mounts converts mount_points and passes over the vLLM keys.
func (c *conv) mounts(o *obj, ct *seed.Container) {
	for i, v := range o.list("mount_points") {
		m := o.item("mount_points", i, v)
		ct.Mounts = append(ct.Mounts, seed.Mount{HostPath: m.str("host_path"), Path: m.str("container_path")})
		m.skip("owner_uid", "owner_gid")
		if m.has("owner_uid") || m.has("owner_gid") {
			c.r.lost(o.file, m.path, "owner_uid/owner_gid: set the owner of the host directory with a dataset's owner, or a provision script")
		}
		m.rest(nil)
	}
	// vLLM's many per-container keys, all for the vllm feature's script.
	for k := range o.m {
		if strings.HasPrefix(k, "vllm") && !o.used[k] {
			o.skip(k)
			if !empty(o.m[k]) {
				c.r.lost(o.file, o.at(k), "vLLM settings have no seed key: pass them to the vLLM provision script (provision.scripts[].args)")
			}
		}
	}
}

// hostLabel makes a container name one DNS label, as a seed's hostname
// must be: lower case, anything but letters, digits and - becomes -.
func hostLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	h := strings.Trim(b.String(), "-")
	if len(h) > 63 {
		h = strings.Trim(h[:63], "-")
	}
	return h
}

// links fixes what containers say about each other once all are read: a
// clone's snapshot is taken by its source, and dependencies name
// containers of the file.
func (c *conv) links(file string, l *seed.LXC) {
	for _, id := range slices.Sorted(maps.Keys(l.Containers)) {
		ct := l.Containers[id]
		if cf := ct.CloneFrom; cf != nil {
			src := l.Containers[strconv.Itoa(cf.CTID)]
			if src == nil {
				c.r.lost(file, "lxc_configs."+id+".clone_from_ctid", fmt.Sprintf("container %d is not in the file: declare it in lxc.containers with external: true if it exists", cf.CTID))
				src = &seed.Container{External: true}
				l.Containers[strconv.Itoa(cf.CTID)] = src
			}
			if !src.External && !slices.Contains(src.Snapshots, cf.Snapshot) {
				src.Snapshots = append(src.Snapshots, cf.Snapshot)
			}
		}
		var deps []int
		for _, d := range ct.DependsOn {
			if l.Containers[strconv.Itoa(d)] == nil {
				c.r.lost(file, "lxc_configs."+id+".dependencies", fmt.Sprintf("container %d is not in the file: dependency left out", d))
				continue
			}
			deps = append(deps, d)
		}
		ct.DependsOn = deps
	}
}

// template turns a template path into a template volume: the originals
// name the file under the mountpoint of the dataset that holds the
// templates (/POOL/DS/template/cache/FILE); its storage is the dataset's.
func (c *conv) template(o *obj, t string) string {
	if strings.Contains(t, ":vztmpl/") {
		return t
	}
	dir, file := path.Split(t)
	ds := strings.TrimSuffix(strings.TrimPrefix(dir, "/"), "/template/cache/")
	ds = strings.TrimPrefix(ds, "mnt/pve/")
	if z := c.s.ZFS; z != nil {
		for _, st := range z.Storages {
			if st.Dataset == ds && slices.Contains(st.Content, "vztmpl") {
				return st.ID + ":vztmpl/" + file
			}
		}
	}
	c.r.lost(o.file, o.at("template"), fmt.Sprintf("no storage with vztmpl content holds %s: the seed uses local:vztmpl/%s; download it with pveam, or declare the storage", t, file))
	return "local:vztmpl/" + file
}

// argv makes the originals' health check command, run by bash -c inside
// the container, an argument list: split on spaces when it has no shell
// syntax, else ["sh", "-c", command] so its meaning is kept.
func argv(cmd string) []string {
	if cmd == "" {
		return nil
	}
	if strings.ContainsAny(cmd, "|&;<>()$`\\\"'*?[]#~=%{}") {
		return []string{"sh", "-c", cmd}
	}
	return strings.Fields(cmd)
}
