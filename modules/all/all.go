// Package all is the ordered default list of modules. The order is the run
// order: host and network first so apt can reach its mirrors, the kernel and
// the NVIDIA driver before anything that needs their reboots, storage before
// the users, shares and containers that live on it.
package all

import (
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/cluster"
	"github.com/phoenix-pve/phoenix/modules/firewall"
	"github.com/phoenix-pve/phoenix/modules/kernel"
	"github.com/phoenix-pve/phoenix/modules/lxc"
	"github.com/phoenix-pve/phoenix/modules/network"
	"github.com/phoenix-pve/phoenix/modules/nfs"
	"github.com/phoenix-pve/phoenix/modules/node"
	"github.com/phoenix-pve/phoenix/modules/nvidia"
	"github.com/phoenix-pve/phoenix/modules/repos"
	"github.com/phoenix-pve/phoenix/modules/samba"
	"github.com/phoenix-pve/phoenix/modules/users"
	"github.com/phoenix-pve/phoenix/modules/zfs"
)

// Default returns the modules in run order. Modules not built yet are simply
// absent.
func Default() []modules.Module {
	return []modules.Module{
		node.New(),
		network.New(),
		cluster.New(),
		repos.New(),
		kernel.New(),
		nvidia.New(),
		zfs.New(),
		users.New(),
		nfs.New(),
		samba.New(),
		firewall.New(),
		lxc.New(),
	}
}
