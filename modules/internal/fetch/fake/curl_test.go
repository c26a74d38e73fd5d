package fake

import (
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args     string
		url, out string
		code     int
	}{
		{"-fsSL --retry 3 -o /tmp/x.part https://h/x", "https://h/x", "/tmp/x.part", 0},
		{"-fsSL -o /tmp/x https://h/x", "https://h/x", "/tmp/x", 0},
		{"-fsSL https://h/x", "", "", 2},
		{"-fsSL -o /tmp/x", "", "", 2},
		{"-k -o /tmp/x https://h/x", "", "", 2},
	}
	for _, tc := range tests {
		url, out, fail := ParseArgs(strings.Fields(tc.args))
		code := 0
		if fail != nil {
			code = fail.Code
		}
		if url != tc.url || out != tc.out || code != tc.code {
			t.Errorf("%s: got %q %q exit %d", tc.args, url, out, code)
		}
	}
}
