// Package migrate converts the bash originals' configuration into a v1
// seed: a hypervisor config, in either generation users have on disk, and
// phoenix_lxc_configs.json.
//
//   - hypervisor_config.json, the refactor's first form (SirHeads/Testing-ideas
//     18ce242, phoenix_hypervisor/etc/): pools by name only, datasets named
//     POOL/NAME, zfs.dataset_storage_types, nfs.shares, samba.shares with
//     options strings, nvidia.driver_version;
//   - phoenix_hypervisor_config.json, its later form (from 1986837,
//     usr/local/phoenix_hypervisor/etc/): users, timezone,
//     network.interfaces, pools with raid_level and disks, datasets with pool
//     and proxmox_storage_type, nfs.exports, nvidia_driver, proxmox_defaults
//     and many sections Phoenix has no use for.
//
// Everything a seed can also express is carried over; everything else is
// reported with its JSON path and what to do instead. Secrets are never
// copied and never echoed: reports name paths, never values.
package migrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-pve/phoenix/seed"
)

// Problem is one thing that was not carried over as it was.
type Problem struct {
	File, Path, Message string
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.File, p.Path, p.Message) }

type report struct{ problems []Problem }

func (r *report) lost(file, path, msg string) {
	r.problems = append(r.problems, Problem{File: file, Path: path, Message: msg})
}

// File is one input file.
type File struct {
	Name string // shown in reports (the base name)
	Data []byte
}

// Options are what the originals do not say but a seed needs.
type Options struct {
	Hostname string // host.hostname; the originals never set one
}

// Result is the converted seed and what needs the user's attention.
type Result struct {
	Seed        *seed.Seed
	Problems    []Problem
	Generations []string // what each input file was read as
}

// Convert reads the files (each a hypervisor config or an LXC config, told
// apart by content) and builds the seed. It fails only on unreadable input.
func Convert(files []File, opt Options) (*Result, error) {
	r := &report{}
	c := &conv{r: r, s: &seed.Seed{Version: seed.Version}, storages: map[string]int{}, opt: opt}
	var hyper, lxc *obj
	res := &Result{}
	for _, f := range files {
		dec := json.NewDecoder(bytes.NewReader(f.Data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: not JSON: %w", f.Name, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not a JSON object", f.Name)
		}
		o := newObj(r, f.Name, "", m)
		switch {
		case o.has("lxc_configs"):
			if lxc != nil {
				return nil, fmt.Errorf("%s: a second LXC config (the first is %s)", f.Name, lxc.file)
			}
			lxc = o
			res.Generations = append(res.Generations, f.Name+", read as phoenix_lxc_configs.json")
		default:
			if hyper != nil {
				return nil, fmt.Errorf("%s: a second hypervisor config (the first is %s)", f.Name, hyper.file)
			}
			hyper = o
			c.gen = generation(m)
			res.Generations = append(res.Generations, fmt.Sprintf("%s, read as %s", f.Name, c.gen))
		}
	}
	if hyper == nil && lxc == nil {
		return nil, fmt.Errorf("no input files")
	}
	if hyper != nil {
		c.hypervisor(hyper)
	}
	if lxc != nil {
		c.lxcConfigs(lxc)
	}
	c.finish()
	res.Seed = c.s
	res.Problems = r.problems
	sort.SliceStable(res.Problems, func(i, j int) bool {
		a, b := res.Problems[i], res.Problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Path < b.Path
	})
	return res, nil
}

const (
	gen1 = "hypervisor_config.json (first form)"
	gen2 = "phoenix_hypervisor_config.json (later form)"
)

// generation tells the two hypervisor config forms apart by the keys only
// the later one has.
func generation(m map[string]any) string {
	for _, k := range []string{"users", "nvidia_driver", "core_paths", "proxmox_defaults", "timezone"} {
		if _, ok := m[k]; ok {
			return gen2
		}
	}
	return gen1
}

