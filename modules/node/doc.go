// Package node is the "host" module (seed key and marker name "host"; the
// package is named node so that it is not a second package called host
// next to bootstrap/host): the machine's name, its /etc/hosts
// entry, its timezone and its NTP servers.
//
// Files are written directly through the Root (/etc/hostname, /etc/hosts,
// /etc/localtime, /etc/timezone, /etc/chrony/sources.d/phoenix.sources), so
// the module works on a Debian without dbus and on an offline root.
// The running system is renamed too (/proc/sys/kernel/hostname, as
// hostname(1) does), only on a running system
// (systemd is PID 1 and the system bus is up: never an image's build
// machine); on a Proxmox VE host
// a rename reboots instead (pmxcfs and the PVE tools fix the node name when
// they start), and is refused for a node with guests or in a cluster. /etc/hosts maps the
// FQDN and the short name to the management address (seed
// network.management.address), never to 127.0.1.1: Proxmox's cluster
// filesystem resolves the node name to find its own address.
package node
