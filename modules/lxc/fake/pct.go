package fake

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/modules/internal/pvecontract"
)

var (
	reHostname = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
	reStorage  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9\-_.]*$`)
	reMAC      = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$`)
	reTag      = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*$`)
	reIndexed  = regexp.MustCompile(`^(net|mp|dev)(\d+)$`)
	reSnap     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_\-]{1,39}$`)
)

// usage is the short usage pct prints after a parameter error (the
// contract's synopsis line).
func usage(cmd string) string {
	if c := pvecontract.MustLoad().Tools["pct"].Commands[cmd]; c != nil {
		return c.Usage
	}
	return "pct <COMMAND> [ARGS] [OPTIONS]"
}

func paramErr(cmd, key, msg string) error {
	return errf("400 Parameter verification failed.\n%s: %s\n%s", key, msg, usage(cmd))
}

// Pct implements the pct subcommands Phoenix uses.
func (p *PVE) Pct(ctx context.Context, args []string, stdin []byte, out *strings.Builder) error {
	if len(args) == 0 {
		return errf("ERROR: no command specified")
	}
	// Every call is checked against Proxmox's published contract first
	// (modules/internal/pvecontract): what the real pct refuses, the
	// fake refuses with the same message and exit status.
	call, err := pvecontract.CheckStrict("pct", args)
	if err != nil {
		var ce *pvecontract.Error
		if errors.As(err, &ce) {
			return &exitErr{code: ce.Code, stderr: ce.Msg}
		}
		return err
	}
	cmd := call.Command
	if !p.devSupported() {
		// devN keys came with pve-container 5.0.7 (debian/changelog,
		// 2023-11-21: "allow passing raw device nodes"), PVE 8.1; before,
		// Getopt::Long does not know the option.
		for k := range call.Params {
			if m := reIndexed.FindStringSubmatch(k); m != nil && m[1] == "dev" {
				return &exitErr{code: pvecontract.ExitCode, stderr: "Unknown option: " + k + "\n400 unable to parse option\n" + usage(cmd) + "\n"}
			}
		}
	}
	if cmd == "exec" {
		return p.exec(call.Params["vmid"], call.Extra, stdin, out)
	}
	if _, ok := modelled[cmd]; !ok {
		return errf("pct (fake): command '%s' is not modelled", cmd)
	}
	var pos []string
	opts := map[string]string{}
	argNames := map[string]bool{}
	for _, a := range pvecontract.MustLoad().Tools["pct"].Commands[cmd].Args {
		argNames[a.Name] = true
		if v, ok := call.Params[a.Name]; ok {
			pos = append(pos, v)
		}
	}
	for k, v := range call.Params {
		if !argNames[k] {
			opts[k] = v
		}
	}
	if cmd == "list" {
		return p.withLock(func() error { return p.list(out) })
	}
	id, err := strconv.Atoi(pos[0])
	if err != nil || id < 100 || id > 999999999 {
		return paramErr(cmd, "vmid", "invalid format - value does not look like a valid VM ID")
	}
	if (cmd == "create" || cmd == "clone") && p.CreateDelay > 0 {
		// Outside the lock: real creates of different CTs overlap.
		select {
		case <-time.After(p.CreateDelay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ids := []int{id}
	if cmd == "clone" {
		if n, err := strconv.Atoi(pos[1]); err == nil && n != id {
			ids = append(ids, n)
		}
	}
	return p.withLock(func() error {
		switch cmd {
		case "create":
			return p.create(id, pos[1], opts, out)
		case "clone":
			return p.cloneCT(id, pos[1], opts, out)
		case "set":
			return p.set(id, opts)
		case "config":
			return p.config(id, opts, out)
		case "status":
			_, rt, err := p.load(id)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "status: %s\n", rt.Status)
			return nil
		case "start", "stop", "shutdown", "reboot":
			return p.power(cmd, id)
		case "push":
			return p.push(id, pos[1], pos[2])
		case "snapshot":
			return p.snapshot(id, pos[1], opts)
		case "listsnapshot":
			return p.listSnapshots(id, out)
		case "resize":
			return p.resize(id, pos[1], pos[2])
		}
		return errf("unknown command 'pct %s'", cmd)
	}, ids...)
}

func (p *PVE) withLock(f func() error, ids ...int) error {
	unlock, err := p.lock(ids...)
	if err != nil {
		return err
	}
	defer unlock()
	return f()
}

// configKeys are the container config keys pct create and set accept
// (besides netN, mpN, devN).
var configKeys = map[string]bool{
	"hostname": true, "memory": true, "swap": true, "cores": true, "cpulimit": true, "cpuunits": true,
	"nameserver": true, "searchdomain": true, "unprivileged": true, "features": true, "onboot": true,
	"startup": true, "tags": true, "description": true, "arch": true, "ostype": true, "rootfs": true,
	"protection": true, "template": true, "timezone": true, "console": true, "tty": true, "cmode": true,
}

// modelled are the pct commands the fake implements (exec aside).
var modelled = map[string]bool{
	"create": true, "clone": true, "set": true, "config": true, "status": true, "start": true, "stop": true,
	"shutdown": true, "reboot": true, "push": true, "snapshot": true, "listsnapshot": true, "list": true, "resize": true,
}

// validate checks one config value and returns it normalised as pct stores it.
func (p *PVE) validate(cmd string, id int, k, v string) (string, error) {
	o := opt{cmd: cmd, id: id, k: k, v: v}
	switch k {
	case "memory":
		return o.intIn(16, 1<<30)
	case "swap":
		return o.intIn(0, 1<<30)
	case "cores":
		return o.intIn(1, 8192)
	case "onboot", "unprivileged", "protection", "template":
		return o.boolean()
	case "hostname":
		if !reHostname.MatchString(v) {
			return o.bad("value does not look like a valid DNS name")
		}
		return v, nil
	case "tags":
		return o.tags()
	case "features":
		return o.features()
	case "startup":
		return o.startup()
	case "rootfs":
		return o.rootfs()
	}
	m := reIndexed.FindStringSubmatch(k)
	switch {
	case m != nil && m[1] == "net":
		return o.net()
	case m != nil && m[1] == "mp":
		return o.mp(m[2])
	case m != nil && m[1] == "dev":
		if !p.devSupported() {
			return o.bad("property is not defined in schema and the schema does not allow additional properties")
		}
		return o.dev()
	}
	return v, nil
}

// opt is one option of a pct call being checked: the command, the CTID,
// the key and its value. Each method is the check of one kind of key.
type opt struct {
	cmd  string
	id   int
	k, v string
}

func (o opt) bad(msg string) (string, error) { return "", paramErr(o.cmd, o.k, msg) }

func (o opt) intIn(lo, hi int) (string, error) {
	n, err := strconv.Atoi(o.v)
	if err != nil {
		return o.bad("type check ('integer') failed - got '" + o.v + "'")
	}
	if n < lo || n > hi {
		return o.bad(fmt.Sprintf("value must have a minimum value of %d", lo))
	}
	return strconv.Itoa(n), nil
}

func (o opt) boolean() (string, error) {
	switch o.v {
	case "1", "yes", "on", "true":
		return "1", nil
	case "0", "no", "off", "false":
		return "0", nil
	}
	return o.bad("type check ('boolean') failed - got '" + o.v + "'")
}

func (o opt) tags() (string, error) {
	var tags []string
	for _, t := range strings.FieldsFunc(o.v, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
		if !reTag.MatchString(t) {
			return o.bad("invalid format - invalid tag '" + t + "'")
		}
		tags = append(tags, t)
	}
	return strings.Join(tags, ";"), nil
}

func (o opt) features() (string, error) {
	m, err := props(o.v, "")
	if err != nil {
		return o.bad("invalid format - " + err.Error())
	}
	for fk, fv := range m {
		switch fk {
		case "nesting", "keyctl", "fuse", "mknod", "force_rw_sys":
			if fv != "0" && fv != "1" {
				return o.bad("invalid format - " + fk + ": type check ('boolean') failed - got '" + fv + "'")
			}
		case "mount":
		default:
			return o.bad("invalid format - property '" + fk + "' is not defined in schema")
		}
	}
	return joinProps(m), nil
}

func (o opt) startup() (string, error) {
	m, err := props(o.v, "order")
	if err != nil {
		return o.bad("invalid format - " + err.Error())
	}
	for sk, sv := range m {
		if sk != "order" && sk != "up" && sk != "down" {
			return o.bad("invalid format - property '" + sk + "' is not defined in schema")
		}
		if _, err := strconv.Atoi(sv); err != nil {
			return o.bad("invalid format - " + sk + ": type check ('integer') failed")
		}
	}
	return joinProps(m, "order", "up", "down"), nil
}

func (o opt) rootfs() (string, error) {
	if o.cmd != "create" {
		return o.bad("unable to modify read-only option: use 'pct resize' or 'pct move-volume'")
	}
	vol, rest, _ := strings.Cut(o.v, ",")
	store, size, ok := strings.Cut(vol, ":")
	if !ok || !reStorage.MatchString(store) {
		return o.bad("invalid format - unable to parse volume ID '" + vol + "'")
	}
	gb, err := strconv.ParseFloat(size, 64)
	if err != nil || gb <= 0 {
		return o.bad("invalid format - unable to parse size '" + size + "'")
	}
	out := fmt.Sprintf("%s:subvol-%d-disk-0,size=%sG", store, o.id, strconv.FormatFloat(gb, 'f', -1, 64))
	if rest != "" {
		out += "," + rest
	}
	return out, nil
}

func (o opt) net() (string, error) {
	props, err := props(o.v, "")
	if err != nil {
		return o.bad("invalid format - " + err.Error())
	}
	if props["name"] == "" {
		return o.bad("invalid format - missing property - 'name'")
	}
	for pk, pv := range props {
		if msg := netProp(pk, pv); msg != "" {
			return o.bad("invalid format - " + msg)
		}
	}
	if props["hwaddr"] == "" {
		props["hwaddr"] = hwaddr(o.id, o.k)
	}
	props["type"] = "veth"
	return joinProps(props, "name", "bridge"), nil
}

// netProp checks one property of a netN value; "" when it is fine.
func netProp(pk, pv string) string {
	switch pk {
	case "name", "bridge", "firewall", "gw6", "ip6", "link_down", "rate", "trunks":
	case "type":
		if pv != "veth" {
			return "type: value '" + pv + "' does not have a value in the enumeration 'veth'"
		}
	case "ip":
		if pv != "dhcp" && pv != "manual" {
			if _, err := netip.ParsePrefix(pv); err != nil {
				return "ip: invalid format - value does not look like a valid IPv4 network configuration"
			}
		}
	case "gw":
		if _, err := netip.ParseAddr(pv); err != nil {
			return "gw: invalid format - value does not look like a valid IPv4 address"
		}
	case "hwaddr":
		if !reMAC.MatchString(pv) {
			return "hwaddr: value does not look like a valid MAC address"
		}
	case "tag":
		if n, err := strconv.Atoi(pv); err != nil || n < 1 || n > 4094 {
			return "tag: value must have a minimum value of 1"
		}
	case "mtu":
		if n, err := strconv.Atoi(pv); err != nil || n < 64 || n > 65535 {
			return "mtu: value must have a minimum value of 64"
		}
	default:
		return "property '" + pk + "' is not defined in schema"
	}
	return ""
}

func (o opt) mp(index string) (string, error) {
	props, err := props(o.v, "volume")
	if err != nil {
		return o.bad("invalid format - " + err.Error())
	}
	if !path.IsAbs(props["mp"]) {
		return o.bad("invalid format - missing property - 'mp'")
	}
	vol := props["volume"]
	if store, size, ok := strings.Cut(vol, ":"); ok && !strings.HasPrefix(vol, "/") {
		if _, err := strconv.ParseFloat(size, 64); err == nil {
			// pve-storage find_free_diskname takes the first free
			// disk-N; rootfs has disk-0, so mpN is modelled as
			// disk-(N+1) (exact only when mount points are allocated in
			// order).
			n, _ := strconv.Atoi(index)
			props["volume"] = fmt.Sprintf("%s:subvol-%d-disk-%d", store, o.id, n+1)
			props["size"] = size + "G"
		}
	} else if !path.IsAbs(vol) {
		return o.bad("invalid format - unable to parse volume '" + vol + "'")
	}
	return joinDefault(props, "volume", "mp"), nil
}

func (o opt) dev() (string, error) {
	props, err := props(o.v, "path")
	if err != nil {
		return o.bad("invalid format - " + err.Error())
	}
	if !strings.HasPrefix(props["path"], "/dev/") {
		return o.bad("invalid format - path: value does not look like a device path")
	}
	for pk := range props {
		if pk != "path" && pk != "gid" && pk != "uid" && pk != "mode" && pk != "deny-write" {
			return o.bad("invalid format - property '" + pk + "' is not defined in schema")
		}
	}
	return joinDefault(props, "path"), nil
}

// applyConfig validates opts and stores the config keys among them.
func (p *PVE) applyConfig(cmd string, id int, s *section, opts map[string]string) error {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !configKeys[k] && !reIndexed.MatchString(k) {
			continue
		}
		v, err := p.validate(cmd, id, k, opts[k])
		if err != nil {
			return err
		}
		if k == "description" {
			s.Descr = v
			continue
		}
		s.Keys[k] = v
	}
	return nil
}

func (p *PVE) create(id int, tmpl string, opts map[string]string, out *strings.Builder) error {
	if _, err := os.Stat(p.confPath(id)); err == nil {
		return errf("unable to create CT %d - CT %d already exists on node '%s'", id, id, p.node())
	}
	store, vol, _ := strings.Cut(tmpl, ":")
	dir, ok := p.storagePath(store)
	name, isTmpl := strings.CutPrefix(vol, "vztmpl/")
	if !ok || !isTmpl {
		return paramErr("create", "ostemplate", "unable to parse volume ID '"+tmpl+"'")
	}
	if _, err := os.Stat(filepath.Join(p.Root, dir, "template/cache", name)); err != nil {
		return errf("unable to create CT %d - volume '%s' does not exist", id, tmpl)
	}
	if opts["rootfs"] == "" {
		opts["rootfs"] = fmt.Sprintf("%s:4", orDefault(opts["storage"], "local"))
	}
	if err := p.checkAllocStorages(opts); err != nil {
		return err
	}
	if err := p.checkDevices(opts); err != nil {
		return err
	}
	s := newSection("")
	s.Keys["arch"], s.Keys["ostype"] = "amd64", "debian"
	s.Keys["hostname"] = "CT" + strconv.Itoa(id)
	s.Keys["memory"], s.Keys["swap"], s.Keys["cores"] = "512", "512", "1"
	if err := p.applyConfig("create", id, &s, opts); err != nil {
		return err
	}
	fmt.Fprintf(out, "extracting archive '%s/template/cache/%s'\nTotal bytes read: 1048576 (1.0MiB, 1.0MiB/s)\nDetected container architecture: amd64\nCreating SSH host key 'ssh_host_ed25519_key' - this may take some time ...\n", dir, name)
	return p.save(id, &conf{Main: s}, &runtime{Status: "stopped"})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (p *PVE) cloneCT(src int, newid string, opts map[string]string, out *strings.Builder) error {
	id, err := strconv.Atoi(newid)
	if err != nil || id < 100 {
		return paramErr("clone", "newid", "invalid format - value does not look like a valid VM ID")
	}
	c, rt, err := p.load(src)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p.confPath(id)); err == nil {
		return errf("unable to create CT %d - CT %d already exists on node '%s'", id, id, p.node())
	}
	from, in := c.Main, rt.Inside
	if sn := opts["snapname"]; sn != "" {
		s := c.snap(sn)
		if s == nil {
			return errf("snapshot '%s' does not exist", sn)
		}
		from, in = *s, rt.Snaps[sn]
	}
	// API2/LXC.pm:2064-2110: only volume mount points can be cloned.
	for _, v := range volumes(from) {
		if t := mountType(v[1]); t != "volume" {
			return errf("unable to clone mountpoint '%s' (type %s)", v[0], t)
		}
	}
	if opts["full"] == "0" && from.Keys["template"] != "1" {
		return errf("parameter 'full' - Linked clone feature for 'CT %d' is not available", src)
	}
	n := from.clone("")
	delete(n.Keys, "parent")
	delete(n.Keys, "snaptime")
	delete(n.Keys, "template")
	for k, v := range n.Keys {
		if strings.HasPrefix(k, "net") && reIndexed.MatchString(k) {
			m, _ := props(v, "")
			m["hwaddr"] = hwaddr(id, k)
			n.Keys[k] = joinProps(m, "name", "bridge")
		}
		if k == "rootfs" || strings.HasPrefix(k, "mp") && reIndexed.MatchString(k) {
			n.Keys[k] = strings.Replace(v, fmt.Sprintf("-%d-", src), fmt.Sprintf("-%d-", id), 1)
		}
	}
	if h := opts["hostname"]; h != "" {
		if !reHostname.MatchString(h) {
			return paramErr("clone", "hostname", "value does not look like a valid DNS name")
		}
		n.Keys["hostname"] = h
	}
	if d, ok := opts["description"]; ok {
		n.Descr = d
	}
	fmt.Fprintf(out, "create full clone of mountpoint rootfs (%s)\n", from.Keys["rootfs"])
	return p.save(id, &conf{Main: n}, &runtime{Status: "stopped", Inside: in.copy()})
}

func (p *PVE) set(id int, opts map[string]string) error {
	c, rt, err := p.load(id)
	if err != nil {
		return err
	}
	if _, ok := opts["unprivileged"]; ok {
		return errf("400 Parameter verification failed.\nunprivileged: unable to modify read-only option: 'unprivileged'\n%s", usage("set"))
	}
	if err := p.checkDevices(opts); err != nil {
		return err
	}
	if err := p.applyConfig("set", id, &c.Main, opts); err != nil {
		return err
	}
	if del := opts["delete"]; del != "" {
		for _, k := range strings.Split(del, ",") {
			if k == "description" {
				c.Main.Descr = ""
			}
			delete(c.Main.Keys, k)
		}
	}
	return p.save(id, c, rt)
}

func (p *PVE) config(id int, opts map[string]string, out *strings.Builder) error {
	c, _, err := p.load(id)
	if err != nil {
		return err
	}
	s := c.Main
	if sn := opts["snapshot"]; sn != "" {
		sp := c.snap(sn)
		if sp == nil {
			return errf("snapshot '%s' does not exist", sn)
		}
		s = *sp
	}
	if s.Descr != "" {
		// Percent-encoded, so a multi-line description stays on one line.
		fmt.Fprintf(out, "description: %s\n", strings.NewReplacer("%", "%25", "\n", "%0A").Replace(s.Descr))
	}
	keys := make([]string, 0, len(s.Keys))
	for k := range s.Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "%s: %s\n", k, s.Keys[k])
	}
	for _, r := range s.Raw {
		fmt.Fprintln(out, r)
	}
	return nil
}

