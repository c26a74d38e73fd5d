package fake

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/fake/pvesm"
	"github.com/phoenix-pve/phoenix/modules/internal/pvecontract"
)

// PVE is the fake's state and settings. The zero value of every setting is
// usable; Dir and Root must be set.
type PVE struct {
	Dir  string // runtime state (JSON), outside what tests compare
	Root string // host root: /etc/pve/lxc and template caches live here
	// Version is the pve-manager version pveversion prints (default 8.2.4).
	Version string
	// Node is the node name in messages (default "pve").
	Node string
	// CreateDelay is slept by every create and clone, outside the lock,
	// like the real tool's time spent unpacking a template.
	CreateDelay time.Duration
	// DevDelay is how many `test -e /dev/...` after a start fail before
	// the devices show up: the race the bash original lost.
	DevDelay int
	// NetDelay is how many `ip -4 route show default` after a start print
	// nothing before the default route appears.
	NetDelay int
	// Majors are the host's character device majors by /proc/devices name
	// (nvidia-frontend, nvidia-uvm). A raw lxc.mount.entry device shows up
	// only when an lxc.cgroup2.devices.allow line grants its major.
	Majors map[string]int
	// Catalog is what pveam can download: template name -> content.
	// Default: debian-12-standard_12.7-1_amd64.tar.zst,
	// debian-13-standard_13.6-1_amd64.tar.zst and
	// ubuntu-24.04-standard_24.04-2_amd64.tar.zst.
	Catalog map[string]string
	// Storages are in Root's /etc/pve/storage.cfg, shared with the one
	// pvesm fake (modules/internal/fake/pvesm); a root without one gets
	// the installer's (see installerStorageCfg).

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	// stateDir is $FAKE_STATE in PATH mode, where the zfs fake keeps its
	// World (pvesm's ZFS facts).
	stateDir string
}

// DefaultTemplate is a template name in the default catalog.
const DefaultTemplate = "debian-12-standard_12.7-1_amd64.tar.zst"

// PVE9Template is the Debian 13 template PVE 9's index offers.
const PVE9Template = "debian-13-standard_13.6-1_amd64.tar.zst"

// runtime is one container's state that a config file does not hold.
type runtime struct {
	Status   string            `json:"status"`
	Inside   inside            `json:"inside"`
	Snaps    map[string]inside `json:"snaps,omitempty"`
	Devices  []string          `json:"devices,omitempty"` // visible inside since the last start
	DevTests int               `json:"dev_tests"`
	NetTests int               `json:"net_tests"`
	History  []string          `json:"history,omitempty"`
}

// inside is the container's filesystem as far as the fake tracks it.
type inside struct {
	Packages []string          `json:"packages,omitempty"`
	Files    map[string]string `json:"files,omitempty"` // path -> content
}

func (in inside) copy() inside {
	out := inside{Packages: append([]string(nil), in.Packages...), Files: map[string]string{}}
	for k, v := range in.Files {
		out.Files[k] = v
	}
	return out
}

// errf is a failed PVE command: message on stderr, exit 255.
type pveError struct{ msg string }

func (e *pveError) Error() string { return e.msg }

func errf(format string, a ...any) error { return &pveError{fmt.Sprintf(format, a...)} }

func (p *PVE) node() string {
	if p.Node == "" {
		return "pve"
	}
	return p.Node
}

func (p *PVE) version() string {
	if p.Version == "" {
		return "8.2.4"
	}
	return p.Version
}

// devSupported reports whether pct knows devN keys: pve-container 5.0.7
// (debian/changelog, 2023-11-21, "allow passing raw device nodes"), which
// PVE 8.1 shipped.
func (p *PVE) devSupported() bool {
	f := strings.Split(p.version(), ".")
	maj, _ := strconv.Atoi(f[0])
	mnr := 0
	if len(f) > 1 {
		mnr, _ = strconv.Atoi(f[1])
	}
	return maj > 8 || maj == 8 && mnr >= 1
}

func (p *PVE) catalog() map[string]string {
	if p.Catalog != nil {
		return p.Catalog
	}
	return map[string]string{
		DefaultTemplate: "fake template " + DefaultTemplate + "\n",
		"ubuntu-24.04-standard_24.04-2_amd64.tar.zst": "fake template ubuntu-24.04\n",
		// PVE 9's Debian (pve-manager aplinfo/aplinfo.dat at 9d6e4c8).
		PVE9Template: "fake template " + PVE9Template + "\n",
	}
}

