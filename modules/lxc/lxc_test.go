package lxc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	fetchfake "github.com/phoenix-pve/phoenix/modules/internal/fetch/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/lxc/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

// world is a host with the fake PVE tools: configs under the Root, runtime
// state beside it.
type world struct {
	t      testing.TB
	root   *host.DirRoot
	pve    *fake.PVE
	run    *fakehost.Runner
	bundle string
	mu     sync.Mutex
	items  map[string]modules.Item
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, root: host.NewDirRoot(t.TempDir()), run: fakehost.New(), bundle: t.TempDir(), items: map[string]modules.Item{}}
	w.pve = &fake.PVE{Dir: t.TempDir(), Root: w.root.Dir()}
	w.pve.Register(w.run)
	mps := map[string]string{"tank/media": "/tank/media"}
	// The host as the zfs and nvidia modules leave it: the dataset mounted
	// (pct start refuses a bind mount whose source is missing,
	// pve-container src/PVE/LXC.pm:2300) and the NVIDIA device nodes made
	// by the udev rules (every devN path must exist, LXC/Tools.pm:157-165).
	for _, d := range []string{"/tank/media", "/srv/shared", "/dev"} {
		if err := w.root.MkdirAll(d, 0o755, host.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"} {
		if err := w.root.WriteFile("/dev/"+n, nil, 0o666, host.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	w.run.Handle("zfs", func(_ context.Context, c fakehost.Call) fakehost.Result {
		a := c.Cmd.Args
		if len(a) == 6 && a[0] == "get" && a[4] == "mountpoint" {
			if mp, ok := mps[a[5]]; ok {
				return fakehost.OK(mp + "\n")
			}
			return fakehost.Fail(1, "cannot open '"+a[5]+"': dataset does not exist\n")
		}
		return fakehost.Fail(2, "unexpected zfs call\n")
	})
	return w
}

func instant(context.Context, time.Duration) error { return nil }

func newModule() *Module { return &Module{Sleep: instant, WaitTries: 10} }

func loadSeed(t testing.TB, y string) *seed.Seed {
	t.Helper()
	s, err := seed.Load("seed.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (w *world) env(s *seed.Seed, sel ...string) *modules.Env {
	return &modules.Env{
		Seed: s, Runner: w.run, Root: w.root, Store: modules.NewStore(w.root), Bundle: w.bundle,
		Select: sel,
		Report: func(it modules.Item) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.items[it.Name] = it
		},
	}
}

func (w *world) apply(m *Module, s *seed.Seed, sel ...string) (modules.Result, error) {
	w.t.Helper()
	return modules.Apply(context.Background(), m, w.env(s, sel...))
}

func (w *world) conf(id string) string {
	b, err := os.ReadFile(filepath.Join(w.root.Dir(), "etc/pve/lxc", id+".conf"))
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// pct runs the fake pct as an operator would, out of band.
func (w *world) pct(args ...string) string {
	w.t.Helper()
	out, err := w.run.Run(context.Background(), host.Cmd{Name: "pct", Args: args})
	if err != nil {
		w.t.Fatalf("pct %v: %v", args, err)
	}
	return string(out.Stdout)
}

// mutating lists the pct/pveam calls that change something.
func mutating(calls []host.Cmd) []string {
	var out []string
	for _, c := range calls {
		if len(c.Args) == 0 {
			continue
		}
		switch c.Name + " " + c.Args[0] {
		case "pct create", "pct clone", "pct set", "pct start", "pct reboot", "pct snapshot", "pct push", "pct resize", "pveam download", "pveam update":
			out = append(out, c.String())
		case "pct exec":
			s := c.String()
			// Waits, queries and the health check run every time.
			if !strings.Contains(s, " -- ip -4 route") && !strings.Contains(s, " -- test -e") && !strings.Contains(s, "dpkg-query") && !strings.HasSuffix(s, " -- true") {
				out = append(out, s)
			}
		}
	}
	return out
}

const webSeed = `
version: 1
zfs:
  pools: [{name: tank, external: true}]
  datasets: [{name: tank/media, external: true}]
lxc:
  defaults:
    storage: local-zfs
    template: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
    memory: 1024
    cores: 2
    bridge: vmbr0
  containers:
    "101":
      hostname: web
      description: the web server
      tags: [web, prod]
      swap: 512
      rootfs: {size: 16}
      net:
        - {ip: 10.0.0.5/24, gw: 10.0.0.1, vlan: 20}
      features: {nesting: true, keyctl: true}
      onboot: true
      startup: {order: 1, up: 30, down: 30}
      mounts:
        - {dataset: tank/media, path: /media, read_only: true}
        - {host_path: /srv/shared, path: /shared}
      provision:
        features: [base]
        packages: [nginx]
      health_check: {command: ["true"], retries: 3, interval: 1s}
`

func TestCreateThenRerunDoesNothing(t *testing.T) {
	w := newWorld(t)
	s := loadSeed(t, webSeed)
	m := newModule()
	res, err := w.apply(m, s)
	if err != nil {
		t.Fatal(err)
	}
	// No snapshot: Proxmox refuses one for a container with bind mounts,
	// and validate refuses the seed that asks for it.
	if !slices.Contains(res.Changed, "101: create web from local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst") {
		t.Errorf("first run changed %q", res.Changed)
	}
	conf := w.conf("101")
	for _, want := range []string{
		"#the web server", "cores: 2", "features: keyctl=1,nesting=1", "hostname: web", "memory: 1024",
		"mp0: /tank/media,mp=/media,ro=1", "mp1: /srv/shared,mp=/shared", "onboot: 1",
		"rootfs: local-zfs:subvol-101-disk-0,size=16G", "startup: order=1,up=30,down=30", "swap: 512",
		"tags: web;prod", "unprivileged: 1",
	} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if !strings.Contains(conf, "net0: name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=") || !strings.Contains(conf, "ip=10.0.0.5/24,tag=20,type=veth") {
		t.Errorf("net0 wrong:\n%s", conf)
	}
	if got := w.pve.Status(101); got != "running" {
		t.Errorf("status %q, want running", got)
	}
	if pk := w.pve.Packages(101); !slices.Contains(pk, "nginx") || !slices.Contains(pk, "locales") {
		t.Errorf("packages inside: %v", pk)
	}
	if it := w.items["101"]; it.State != "done" || it.Started.IsZero() || it.Finished.IsZero() {
		t.Errorf("item %+v", it)
	}

	w.run.Reset()
	res, err = w.apply(m, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 0 {
		t.Errorf("rerun changed %q", res.Changed)
	}
	if mut := mutating(w.run.Calls()); len(mut) > 0 {
		t.Errorf("rerun ran commands that change things:\n%s", strings.Join(mut, "\n"))
	}
	if conf2 := w.conf("101"); conf2 != conf {
		t.Errorf("rerun changed the config:\n%s", conf2)
	}
	if ch, err := modules.Check(context.Background(), m, w.env(s)); err != nil || len(ch) > 0 {
		t.Errorf("Check after apply = %q, %v", ch, err)
	}
}

func TestDriftConverged(t *testing.T) {
	w := newWorld(t)
	s := loadSeed(t, webSeed)
	m := newModule()
	if _, err := w.apply(m, s); err != nil {
		t.Fatal(err)
	}
	// An operator changes things by hand and stops the container.
	w.pct("set", "101", "--memory", "256", "--features", "nesting=1", "--tags", "web", "--net0", "name=eth0,bridge=vmbr1,ip=dhcp")
	w.pct("stop", "101")
	hw := func(conf string) string {
		i := strings.Index(conf, "hwaddr=")
		return conf[i : i+len("hwaddr=BC:24:11:00:00:00")]
	}
	before := hw(w.conf("101"))

	ch, err := modules.Check(context.Background(), m, w.env(s))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"101: set memory 256 -> 1024", "101: start"} {
		if !slices.Contains(ch, want) {
			t.Errorf("Check = %q, lacks %q", ch, want)
		}
	}
	w.run.Reset()
	res, err := w.apply(m, s)
	if err != nil {
		t.Fatal(err)
	}
	var sets []string
	for _, c := range w.run.Calls() {
		if c.Name == "pct" && c.Args[0] == "set" {
			sets = append(sets, c.String())
		}
	}
	if len(sets) != 1 {
		t.Fatalf("want one pct set, got %q", sets)
	}
	for _, want := range []string{"--memory 1024", "--features keyctl=1,nesting=1", "--tags web;prod", "--net0 name=eth0,bridge=vmbr0,gw=10.0.0.1,ip=10.0.0.5/24,tag=20,hwaddr="} {
		if !strings.Contains(sets[0], want) {
			t.Errorf("pct set %q lacks %q", sets[0], want)
		}
	}
	if !slices.Contains(res.Changed, "101: start") {
		t.Errorf("changed %q", res.Changed)
	}
	if after := hw(w.conf("101")); after != before {
		t.Errorf("converge changed the MAC: %s -> %s", before, after)
	}
	if ch, err := modules.Check(context.Background(), m, w.env(s)); err != nil || len(ch) > 0 {
		t.Errorf("Check after converge = %q, %v", ch, err)
	}
}

const chainSeed = `
version: 1
lxc:
  defaults:
    storage: local-zfs
    template: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
    bridge: vmbr0
  containers:
    "900":
      hostname: base
      provision: {features: [base]}
      snapshots: [base]
    "901":
      hostname: gpu
      clone_from: {ctid: 900, snapshot: base}
      provision: {features: [base, docker]}
      snapshots: [docker]
    "920":
      hostname: vllm
      clone_from: {ctid: 901, snapshot: docker}
      memory: 4096
      provision:
        features: [base, docker]
        scripts: [{file: vllm.sh, args: [--port, "8000"]}]
`

func TestCloneChain(t *testing.T) {
	w := newWorld(t)
	if err := os.WriteFile(filepath.Join(w.bundle, "vllm.sh"), []byte("echo vllm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := loadSeed(t, chainSeed)
	m := newModule()
	if _, err := w.apply(m, s); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range w.run.Calls() {
		if c.Name == "pct" && (c.Args[0] == "create" || c.Args[0] == "clone") {
			order = append(order, c.String())
		}
	}
	want := []string{
		"pct create 900 local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --hostname base --net0 name=eth0,bridge=vmbr0,ip=dhcp --rootfs local-zfs:8 --unprivileged 1",
		"pct clone 900 901 --snapname base --hostname gpu",
		"pct clone 901 920 --snapname docker --hostname vllm",
	}
	if !slices.Equal(order, want) {
		t.Errorf("creations:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	// Each clone runs only what its source's snapshot lacks.
	if h := strings.Join(w.pve.History(901), "\n"); strings.Contains(h, "localedef") || !strings.Contains(h, "docker.io") {
		t.Errorf("901 history:\n%s", h)
	}
	if h := strings.Join(w.pve.History(920), "\n"); strings.Contains(h, "localedef") || strings.Contains(h, "docker.io") || !strings.Contains(h, "/bin/sh /root/phoenix-vllm.sh --port 8000") {
		t.Errorf("920 history:\n%s", h)
	}
	if pk := w.pve.Packages(920); !slices.Contains(pk, "docker.io") || !slices.Contains(pk, "locales") {
		t.Errorf("920 did not inherit its packages: %v", pk)
	}
	if c := w.conf("920"); !strings.Contains(c, "memory: 4096\n") || !strings.Contains(c, "hostname: vllm\n") {
		t.Errorf("920 config:\n%s", c)
	}
}

func TestSelectLimitsToDependencies(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(filepath.Join(w.bundle, "vllm.sh"), []byte("echo vllm\n"), 0o644)
	y := strings.Replace(chainSeed, "  containers:\n", "  containers:\n    \"950\":\n      hostname: other\n", 1)
	s := loadSeed(t, y)
	if _, err := w.apply(newModule(), s, "901"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]string{900: "running", 901: "running", 920: "", 950: ""} {
		if got := w.pve.Status(id); got != want {
			t.Errorf("CT %d status %q, want %q", id, got, want)
		}
	}
	if _, err := w.apply(newModule(), s, "999"); err == nil || !strings.Contains(err.Error(), "999: not a container of the seed") {
		t.Errorf("unknown selection: %v", err)
	}
}

func TestDependencyFailureStopsOnlyDependents(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(filepath.Join(w.bundle, "bad.sh"), []byte("#fake-exit: 3\n"), 0o644)
	s := loadSeed(t, `
version: 1
lxc:
  defaults: {template: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst, storage: local-zfs}
  containers:
    "900": {hostname: base}
    "901":
      hostname: broken
      depends_on: [900]
      provision: {scripts: [{file: bad.sh}]}
    "902": {hostname: needs-broken, depends_on: [901]}
    "903": {hostname: needs-needs, depends_on: [902]}
    "910": {hostname: independent}
    "911": {hostname: needs-base, depends_on: [900]}
`)
	_, err := w.apply(newModule(), s)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"901: provision script:bad.sh", "exit status 3", "902: skipped: dependency 901 failed", "903: skipped: dependency 901 failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	states := map[string]string{"900": "done", "901": "failed", "902": "skipped", "903": "skipped", "910": "done", "911": "done"}
	for id, want := range states {
		if got := w.items[id].State; got != want {
			t.Errorf("item %s state %q, want %q", id, got, want)
		}
	}
	for _, id := range []int{902, 903} {
		if st := w.pve.Status(id); st != "" {
			t.Errorf("CT %d was created (%s) though its dependency failed", id, st)
		}
	}
}

const gpuSeed = `
version: 1
nvidia: {version: "580.76.05", source: packages}
lxc:
  defaults: {template: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst, storage: local-zfs, bridge: vmbr0}
  containers:
    "901":
      hostname: gpu
      gpus: [0]
      provision: {features: [nvidia, docker]}
`

func TestGPURawLinesUseRecordedMajors(t *testing.T) {
	w := newWorld(t)
	w.pve.Version = "8.0.9"
	w.pve.Majors = map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 508}
	w.pve.DevDelay = 3 // the devices show up late: the bash original raced here
	st := modules.NewStore(w.root)
	st.Put(DevicesKey, map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 508, "nvidia-caps": 511})
	st.Put(VersionKey, "580.76.05")
	s := loadSeed(t, gpuSeed)
	m := newModule()
	if _, err := w.apply(m, s); err != nil {
		t.Fatal(err)
	}
	conf := w.conf("901")
	for _, want := range []string{
		"lxc.cgroup2.devices.allow: c 195:* rwm",
		"lxc.cgroup2.devices.allow: c 508:* rwm",
		"lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file",
		"lxc.mount.entry: /dev/nvidia-uvm dev/nvidia-uvm none bind,optional,create=file",
	} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "243") || strings.Contains(conf, "dev0:") {
		t.Errorf("config has a hard-coded major or devN on PVE 8.1:\n%s", conf)
	}
	h := strings.Join(w.pve.History(901), "\n")
	for _, want := range []string{"/bin/sh /root/NVIDIA-Linux-x86_64-580.76.05.run --silent --no-kernel-module", "nvidia-container-toolkit", "nvidia-ctk runtime configure --runtime=docker"} {
		if !strings.Contains(h, want) {
			t.Errorf("history lacks %q:\n%s", want, h)
		}
	}
	// The driver install came only after the devices were visible.
	if i, j := strings.Index(h, "test -e /dev/nvidia-uvm-tools"), strings.Index(h, "NVIDIA-Linux"); i < 0 || j < i {
		t.Errorf("devices not awaited before provisioning:\n%s", h)
	}
	if ch, err := modules.Check(context.Background(), m, w.env(s)); err != nil || len(ch) > 0 {
		t.Errorf("Check after apply = %q, %v", ch, err)
	}
	// Someone deletes a line by hand: Check sees it, Apply puts it back.
	conf2 := strings.Replace(conf, "lxc.cgroup2.devices.allow: c 508:* rwm\n", "", 1)
	os.WriteFile(filepath.Join(w.root.Dir(), "etc/pve/lxc/901.conf"), []byte(conf2), 0o640)
	if ch, _ := modules.Check(context.Background(), m, w.env(s)); !strings.Contains(strings.Join(ch, "\n"), "901: GPU lines in /etc/pve/lxc/901.conf: add lxc.cgroup2.devices.allow: c 508:* rwm") {
		t.Errorf("Check = %q", ch)
	}
	if _, err := w.apply(m, s); err != nil {
		t.Fatal(err)
	}
	if got := w.conf("901"); got != conf {
		t.Errorf("line not restored:\n%s", got)
	}
	w.run.Reset()
	res, err := w.apply(m, s)
	if err != nil || len(res.Changed) > 0 {
		t.Errorf("rerun: %q, %v", res.Changed, err)
	}
	if w.conf("901") != conf {
		t.Errorf("rerun changed the config")
	}
}

func TestGPUWrongMajorNeverShowsDevices(t *testing.T) {
	w := newWorld(t)
	w.pve.Version = "8.0.9"
	w.pve.Majors = map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 508}
	modules.NewStore(w.root).Put(DevicesKey, map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 243})
	_, err := w.apply(newModule(), loadSeed(t, strings.Replace(gpuSeed, "features: [nvidia, docker]", "features: []", 1)))
	if err == nil || !strings.Contains(err.Error(), "device /dev/nvidia-uvm inside: not after 10 tries") {
		t.Errorf("want a bounded wait failure, got %v", err)
	}
}

func TestGPUDevKeysOnPVE81(t *testing.T) {
	w := newWorld(t)
	modules.NewStore(w.root).Put(VersionKey, "580.76.05")
	s := loadSeed(t, gpuSeed)
	if _, err := w.apply(newModule(), s); err != nil {
		t.Fatal(err)
	}
	conf := w.conf("901")
	for _, want := range []string{"dev0: /dev/nvidia0", "dev1: /dev/nvidiactl", "dev2: /dev/nvidia-uvm", "dev3: /dev/nvidia-uvm-tools"} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "lxc.") {
		t.Errorf("raw lxc lines on PVE 8.1:\n%s", conf)
	}
}

func TestGPUNeedsRecordedMajors(t *testing.T) {
	w := newWorld(t)
	w.pve.Version = "8.0.9"
	_, err := w.apply(newModule(), loadSeed(t, gpuSeed))
	if err == nil || !strings.Contains(err.Error(), "store key nvidia/devices") {
		t.Errorf("want a missing-majors error, got %v", err)
	}
}

func TestScriptStepDoneIsSkipped(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(filepath.Join(w.bundle, "app.sh"), []byte("echo app\n"), 0o644)
	y := `
version: 1
lxc:
  defaults: {template: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst, storage: local-zfs}
  containers:
    "950":
      hostname: app
      provision: {scripts: [{file: app.sh, args: [one]}]}
      health_check: {command: ["HEALTH"], retries: 2}
`
	m := newModule()
	// The health check fails: the run stops after the script ran.
	_, err := w.apply(m, loadSeed(t, strings.Replace(y, "HEALTH", "false", 1)))
	if err == nil || !strings.Contains(err.Error(), "health check failed 2 times") {
		t.Fatalf("want a health failure, got %v", err)
	}
	w.run.Reset()
	if _, err := w.apply(m, loadSeed(t, strings.Replace(y, "HEALTH", "true", 1))); err != nil {
		t.Fatal(err)
	}
	if mut := mutating(w.run.Calls()); len(mut) > 0 {
		t.Errorf("the done script step ran again:\n%s", strings.Join(mut, "\n"))
	}
	// An edited script is a new step.
	os.WriteFile(filepath.Join(w.bundle, "app.sh"), []byte("echo app v2\n"), 0o644)
	w.run.Reset()
	if _, err := w.apply(m, loadSeed(t, strings.Replace(y, "HEALTH", "true", 1))); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(mutating(w.run.Calls()), "\n"), "/bin/sh /root/phoenix-app.sh one"); n != 1 {
		t.Errorf("edited script ran %d times, want 1", n)
	}
}

