// Package fake is a stateful fake of the Proxmox container tools pct, pveam,
// pvesm and pveversion, for tests. Pct cannot be installed on these
// machines, so the fake follows its documented syntax instead: `pct create
// <vmid> <ostemplate> [OPTIONS]` with the same option formats (--net0
// name=eth0,bridge=vmbr0,ip=..., --rootfs STORAGE:SIZE, --features
// nesting=1, --startup order=1,up=30,down=30, --mp0 VOLUME,mp=/path,
// --dev0 /dev/nvidia0 from PVE 8.2 on), the same config file format in
// /etc/pve/lxc/<CTID>.conf (description as leading # lines, raw lxc.* keys
// kept, snapshots as [name] sections) and the same exit code: the PVE tools
// are Perl and every error is a die, so every failure exits 255 with the
// message on stderr (e.g. "Configuration file 'nodes/pve/lxc/123.conf' does
// not exist").
//
// Container config files and downloaded templates live under Root (the same
// directory the code under test uses as its host.Root), so raw lxc.* lines
// written by the module are seen by the fake. Runtime state (running or
// stopped, what was installed or pushed inside, the command history) lives
// in Dir as JSON, so one state serves in-process handlers and the PATH
// commands of testscript (Main) alike.
//
// Inside a container, `pct exec` understands a few commands: test -e,
// ip -4 route show default, dpkg-query -W, apt-get install/purge, true,
// false, env, and sh FILE (a pushed script; a line "#fake-exit: N" makes it
// exit N). Everything else succeeds and is recorded.
package fake
