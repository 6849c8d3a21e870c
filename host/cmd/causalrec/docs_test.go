package main

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md from the commands' --help output")

const cliDoc = "../../../docs/cli.md"

// TestCLIDocs keeps docs/cli.md true to the code: under each "## <command>"
// heading, the first fenced block must be that command's --help output.
// Run with -update to rewrite the blocks.
func TestCLIDocs(t *testing.T) {
	b, err := os.ReadFile(cliDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	section := regexp.MustCompile("(?m)^## (.+)\n\n```\n((?s:.*?))```\n")
	matches := section.FindAllStringSubmatchIndex(doc, -1)
	if len(matches) < 10 {
		t.Fatalf("docs/cli.md has %d command sections", len(matches))
	}
	var out strings.Builder
	last := 0
	for _, m := range matches {
		name := doc[m[2]:m[3]]
		_, stdout, stderr := runCLI(t, "", append(strings.Fields(name), "--help")...)
		help := stdout + stderr
		help = strings.TrimRight(help, "\n") + "\n"
		if got := doc[m[4]:m[5]]; got != help && !*update {
			t.Errorf("docs/cli.md: the block of %q differs from its --help output; run go test ./host/cmd/causalrec -run TestCLIDocs -update\n--- doc\n%s--- help\n%s", name, got, help)
		}
		out.WriteString(doc[last:m[4]])
		out.WriteString(help)
		last = m[5]
	}
	out.WriteString(doc[last:])
	if *update {
		if err := os.WriteFile(cliDoc, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every command of the CLI has a section.
	for _, c := range commands() {
		if !strings.Contains(doc, "\n## "+c.name) {
			t.Errorf("docs/cli.md has no section for %q", c.name)
		}
	}
}