func TestForeignContainerNeedsAdopt(t *testing.T) {
	w := newWorld(t)
	w.run.Run(context.Background(), host.Cmd{Name: "pveam", Args: []string{"update"}})
	w.run.Run(context.Background(), host.Cmd{Name: "pveam", Args: []string{"download", "local", fake.DefaultTemplate}})
	w.pct("create", "105", "local:vztmpl/"+fake.DefaultTemplate, "--hostname", "handmade", "--rootfs", "local-zfs:8", "--unprivileged", "1")
	y := `
version: 1
lxc:
  containers:
    "105": {hostname: adopted, memory: 2048, rootfs: {storage: local-zfs, size: 8}, template: "local:vztmpl/` + fake.DefaultTemplate + `"ADOPT}
`
	_, err := w.apply(newModule(), loadSeed(t, strings.Replace(y, "ADOPT", "", 1)))
	if err == nil || !strings.Contains(err.Error(), "CT 105 exists but was not created by Phoenix; set adopt: true") {
		t.Fatalf("want a refusal, got %v", err)
	}
	if c := w.conf("105"); !strings.Contains(c, "hostname: handmade") {
		t.Errorf("refused container was changed:\n%s", c)
	}
	res, err := w.apply(newModule(), loadSeed(t, strings.Replace(y, "ADOPT", ", adopt: true", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Changed, "105: adopt") || !strings.Contains(w.conf("105"), "memory: 2048") {
		t.Errorf("adopt: %q\n%s", res.Changed, w.conf("105"))
	}
}

func TestTemplateChecksum(t *testing.T) {
	w := newWorld(t)
	tmpl := []byte("my template\n")
	os.WriteFile(filepath.Join(w.bundle, "custom.tar.zst"), tmpl, 0o644)
	y := `
version: 1
lxc:
  containers:
    "120": {hostname: custom, template_file: custom.tar.zst, template_sha256: "SUM", rootfs: {storage: local-zfs, size: 8}}
`
	_, err := w.apply(newModule(), loadSeed(t, strings.Replace(y, "SUM", strings.Repeat("0", 64), 1)))
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("want a checksum mismatch, got %v", err)
	}
	if host.Exists(w.root, "/var/lib/vz/template/cache/custom.tar.zst") {
		t.Error("a template with a bad checksum was kept")
	}
	sum := sha256hex(tmpl)
	if _, err := w.apply(newModule(), loadSeed(t, strings.Replace(y, "SUM", sum, 1))); err != nil {
		t.Fatal(err)
	}
	if got := w.pve.Status(120); got != "running" {
		t.Errorf("status %q", got)
	}
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestTemplateURL(t *testing.T) {
	const url = "https://images.example.com/custom-1.tar.zst"
	body := []byte("template from the web\n")
	y := `
version: 1
lxc:
  containers:
    "130": {hostname: web, template_url: "URL", template_sha256: "SUM", rootfs: {storage: local-zfs, size: 8}}
`
	y = strings.NewReplacer("URL", url, "SUM", sha256hex(body)).Replace(y)
	const cached = "/var/lib/vz/template/cache/custom-1.tar.zst"
	w := newWorld(t)
	web := &fetchfake.Server{Files: map[string][]byte{url: body}}
	web.Register(w.run)
	if _, err := w.apply(newModule(), loadSeed(t, y)); err != nil {
		t.Fatal(err)
	}
	if got := string(must(os.ReadFile(w.root.Path(cached)))); got != string(body) {
		t.Errorf("template cache holds %q", got)
	}
	if !strings.Contains(w.run.Log(), "curl -fsSL --retry 3 -o "+w.root.Path(cached)+".part "+url+"\n") {
		t.Errorf("no curl download in:\n%s", w.run.Log())
	}
	if _, err := w.apply(newModule(), loadSeed(t, y)); err != nil || web.Hits(url) != 1 {
		t.Errorf("rerun: %v, %d downloads", err, web.Hits(url))
	}
	// A download that does not match is not kept, nor is its part file.
	w2 := newWorld(t)
	web.Register(w2.run)
	bad := strings.Replace(y, sha256hex(body), strings.Repeat("a", 64), 1)
	if _, err := w2.apply(newModule(), loadSeed(t, bad)); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("want a checksum mismatch, got %v", err)
	}
	if ents, _ := os.ReadDir(w2.root.Path(path.Dir(cached))); len(ents) != 0 {
		t.Errorf("bad download kept: %v", ents)
	}
	if web.Hits(url) != 2 {
		t.Errorf("%d downloads, want 2", web.Hits(url))
	}
	// A URL the server does not have: curl -f fails, the error says so.
	w3 := newWorld(t)
	web.Register(w3.run)
	missing := strings.Replace(y, url, url+".old", 1)
	if _, err := w3.apply(newModule(), loadSeed(t, missing)); err == nil || !strings.Contains(err.Error(), "exit status 22") {
		t.Errorf("want curl's 404, got %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestDeletedContainerIsRecreatedAndReprovisioned(t *testing.T) {
	w := newWorld(t)
	s := loadSeed(t, webSeed)
	m := newModule()
	if _, err := w.apply(m, s); err != nil {
		t.Fatal(err)
	}
	// pct destroy, as far as the fake goes: the config is gone.
	os.Remove(filepath.Join(w.root.Dir(), "etc/pve/lxc/101.conf"))
	os.Remove(filepath.Join(w.pve.Dir, "ct/101.json"))
	res, err := w.apply(m, s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Changed, "101: create web from local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst") || !slices.Contains(res.Changed, "101: provision feature:base") {
		t.Errorf("changed %q", res.Changed)
	}
	if pk := w.pve.Packages(101); !slices.Contains(pk, "nginx") {
		t.Errorf("packages %v", pk)
	}
}

// TestCallLog pins the exact commands of a clone chain (argv only), so a
// change in what Phoenix runs shows up in review: go test -update.
func TestCallLog(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(filepath.Join(w.bundle, "vllm.sh"), []byte("echo vllm\n"), 0o644)
	if _, err := w.apply(newModule(), loadSeed(t, chainSeed)); err != nil {
		t.Fatal(err)
	}
	log := strings.ReplaceAll(testkit.Scrub(w.run.Log(), w.root), w.bundle, "$BUNDLE")
	testkit.Golden(t, "chain.calls", aptShort(log))
}

var rePkgWord = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// aptShort reduces apt calls inside a container to "apt-get VERB PKGS":
// their options belong to the shared apt helper, which has its own tests.
func aptShort(log string) string {
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		pre, rest, ok := strings.Cut(l, " -- env ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for len(f) > 0 && strings.Contains(f[0], "=") {
			f = f[1:]
		}
		words := []string{f[0]}
		for _, w := range f[1:] {
			if rePkgWord.MatchString(w) {
				words = append(words, w)
			}
		}
		lines[i] = pre + " -- " + strings.Join(words, " ")
	}
	return strings.Join(lines, "\n")
}

// gate holds every pct create until `want` of them are in flight (or a
// generous timeout passes), and records the most ever in flight.
type gate struct {
	next     host.Runner
	want     int
	mu       sync.Mutex
	inFlight int
	max      int
	arrived  chan struct{}
	once     sync.Once
}

func (g *gate) Run(ctx context.Context, c host.Cmd) (host.Output, error) {
	if c.Name != "pct" || len(c.Args) == 0 || c.Args[0] != "create" {
		return g.next.Run(ctx, c)
	}
	g.mu.Lock()
	g.inFlight++
	g.max = max(g.max, g.inFlight)
	if g.inFlight == g.want {
		g.once.Do(func() { close(g.arrived) })
	}
	g.mu.Unlock()
	select {
	case <-g.arrived:
	case <-time.After(5 * time.Second):
	}
	out, err := g.next.Run(ctx, c)
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
	return out, err
}

func TestParallelIsBounded(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		w := newWorld(t)
		var y strings.Builder
		fmt.Fprintf(&y, "version: 1\nlxc:\n  parallel: %d\n  defaults: {storage: local-zfs, template: \"local:vztmpl/%s\"}\n  containers:\n", workers, fake.DefaultTemplate)
		for i := 0; i < 5; i++ {
			fmt.Fprintf(&y, "    \"%d\": {hostname: ct%d}\n", 300+i, i)
		}
		g := &gate{next: w.run, want: workers, arrived: make(chan struct{})}
		env := w.env(loadSeed(t, y.String()))
		env.Runner = g
		if _, err := modules.Apply(context.Background(), newModule(), env); err != nil {
			t.Fatal(err)
		}
		if g.max != workers {
			t.Errorf("parallel %d: at most %d creates in flight", workers, g.max)
		}
	}
}

func TestCloneWithoutGPUsLosesThem(t *testing.T) {
	for _, ver := range []string{"8.0.9", "8.1.4"} {
		w := newWorld(t)
		w.pve.Version = ver
		w.pve.Majors = map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 508}
		modules.NewStore(w.root).Put(DevicesKey, map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 508})
		s := loadSeed(t, `
version: 1
nvidia: {version: "580.76.05", source: packages}
lxc:
  defaults: {template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", storage: local-zfs}
  containers:
    "901": {hostname: gpu, gpus: [0], snapshots: [gpu]}
    "902": {hostname: nogpu, clone_from: {ctid: 901, snapshot: gpu}}
    "903": {hostname: gpu2, gpus: [0], clone_from: {ctid: 901, snapshot: gpu}}
`)
		if _, err := w.apply(newModule(), s); err != nil {
			t.Fatal(err)
		}
		if c := w.conf("902"); strings.Contains(c, "nvidia") {
			t.Errorf("PVE %s: clone without gpus kept them:\n%s", ver, c)
		}
		if c := w.conf("903"); !strings.Contains(c, "/dev/nvidia0") {
			t.Errorf("PVE %s: clone with gpus lost them:\n%s", ver, c)
		}
	}
}
