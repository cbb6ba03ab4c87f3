package memory

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// luaKeys matches a Lua call of the KEYS command.
var luaKeys = regexp.MustCompile(`(?i)redis\s*\.\s*p?call\s*\(\s*["']keys["']`)

// luaComment matches a Lua line comment.
var luaComment = regexp.MustCompile(`--[^\n]*`)

// keysInGo reports the places in a Go source file that send KEYS: a
// string literal "KEYS" (any case) as a call argument or a slice element
// (Do(ctx, "keys", ...), []any{"KEYS", "*"}), a .Keys(ctx, ...) call as
// on a go-redis client, and Lua inside string literals calling
// redis.call('KEYS'). Comments are not code and are ignored.
func keysInGo(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var hits []string
	hit := func(n ast.Node, what string) {
		hits = append(hits, fset.Position(n.Pos()).String()+": "+what)
	}
	isKeysLit := func(e ast.Expr) bool {
		bl, ok := e.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return false
		}
		v, err := strconv.Unquote(bl.Value)
		return err == nil && strings.EqualFold(strings.TrimSpace(v), "keys")
	}
	text := func(e ast.Node) string {
		return string(src[fset.Position(e.Pos()).Offset:fset.Position(e.End()).Offset])
	}
	isCtx := func(e ast.Expr) bool {
		t := text(e)
		return strings.Contains(strings.ToLower(t), "ctx") || strings.Contains(t, "context.")
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			// Do(ctx, "KEYS", ...), NewStringSliceCmd(ctx, "keys", ...)
			if len(n.Args) >= 2 && isCtx(n.Args[0]) && isKeysLit(n.Args[1]) {
				hit(n.Args[1], `"KEYS" as a command`)
			}
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Keys" {
				// go-redis: c.Keys(ctx, pattern); exactly two arguments, so
				// SCAN helpers like internal/scan.Keys(ctx, c, pattern,
				// opts, fn) are not mistaken for it.
				if len(n.Args) == 2 && isCtx(n.Args[0]) {
					hit(n, ".Keys(ctx, ...) call")
				}
				// rueidis: c.B().Keys()
				if inner, ok := sel.X.(*ast.CallExpr); ok && len(n.Args) == 0 {
					if is, ok := inner.Fun.(*ast.SelectorExpr); ok && is.Sel.Name == "B" {
						hit(n, "rueidis B().Keys()")
					}
				}
			}
		case *ast.CompositeLit:
			// []any{"KEYS", pattern}: a command given as a slice.
			if at, ok := n.Type.(*ast.ArrayType); ok && len(n.Elts) > 0 && isKeysLit(n.Elts[0]) {
				if t := text(at.Elt); t == "any" || t == "interface{}" {
					hit(n.Elts[0], `"KEYS" heading a command slice`)
				}
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				if v, err := strconv.Unquote(n.Value); err == nil && luaKeys.MatchString(luaComment.ReplaceAllString(v, "")) {
					hit(n, "Lua calling KEYS in a string")
				}
			}
		}
		return true
	})
	// A line marked "rediskit:allow-keys <reason>" (or the line above it)
	// is a deliberate use, e.g. a test of a dangerous-command alert.
	lines := strings.Split(string(src), "\n")
	kept := hits[:0]
	for _, h := range hits {
		ln := lineOf(h)
		if ln > 0 && ln <= len(lines) && (strings.Contains(lines[ln-1], "rediskit:allow-keys") || ln > 1 && strings.Contains(lines[ln-2], "rediskit:allow-keys")) {
			continue
		}
		kept = append(kept, h)
	}
	return kept, nil
}

// lineOf extracts the line number from "file:line:col: what".
func lineOf(h string) int {
	parts := strings.SplitN(h, ":", 4)
	if len(parts) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(parts[1])
	return n
}

// allowKeys lists files that send KEYS on purpose, with the reason. Keep
// it short; prefer a "rediskit:allow-keys <reason>" comment on the line.
var allowKeys = map[string]string{
	"metrics/server_test.go": "sends one KEYS to a private key space to test the dangerous-command counter",
}

