package seed

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a seed, at a position in its file.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"` // 1-based; 0 when unknown
	Col  int    `json:"col"`  // 1-based; 0 when unknown
	Path string `json:"path"` // e.g. zfs.pools[0].disks[1]; "" for the whole file
	Msg  string `json:"message"`
}

// String renders the problem as file:line:col: path: msg.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Report is every problem found in one seed. It is the error Load returns
// for a seed that does not parse or does not validate, so a caller sees all
// problems at once instead of fixing them one boot at a time.
type Report struct {
	File     string    `json:"file"`
	Problems []Problem `json:"problems"`
	// Omitted counts the problems past MaxProblems, found but not kept: a
	// generated seed with a systematic mistake gives one line per item,
	// and a report of 100000 lines helps nobody (and costs memory).
	Omitted int `json:"omitted,omitempty"`
}

// MaxProblems caps a report.
const MaxProblems = 200

var _ error = (*Report)(nil)

// Error renders one problem per line, sorted by position.
func (r *Report) Error() string {
	lines := make([]string, len(r.Problems), len(r.Problems)+1)
	for i, p := range r.Problems {
		lines[i] = p.String()
	}
	if r.Omitted > 0 {
		lines = append(lines, fmt.Sprintf("%s: ... and %d more problem(s) not shown (the first %d are)", r.File, r.Omitted, MaxProblems))
	}
	return strings.Join(lines, "\n")
}

// JSON is the report as indented JSON, the form `phoenix validate --format
// json` prints.
func (r *Report) JSON() []byte {
	out := struct {
		File     string    `json:"file"`
		Valid    bool      `json:"valid"`
		Problems []Problem `json:"problems"`
		Omitted  int       `json:"omitted,omitempty"`
	}{r.File, len(r.Problems) == 0, r.Problems, r.Omitted}
	if out.Problems == nil {
		out.Problems = []Problem{}
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return b
}

func (r *Report) add(line, col int, path, format string, args ...any) {
	if len(r.Problems) >= MaxProblems {
		r.Omitted++
		return
	}
	r.Problems = append(r.Problems, Problem{File: r.File, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// sort orders problems by position, then path and message, and drops exact
// duplicates (an alias expanded twice reports the same node twice).
func (r *Report) sort() {
	sort.SliceStable(r.Problems, func(i, j int) bool {
		a, b := r.Problems[i], r.Problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
	out := r.Problems[:0]
	for i, p := range r.Problems {
		if i > 0 && p == r.Problems[i-1] {
			continue
		}
		out = append(out, p)
	}
	r.Problems = out
}