func (p *PVE) power(cmd string, id int) error {
	c, rt, err := p.load(id)
	if err != nil {
		return err
	}
	switch cmd {
	case "start":
		if rt.Status == "running" {
			return errf("CT %d already running", id)
		}
		if err := p.checkDevices(c.Main.Keys); err != nil {
			return err
		}
		if err := p.checkBindSources(c.Main); err != nil {
			return err
		}
		p.boot(c, rt)
	case "stop", "shutdown":
		if rt.Status != "running" {
			return errf("CT %d not running", id)
		}
		rt.Status, rt.Devices = "stopped", nil
	case "reboot":
		if rt.Status != "running" {
			return errf("CT %d not running", id)
		}
		p.boot(c, rt)
	}
	return p.save(id, c, rt)
}

// boot starts a container: its devices are those its config grants now.
func (p *PVE) boot(c *conf, rt *runtime) {
	rt.Status, rt.DevTests, rt.NetTests = "running", 0, 0
	rt.Devices = nil
	for k, v := range c.Main.Keys {
		if m := reIndexed.FindStringSubmatch(k); m != nil && m[1] == "dev" && p.devSupported() {
			pr, _ := props(v, "path")
			rt.Devices = append(rt.Devices, pr["path"])
		}
	}
	allowed := map[int]bool{}
	for _, r := range c.Main.Raw {
		if v, ok := strings.CutPrefix(r, "lxc.cgroup2.devices.allow: c "); ok {
			if maj, err := strconv.Atoi(strings.SplitN(v, ":", 2)[0]); err == nil {
				allowed[maj] = true
			}
		}
	}
	for _, r := range c.Main.Raw {
		if v, ok := strings.CutPrefix(r, "lxc.mount.entry: "); ok {
			src := strings.Fields(v)[0]
			if maj, known := p.majorOf(src); !known || allowed[maj] {
				rt.Devices = append(rt.Devices, src)
			}
		}
	}
	sort.Strings(rt.Devices)
}