// keysInLua reports Lua code (comments removed) that calls KEYS.
func keysInLua(src []byte) bool {
	return luaKeys.Match(luaComment.ReplaceAll(src, nil))
}

// moduleRoot walks up from the working directory to the directory of
// go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

func TestKeysDetector(t *testing.T) {
	bad := map[string]string{
		"do":        `package x; func f() { c.Do(ctx, "KEYS", "*") }`,
		"lower":     `package x; func f() { c.Do(ctx, "keys", "*") }`,
		"slice":     `package x; var a = []any{"Keys", "user:*"}`,
		"iface":     `package x; var a = []interface{}{"keys", "user:*"}`,
		"rueidis":   `package x; func f() { c.Do(ctx, c.B().Keys().Pattern("*").Build()) }`,
		"nctx":      `package x; func f() { c.Do(c.ctx, "KEYS", "*") }`,
		"method":    `package x; func f() { c.Keys(ctx, "*") }`,
		"bg":        `package x; func f() { rdb.Keys(context.Background(), "*") }`,
		"lua-in-go": "package x; const s = `return redis.call('KEYS', ARGV[1])`",
		"pcall":     `package x; const s = "redis.pcall(\"keys\", '*')"`,
	}
	for name, src := range bad {
		hits, err := keysInGo(name+".go", []byte(src))
		if err != nil || len(hits) == 0 {
			t.Errorf("%s: not detected (%v): %s", name, err, src)
		}
	}
	good := map[string]string{
		"comment": "package x\n// never use KEYS; c.Keys(ctx, \"*\") blocks\nfunc f() {}",
		"maps":    `package x; func f() { _ = maps.Keys(m); _ = r.Keys() }`,
		"field":   `package x; func f() { _ = script.Run(ctx, c, keys); s := "the keys of a bucket"; _ = s }`,
		"scan":    `package x; func f() { c.Scan(ctx, 0, "keys:*", 100) }`,
		"helper":  `package x; func f() { _ = scan.Keys(ctx, c, "{o}:*", scan.Options{}, fn) }`,
		"names":   `package x; var known = []string{"get", "keys", "scan"}; var d = []string{"keys", "flushall"}`,
		"metric":  `package x; var k = name("keys")`,
		"allowed": "package x\nfunc f() {\n\t// rediskit:allow-keys tests the alert\n\tc.Do(ctx, \"KEYS\", \"*\")\n}",
	}
	for name, src := range good {
		hits, err := keysInGo(name+".go", []byte(src))
		if err != nil || len(hits) != 0 {
			t.Errorf("%s: false positive %v (%v)", name, hits, err)
		}
	}
	if !keysInLua([]byte("local k = redis.call( 'keys' , ARGV[1])")) || keysInLua([]byte("-- never redis.call('KEYS')\nreturn 1")) {
		t.Error("Lua detector wrong")
	}
}

// TestNoKeysAnywhere fails if any Go or Lua file of the repository sends
// the KEYS command. Use SCAN (memory.Analyze shows how).
func TestNoKeysAnywhere(t *testing.T) {
	root := moduleRoot(t)
	self, err := filepath.Abs("nokeys_test.go")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if (ext != ".go" && ext != ".lua") || path == self {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		if ext == ".lua" {
			if keysInLua(src) {
				t.Errorf("%s calls KEYS", rel)
			}
			return nil
		}
		if _, ok := allowKeys[filepath.ToSlash(rel)]; ok {
			return nil
		}
		hits, perr := keysInGo(path, src)
		if perr != nil {
			// A file being edited may not parse: fall back to the Lua and
			// plain-text patterns so it is still checked.
			if keysInLua(src) || regexp.MustCompile(`(?i)"keys"\s*,|\.Keys\(\s*ctx`).Match(src) {
				t.Errorf("%s (does not parse: %v) looks like it sends KEYS", rel, perr)
			}
			return nil
		}
		for _, h := range hits {
			t.Errorf("KEYS sent at %s", h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("checked only %d files under %s", files, root)
	}
	t.Logf("checked %d .go and .lua files under %s", files, root)
}
