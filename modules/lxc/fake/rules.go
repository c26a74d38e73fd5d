package fake

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/internal/fake/pvesm"
)

// Semantic rules of the real pct that the published schema cannot
// express, ported from pve-container (at 94f5585, 2026-02-25), pve-storage
// (0c56bad) and pve-guest-common (4a8f6cb).

// installerStorageCfg is what the Proxmox installer writes on a ZFS root
// (pve-installer Proxmox/Install/StorageConfig.pm:17-33, at ec2af90); the
// fake root starts with it when it has no storage.cfg, as a fresh install
// does.
const installerStorageCfg = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,import\n\nzfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n"

func (p *PVE) hostRoot() host.Root { return host.NewDirRoot(p.Root) }

// ensureStorageCfg writes the installer's storage.cfg into a root that has
// none, with the directories the pve-manager package ships for "local"
// (pve-manager Makefile:65-67, at 14a22df).
func (p *PVE) ensureStorageCfg() error {
	f := filepath.Join(p.Root, pvesm.StorageCfg)
	if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, d := range []string{"images", "template/cache", "template/iso"} {
		if err := os.MkdirAll(filepath.Join(p.Root, "/var/lib/vz", d), 0o755); err != nil {
			return err
		}
	}
	return writeFile(f, []byte(installerStorageCfg), 0o640)
}

// storage is storage_config (pve-storage src/PVE/Storage.pm:252-262).
func (p *PVE) storage(id string) (*pvesm.Entry, error) {
	if err := p.ensureStorageCfg(); err != nil {
		return nil, err
	}
	e, err := pvesm.Lookup(p.hostRoot(), id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, errf("storage '%s' does not exist", id)
	}
	return e, nil
}

// storagePath is the in-root directory of a dir storage.
func (p *PVE) storagePath(id string) (string, bool) {
	e, err := p.storage(id)
	if err != nil || e.Type != "dir" {
		return "", false
	}
	return e.Opts["path"], true
}

// mountType is PVE::LXC::Config::classify_mountpoint
// (src/PVE/LXC/Config.pm:1897-1904).
func mountType(vol string) string {
	if strings.HasPrefix(vol, "/") {
		if strings.HasPrefix(vol, "/dev/") {
			return "device"
		}
		return "bind"
	}
	return "volume"
}

// volumes lists rootfs and the mpN of a config section with their volume,
// in PVE's foreach_volume order (rootfs, then mp0.. by number).
func volumes(s section) [][2]string {
	var out [][2]string
	if v, ok := s.Keys["rootfs"]; ok {
		m, _ := props(v, "volume")
		out = append(out, [2]string{"rootfs", m["volume"]})
	}
	var mps []string
	for k := range s.Keys {
		if m := reIndexed.FindStringSubmatch(k); m != nil && m[1] == "mp" {
			mps = append(mps, k)
		}
	}
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) < len(mps[j]) || len(mps[i]) == len(mps[j]) && mps[i] < mps[j] })
	for _, k := range mps {
		m, _ := props(s.Keys[k], "volume")
		out = append(out, [2]string{k, m["volume"]})
	}
	return out
}

// hasSnapshotFeature is PVE::LXC::Config::has_feature('snapshot')
// (src/PVE/LXC/Config.pm:88-113): every volume must have it, and
// PVE::Storage::volume_has_feature (pve-storage src/PVE/Storage.pm:502-516)
// gives a path (bind or device mount) none. Of the storage plugins only
// zfspool is modelled as having it (ZFSPoolPlugin.pm:809-835: snapshot on
// current volumes); a dir storage's raw or subvol volumes have none
// (Plugin.pm:1575-1582: qcow2 only).
func (p *PVE) hasSnapshotFeature(s section) bool {
	for _, v := range volumes(s) {
		if mountType(v[1]) != "volume" {
			return false
		}
		store, _, _ := strings.Cut(v[1], ":")
		e, err := p.storage(store)
		if err != nil || e.Type != "zfspool" {
			return false
		}
	}
	return true
}

// checkDevices is get_device_mode_and_rdev for every devN
// (pve-container src/PVE/LXC/Tools.pm:157-165), which pct create and set
// (src/PVE/LXC/Config.pm:1376-1383) and every start (src/PVE/LXC.pm:770-777)
// run: "Device PATH does not exist". The device-type check
// (Tools.pm:164, "is not a device") is not modelled: the fake root's
// device nodes are plain files.
func (p *PVE) checkDevices(keys map[string]string) error {
	var devs []string
	for k := range keys {
		if m := reIndexed.FindStringSubmatch(k); m != nil && m[1] == "dev" {
			devs = append(devs, k)
		}
	}
	sort.Strings(devs)
	for _, k := range devs {
		m, _ := props(keys[k], "path")
		if m["path"] == "" {
			return errf("Path is not defined for passthrough device %s", k)
		}
		if _, err := os.Stat(filepath.Join(p.Root, m["path"])); errors.Is(err, fs.ErrNotExist) {
			return errf("Device %s does not exist", m["path"])
		}
	}
	return nil
}

// checkBindSources is mountpoint_mount for bind mounts at start
// (src/PVE/LXC.pm:2299-2300): "directory '/x' does not exist".
func (p *PVE) checkBindSources(s section) error {
	for _, v := range volumes(s) {
		if mountType(v[1]) != "bind" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(p.Root, v[1])); err != nil || !fi.IsDir() {
			return errf("directory '%s' does not exist", v[1])
		}
	}
	return nil
}

// checkAllocStorages is create's check_and_activate_storage
// (src/PVE/API2/LXC.pm:346-359): a volume allocated on a storage needs the
// storage to exist and to allow container directories.
func (p *PVE) checkAllocStorages(opts map[string]string) error {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if m := reIndexed.FindStringSubmatch(k); k != "rootfs" && (m == nil || m[1] != "mp") {
			continue
		}
		pm, _ := props(opts[k], "volume")
		vol := pm["volume"]
		if mountType(vol) != "volume" {
			continue
		}
		store, _, _ := strings.Cut(vol, ":")
		e, err := p.storage(store)
		if err != nil {
			return err
		}
		content := map[string]bool{}
		for _, c := range strings.Split(e.Opts["content"], ",") {
			content[strings.TrimSpace(c)] = true
		}
		if !content["rootdir"] {
			return errf("400 Parameter verification failed.\nstorage: storage '%s' does not support container directories\n%s", store, usage("create"))
		}
	}
	return nil
}
