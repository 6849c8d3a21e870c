// Package host holds no code: its test keeps the import rules of the
// host's packages true (README.md, Architecture).
package host

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/causalrec/causalrec/"

// goPackage is what the test reads of `go list -json`.
type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs go list -deps -json on patterns and returns every
// package it names, by import path.
func listPackages(t *testing.T, patterns ...string) map[string]goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json=ImportPath,Imports,Deps"}, patterns...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(out)
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	return pkgs
}

// under reports whether path is the package dir of the module or below it.
func under(path, dir string) bool {
	p := module + dir
	return path == p || strings.HasPrefix(path, p+"/")
}

// TestImportRules checks the host's dependencies:
//
//   - no package of host/ but the commands (host/cmd/...) reaches the
//     numeric libraries causal/ and lm/: the host fits, predicts and
//     scores through the plugins, never by calling them;
//   - only the commands and the embedding package host/causalrec import
//     the built-in plugin programs (plugins/builtin/...), which run in
//     processes of their own; the embedding package reaches causal/ and
//     lm/ only through them;
//   - host/recommend imports neither causal/, causal/receval nor gonum.
func TestImportRules(t *testing.T) {
	pkgs := listPackages(t, "./...")
	var checked int
	for path := range pkgs {
		if !under(path, "host") || under(path, "host/cmd") {
			continue
		}
		checked++
		// Walk the imports, not entering the built-in plugin programs.
		seen := map[string]bool{path: true}
		queue := []string{path}
		for len(queue) > 0 {
			cur := pkgs[queue[0]]
			queue = queue[1:]
			for _, imp := range cur.Imports {
				if seen[imp] {
					continue
				}
				seen[imp] = true
				switch {
				case under(imp, "causal") || under(imp, "lm"):
					t.Errorf("%s reaches %s (through %s): the host must use the plugins", path, imp, cur.ImportPath)
				case under(imp, "plugins/builtin"):
					if path != module+"host/causalrec" {
						t.Errorf("%s imports the built-in plugin %s (through %s): only the commands and host/causalrec start them", path, imp, cur.ImportPath)
					}
				default:
					queue = append(queue, imp)
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d host packages; go list found too few", checked)
	}
	rec, ok := pkgs[module+"host/recommend"]
	if !ok {
		t.Fatal("go list did not list host/recommend")
	}
	for _, dep := range rec.Deps {
		if under(dep, "causal") || strings.HasPrefix(dep, "gonum.org/") {
			t.Errorf("host/recommend depends on %s", dep)
		}
	}
	if !slices.Contains(rec.Deps, module+"plugins") {
		t.Errorf("host/recommend does not reach the plugins SDK: %v", rec.Deps)
	}
}