// lock serialises commands on the same containers, in this process and
// across processes (PATH mode), the way PVE takes a config lock per CT.
// No ids means the global lock (pveam, pct list, Boot, Effects).
func (p *PVE) lock(ids ...int) (func(), error) {
	keys := []string{"global"}
	if len(ids) > 0 {
		sort.Ints(ids) // one order: no deadlock between clone and create
		keys = nil
		for _, id := range ids {
			keys = append(keys, "ct-"+strconv.Itoa(id))
		}
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, err
	}
	var undo []func()
	release := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	for _, k := range keys {
		p.mu.Lock()
		if p.locks == nil {
			p.locks = map[string]*sync.Mutex{}
		}
		m := p.locks[k]
		if m == nil {
			m = &sync.Mutex{}
			p.locks[k] = m
		}
		p.mu.Unlock()
		m.Lock()
		f, err := os.OpenFile(filepath.Join(p.Dir, ".lock-"+k), os.O_CREATE|os.O_RDWR, 0o644)
		if err == nil {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			m.Unlock()
			release()
			return nil, err
		}
		undo = append(undo, func() { f.Close(); m.Unlock() })
	}
	return release, nil
}

func (p *PVE) confPath(id int) string {
	return filepath.Join(p.Root, "etc/pve/lxc", strconv.Itoa(id)+".conf")
}

func (p *PVE) rtPath(id int) string { return filepath.Join(p.Dir, "ct", strconv.Itoa(id)+".json") }

func (p *PVE) noConf(id int) error {
	return errf("Configuration file 'nodes/%s/lxc/%d.conf' does not exist", p.node(), id)
}

func (p *PVE) load(id int) (*conf, *runtime, error) {
	b, err := os.ReadFile(p.confPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, p.noConf(id)
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := parseConf(string(b))
	if err != nil {
		return nil, nil, errf("unable to parse config %d: %v", id, err)
	}
	rt := &runtime{Status: "stopped"}
	if b, err := os.ReadFile(p.rtPath(id)); err == nil {
		if err := json.Unmarshal(b, rt); err != nil {
			return nil, nil, err
		}
	}
	return c, rt, nil
}

func (p *PVE) save(id int, c *conf, rt *runtime) error {
	if err := writeFile(p.confPath(id), []byte(c.String()), 0o640); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// pmxcfs shows every file as root:www-data.
		_ = os.Chown(p.confPath(id), 0, 33)
	}
	b, _ := json.MarshalIndent(rt, "", " ")
	return writeFile(p.rtPath(id), b, 0o644)
}

func writeFile(name string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// ids lists the existing containers.
func (p *PVE) ids() []int {
	ents, _ := os.ReadDir(filepath.Join(p.Root, "etc/pve/lxc"))
	var ids []int
	for _, e := range ents {
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".conf")); err == nil && strings.HasSuffix(e.Name(), ".conf") {
			ids = append(ids, n)
		}
	}
	sort.Ints(ids)
	return ids
}

// Register installs the fakes on a fakehost.Runner under their real names.
func (p *PVE) Register(r *fakehost.Runner) {
	r.Handle("pct", p.handler(p.Pct))
	r.Handle("pveam", p.handler(p.Pveam))
	r.Handle("pvesm", p.handler(p.Pvesm))

	r.Handle("pveversion", p.handler(p.Pveversion))
}

type tool func(ctx context.Context, args []string, stdin []byte, stdout *strings.Builder) error

func (p *PVE) handler(t tool) fakehost.Handler {
	return func(ctx context.Context, c fakehost.Call) fakehost.Result {
		var out strings.Builder
		err := t(ctx, c.Cmd.Args, c.Stdin, &out)
		return result(out.String(), err)
	}
}

func result(stdout string, err error) fakehost.Result {
	if err == nil {
		return fakehost.OK(stdout)
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		return fakehost.Result{Stdout: stdout, Stderr: ee.stderr, Code: ee.code}
	}
	return fakehost.Result{Stdout: stdout, Stderr: err.Error() + "\n", Code: 255}
}

// exitErr is a command inside a container that exited non-zero: pct exec
// passes its code through.
type exitErr struct {
	code   int
	stderr string
}

func (e *exitErr) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Pveversion prints "pve-manager/VERSION/HASH (running kernel: ...)".
func (p *PVE) Pveversion(_ context.Context, args []string, _ []byte, out *strings.Builder) error {
	if len(args) > 0 && args[0] != "--verbose" && args[0] != "-v" {
		return errf("400 too many arguments\npveversion [--verbose]")
	}
	fmt.Fprintf(out, "pve-manager/%s/faa83925c9641325 (running kernel: 6.8.8-2-pve)\n", p.version())
	return nil
}