// YAML is the seed as YAML, with a header saying where it came from.
func (r *Result) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Converted by `phoenix import` from the bash originals' configuration:\n")
	for _, g := range r.Generations {
		b.WriteString("#   " + g + "\n")
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(&b, "# %d item(s) were not carried over as they were: see the import's report.\n", len(r.Problems))
	}
	var doc yaml.Node
	if err := doc.Encode(r.Seed); err != nil {
		return nil, err
	}
	pruneEmpty(&doc)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// pruneEmpty drops keys whose value is an empty string: seed types without
// omitempty (an external storage's type and dataset) would otherwise be
// written as "", which a seed refuses.
func pruneEmpty(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		var kept []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			v := n.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == "" {
				continue
			}
			kept = append(kept, n.Content[i], v)
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		pruneEmpty(c)
	}
}

type conv struct {
	r        *report
	s        *seed.Seed
	gen      string
	opt      Options
	hyperLXC *obj // proxmox_defaults, read with the containers
	// storages maps a storage id to its index in s.ZFS.Storages.
	storages     map[string]int
	storageIDMap map[string]string // proxmox_storage_ids (later form)
	nvidiaVer    string
	// snapshotOf is each container's template_snapshot_name, for clones.
	snapshotOf map[int]string
	addrs      map[string]string // container address -> CTID, for duplicates
}

func (c *conv) zfs() *seed.ZFS {
	if c.s.ZFS == nil {
		c.s.ZFS = &seed.ZFS{}
	}
	return c.s.ZFS
}

func (c *conv) hypervisor(o *obj) {
	o.skip("$schema", "version", "author")
	c.storageIDMap = map[string]string{}
	ids := o.child("proxmox_storage_ids")
	for k, v := range ids.m {
		if s, ok := v.(string); ok {
			c.storageIDMap[k] = s
		}
		ids.skip(k)
	}
	c.zfsSection(o.child("zfs"))
	// What proxmox_storage_ids names that no dataset matched under the
	// scripts' rule (the key POOL_DATASET, dashes as underscores).
	for _, k := range slices.Sorted(maps.Keys(c.storageIDMap)) {
		if _, same := c.storages[c.storageIDMap[k]]; same {
			continue // the scripts' default gave the same id
		}
		o.r.lost(o.file, "proxmox_storage_ids."+k, fmt.Sprintf("no dataset POOL/NAME matches this key, so the scripts never used the id %q: storages are named POOL-NAME; rename zfs.storages[].id if the host has %q", c.storageIDMap[k], c.storageIDMap[k]))
	}
	c.nvidia(o)
	c.users(o)
	c.host(o)
	c.network(o.child("network"))
	c.nfs(o)
	c.samba(o.child("samba"))
	c.firewall(o)
	c.hyperLXC = o.child("proxmox_defaults")
	mpb := o.str("mount_point_base")
	if mpb != "" && mpb != "/mnt/pve" {
		o.r.lost(o.file, "mount_point_base", "Phoenix mounts each dataset at its ZFS mountpoint (zfs.datasets[].mountpoint); set those instead")
	}
	o.rest(hyperAdvice)
}

var hyperAdvice = map[string]string{
	"core_paths":     "paths of the bash layout under /usr/local/phoenix_hypervisor: Phoenix keeps its state in /var/lib/phoenix; token files become files on the seed volume",
	"behavior":       "rollback_on_failure and debug_mode have no equivalent: Phoenix validates first, converges each module and resumes after failures; see `phoenix status`",
	"docker":         "Portainer images: provision Docker hosts with lxc.containers.*.provision.features [docker] and install Portainer with a provision script",
	"portainer_api":  "Portainer API settings have no seed key: configure Portainer from a container provision script",
	"vm_defaults":    "Phoenix provisions LXC containers, not VMs: create VMs with qm or a provision script",
	"vms":            "Phoenix provisions LXC containers, not VMs: create VMs with qm or a provision script",
	"tests":          "test scripts of the bash layout: Phoenix checks each module's result itself; use lxc.containers.*.health_check for containers",
	"shared_volumes": "host paths bound into containers: add them as lxc.containers.<CTID>.mounts [{host_path, path}]",
	"domain_name":    "set host.domain (and network.search) in the seed",
	"dns_server":     "Phoenix does not run a DNS server: set network.dns to the server's address",
	"step_ca":        "Phoenix does not run a certificate authority: set one up with a container provision script",
}