// majorOf maps an NVIDIA device node to its driver's major.
func (p *PVE) majorOf(dev string) (int, bool) {
	name := "nvidia-frontend"
	if strings.HasPrefix(dev, "/dev/nvidia-uvm") {
		name = "nvidia-uvm"
	} else if strings.HasPrefix(dev, "/dev/nvidia-caps") {
		name = "nvidia-caps"
	} else if !strings.HasPrefix(dev, "/dev/nvidia") {
		return 0, false
	}
	maj, ok := p.Majors[name]
	return maj, ok
}

func (p *PVE) push(id int, src, dst string) error {
	c, rt, err := p.load(id)
	if err != nil {
		return err
	}
	if rt.Status != "running" {
		return errf("CT %d not running", id)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return errf("can't open '%s' - %v", src, err)
	}
	if !path.IsAbs(dst) {
		return errf("destination path must be absolute")
	}
	if rt.Inside.Files == nil {
		rt.Inside.Files = map[string]string{}
	}
	rt.Inside.Files[dst] = string(b)
	return p.save(id, c, rt)
}

func (p *PVE) snapshot(id int, name string, opts map[string]string) error {
	c, rt, err := p.load(id)
	if err != nil {
		return err
	}
	if !reSnap.MatchString(name) || name == "current" {
		return paramErr("snapshot", "snapname", "invalid format - invalid configuration ID '"+name+"'")
	}
	if c.snap(name) != nil {
		return errf("snapshot name '%s' already used", name)
	}
	// pve-guest-common src/PVE/AbstractConfig.pm:754-756.
	if !p.hasSnapshotFeature(c.Main) {
		return errf("snapshot feature is not available")
	}
	s := c.Main.clone(name)
	if d := opts["description"]; d != "" {
		s.Descr = d
	}
	// Deterministic, so that runs compare equal.
	s.Keys["snaptime"] = strconv.Itoa(1700000000 + id)
	c.Snaps = append(c.Snaps, s)
	c.Main.Keys["parent"] = name
	if rt.Snaps == nil {
		rt.Snaps = map[string]inside{}
	}
	rt.Snaps[name] = rt.Inside.copy()
	return p.save(id, c, rt)
}

