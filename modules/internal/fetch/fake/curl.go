package fake

import (
	"context"
	"os"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// ParseArgs reads the curl command lines Phoenix runs,
// `curl -fsSL [--retry N] -o FILE URL`: it returns the URL and the output
// file, and a usage error (curl's exit code 2) for anything else.
func ParseArgs(args []string) (url, out string, fail *fakehost.Result) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "-o" || a == "--retry") && i+1 < len(args):
			i++
			if a == "-o" {
				out = args[i]
			}
		case strings.HasPrefix(a, "-") && strings.Trim(a, "-fsSL") == "":
		case strings.HasPrefix(a, "-"):
			r := fakehost.Fail(2, "curl: option "+a+": is unknown\n")
			return "", "", &r
		default:
			url = a
		}
	}
	if url == "" || out == "" {
		r := fakehost.Fail(2, "curl: no URL or output file specified\n")
		return "", "", &r
	}
	return url, out, nil
}

// Server is what the fake curl can download: Files maps a URL to its
// body. Any other URL is a 404, which `curl -f` reports with exit code
// 22. Safe for concurrent use.
type Server struct {
	mu    sync.Mutex
	Files map[string][]byte
	hits  map[string]int
}

// Hits is how many times url was downloaded.
func (s *Server) Hits(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[url]
}

// Register installs the fake on r as "curl".
func (s *Server) Register(r *fakehost.Runner) { r.Handle("curl", s.Handler) }

// Handler runs one curl command line.
func (s *Server) Handler(_ context.Context, c fakehost.Call) fakehost.Result {
	url, out, fail := ParseArgs(c.Cmd.Args)
	if fail != nil {
		return *fail
	}
	s.mu.Lock()
	body, ok := s.Files[url]
	if ok {
		if s.hits == nil {
			s.hits = map[string]int{}
		}
		s.hits[url]++
	}
	s.mu.Unlock()
	if !ok {
		return fakehost.Fail(22, "curl: (22) The requested URL returned error: 404\n")
	}
	if err := os.WriteFile(out, body, 0o644); err != nil {
		return fakehost.Fail(23, "curl: (23) Failure writing output to destination\n")
	}
	return fakehost.OK("")
}
