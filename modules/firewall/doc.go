// Package firewall is the "firewall" module: the Proxmox host firewall
// rules of this node, /etc/pve/nodes/<node>/host.fw.
//
// The file lives on pmxcfs (/etc/pve), which accepts only mode 0640 and
// owner root:www-data for it; the module writes exactly that, atomically
// (pmxcfs supports rename within a directory). It refuses to write when
// /etc/pve/nodes/<node> does not exist: pmxcfs is then not mounted, and a
// file written into the bare directory would be hidden under the mount.
// pve-firewall picks the file up by itself; no command runs.
package firewall
