package main

import (
	"context"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
	"github.com/phoenix-pve/phoenix/seed/remote"
)

// reportTokenOwner is the uid a report token file must belong to; the CLI
// tests set their own.
var reportTokenOwner = 0

// reportHook posts the run's outcome to the seed's report URL (the
// installer's post-installation webhook, for Phoenix runs). Nil without a
// report section.
func reportHook(root host.Root, w *seed.Webhook, reporter *remote.Reporter) func(context.Context, bootstrap.Status) error {
	if w == nil {
		return nil
	}
	if reporter == nil {
		reporter = &remote.Reporter{Root: root, TokenOwner: reportTokenOwner}
	}
	return func(ctx context.Context, st bootstrap.Status) error {
		// Bounded whatever the server does: 3 tries of 5 s, 2 s + 4 s apart.
		ctx, cancel := context.WithTimeout(ctx, 25*time.Second)
		defer cancel()
		return reporter.Post(ctx, w.URL, w.TokenFile, w.Fingerprint, runReport(root, st))
	}
}

// runReport is the body: the status (already redacted by the engine: no
// secrets), the host's identifiers and its SSH host keys.
func runReport(root host.Root, st bootstrap.Status) remote.RunReport {
	si := remote.GatherSysInfo(root)
	keys, fps := remote.GatherHostKeys(root)
	r := remote.RunReport{
		Schema:   remote.Schema{Version: remote.ReportSchemaVersion},
		State:    string(st.State),
		Error:    st.Error,
		Started:  st.Started,
		Finished: st.Finished,
		Seed:     remote.ReportSeed{Origin: st.Seed.Origin, Digest: st.Seed.Digest},
		Modules:  []remote.ReportModule{},
		Phoenix:  remote.GatherPhoenix(root, version, st.Seed.Digest),
		DMI:      si.DMI,
		NICs:     si.NetworkInterfaces,
		HostKeys: keys,
		KeyFPs:   fps,
	}
	for _, m := range st.Modules {
		rm := remote.ReportModule{Name: m.Name, State: string(m.State), Seconds: m.Seconds, Changed: m.Changed}
		if m.Failure != nil {
			rm.Error = m.Failure.Error
		}
		r.Modules = append(r.Modules, rm)
	}
	return r
}
