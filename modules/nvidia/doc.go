// Package nvidia installs the NVIDIA driver on a Proxmox host across the
// reboots it needs, and records the facts the LXC module needs to pass GPUs
// into containers (device majors, driver version).
//
// Apply runs three phases and records the current one in the module Store
// (key "nvidia/phase"), so it resumes after a crash or a reboot:
//
//  1. prepare: kernel headers for the running kernel, build-essential and
//     dkms (through the shared apt helper); nouveau blacklisted in
//     /etc/modprobe.d and the initramfs rebuilt; a reboot if nouveau is
//     loaded.
//  2. install: the runfile (downloaded into the state cache or taken from the
//     seed bundle, checked against its sha256) or the Debian packages, after
//     removing a conflicting or older install; a reboot if the module cannot
//     be loaded live.
//  3. verify: nvidia-smi reports the target version on every GPU, the module
//     is loaded and DKMS built it for the running kernel; nvidia-persistenced
//     enabled; the majors of /proc/devices stored under "nvidia/devices" and
//     the version under "nvidia/version".
//
// Each phase may ask for at most one reboot, and the request is recorded
// before it is returned: the bash original rebooted before recording its
// progress and rebooted again. A phase that still needs a reboot after its
// reboot fails with a clear error instead of looping.
package nvidia
