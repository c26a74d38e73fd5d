// Package fake is a stateful stand-in for the host side of an NVIDIA driver
// install, which cannot run on a build machine: nvidia-smi, dkms, modprobe,
// mokutil, update-initramfs, curl (runfile downloads), the runfile installer
// and nvidia-uninstall, plus just enough of apt-get, apt-cache and dpkg-query
// to install headers, dkms and the distribution driver packages.
//
// The state lives in a directory (state.json), and the fake mirrors it into a
// Root the way the kernel would: /sys/module/<mod>, /sys/module/nvidia/version,
// /proc/devices, /proc/sys/kernel/osrelease, /proc/sys/kernel/random/boot_id
// and the fake PCI devices under /sys/bus/pci/devices. So the same fake serves
// in-process (Register on a fakehost.Runner) and as PATH commands in
// testscript (Main, with the state directory in $FAKE_STATE and the root in
// $FAKE_ROOT). Boot simulates a reboot: blacklisted modules stay unloaded,
// DKMS-built modules load, dynamic device majors are handed out again.
//
// Output formats and exit codes follow the real tools: nvidia-smi exits 9
// when it cannot talk to the driver and 18 on a driver/library version
// mismatch, modprobe exits 1 with "modprobe: ERROR: could not insert ...",
// curl -f exits 22 on an HTTP error, dkms status prints
// "nvidia/580.76.05, 6.8.12-4-pve, x86_64: installed".
package fake
