// Package pvesm is the one fake of Proxmox's pvesm for every test: the zfs
// module's storages and the lxc module's template paths go through it. Its
// state is what the real tool's is, /etc/pve/storage.cfg in the host root,
// so every fake that registers it shares one set of storages. ZFS facts
// (does a dataset exist, where is it mounted, is its pool imported) come
// from the ZFS hook, which the zfs fake provides.
//
// Every call is checked against Proxmox's published contract first
// (modules/internal/pvecontract); the rules the schema cannot express are
// ported from pve-storage and cite its files (pve-storage at 0c56bad,
// 2026-07-24).
package pvesm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/pvecontract"
)

// StorageCfg is where pmxcfs keeps the storages.
const StorageCfg = "/etc/pve/storage.cfg"

// ZFS is what pvesm asks the ZFS tools on a real host.
type ZFS interface {
	// Dataset reports whether a dataset exists and its mountpoint
	// property ("" when it has none).
	Dataset(name string) (mountpoint string, ok bool)
	// PoolImported reports whether the pool is imported.
	PoolImported(pool string) bool
	// Mounted reports whether a directory is a mount point (a mounted
	// dataset).
	Mounted(dir string) bool
}

// Fake is pvesm over a host root.
type Fake struct {
	Root host.Root
	// ZFS may be nil: then zfspool storages see no dataset (the real
	// tool tolerates that, ZFSPoolPlugin.pm:160) and every is_mountpoint
	// path counts as mounted, because without the zfs fake nothing says
	// otherwise.
	ZFS ZFS
}

// Handler adapts the fake to a fakehost.Runner.
func (f *Fake) Handler() fakehost.Handler {
	return func(_ context.Context, c fakehost.Call) fakehost.Result {
		return f.Run(c.Cmd.Args)
	}
}

// Entry is one storage.cfg section: "type: id" then key value lines.
type Entry struct {
	Type, ID string
	Opts     map[string]string
}

func fail(format string, a ...any) fakehost.Result {
	return fakehost.Result{Stderr: fmt.Sprintf(format, a...) + "\n", Code: pvecontract.ExitCode}
}

// Run is one pvesm call.
func (f *Fake) Run(args []string) fakehost.Result {
	call, err := pvecontract.CheckStrict("pvesm", args)
	if err != nil {
		var ce *pvecontract.Error
		if errors.As(err, &ce) {
			return fakehost.Result{Stderr: ce.Msg, Code: ce.Code}
		}
		return fail("pvesm (fake): %v", err)
	}
	if f.Root == nil {
		return fail("pvesm (fake): no host root")
	}
	cfg, err := Load(f.Root)
	if err != nil {
		return fail("%v", err)
	}
	p := call.Params
	switch call.Command {
	case "status":
		var b strings.Builder
		b.WriteString("Name             Type     Status           Total            Used       Available        %\n")
		for _, s := range cfg {
			fmt.Fprintf(&b, "%-16s %-8s %-8s %16d %15d %15d %8.2f%%\n", s.ID, s.Type, "active", 1000000, 1000, 999000, 0.10)
		}
		return fakehost.OK(b.String())
	case "path":
		out, err := f.path(cfg, p["volume"])
		if err != nil {
			return fail("%v", err)
		}
		return fakehost.OK(out + "\n")
	case "add":
		return f.add(cfg, p)
	case "set":
		return f.set(cfg, p)
	case "remove":
		for i, s := range cfg {
			if s.ID == p["storage"] {
				return f.save(append(cfg[:i:i], cfg[i+1:]...), "delete storage failed", "")
			}
		}
		return fail("delete storage failed: error with cfs lock 'file-storage_cfg': storage '%s' does not exist", p["storage"])
	}
	return fail("pvesm (fake): command '%s' is not modelled", call.Command)
}

// pluginOptions are each plugin's options(): name -> fixed. Sources:
// pve-storage src/PVE/Storage/DirPlugin.pm:80-99, ZFSPoolPlugin.pm:83-94.
// NFSPlugin's are taken from its options() as well; other types are not
// modelled.
var pluginOptions = map[string]map[string]bool{
	"dir": {"path": true, "content-dirs": false, "nodes": false, "shared": false, "disable": false, "prune-backups": false,
		"max-protected-backups": false, "content": false, "format": false, "mkdir": false, "create-base-path": false,
		"create-subdirs": false, "is_mountpoint": false, "bwlimit": false, "preallocation": false, "snapshot-as-volume-chain": true},
	"zfspool": {"pool": true, "blocksize": false, "sparse": false, "nodes": false, "disable": false, "content": false,
		"bwlimit": false, "mountpoint": false},
}

