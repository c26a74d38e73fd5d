package bootstrap

import (
	"runtime"
	"slices"
	"testing"
)

func TestCommandsSlowest(t *testing.T) {
	var c Commands
	for i, s := range []float64{0.1, 0.5, 0.2, 0.5, 0.05, 0.9, 0.3, 0.01} {
		c.add(CommandTime{Command: string(rune('a' + i)), Seconds: s})
	}
	var got []string
	for _, x := range c.Slowest {
		got = append(got, x.Command)
	}
	// f 0.9, b 0.5, d 0.5 (equal: run order), g 0.3, c 0.2; the rest dropped.
	if want := []string{"f", "b", "d", "g", "c"}; !slices.Equal(got, want) {
		t.Errorf("slowest = %q, want %q", got, want)
	}
	if c.Count != 8 || c.Seconds < 2.559 || c.Seconds > 2.561 {
		t.Errorf("count %d seconds %v, want 8 and 2.56", c.Count, c.Seconds)
	}

	// Merging the part before a reboot keeps the totals of both and the
	// slowest of either.
	before := Commands{Count: 2, Seconds: 3, CPUSeconds: 1.25, Slowest: []CommandTime{{Command: "build", Seconds: 2.5}, {Command: "x", Seconds: 0.5}}}
	c.CPUSeconds = 0.5
	before.merge(&c)
	got = got[:0]
	for _, x := range before.Slowest {
		got = append(got, x.Command)
	}
	if want := []string{"build", "f", "x", "b", "d"}; !slices.Equal(got, want) || before.Count != 10 || before.Seconds < 5.559 || before.Seconds > 5.561 {
		t.Errorf("merged = %q (count %d, %v s), want %q, 10, 5.56", got, before.Count, before.Seconds, want)
	}
	if before.CPUSeconds != 1.75 {
		t.Errorf("merged CPU time %v s, want 1.75 (both parts)", before.CPUSeconds)
	}
	before.merge(nil)
	if before.Count != 10 {
		t.Errorf("merge(nil) changed the count to %d", before.Count)
	}
}

// TestSelfCPU: the process's own CPU time grows with work done in it, and
// so does the calling thread's, locked to it as a module beside others is.
func TestSelfCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self0, thread0 := selfCPU(false), selfCPU(true)
	x := 0
	for i := 0; i < 3e8; i++ {
		x += i ^ x
	}
	self1, thread1 := selfCPU(false), selfCPU(true)
	if self1 <= self0 || x == 1 {
		t.Errorf("own CPU time %v s after %v s and a busy loop, want more", self1, self0)
	}
	if thread1-thread0 < (self1-self0)/2 {
		t.Errorf("the thread's CPU time grew by %v s, the process's by %v s: the loop ran on this thread", thread1-thread0, self1-self0)
	}
}
