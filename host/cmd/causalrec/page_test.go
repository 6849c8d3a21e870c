package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/experiment"
)

// chromium is Debian's chromium, which .ci/run installs.
const chromium = "/usr/bin/chromium"

// headless runs chromium headless on url with the extra flags and returns
// its standard output.
func headless(t *testing.T, url string, flags ...string) string {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the page tests need %s (.ci/run installs Debian's chromium): %v", chromium, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--no-first-run"}, flags...)
	cmd := exec.CommandContext(ctx, chromium, append(args, url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

// cellRe finds a table cell or span holding a number by its data-k key.
func cellValue(t *testing.T, dom, rowAttr, key string) string {
	t.Helper()
	row := dom
	if rowAttr != "" {
		i := strings.Index(dom, rowAttr)
		if i < 0 {
			t.Fatalf("the page has no %s", rowAttr)
		}
		row = dom[i:]
		if j := strings.Index(row, "</tr>"); j >= 0 {
			row = row[:j]
		}
	}
	m := regexp.MustCompile(`data-k="` + regexp.QuoteMeta(key) + `">([^<]*)<`).FindStringSubmatch(row)
	if m == nil {
		t.Fatalf("the page has no %s in %s", key, rowAttr)
	}
	return m[1]
}

// near reports whether the page's text of a number is v as the page
// rounds it (four significant digits).
func near(text string, v float64) bool {
	got, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return false
	}
	return math.Abs(got-v) <= 5e-4*math.Max(math.Abs(v), 1e-9)+1e-12
}

// checkInterval checks a page's "[lo, hi]".
func checkInterval(t *testing.T, what, text string, ci [2]float64) {
	t.Helper()
	parts := strings.Split(strings.Trim(text, "[] "), ",")
	if len(parts) != 2 || !near(parts[0], ci[0]) || !near(parts[1], ci[1]) {
		t.Errorf("page %s %q, report %v", what, text, ci)
	}
}

// checkPageInChromium loads the experiment's page in headless Chromium
// (giving the token once in the URL, as a browser would), checks that the
// rendered numbers are the report's and saves a screenshot.
func checkPageInChromium(t *testing.T, base, token string, rep experiment.Report) {
	t.Helper()
	url := base + "/ui/experiments/" + rep.ID + "?token=" + token
	dom := headless(t, url, "--dump-dom")
	if !strings.Contains(dom, `id="exp-id">`+rep.ID+`<`) {
		t.Fatalf("the page is not the experiment's:\n%.2000s", dom)
	}
	for _, a := range rep.Arms {
		row := fmt.Sprintf(`data-arm="%s"`, a.Name)
		if got := cellValue(t, dom, row, "users"); got != strconv.Itoa(a.Users) {
			t.Errorf("page users of %s %q, report %d", a.Name, got, a.Users)
		}
		for k, v := range map[string]float64{"mean": a.Mean, "variance": a.Variance, "outcomes": a.Outcomes} {
			if got := cellValue(t, dom, row, k); !near(got, v) {
				t.Errorf("page %s of %s %q, report %v", k, a.Name, got, v)
			}
		}
	}
	for _, c := range rep.Comparisons {
		row := fmt.Sprintf(`data-arm="%s" data-metric="%s"`, c.Arm, c.Metric)
		if got := cellValue(t, dom, row, "lift"); !near(got, c.Lift) {
			t.Errorf("page lift %q, report %v", got, c.Lift)
		}
		if got := cellValue(t, dom, row, "p_value"); !near(got, c.PValue) {
			t.Errorf("page p-value %q, report %v", got, c.PValue)
		}
		checkInterval(t, "CI", cellValue(t, dom, row, "ci"), c.CI)
		checkInterval(t, "sequential CI", cellValue(t, dom, row, "sequential_ci"), c.SequentialCI)
	}
	if got := cellValue(t, dom, "", "srm-p"); !near(got, rep.SRM.PValue) {
		t.Errorf("page SRM p %q, report %v", got, rep.SRM.PValue)
	}
	for _, o := range rep.OPE {
		row := fmt.Sprintf(`data-target="%s" data-logged="%s"`, o.Target, o.Logged)
		if got := cellValue(t, dom, row, "estimate"); !near(got, o.Estimate) {
			t.Errorf("page OPE estimate %q, report %v", got, o.Estimate)
		}
		if got := cellValue(t, dom, row, "measured"); !near(got, o.Measured) {
			t.Errorf("page OPE measured %q, report %v", got, o.Measured)
		}
	}
	if n := strings.Count(dom, `<svg class="band"`); n != len(rep.Comparisons) {
		t.Errorf("the page has %d band plots, want %d", n, len(rep.Comparisons))
	}
	// The list page links the experiment and shows the models and plugins.
	index := headless(t, base+"/ui/?token="+token, "--dump-dom")
	for _, want := range []string{`href="/ui/experiments/` + rep.ID + `"`, `<td>` + rep.Status + `</td>`, "<strong>serving</strong>", `<span class="ok">healthy</span>`} {
		if !strings.Contains(index, want) {
			t.Errorf("the list page lacks %s:\n%.3000s", want, index)
		}
	}
	// Without the token the page is refused.
	if dom := headless(t, base+"/ui/experiments/"+rep.ID, "--dump-dom"); !strings.Contains(dom, "needs the API token") {
		t.Errorf("the page without the token:\n%.500s", dom)
	}
	dir := os.Getenv("CAUSALREC_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "experiment-"+rep.ID+".png")
	headless(t, url, "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars")
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}
