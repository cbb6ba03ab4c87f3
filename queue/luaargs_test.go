package queue

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	luaGoLine  = regexp.MustCompile(`^local ([\w, ]+) = ([\d, ]+) --@go$`)
	luaLiteral = regexp.MustCompile(`ARGV\[\d`)
)

// goConsts reads the integer constants declared with literal values in the
// package's non-test Go files.
func goConsts(t *testing.T) (all map[string]int, file map[string]string) {
	t.Helper()
	all, file = map[string]int{}, map[string]string{}
	paths, _ := filepath.Glob("*.go")
	fs := token.NewFileSet()
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fs, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, sp := range g.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.INT {
						continue
					}
					v, _ := strconv.Atoi(lit.Value)
					all[n.Name], file[n.Name] = v, p
				}
			}
		}
	}
	return all, file
}

// TestLuaArgsMatchGo: every argument position a script declares on a
// "--@go" line has a Go constant of the same name and value, every
// constant of luaargs.go is declared by a script, and scripts that declare
// positions never index ARGV with a literal.
func TestLuaArgsMatchGo(t *testing.T) {
	consts, file := goConsts(t)
	seen := map[string]bool{}
	scripts, _ := filepath.Glob("lua/*.lua")
	for _, p := range scripts {
		src, err := luaFS.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		declares := false
		for i, line := range strings.Split(string(src), "\n") {
			m := luaGoLine.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil {
				continue
			}
			declares = true
			names, vals := strings.Split(m[1], ", "), strings.Split(m[2], ", ")
			if len(names) != len(vals) {
				t.Errorf("%s:%d: %d names, %d values", p, i+1, len(names), len(vals))
				continue
			}
			for j, n := range names {
				v, _ := strconv.Atoi(vals[j])
				g, ok := consts[n]
				switch {
				case !ok:
					t.Errorf("%s:%d: %s = %d has no Go constant", p, i+1, n, v)
				case g != v:
					t.Errorf("%s:%d: %s = %d in Lua, %d in Go (%s)", p, i+1, n, v, g, file[n])
				}
				seen[n] = true
			}
		}
		if !declares {
			continue
		}
		for i, line := range strings.Split(string(src), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "--") && luaLiteral.MatchString(line) {
				t.Errorf("%s:%d: ARGV indexed with a literal: %s", p, i+1, strings.TrimSpace(line))
			}
		}
	}
	for n, f := range file {
		if f == "luaargs.go" && !seen[n] {
			t.Errorf("Go constant %s (%s) is declared by no script", n, f)
		}
	}
	if len(seen) < 50 {
		t.Errorf("only %d positions declared: is the --@go marker still parsed?", len(seen))
	}
}
