package all_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoModuleImportsAnother keeps modules/all the only place that knows
// every module: a package under modules/NAME (its fakes and tests
// included) may import modules/NAME/..., modules/internal/... and the
// modules package itself, never modules/OTHER.
func TestNoModuleImportsAnother(t *testing.T) {
	const prefix = "github.com/phoenix-pve/phoenix/modules/"
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || p == "../all" || p == "../internal") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, "../"))
		name, _, nested := strings.Cut(rel, "/")
		if !nested {
			return nil // the modules package itself
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			other, ok := strings.CutPrefix(path, prefix)
			if !ok {
				continue
			}
			other, _, _ = strings.Cut(other, "/")
			if other != name && other != "internal" {
				t.Errorf("%s imports %s: modules must not import each other (share code through modules/internal)", rel, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