// Pvesm is the one pvesm fake (modules/internal/fake/pvesm) on this
// root, without ZFS facts (the zfs fake's World provides them where it is
// registered, and in PATH mode from its state).
func (p *PVE) Pvesm(_ context.Context, args []string, _ []byte, out *strings.Builder) error {
	if err := p.ensureStorageCfg(); err != nil {
		return err
	}
	f := &pvesm.Fake{Root: p.hostRoot()}
	if p.stateDir != "" && pvesm.StateZFS != nil {
		z, err := pvesm.StateZFS(p.stateDir, f.Root)
		if err != nil {
			return err
		}
		if z != nil {
			f.ZFS = z
		}
	}
	res := f.Run(args)
	out.WriteString(res.Stdout)
	if res.Code != 0 || res.Stderr != "" {
		return &exitErr{code: res.Code, stderr: res.Stderr}
	}
	return nil
}

// Pveam implements update, download STORAGE NAME and list STORAGE, after
// the contract check.
func (p *PVE) Pveam(_ context.Context, args []string, _ []byte, out *strings.Builder) error {
	call, err := pvecontract.CheckStrict("pveam", args)
	if err != nil {
		var ce *pvecontract.Error
		if errors.As(err, &ce) {
			return &exitErr{code: ce.Code, stderr: ce.Msg}
		}
		return err
	}
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	switch call.Command {
	case "update":
		return writeFile(filepath.Join(p.Dir, "pveam-updated"), []byte("1\n"), 0o644)
	case "download":
		store, tmpl := call.Params["storage"], call.Params["template"]
		if _, err := os.Stat(filepath.Join(p.Dir, "pveam-updated")); err != nil {
			return errf("unable to open file '/var/lib/pve-manager/apl-info/download.proxmox.com' - No such file or directory")
		}
		// pve-manager PVE/API2/Nodes.pm:1811-1839 (apl_download, at
		// 14a22df): the template must be in the index, the storage exist
		// and allow vztmpl; the download goes straight into its template
		// directory, which nothing creates (pve-common
		// src/PVE/Tools.pm:1522-1544 runs wget -O there).
		content, ok := p.catalog()[tmpl]
		if !ok {
			return errf("400 Parameter verification failed.\ntemplate: no such template\n%s", pvecontract.MustLoad().Tools["pveam"].Commands["download"].Usage)
		}
		e, err := p.storage(store)
		if err != nil {
			return err
		}
		if !hasContent(e.Opts["content"], "vztmpl") {
			return errf("storage '%s' does not support templates", store)
		}
		dir := filepath.Join(e.Opts["path"], "template/cache")
		if fi, err := os.Stat(filepath.Join(p.Root, dir)); err != nil || !fi.IsDir() {
			// The wget's exact message is not modelled.
			return errf("%s/%s.tmp_dwnl: No such file or directory\ncommand 'wget' failed: exit code 1", dir, tmpl)
		}
		fmt.Fprintf(out, "downloading http://download.proxmox.com/images/system/%s to %s/%s\n", tmpl, dir, tmpl)
		return os.WriteFile(filepath.Join(p.Root, dir, tmpl), []byte(content), 0o644)
	case "list":
		dir, ok := p.storagePath(call.Params["storage"])
		if !ok {
			return errf("storage '%s' does not exist", call.Params["storage"])
		}
		fmt.Fprintf(out, "%-70s %s\n", "NAME", "SIZE")
		ents, _ := os.ReadDir(filepath.Join(p.Root, dir, "template/cache"))
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				fmt.Fprintf(out, "%-70s %.2fMB\n", call.Params["storage"]+":vztmpl/"+e.Name(), float64(fi.Size())/1e6)
			}
		}
		return nil
	}
	return errf("pveam (fake): command '%s' is not modelled", call.Command)
}

func hasContent(csv, c string) bool {
	for _, x := range strings.FieldsFunc(csv, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		if x == c {
			return true
		}
	}
	return false
}

// hwaddr is a deterministic MAC in Proxmox's BC:24:11 prefix.
func hwaddr(id int, key string) string {
	s := sha256.Sum256([]byte(fmt.Sprintf("%d/%s", id, key)))
	return fmt.Sprintf("BC:24:11:%02X:%02X:%02X", s[0], s[1], s[2])
}
