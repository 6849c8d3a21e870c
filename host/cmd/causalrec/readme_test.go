package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const readme = "../../../README.md"

// readmeSession returns the commands of the first sh block under README's
// "## Use" heading: continuation lines joined, comments dropped.
func readmeSession(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n## Use\n")
	if i < 0 {
		t.Fatal("README has no ## Use section")
	}
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(doc[i:])
	if m == nil {
		t.Fatal("README's Use section has no sh block")
	}
	var cmds [][]string
	for _, line := range strings.Split(strings.ReplaceAll(m[1], "\\\n", " "), "\n") {
		words, err := shellWords(line)
		if err != nil {
			t.Fatalf("README line %q: %v", line, err)
		}
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
	}
	return cmds
}

// shellWords splits a command line as sh does for the plain cases the
// README uses: blanks, single and double quotes, and a # comment.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == '#' && !inWord:
			return words, nil
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, os.ErrInvalid
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// TestREADMESession runs the commands of README's Use section as a user
// would from a fresh clone (make build is this test's binary), and checks
// what the README says of them.
func TestREADMESession(t *testing.T) {
	cmds := readmeSession(t)
	examples, err := filepath.Abs("../../../examples")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	outputs := map[string]string{}
	if len(cmds) < 6 || strings.Join(cmds[0], " ") != "make build" {
		t.Fatalf("README session: %q", cmds)
	}
	for _, c := range cmds[1:] {
		if c[0] != "bin/causalrec" {
			t.Fatalf("README session runs %q, which this test does not know", c)
		}
		code, out, stderr := runCLI(t, "", c[1:]...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(c, " "), code, stderr)
		}
		outputs[c[1]+" "+c[2]] = out
	}
	// The balance table flags conversion and spend, and nothing else.
	bal := outputs["uplift balance"]
	for _, f := range []string{"conversion", "spend"} {
		if !regexp.MustCompile(`(?m)^` + f + ` .*IMBALANCED`).MatchString(bal) {
			t.Errorf("README says the balance table flags %s; it does not:\n%s", f, bal)
		}
	}
	if strings.Count(bal, "IMBALANCED") != 2 {
		t.Errorf("the balance table flags other columns:\n%s", bal)
	}
	m, err := readModelFile("model.json")
	if err != nil || m.Balance == nil || m.Balance.Design != "rct" || m.Balance.Status != "balanced" {
		t.Errorf("model.json: %+v (%v)", m.Balance, err)
	}
	test, scored := readCSVFile(t, "test.csv"), readCSVFile(t, "scored.csv")
	if len(scored) != len(test) || !slices.Equal(scored[0], append(slices.Clone(test[0]), "uplift")) {
		t.Errorf("scored.csv: %d rows with header %v", len(scored), scored[0])
	}
	var rep struct{ Qini float64 }
	if err := json.Unmarshal([]byte(outputs["uplift eval"]), &rep); err != nil || rep.Qini <= 0 {
		t.Errorf("eval: qini %v (%v)", rep.Qini, err)
	}
	if !strings.Contains(outputs["uplift explain"], "Permutation importance") || !strings.Contains(outputs["uplift explain"], "  if ") {
		t.Errorf("explain:\n%s", outputs["uplift explain"])
	}
	for _, png := range []string{"qini.png", "deciles.png", "explain.png", "compare.png"} {
		checkPNG(t, png)
	}
	if !strings.Contains(outputs["uplift compare"], "uplift-forest") {
		t.Errorf("compare table:\n%s", outputs["uplift compare"])
	}
}

func TestShellWords(t *testing.T) {
	got, err := shellWords(`bin/causalrec fit --control "No E-Mail" --x 'a b' c  # comment "x"`)
	if err != nil || strings.Join(got, "|") != "bin/causalrec|fit|--control|No E-Mail|--x|a b|c" {
		t.Errorf("%q %v", got, err)
	}
	if _, err := shellWords(`echo "open`); err == nil {
		t.Error("an open quote was accepted")
	}
}
