package lxc

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

// DevicesKey is the Store key where the nvidia module records the majors
// of the NVIDIA character devices, by their /proc/devices names.
const DevicesKey = "nvidia/devices"

// VersionKey is the Store key of the host's NVIDIA driver version.
const VersionKey = "nvidia/version"

// rawGPULines are the lxc.* lines that pass the GPUs through on PVE
// before 8.1: a cgroup rule per driver major, as the nvidia module found
// them (nvidia-uvm's major is dynamic), and a bind mount per device node.
func rawGPULines(store *modules.Store, gpus []int) ([]string, error) {
	devs := gpuDevices(gpus)
	if len(devs) == 0 {
		return nil, nil
	}
	majors := map[string]int{}
	found, err := store.Get(DevicesKey, &majors)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("gpus: the nvidia module has not recorded the device majors (store key %s)", DevicesKey)
	}
	var lines []string
	for _, name := range []string{"nvidia-frontend", "nvidia-uvm"} {
		maj, ok := majors[name]
		if !ok || maj <= 0 {
			return nil, fmt.Errorf("gpus: no major for %s in store key %s", name, DevicesKey)
		}
		lines = append(lines, fmt.Sprintf("lxc.cgroup2.devices.allow: c %d:* rwm", maj))
	}
	for _, d := range devs {
		lines = append(lines, fmt.Sprintf("lxc.mount.entry: %s %s none bind,optional,create=file", d, strings.TrimPrefix(d, "/")))
	}
	return lines, nil
}

// confOwner is how pmxcfs presents /etc/pve files: root:www-data.
var confOwner = host.Owner{UID: 0, GID: 33}

// confPath is a container's config file, /etc/pve/lxc/<id>.conf.
func confPath(id int) string { return path.Join(ConfDir, strconv.Itoa(id)+".conf") }

// rawConfig is the config file of container id with its main section
// ending in want, without the lines of old (what Phoenix put there
// before), and whether that differs from the file now. pct keeps lxc.* keys
// it does not know across its own edits; they must sit before the first
// [snapshot] section, and comments cannot mark them (pct reads "#" lines
// as the description), hence the explicit list in the Store.
func rawConfig(root host.Root, id int, old, want []string) ([]byte, bool, error) {
	p := confPath(id)
	b, err := root.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("%s: does not exist", p)
	}
	if err != nil {
		return nil, false, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	end := len(lines)
	for i, l := range lines {
		if strings.HasPrefix(l, "[") {
			end = i
			break
		}
	}
	drop := map[string]bool{}
	for _, l := range append(append([]string(nil), old...), want...) {
		drop[l] = true
	}
	var main []string
	for _, l := range lines[:end] {
		if !drop[strings.TrimSpace(l)] {
			main = append(main, l)
		}
	}
	for len(main) > 0 && strings.TrimSpace(main[len(main)-1]) == "" {
		main = main[:len(main)-1]
	}
	main = append(main, want...)
	rest := lines[end:]
	if len(rest) > 0 {
		main = append(main, "")
	}
	out := strings.Join(append(main, rest...), "\n") + "\n"
	return []byte(out), out != string(b), nil
}