// listSnapshots prints the snapshot tree the way pct listsnapshot does.
func (p *PVE) listSnapshots(id int, out *strings.Builder) error {
	c, _, err := p.load(id)
	if err != nil {
		return err
	}
	indent := ""
	for _, s := range c.Snaps {
		t, _ := strconv.ParseInt(s.Keys["snaptime"], 10, 64)
		fmt.Fprintf(out, "%s`-> %-20s %s     %s\n", indent, s.Name, time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05"), orDefault(s.Descr, "no-description"))
		indent += " "
	}
	fmt.Fprintf(out, "%s`-> %-20s %s\n", indent, "current", "You are here!")
	return nil
}

func (p *PVE) resize(id int, disk, size string) error {
	c, rt, err := p.load(id)
	if err != nil {
		return err
	}
	v, ok := c.Main.Keys[disk]
	if !ok {
		return errf("unable to parse config - unable to find disk '%s'", disk)
	}
	m, _ := props(v, "volume")
	cur, _ := strconv.ParseFloat(strings.TrimSuffix(m["size"], "G"), 64)
	rel := strings.HasPrefix(size, "+")
	n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(size, "+"), "G"), 64)
	if err != nil {
		return paramErr("resize", "size", "value does not match the regex pattern")
	}
	if rel {
		n += cur
	}
	if n < cur {
		return errf("unable to shrink disk size")
	}
	m["size"] = strconv.FormatFloat(n, 'f', -1, 64) + "G"
	c.Main.Keys[disk] = joinDefault(m, "volume")
	return p.save(id, c, rt)
}

func (p *PVE) list(out *strings.Builder) error {
	fmt.Fprintf(out, "%-10s %-10s %-12s %s\n", "VMID", "Status", "Lock", "Name")
	for _, id := range p.ids() {
		c, rt, err := p.load(id)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-10d %-10s %-12s %s\n", id, rt.Status, "", c.Main.Keys["hostname"])
	}
	return nil
}
