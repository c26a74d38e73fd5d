package svc

import (
	"context"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// TestFromProps: a GetAll answer as godbus decodes it from the wire. Job
// is the struct (uo) of org.freedesktop.systemd1(5), id 0 for no job.
func TestFromProps(t *testing.T) {
	job := func(id uint32) dbus.Variant {
		return dbus.MakeVariantWithSignature([]any{id, dbus.ObjectPath("/org/freedesktop/systemd1/job/7")}, dbus.ParseSignatureMust("(uo)"))
	}
	props := map[string]dbus.Variant{
		"ActiveState":   dbus.MakeVariant("inactive"),
		"UnitFileState": dbus.MakeVariant("enabled"),
		"Job":           job(7),
		"Id":            dbus.MakeVariant("smbd.service"),
	}
	s, err := fromProps(props)
	if err != nil || s != (State{Active: "inactive", UnitFile: "enabled", Job: "7"}) {
		t.Errorf("fromProps = %+v, %v", s, err)
	}
	if s.Running() || !s.Enabled() {
		t.Errorf("inactive and enabled: Running %v, Enabled %v", s.Running(), s.Enabled())
	}
	props["Job"] = job(0)
	if s, _ := fromProps(props); s.Job != "" {
		t.Errorf("job 0: Job = %q, want none", s.Job)
	}
	if _, err := fromProps(map[string]dbus.Variant{"Id": dbus.MakeVariant("x")}); err == nil {
		t.Error("no ActiveState: want an error")
	}
}

// TestShowOfflineRunsSystemctl: an offline root is never asked about over
// D-Bus (the running systemd is not its systemd): systemctl show, parsed.
func TestShowOfflineRunsSystemctl(t *testing.T) {
	r := fakehost.New()
	r.Script("systemctl", fakehost.OK("ActiveState=activating\nUnitFileState=disabled\nJob=12\n"))
	s, err := Show(context.Background(), host.NewDirRoot(t.TempDir()), r, "nfs-server.service")
	if err != nil || s != (State{Active: "activating", UnitFile: "disabled", Job: "12"}) {
		t.Errorf("Show = %+v, %v", s, err)
	}
	if got := r.Log(); got != "systemctl show -p ActiveState -p UnitFileState -p Job nfs-server.service\n" {
		t.Errorf("commands:\n%s", got)
	}
}
