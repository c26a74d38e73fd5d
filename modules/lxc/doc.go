// Package lxc is the module that seeds Proxmox LXC containers: templates
// through pveam, a URL or the seed volume; containers created with pct
// create or cloned from another container's snapshot; their config
// converged with pct set; GPUs passed through; started and waited for;
// provisioned inside (built-in features and seed scripts, each step
// recorded so reruns and clones skip it); health-checked; snapshotted.
//
// Containers form a DAG (clone_from and depends_on). Independent ones run
// concurrently, bounded by lxc.parallel; a failure stops only the
// containers that depend on it.
//
// Everything goes through pct, pveam, pvesm and pveversion via the Runner;
// package fake is a stateful stand-in for them in tests.
package lxc
