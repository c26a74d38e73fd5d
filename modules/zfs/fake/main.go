package fake

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// ControlCommand sets up and inspects the fake host from a testscript:
// "zfs-fake host" makes the standard host (see Standard), "zfs-fake
// reinstall" simulates a reinstall, "zfs-fake dump" prints the state.
const ControlCommand = "zfs-fake"

// Commands are the fake tools Main serves. pvesm is left out on PATH: the
// one pvesm fake (modules/internal/fake/pvesm) serves it there, through
// the lxc fake's Main, and reads this World's state for its ZFS facts;
// in-process, World.Register installs it.
var Commands = []string{"zpool", "zfs", "lsblk", "wipefs", "sgdisk", "udevadm"}

// StateFile is where Main keeps the World, under $FAKE_STATE.
const StateFile = "zfs-world.json"

// Standard adds the standard test host's disks: sda is the installer's
// disk (ESP on /boot/efi, LVM with pve-root on / and swap), sdb and sdc are
// blank 4T disks (by-id ata-DISK_B, ata-DISK_C).
func (w *World) Standard() error {
	const G = 1 << 30
	for _, d := range []*Dev{
		{Name: "sda", Size: 500 * G, ByID: []string{"ata-ROOT_SSD"}, Children: []*Dev{
			{Name: "sda1", Type: "part", Size: 1 << 20},
			{Name: "sda2", Type: "part", Size: G, FSType: "vfat", UUID: "A1B2-C3D4", Mounts: []string{"/boot/efi"}},
			{Name: "sda3", Type: "part", Size: 499 * G, FSType: "LVM2_member", Children: []*Dev{
				{Name: "pve-root", Type: "lvm", Size: 96 * G, FSType: "ext4", Mounts: []string{"/"}},
				{Name: "pve-swap", Type: "lvm", Size: 8 * G, FSType: "swap", Mounts: []string{"[SWAP]"}},
			}},
		}},
		{Name: "sdb", Size: 4000 * G, ByID: []string{"ata-DISK_B"}},
		{Name: "sdc", Size: 4000 * G, ByID: []string{"ata-DISK_C"}},
	} {
		if err := w.AddDisk(d); err != nil {
			return err
		}
	}
	return nil
}

// Main runs one fake tool as a process (testscript): the World is loaded
// from $FAKE_STATE/zfs-world.json, the Root is $FAKE_ROOT, and the state
// is saved after the call.
func Main(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	dir, rootDir := os.Getenv("FAKE_STATE"), os.Getenv("FAKE_ROOT")
	if dir == "" || rootDir == "" {
		fmt.Fprintf(stderr, "%s (fake): FAKE_STATE and FAKE_ROOT must be set\n", name)
		return 255
	}
	w := New(host.NewDirRoot(rootDir))
	file := filepath.Join(dir, StateFile)
	if err := fakehost.LoadState(file, &w.S); err != nil {
		fmt.Fprintf(stderr, "%s (fake): %v\n", name, err)
		return 255
	}
	var res fakehost.Result
	if name == ControlCommand {
		res = w.control(args)
	} else {
		h, ok := w.Handlers()[name]
		if !ok {
			fmt.Fprintf(stderr, "fake: unknown tool %s\n", name)
			return 127
		}
		in, _ := io.ReadAll(stdin)
		res = h(context.Background(), fakehost.Call{Cmd: host.Cmd{Name: name, Args: args, Stdin: in}, Stdin: in})
	}
	fakehost.SaveState(file, w.S)
	io.WriteString(stdout, res.Stdout)
	io.WriteString(stderr, res.Stderr)
	return res.Code
}

func (w *World) control(args []string) fakehost.Result {
	if len(args) != 1 {
		return fail(2, "usage: %s host|reinstall|dump", ControlCommand)
	}
	switch args[0] {
	case "host":
		if err := w.Standard(); err != nil {
			return fail(1, "%v", err)
		}
		return fakehost.OK("")
	case "reinstall":
		w.Reinstall()
		return fakehost.OK("")
	case "dump":
		return fakehost.OK(w.Effects() + "\n")
	}
	return fail(2, "unknown subcommand %s", args[0])
}
