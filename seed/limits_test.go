package seed

import (
	"errors"
	"strings"
	"testing"
)

func problemsOf(t *testing.T, data string) *Report {
	t.Helper()
	_, err := Load("seed.yaml", []byte(data))
	var rep *Report
	if !errors.As(err, &rep) {
		t.Fatalf("want a report, got %v", err)
	}
	return rep
}

// TestLimitSize: Load refuses a seed over MaxSize with one problem, before
// parsing it: validate and the boot apply the same limit.
func TestLimitSize(t *testing.T) {
	data := "version: 1\n" + strings.Repeat("#\n", MaxSize/2)
	rep := problemsOf(t, data)
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Msg, "over the 4194304-byte limit") {
		t.Fatalf("want one size problem, got %v", rep)
	}
}

// TestLimitNodesOneError: past the decoder's node limit there is one
// error with a position, not a cascade of rule errors on the cut-off rest.
func TestLimitNodesOneError(t *testing.T) {
	data := "version: 1\nhost:\n  hostname: pve1\n  ntp:\n" + strings.Repeat("    - x_y\n", maxNodes+10)
	rep := problemsOf(t, data)
	if len(rep.Problems) != 1 {
		t.Fatalf("want exactly one problem past the node limit, got %d (%d omitted): %v", len(rep.Problems), rep.Omitted, rep.Problems[:min(3, len(rep.Problems))])
	}
	p := rep.Problems[0]
	if p.Line < 5 || p.Col == 0 || !strings.Contains(p.Msg, "more than 200000 nodes") {
		t.Fatalf("want the node-limit error with its position, got %v", p)
	}
}

// TestLimitAliases: an alias bomb stops at the limit with one error.
func TestLimitAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nusers:\n")
	b.WriteString("  - &u {name: bob, ssh_authorized_keys: &k [")
	b.WriteString(strings.TrimSuffix(strings.Repeat("x,", 1000), ","))
	b.WriteString("]}\n")
	for i := 0; i < 400; i++ {
		b.WriteString("  - *u\n")
	}
	rep := problemsOf(t, b.String())
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Msg, "alias expansions") {
		t.Fatalf("want one alias-limit error, got %d: %v", len(rep.Problems), rep.Problems[:min(3, len(rep.Problems))])
	}
}

// TestLimitReportCapped: a seed with a mistake in every one of 5000 items
// reports the first MaxProblems and counts the rest.
func TestLimitReportCapped(t *testing.T) {
	data := "version: 1\nhost:\n  hostname: pve1\n  ntp:\n" + strings.Repeat("    - x_y\n", 5000)
	rep := problemsOf(t, data)
	if len(rep.Problems) != MaxProblems || rep.Omitted != 5000-MaxProblems {
		t.Fatalf("kept %d, omitted %d; want %d and %d", len(rep.Problems), rep.Omitted, MaxProblems, 5000-MaxProblems)
	}
	if !strings.Contains(rep.Error(), "4800 more problem(s) not shown") {
		t.Fatalf("the report does not say how many were left out:\n...%s", rep.Error()[len(rep.Error())-200:])
	}
}
