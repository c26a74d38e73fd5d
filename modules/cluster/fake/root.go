package fake

import (
	"io/fs"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// pveRoot is a node's root as its modules see it: once the node is in a
// cluster, /etc/pve is the cluster's shared directory (pmxcfs mounts the
// same tree on every member), everything else the node's own.
type pveRoot struct {
	local *host.DirRoot
	nd    *Node
}

var _ host.Root = (*pveRoot)(nil)

// route picks the root and in-root path for p.
func (r *pveRoot) route(p string) (*host.DirRoot, string) {
	cl := r.nd.Cluster()
	if cl == nil {
		return r.local, p
	}
	if p == "/etc/pve" {
		return cl.root, "/"
	}
	if rest, ok := strings.CutPrefix(p, "/etc/pve/"); ok {
		return cl.root, "/" + rest
	}
	return r.local, p
}

func (r *pveRoot) Path(p string) string { d, q := r.route(p); return d.Path(q) }
func (r *pveRoot) ReadFile(p string) ([]byte, error) {
	d, q := r.route(p)
	return d.ReadFile(q)
}
func (r *pveRoot) WriteFile(p string, data []byte, mode fs.FileMode, o host.Owner) error {
	d, q := r.route(p)
	return d.WriteFile(q, data, mode, o)
}
func (r *pveRoot) MkdirAll(p string, mode fs.FileMode, o host.Owner) error {
	d, q := r.route(p)
	return d.MkdirAll(q, mode, o)
}
func (r *pveRoot) Remove(p string) error { d, q := r.route(p); return d.Remove(q) }
func (r *pveRoot) Stat(p string) (fs.FileInfo, error) {
	d, q := r.route(p)
	return d.Stat(q)
}
func (r *pveRoot) Lstat(p string) (fs.FileInfo, error) {
	d, q := r.route(p)
	return d.Lstat(q)
}
func (r *pveRoot) ReadDir(p string) ([]fs.DirEntry, error) {
	d, q := r.route(p)
	return d.ReadDir(q)
}
func (r *pveRoot) Symlink(target, newname string) error {
	d, q := r.route(newname)
	return d.Symlink(target, q)
}
func (r *pveRoot) Readlink(p string) (string, error) {
	d, q := r.route(p)
	return d.Readlink(q)
}
func (r *pveRoot) Chmod(p string, mode fs.FileMode) error {
	d, q := r.route(p)
	return d.Chmod(q, mode)
}
func (r *pveRoot) Chown(p string, o host.Owner) error {
	d, q := r.route(p)
	return d.Chown(q, o)
}
