// Package kernel is the "kernel" module: kernel command-line arguments,
// modules loaded at boot, module blacklists and options.
//
// Command-line arguments go where the boot loader takes them from, detected
// as proxmox-boot-tool decides it (DetectLoader): with
// /etc/kernel/proxmox-boot-uuids on a UEFI host without Secure Boot,
// systemd-boot, which reads /etc/kernel/cmdline (merged; the GRUB drop-in is
// written too, for an ESP switched to GRUB); with proxmox-boot-uuids on a
// legacy-BIOS or Secure Boot host, GRUB on the ESPs, which reads the drop-in
// /etc/default/grub.d/phoenix.cfg; both then `proxmox-boot-tool refresh`.
// Without proxmox-boot-uuids, plain GRUB: the drop-in, then update-grub. Modules go into
// /etc/modules-load.d/phoenix.conf, blacklists and options into
// /etc/modprobe.d/phoenix.conf, then `update-initramfs -u -k all` (the
// initramfs carries modprobe.d).
//
// Any change needs a reboot. Before asking for it, the module records in
// the Store the digest of the change and the boot id; when Apply runs again
// after the reboot it verifies the change took effect (each argument in
// /proc/cmdline, each module in /sys/module, no blacklisted module loaded)
// and fails saying what did not, instead of rebooting again for the same
// change.
package kernel
