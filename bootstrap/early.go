package bootstrap

import (
	"context"
	"fmt"
	"runtime"
	"slices"

	"github.com/phoenix-pve/phoenix/modules"
)

// earlyStage runs the early stage (Options.Early): the pending modules, in
// the seed's order, up to the first that cannot work without the network,
// each at the same time as the modules before it that it names in
// modules.Concurrent. It stops at the first failure or reboot request, in
// the seed's order, once the modules already running have ended; it starts
// nothing after one.
func (e *engine) earlyStage(ctx context.Context, todo []modules.Module, active []string) (Outcome, error) {
	// Every module's Early only reads what no earlier early module
	// writes (a package's binary, the seed, pmxcfs), so the stage's
	// modules are known before any runs.
	var stage []modules.Module
	cut, why := "", ""
	for _, m := range todo {
		if ok, w := e.early(ctx, m, slices.Index(active, m.Name())+1, len(active)); !ok {
			cut, why = m.Name(), w
			break
		}
		stage = append(stage, m)
	}
	results, ran, err := e.runBeside(ctx, stage, active)
	if err != nil {
		return e.abort(err)
	}
	failed := false
	for _, m := range stage {
		r, ok := results[m.Name()]
		if !ok || r.err == nil {
			continue
		}
		// An early failure is not final: phoenix.service runs it again.
		ms := e.st.Module(m.Name())
		ms.State, ms.Failure, ms.Detail = Pending, nil, ""
		msg := e.red.String(r.err.Error())
		if !failed {
			failed, cut = true, m.Name()
			why = "it failed here (" + msg + "); it runs again after the network"
		} else {
			e.out.line(m.Name(), prioInfo, "failed in the early stage ("+msg+"); it runs again after the network")
		}
	}
	for _, m := range stage {
		r := results[m.Name()]
		switch {
		case !r.res.Reboot:
		case failed:
			// A reboot asked for beside a failure is left to
			// phoenix.service too: the module runs again there, before
			// any reboot.
			ms := e.st.Module(m.Name())
			ms.State, ms.Detail = Pending, ""
		default:
			out, rerr := e.reboot(ctx, m.Name(), r.res.Reason, e.st.Module(m.Name()))
			out.Ran = ran
			return out, rerr
		}
	}
	if len(stage) > 0 {
		// The stage's record (runBeside); with no module run, a record
		// left by an earlier run stays for phoenix.service's.
		if rerr := removeIfExists(e.r, InProgressFile); rerr != nil {
			return e.abort(fmt.Errorf("engine: %w", rerr))
		}
	}
	if cut != "" {
		return e.earlyStop(cut, why, ran)
	}
	out, ferr := e.finish()
	out.Ran = ran
	return out, ferr
}

// applied is how one module of the early stage ended.
type applied struct {
	res   modules.Result
	err   error
	crash any // a simulated crash (bootstrap/fault), raised again once all have ended
}

// runBeside applies mods, the early stage's modules in the seed's order:
// each starts once every module before it that it does not name in
// modules.Concurrent has ended well, and none starts after one failed or
// asked for a reboot. One in-progress record names them all. It returns
// how each that ran ended, and the names in the order they started; the
// error is the engine's own (the record could not be written).
func (e *engine) runBeside(ctx context.Context, mods []modules.Module, active []string) (map[string]applied, []string, error) {
	results := map[string]applied{}
	if len(mods) == 0 {
		return results, nil, nil
	}
	names := make([]string, len(mods))
	for j, m := range mods {
		names[j] = m.Name()
	}
	rec := InProgress{Module: names[0], Digest: modules.Digest(mods[0], e.o.Seed), BootID: e.boot, Started: e.now().UTC(), Alongside: names[1:]}
	if err := writeJSON(e.r, InProgressFile, rec); err != nil {
		return nil, nil, fmt.Errorf("engine: %w", err)
	}
	// waits[j] is the modules before mods[j] that it must follow.
	waits := make([][]int, len(mods))
	for j, m := range mods {
		var along []string
		if c, ok := m.(modules.Concurrent); ok {
			along = c.Alongside(ctx, e.env(names[j], slices.Index(active, names[j])+1, len(active), &timer{red: e.red}))
		}
		for i := range j {
			if !slices.Contains(along, names[i]) {
				waits[j] = append(waits[j], i)
			}
		}
	}
	const (
		waiting = iota
		running
		ok
		stopped
	)
	state := make([]int, len(mods))
	var ran []string
	halt := false
	ended := make(chan int)
	got := make([]applied, len(mods))
	busy := 0
	// Resolved here: Status.Module copies the status, which the running
	// modules change.
	statuses := make([]*ModuleStatus, len(mods))
	for j := range mods {
		statuses[j] = e.st.Module(names[j])
	}
	// run applies mods[j] on a goroutine locked to its thread: Phoenix's
	// CPU time for the module is that thread's. Its in-progress record is
	// the stage's (above).
	run := func(j int) applied {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		res, err := e.apply(ctx, mods[j], statuses[j], slices.Index(active, names[j])+1, len(active), true)
		return applied{res: res, err: err}
	}
	end := func(j int, a applied) {
		results[names[j]] = a
		if a.err != nil || a.res.Reboot || a.crash != nil {
			state[j], halt = stopped, true
			return
		}
		state[j] = ok
	}
	for {
		var ready []int
		for j := range mods {
			if !halt && state[j] == waiting && !slices.ContainsFunc(waits[j], func(i int) bool { return state[i] != ok }) {
				ready = append(ready, j)
			}
		}
		if len(ready) == 0 && busy == 0 {
			break
		}
		if e.o.EarlyOrder != nil && len(ready) > 0 {
			// One at a time, in the order the caller picks among the
			// ready ones (the fault harness: repeatable runs).
			var rn []string
			for _, j := range ready {
				rn = append(rn, names[j])
			}
			j := slices.Index(names, e.o.EarlyOrder(rn)[0])
			state[j] = running
			ran = append(ran, names[j])
			end(j, run(j))
			continue
		}
		for _, j := range ready {
			state[j], busy = running, busy+1
			ran = append(ran, names[j])
			go func() {
				defer func() {
					if p := recover(); p != nil {
						got[j].crash = p
					}
					ended <- j
				}()
				got[j] = run(j)
			}()
		}
		j := <-ended
		busy--
		end(j, got[j])
	}
	for j := range mods {
		if got[j].crash != nil {
			panic(got[j].crash)
		}
	}
	return results, ran, nil
}
