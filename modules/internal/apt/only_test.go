package apt

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// No module runs apt itself: every host.Cmd{Name: ...} in the tree
// outside this package and the test fakes names another tool. (The bash
// originals hung on prompts because each script called apt its own way.)
func TestNoOneElseRunsApt(t *testing.T) {
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]bool{"apt-get": true, "apt": true, "aptitude": true}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(repo, p)
		if d.IsDir() {
			switch d.Name() {
			case "build", "testdata", "fake", ".git", "node_modules":
				return filepath.SkipDir
			}
			if rel == filepath.Join("modules", "internal", "apt") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil // someone's file mid-edit: not this test's business
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			if id, ok := kv.Key.(*ast.Ident); !ok || id.Name != "Name" {
				return true
			}
			if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, _ := strconv.Unquote(lit.Value); banned[s] {
					t.Errorf("%s: runs %s directly: use apt.New(runner)", fset.Position(lit.Pos()), s)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d files checked: the walk is broken", checked)
	}
}
