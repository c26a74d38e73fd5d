# The real-boot end-to-end test and the demo: a debootstrapped Debian 12
# booted under qemu TCG (see docs/e2e.md). Included by the Makefile. Both
# need root, qemu-system-x86, debootstrap, e2fsprogs, xorriso, dosfstools,
# mtools and python3; the root image is cached under build/vm.
VM_DEBS := qemu-system-x86 debootstrap e2fsprogs xorriso dosfstools mtools python3

.PHONY: e2e demo vm-deps vm-image

vm-deps:
	@$(MAKE) --no-print-directory deps EXTRA_DEBS="$(VM_DEBS)"

# vm-image builds (or reuses) the cached guest root: debootstrap + host-built ZFS modules.
vm-image: vm-deps
	testdata/vm/build-image.sh build/vm

# e2e: every scenario (full provisioning with a reboot, further boot,
# reseed, failing seed, cloud-init comparison); exits non-zero on any FAIL.
e2e: build vm-deps
	BIN=$(BIN) testdata/vm/e2e.sh

# demo: provision the demo seed, streaming the VM console, then print
# `phoenix status` from inside the guest.
demo: build vm-deps
	BIN=$(BIN) testdata/vm/e2e.sh --demo