// --- zfs ---

func (c *conv) zfsSection(o *obj) {
	if len(o.m) == 0 {
		return
	}
	z := c.zfs()
	if s := o.str("arc_max"); s != "" {
		z.ARCMax = bytesSize(s)
		if z.ARCMax == "" {
			o.r.lost(o.file, o.at("arc_max"), "not a size in bytes: set zfs.arc_max (e.g. 32G)")
		}
	}
	if n, ok := o.num("arc_max_gb"); ok && n > 0 {
		z.ARCMax = fmt.Sprintf("%dG", n)
	}
	for i, v := range o.list("pools") {
		p := o.item("pools", i, v)
		pool := seed.Pool{Name: p.str("name")}
		layout := strings.ToLower(p.str("raid_level"))
		disks := p.strs("disks")
		if layout == "" && len(disks) == 0 {
			// A pool listed by name only exists already: the first form
			// never says how to build it.
			pool.External = true
		} else {
			if layout == "" {
				layout = map[bool]string{true: "single", false: "mirror"}[len(disks) == 1]
			}
			pool.Layout = layout
			pool.Disks = disks
			// The options every script passed to zpool create
			// (hypervisor_feature_setup_zfs.sh: zpool create -f -o
			// autotrim=on -O compression=lz4 -O atime=off).
			pool.Options = map[string]string{"autotrim": "on"}
			pool.Properties = map[string]string{"compression": "lz4", "atime": "off"}
		}
		p.rest(nil)
		z.Pools = append(z.Pools, pool)
	}
	// First form: storage types in their own list, by dataset name.
	storageType := map[string]string{}
	storageAt := map[string]string{}
	for i, v := range o.list("dataset_storage_types") {
		st := o.item("dataset_storage_types", i, v)
		ds := st.str("dataset")
		storageType[ds], storageAt[ds] = st.str("storage_type"), st.path
		st.rest(nil)
	}
	for i, v := range o.list("datasets") {
		d := o.item("datasets", i, v)
		name := d.str("name")
		if pool := d.str("pool"); pool != "" {
			name = pool + "/" + name
		}
		ds := seed.Dataset{Name: name, Properties: c.props(d, "properties")}
		if mp := d.str("mountpoint"); mp != "" && mp != "/"+name {
			ds.Mountpoint = mp
		}
		z.Datasets = append(z.Datasets, ds)
		typ, content := d.str("proxmox_storage_type"), d.str("proxmox_content_type")
		at := d.path
		if t, ok := storageType[name]; ok {
			typ, content, _ = strings.Cut(t, ":")
			at = storageAt[name]
			delete(storageType, name)
		}
		if typ != "" {
			c.storage(o.file, at, name, typ, content)
		}
		d.rest(nil)
	}
	for _, name := range slices.Sorted(maps.Keys(storageType)) {
		o.r.lost(o.file, o.at("dataset_storage_types"), fmt.Sprintf("dataset %s is not in zfs.datasets: its storage is left out", name))
	}
	o.rest(nil)
}