// required are the options that are not optional in options() (fixed
// path/pool without optional => 1).
var required = map[string][]string{"dir": {"path"}, "zfspool": {"pool"}}

// validContent is plugindata's content list: DirPlugin.pm:27-37,
// ZFSPoolPlugin.pm:57.
var validContent = map[string]map[string]bool{
	"dir":     {"images": true, "rootdir": true, "vztmpl": true, "iso": true, "backup": true, "snippets": true, "none": true, "import": true},
	"zfspool": {"images": true, "rootdir": true},
}

// vtypeSubdirs is Plugin.pm:839-847.
var vtypeSubdirs = map[string]string{"images": "images", "rootdir": "private", "iso": "template/iso",
	"vztmpl": "template/cache", "backup": "dump", "snippets": "snippets", "import": "import"}

func (f *Fake) add(cfg []Entry, p map[string]string) fakehost.Result {
	typ, id := p["type"], p["storage"]
	opts := pluginOptions[typ]
	if opts == nil {
		return fail("pvesm (fake): storage type '%s' is not modelled", typ)
	}
	e := Entry{Type: typ, ID: id, Opts: map[string]string{}}
	var warn strings.Builder
	// API2/Storage/Config.pm:249 check_config: SectionConfig.pm:1617-1640
	// (check_value dies "unexpected property", :1178).
	for k, v := range p {
		if k == "type" || k == "storage" {
			continue
		}
		if _, ok := opts[k]; !ok {
			return fail("unexpected property '%s'", k)
		}
		if k == "content" {
			// Plugin.pm:475-496 decode_value: unsupported types are
			// dropped with a warning.
			var keep []string
			for _, c := range splitList(v) {
				if !validContent[typ][c] {
					fmt.Fprintf(&warn, "storage does not support content type '%s'\n", c)
					continue
				}
				keep = append(keep, c)
			}
			if len(keep) == 0 && !validContent[typ]["none"] {
				return fail("%sstorage does not support content type 'none'", warn.String())
			}
			sort.Strings(keep) // the real order is Perl hash order (Plugin.pm:254-262)
			v = strings.Join(keep, ",")
		}
		e.Opts[k] = v
	}
	for _, k := range required[typ] {
		if _, ok := e.Opts[k]; !ok {
			return fail("missing value for required option '%s'", k)
		}
	}
	if typ == "dir" {
		// DirPlugin.pm:255-266 check_config on create.
		if !reDirPath(e.Opts["path"]) {
			return fail("illegal path for directory storage: %s", e.Opts["path"])
		}
		e.Opts["path"] = path.Clean(e.Opts["path"])
	}
	for _, s := range cfg {
		if s.ID == id {
			return fail("%screate storage failed: storage ID '%s' already defined", warn.String(), id)
		}
	}
	if typ == "zfspool" && f.ZFS != nil {
		// ZFSPoolPlugin.pm:155-176 on_add_hook: read the dataset's
		// mountpoint, ignoring failure ("pool might currently not be
		// imported"), and store it unless one was given.
		if mp, ok := f.ZFS.Dataset(e.Opts["pool"]); ok && mp != "" && strings.HasPrefix(mp, "/") {
			if _, given := e.Opts["mountpoint"]; !given {
				e.Opts["mountpoint"] = mp
			}
		}
	}
	if _, ok := e.Opts["mkdir"]; ok {
		// API2/Storage/Config.pm:264-268.
		fmt.Fprintf(&warn, "NOTE: The 'mkdir' option set for '%s' is deprecated and will be removed in Proxmox VE 9. Use 'create-base-path' or 'create-subdirs' instead.\n", id)
	}
	// Config.pm:270-281: activate to detect problems sooner; failure
	// undoes the add.
	if e.Opts["disable"] != "1" {
		if err := f.activate(e); err != nil {
			return fail("%screate storage failed: %v", warn.String(), err)
		}
	}
	return f.save(append(cfg, e), "create storage failed", warn.String())
}

func reDirPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for _, r := range p {
		if !(r == '/' || r == '-' || r == '_' || r == '.' || r == '@' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// activate is activate_storage for the modelled types.
func (f *Fake) activate(e Entry) error {
	switch e.Type {
	case "dir":
		dir := e.Opts["path"]
		// DirPlugin.pm:240-253 and :116-124 parse_is_mountpoint.
		mp := ""
		if v, ok := e.Opts["is_mountpoint"]; ok {
			if b, isBool := parseBool(v); isBool {
				if b {
					mp = dir
				}
			} else {
				mp = v
			}
		}
		if mp != "" && f.ZFS != nil && !f.ZFS.Mounted(mp) {
			return fmt.Errorf("unable to activate storage '%s' - directory is expected to be a mount point but is not mounted: '%s'", e.ID, mp)
		}
		// Plugin.pm:2658-2664 config_aware_base_mkdir: create-base-path,
		// else the deprecated mkdir, else yes.
		if flag(e.Opts, "create-base-path", flag(e.Opts, "mkdir", true)) {
			if err := f.Root.MkdirAll(dir, 0o755, host.Owner{}); err != nil {
				return err
			}
		}
		// Plugin.pm:1951-1963.
		if fi, err := f.Root.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("unable to activate storage '%s' - directory '%s' does not exist or is unreachable", e.ID, dir)
		}
		content, ok := e.Opts["content"]
		if !ok {
			return nil
		}
		// Plugin.pm:1998-2013: content subdirectories unless
		// create-subdirs or mkdir is off; backup also for rootdir.
		if flag(e.Opts, "create-subdirs", true) && flag(e.Opts, "mkdir", true) {
			has := map[string]bool{}
			for _, c := range splitList(content) {
				has[c] = true
			}
			for vtype, sub := range vtypeSubdirs {
				if has[vtype] || vtype == "backup" && has["rootdir"] {
					if err := f.Root.MkdirAll(path.Join(dir, sub), 0o755, host.Owner{}); err != nil {
						return fmt.Errorf("failed to create content directory '%s' for content '%s' - %w", path.Join(dir, sub), vtype, err)
					}
				}
			}
		}
	case "zfspool":
		// ZFSPoolPlugin.pm:655-680: a mounted dataset or an imported
		// pool is enough; else it tries an import.
		if f.ZFS == nil {
			return nil
		}
		ds := e.Opts["pool"]
		pool, _, _ := strings.Cut(ds, "/")
		if mp, ok := f.ZFS.Dataset(ds); ok && mp != "" && f.ZFS.Mounted(mp) {
			return nil
		}
		if !f.ZFS.PoolImported(pool) {
			return fmt.Errorf("could not activate storage '%s', zfs error: cannot import '%s': no such pool available", e.ID, pool)
		}
	}
	return nil
}

func (f *Fake) set(cfg []Entry, p map[string]string) fakehost.Result {
	id := p["storage"]
	for i := range cfg {
		if cfg[i].ID != id {
			continue
		}
		e := &cfg[i]
		opts := pluginOptions[e.Type]
		for k := range p {
			if k == "storage" || k == "delete" || k == "digest" {
				continue
			}
			fixed, ok := opts[k]
			if !ok {
				return fail("unexpected property '%s'", k)
			}
			if fixed { // SectionConfig.pm:1620-1621
				return fail("update storage failed: can't change value of fixed parameter '%s'", k)
			}
		}
		for k, v := range p {
			if k != "storage" && k != "delete" && k != "digest" {
				e.Opts[k] = v
			}
		}
		for _, k := range splitList(p["delete"]) {
			delete(e.Opts, k)
		}
		return f.save(cfg, "update storage failed", "")
	}
	return fail("update storage failed: error with cfs lock 'file-storage_cfg': storage '%s' does not exist", id)
}

// path is `pvesm path` for volumes of dir storages: get_subdir plus the
// name (Plugin.pm:853-864).
func (f *Fake) path(cfg []Entry, volid string) (string, error) {
	store, vol, ok := strings.Cut(volid, ":")
	if !ok {
		return "", fmt.Errorf("unable to parse volume ID '%s'", volid)
	}
	e := lookup(cfg, store)
	if e == nil {
		return "", fmt.Errorf("storage '%s' does not exist", store)
	}
	if e.Type != "dir" {
		return "", fmt.Errorf("pvesm (fake): path on %s storages is not modelled", e.Type)
	}
	for vtype, key := range map[string]string{"vztmpl": "vztmpl/", "iso": "iso/", "backup": "backup/", "snippets": "snippets/"} {
		if name, ok := strings.CutPrefix(vol, key); ok && name != "" && !strings.Contains(name, "/") {
			return path.Join(e.Opts["path"], vtypeSubdirs[vtype], name), nil
		}
	}
	return "", fmt.Errorf("unable to parse directory volume name '%s'", vol)
}

// Lookup returns storage id, with the default "local" when storage.cfg
// lacks it (Plugin.pm:565-586).
func Lookup(root host.Root, id string) (*Entry, error) {
	cfg, err := Load(root)
	if err != nil {
		return nil, err
	}
	return lookup(cfg, id), nil
}

func lookup(cfg []Entry, id string) *Entry {
	for i := range cfg {
		if cfg[i].ID == id {
			return &cfg[i]
		}
	}
	if id == "local" {
		return &Entry{Type: "dir", ID: "local", Opts: map[string]string{"path": "/var/lib/vz", "content": "backup,images,iso,rootdir,snippets,vztmpl"}}
	}
	return nil
}

// DirPath is the in-root directory of a dir storage ("" if there is none).
func DirPath(root host.Root, id string) string {
	e, err := Lookup(root, id)
	if err != nil || e == nil || e.Type != "dir" {
		return ""
	}
	return e.Opts["path"]
}

// Add records a storage directly, as the installer does ("local").
func Add(root host.Root, typ, id string, kv ...[2]string) error {
	cfg, err := Load(root)
	if err != nil {
		return err
	}
	e := Entry{Type: typ, ID: id, Opts: map[string]string{}}
	for _, p := range kv {
		e.Opts[p[0]] = p[1]
	}
	return Write(root, append(cfg, e))
}

func (f *Fake) save(cfg []Entry, what, warn string) fakehost.Result {
	if err := Write(f.Root, cfg); err != nil {
		return fail("%s%s: %v", warn, what, err)
	}
	return fakehost.Result{Stderr: warn}
}

// Load parses storage.cfg (missing: no storages).
func Load(root host.Root) ([]Entry, error) {
	data, err := root.ReadFile(StorageCfg)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			typ, id, _ := strings.Cut(t, ":")
			out = append(out, Entry{Type: strings.TrimSpace(typ), ID: strings.TrimSpace(id), Opts: map[string]string{}})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: option outside a section", StorageCfg)
		}
		k, v, ok := strings.Cut(t, " ")
		if !ok {
			v = "1"
		}
		out[len(out)-1].Opts[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// Write writes storage.cfg as SectionConfig write_config does
// (pve-common src/PVE/SectionConfig.pm:1715-1800): per section the header,
// "disable" first, the required options sorted, then the optional ones
// sorted, "\tkey value" each, and a blank line after every section.
func Write(root host.Root, cfg []Entry) error {
	var b strings.Builder
	for _, e := range cfg {
		fmt.Fprintf(&b, "%s: %s\n", e.Type, e.ID)
		if e.Opts["disable"] == "1" {
			b.WriteString("\tdisable\n")
		}
		req := map[string]bool{}
		for _, k := range required[e.Type] {
			req[k] = true
		}
		keys := make([]string, 0, len(e.Opts))
		for k := range e.Opts {
			if k != "disable" {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool {
			if req[keys[i]] != req[keys[j]] {
				return req[keys[i]]
			}
			return keys[i] < keys[j]
		})
		for _, k := range keys {
			if e.Opts[k] != "" {
				fmt.Fprintf(&b, "\t%s %s\n", k, e.Opts[k])
			}
		}
		b.WriteString("\n")
	}
	return root.WriteFile(StorageCfg, []byte(b.String()), 0o640, host.Owner{})
}

func flag(opts map[string]string, k string, def bool) bool {
	if v, ok := opts[k]; ok {
		b, _ := parseBool(v)
		return b
	}
	return def
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "1", "on", "yes", "true":
		return true, true
	case "0", "off", "no", "false":
		return false, true
	}
	return false, false
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

// StateZFS, when set (by the zfs fake's package), loads the ZFS facts of a
// PATH-mode fake state directory; nil ZFS means there is none.
var StateZFS func(stateDir string, root host.Root) (ZFS, error)
