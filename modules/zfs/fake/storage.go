package fake

import (
	"errors"
	"io/fs"
	"os"
	"path"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/fake/pvesm"
)

// StorageCfg is where pmxcfs keeps the storages. The one pvesm fake
// (modules/internal/fake/pvesm) keeps them there, in the Root; the World
// answers its questions about datasets.
const StorageCfg = pvesm.StorageCfg

// AddStorage records an existing storage (e.g. the installer's "local")
// in the Root's storage.cfg.
func (w *World) AddStorage(id, typ string, opts ...[]string) error {
	var kv [][2]string
	for _, o := range opts {
		kv = append(kv, [2]string{o[0], o[1]})
	}
	return pvesm.Add(w.Root, typ, id, kv...)
}

// pvesm serves the shared pvesm fake with this World's ZFS facts; the
// caller holds w.mu.
func (w *World) pvesm(args []string) fakehost.Result {
	return (&pvesm.Fake{Root: w.Root, ZFS: worldZFS{w}}).Run(args)
}

// worldZFS answers pvesm's ZFS questions from the World (lock held).
type worldZFS struct{ w *World }

func (z worldZFS) Dataset(name string) (string, bool) {
	if !z.w.visible(name) {
		return "", false
	}
	mp := z.w.get(name, "mountpoint").value
	if !path.IsAbs(mp) {
		mp = ""
	}
	return mp, true
}

func (z worldZFS) PoolImported(pool string) bool {
	p := z.w.S.Pools[pool]
	return p != nil && p.Imported
}

// Mounted: every visible dataset with a path mountpoint is mounted in the
// World (zpool import and zfs create mount them).
func (z worldZFS) Mounted(dir string) bool {
	dir = path.Clean(dir)
	for ds := range z.w.S.Datasets {
		if mp, ok := z.Dataset(ds); ok && mp != "" && path.Clean(mp) == dir {
			return true
		}
	}
	return false
}

func init() {
	// PATH mode: pvesm (served by the lxc fake's Main) loads this
	// package's state for its ZFS facts.
	pvesm.StateZFS = func(dir string, root host.Root) (pvesm.ZFS, error) {
		file := path.Join(dir, StateFile)
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return nil, nil // no zfs fake in this test
		}
		w := New(root)
		if err := fakehost.LoadState(file, &w.S); err != nil {
			return nil, err
		}
		return worldZFS{w}, nil
	}
}