// props reads dataset properties: an object (first form) or a
// "k=v,k=v" string (later form).
func (c *conv) props(o *obj, k string) map[string]string {
	v, ok := o.get(k)
	if !ok {
		return nil
	}
	out := map[string]string{}
	switch x := v.(type) {
	case map[string]any:
		for pk, pv := range x {
			out[pk] = fmt.Sprint(pv)
		}
	case string:
		for _, kv := range strings.Split(x, ",") {
			pk, pv, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || pk == "" {
				if kv != "" {
					o.r.lost(o.file, o.at(k), "a property is not NAME=VALUE: set it in zfs.datasets[].properties")
				}
				continue
			}
			out[pk] = pv
		}
	}
	if mp, ok := out["mountpoint"]; ok {
		delete(out, "mountpoint")
		o.r.lost(o.file, o.at(k)+".mountpoint", fmt.Sprintf("set zfs.datasets[].mountpoint to %s (a seed sets the mountpoint with its own key)", mp))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// storage adds the Proxmox storage for a dataset. Its id is what the
// scripts used: proxmox_storage_ids[POOL_DATASET] (dashes as underscores),
// else POOL-DATASET (hypervisor_feature_setup_zfs.sh, add_proxmox_storage).
func (c *conv) storage(file, at, dataset, typ, content string) {
	pool, leaf, _ := strings.Cut(dataset, "/")
	key := pool + "_" + strings.ReplaceAll(leaf, "-", "_")
	id := c.storageIDMap[key]
	delete(c.storageIDMap, key)
	if id == "" {
		id = pool + "-" + strings.ReplaceAll(leaf, "/", "-")
	}
	switch typ {
	case "zfspool", "dir":
	case "cifs", "nfs":
		c.r.lost(file, at, fmt.Sprintf("a %s storage on the host's own share of %s: Phoenix serves the dataset with nfs/samba and needs no network storage on the same host; add a dir storage on the dataset if Proxmox should use it", typ, dataset))
		return
	default:
		c.r.lost(file, at, fmt.Sprintf("storage type %q: Phoenix creates zfspool and dir storages only", typ))
		return
	}
	var cts []string
	for _, ct := range strings.Split(content, ",") {
		ct = strings.TrimSpace(ct)
		switch {
		case ct == "" || ct == "none":
		case !slices.Contains(storageContent[typ], ct):
			// pve-storage: a zfspool storage holds images and rootdir
			// only (ZFSPoolPlugin.pm, plugindata content).
			c.r.lost(file, at, fmt.Sprintf("a %s storage cannot hold %s content (it holds %s): left out; use a dir storage on a dataset for it", typ, ct, strings.Join(storageContent[typ], ", ")))
		default:
			cts = append(cts, ct)
		}
	}
	if len(cts) == 0 {
		cts = []string{map[string]string{"zfspool": "images", "dir": "images"}[typ]}
	}
	z := c.zfs()
	c.storages[id] = len(z.Storages)
	z.Storages = append(z.Storages, seed.Storage{ID: id, Type: typ, Dataset: dataset, Content: cts})
}

// storageContent is what each storage type holds (pve-storage's
// ZFSPoolPlugin.pm and DirPlugin.pm plugindata).
var storageContent = map[string][]string{
	"zfspool": {"images", "rootdir"},
	"dir":     {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"},
}

// bytesSize writes a byte count as the largest whole unit: 32212254720 ->
// 30G.
func bytesSize(s string) string {
	var n uint64
	if _, err := fmt.Sscan(s, &n); err != nil || n == 0 || fmt.Sprint(n) != s {
		return ""
	}
	for _, u := range []struct {
		suffix string
		size   uint64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.suffix)
		}
	}
	return s
}

// --- nvidia ---

func (c *conv) nvidia(o *obj) {
	var ver, url string
	at := "nvidia"
	if n := o.child("nvidia"); len(n.m) > 0 { // first form
		ver, url = n.str("driver_version"), n.str("runfile_url")
		n.rest(nil)
	}
	if n := o.child("nvidia_driver"); len(n.m) > 0 { // later form
		if on, ok := n.boolean("install"); ok && !on {
			n.skip("version", "runfile_url", "cuda_version", "install_vllm_libs")
			n.rest(nil)
			return
		}
		ver, url, at = n.str("version"), n.str("runfile_url"), "nvidia_driver"
		if n.str("cuda_version") != "" {
			o.r.lost(o.file, n.at("cuda_version"), "Phoenix installs the host driver only; install CUDA inside a container with a provision script")
		}
		if v, _ := n.boolean("install_vllm_libs"); v {
			o.r.lost(o.file, n.at("install_vllm_libs"), "install vLLM's libraries inside its container with a provision script")
		}
		n.rest(nil)
	}
	c.setNVIDIA(o.file, at, ver, url)
}

func (c *conv) setNVIDIA(file, at, ver, url string) {
	if ver == "" {
		return
	}
	if c.s.NVIDIA != nil {
		if c.s.NVIDIA.Version != ver {
			c.r.lost(file, at, fmt.Sprintf("driver %s differs from the hypervisor config's %s: the seed keeps %s (containers get the host's driver version)", ver, c.s.NVIDIA.Version, c.s.NVIDIA.Version))
		}
		return
	}
	c.nvidiaVer = ver
	n := &seed.NVIDIA{Version: ver, Source: "runfile", Runfile: &seed.Runfile{File: "NVIDIA-Linux-x86_64-" + ver + ".run"}}
	if url != "" {
		n.Runfile.File = path.Base(url)
		c.r.lost(file, at+".runfile_url", fmt.Sprintf("Phoenix runs a downloaded installer only once its SHA-256 matches, and the originals have none: "+
			"the seed takes %s from the seed volume; put it there, or replace nvidia.runfile.file with runfile.url plus runfile.sha256", n.Runfile.File))
	} else {
		c.r.lost(file, at, fmt.Sprintf("no runfile URL: put %s on the seed volume (nvidia.runfile.file)", n.Runfile.File))
	}
	c.s.NVIDIA = n
}

// --- users, host, network ---

func (c *conv) users(o *obj) {
	u := o.child("users")
	if len(u.m) == 0 {
		return
	}
	user := seed.User{Name: u.str("username")}
	if user.Name == "" {
		u.rest(nil)
		return
	}
	hash := u.str("password_hash")
	switch {
	case hash == "" || hash == "NOT_SET":
	case strings.HasPrefix(hash, "$y$") || strings.HasPrefix(hash, "$6$") || strings.HasPrefix(hash, "$5$"):
		user.PasswordHash = hash
	default:
		// Never copied, never shown: it may be a plaintext password.
		o.r.lost(o.file, u.at("password_hash"), "not a yescrypt/SHA-512/SHA-256 crypt hash (it may be a plaintext password): not copied and not shown; "+
			"put a hash from `mkpasswd -m yescrypt` in users[0].password_hash")
	}
	if sudo, _ := u.boolean("sudo_access"); sudo {
		// hypervisor_feature_create_admin_user.sh: usermod -aG sudo, with
		// "%sudo ALL=(ALL:ALL) ALL" (a password is asked).
		user.Sudo = "password"
	}
	if k := u.str("ssh_public_key"); k != "" {
		user.SSHAuthorizedKeys = []string{k}
	}
	// The script also made USER@pam a Proxmox Administrator on /.
	user.Proxmox = &seed.ProxmoxUser{Role: "Administrator"}
	u.rest(nil)
	c.s.Users = append(c.s.Users, user)
}

func (c *conv) host(o *obj) {
	tz := o.str("timezone")
	if c.opt.Hostname == "" {
		if tz != "" {
			o.r.lost(o.file, "timezone", "a seed's host section needs a hostname, which the originals never set: run phoenix import --hostname NAME to carry the timezone")
		}
		return
	}
	c.s.Host = &seed.Host{Hostname: c.opt.Hostname, Timezone: tz}
}

func (c *conv) network(o *obj) {
	if len(o.m) == 0 {
		return
	}
	// The originals' interfaces section names the bridge the Proxmox
	// installer made but not its physical port. Phoenix rewrites
	// /etc/network/interfaces from network.management, so a bridge without
	// its port would cut the host off: it is not carried over.
	if in := o.child("interfaces"); len(in.m) > 0 {
		in.skip("name", "address", "gateway", "dns_nameservers")
		o.r.lost(o.file, in.path, "the bridge's physical port is not in the originals (the Proxmox installer set it up): "+
			"the network section is left out so Phoenix leaves the host's network as it is; to manage it, add network.management "+
			"{name, ports, address, gateway} and network.dns")
	}
	// default_subnet is used for the NFS clients (nfs below).
	o.skip("default_subnet", "nfs_server")
	o.rest(map[string]string{
		"external_registry_url": "a Docker registry for containers: configure it in a container provision script",
		"portainer_server_ip":   "Portainer settings: configure Portainer from a container provision script",
		"portainer_server_port": "Portainer settings: configure Portainer from a container provision script",
		"portainer_agent_port":  "Portainer settings: configure Portainer from a container provision script",
	})
}

// --- nfs, samba, firewall ---

// datasetPath turns the originals' share paths ("quickOS/shared-data" or
// "/quickOS/shared-data") into the dataset's mountpoint (ZFS's default,
// /POOL/NAME, which is where the scripts pointed: path = /$path).
func datasetPath(p string) string { return "/" + strings.TrimPrefix(p, "/") }

func (c *conv) nfs(o *obj) {
	n := o.child("nfs")
	if len(n.m) == 0 {
		return
	}
	subnet := o.child("network").str("default_subnet")
	var exports []seed.Export
	// First form: shares [{path, options "a,b"}], for the default subnet.
	for i, v := range n.list("shares") {
		s := n.item("shares", i, v)
		e := seed.Export{Path: datasetPath(s.str("path"))}
		opts := c.keepExportOpts(s, s.at("options"), splitOpts(s.str("options")))
		if subnet == "" {
			o.r.lost(o.file, s.path, "no clients and no network.default_subnet: add nfs.exports[].clients")
			s.rest(nil)
			continue
		}
		e.Clients = []seed.ExportClient{{Host: subnet, Options: opts}}
		exports = append(exports, e)
		s.rest(nil)
	}
	// Later form: exports [{path, clients [..], options [..]}].
	for i, v := range n.list("exports") {
		s := n.item("exports", i, v)
		e := seed.Export{Path: datasetPath(s.str("path"))}
		opts := c.keepExportOpts(s, s.at("options"), s.strs("options"))
		for _, cl := range s.strs("clients") {
			e.Clients = append(e.Clients, seed.ExportClient{Host: cl, Options: opts})
		}
		if len(e.Clients) == 0 {
			o.r.lost(o.file, s.path, "no clients: add nfs.exports[].clients")
			s.rest(nil)
			continue
		}
		exports = append(exports, e)
		s.rest(nil)
	}
	n.rest(nil)
	if len(exports) > 0 {
		c.s.NFS = &seed.NFS{Exports: exports}
	}
}

func splitOpts(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// exportOpts are the export options of exports(5) (nfs-utils); name=value
// options are listed by name.
var exportOpts = map[string]bool{
	"secure": true, "insecure": true, "rw": true, "ro": true, "async": true, "sync": true,
	"wdelay": true, "no_wdelay": true, "hide": true, "nohide": true, "crossmnt": true,
	"subtree_check": true, "no_subtree_check": true, "secure_locks": true, "insecure_locks": true,
	"auth_nlm": true, "no_auth_nlm": true, "mountpoint": true, "mp": true, "fsid": true,
	"nordirplus": true, "refer": true, "replicas": true, "pnfs": true, "no_pnfs": true,
	"security_label": true, "sec": true, "root_squash": true, "no_root_squash": true,
	"all_squash": true, "no_all_squash": true, "anonuid": true, "anongid": true,
}

// keepExportOpts drops what is not an export option, saying so.
func (c *conv) keepExportOpts(o *obj, at string, opts []string) []string {
	var out []string
	for _, op := range opts {
		name, _, _ := strings.Cut(op, "=")
		if exportOpts[name] {
			out = append(out, op)
			continue
		}
		msg := fmt.Sprintf("%q is not an NFS export option (exports(5)): left out", op)
		if name == "noatime" || name == "relatime" {
			msg = fmt.Sprintf("%q is a mount option, not an export option (exports(5)): left out; set atime=off in the dataset's properties instead", op)
		}
		c.r.lost(o.file, at, msg)
	}
	return out
}

func (c *conv) samba(o *obj) {
	if len(o.m) == 0 {
		return
	}
	smb := &seed.Samba{}
	if u := o.str("user"); u != "" {
		// The scripts asked for the password (smbpasswd -a); a seed takes
		// it from a file on the seed volume, so it is never in the seed.
		smb.Users = []seed.SambaUser{{Name: u, PasswordFile: "secrets/samba-" + u + ".pass"}}
		o.r.lost(o.file, o.at("user"), fmt.Sprintf("the Samba password of %s was typed in by hand: put it in secrets/samba-%s.pass on the seed volume (samba.users[0].password_file)", u, u))
	}
	for i, v := range o.list("shares") {
		s := o.item("shares", i, v)
		p := s.str("path")
		sh := seed.Share{Name: s.str("name"), Path: datasetPath(p)}
		if sh.Name == "" {
			// First form: no names; the dataset's last element is the
			// share's name.
			sh.Name = path.Base(p)
		}
		for _, opt := range strings.Fields(s.str("options")) {
			k, val, _ := strings.Cut(opt, "=")
			yes := val == "yes" || val == "true"
			switch strings.ToLower(k) {
			case "browseable", "browsable":
				if !yes {
					f := false
					sh.Browseable = &f
				}
			case "writable", "writeable":
				sh.ReadOnly = !yes
			case "read_only", "readonly":
				sh.ReadOnly = yes
			case "guest_ok":
				sh.GuestOK = yes
			default:
				o.r.lost(o.file, s.at("options"), fmt.Sprintf("Samba option %q has no share key: add it to samba.global if it is a global setting", k))
			}
		}
		if b, ok := s.boolean("browsable"); ok && !b {
			f := false
			sh.Browseable = &f
		}
		if ro, ok := s.boolean("read_only"); ok {
			sh.ReadOnly = ro
		}
		if g, ok := s.boolean("guest_ok"); ok {
			sh.GuestOK = g
		}
		sh.ValidUsers = s.strs("valid_users")
		// The later scripts wrote these masks for every share.
		if c.gen == gen2 {
			sh.CreateMask, sh.DirectoryMask = "0770", "0770"
		}
		s.rest(nil)
		smb.Shares = append(smb.Shares, sh)
	}
	o.rest(nil)
	if len(smb.Shares) > 0 || len(smb.Users) > 0 {
		c.s.Samba = smb
	}
}

func (c *conv) firewall(o *obj) {
	f := o.child("firewall")
	if len(f.m) == 0 {
		return
	}
	for k := range f.m {
		f.skip(k)
	}
	o.r.lost(o.file, "firewall", "the originals' ufw/pve-firewall rules do not map one to one: write firewall.rules (action, proto, dport, source) for ssh, 8006, NFS and Samba")
}

// finish fills in what sections refer to: pools of datasets the seed names
// only through a dataset.
func (c *conv) finish() {
	z := c.s.ZFS
	if z == nil {
		return
	}
	pools := map[string]bool{}
	for _, p := range z.Pools {
		pools[p.Name] = true
	}
	for _, d := range z.Datasets {
		pool, _, _ := strings.Cut(d.Name, "/")
		if !pools[pool] {
			pools[pool] = true
			z.Pools = append(z.Pools, seed.Pool{Name: pool, External: true})
		}
	}
}
