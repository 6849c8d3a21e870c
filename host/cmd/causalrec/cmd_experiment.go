package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/ui"
)

func runExperiment(ctx context.Context, s stdio, args []string) error {
	return runGroup(ctx, s, "experiment", "Online experiments of a running causalrec serve (see docs/experiments.md): they talk to its\n"+
		"HTTP API at --server with the API token.", []subcommand{
		{"create", "start an experiment: arms with their models, weights and policies", experimentCreate},
		{"list", "list the experiments", experimentList},
		{"stop", "stop an experiment (its data and report stay)", experimentStop},
		{"report", "print an experiment's report (JSON) or write its page (--html)", experimentReport},
	}, args)
}

// apiFlags are the flags of the commands that call a running serve.
type apiFlags struct {
	server, token *string
	timeout       *time.Duration
}

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		server:  fs.String("server", "", "base URL of the serve HTTP API (default $CAUSALREC_SERVER, else http://127.0.0.1:8080)"),
		token:   fs.String("token", "", "API token (default $CAUSALREC_API_TOKEN)"),
		timeout: fs.Duration("timeout", time.Minute, "time limit of the call"),
	}
}

// base is the server's base URL.
func (a apiFlags) base() string {
	s := *a.server
	if s == "" {
		s = os.Getenv("CAUSALREC_SERVER")
	}
	if s == "" {
		s = "http://127.0.0.1:8080"
	}
	return strings.TrimRight(s, "/")
}

// call sends method path with body (nil: none) as JSON and decodes the
// answer into out; an error answer is an error with its message.
func (a apiFlags) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, *a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base()+path, r)
	if err != nil {
		return usageErr("--server %q: %v", *a.server, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tok := *a.token
	if tok == "" {
		tok = os.Getenv("CAUSALREC_API_TOKEN")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if p, ok := out.(*json.RawMessage); ok {
		*p = raw
		return nil
	}
	return json.Unmarshal(raw, out)
}

// parseArm reads NAME=MODEL:WEIGHT[:POLICY[:PARAM]], PARAM being the
// epsilon of epsilon-greedy or the temperature of plackett-luce. MODEL may
// hold colons: the weight is the first number after it.
func parseArm(v string) (experiment.ArmRequest, error) {
	name, rest, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return experiment.ArmRequest{}, usageErr("--arm %q: want NAME=MODEL:WEIGHT[:POLICY[:PARAM]]", v)
	}
	parts := strings.Split(rest, ":")
	for i := 1; i < len(parts); i++ {
		w, err := strconv.ParseFloat(parts[i], 64)
		if err != nil {
			continue
		}
		a := experiment.ArmRequest{Name: name, Model: strings.Join(parts[:i], ":"), Weight: w}
		tail := parts[i+1:]
		if len(tail) > 0 {
			a.Policy = tail[0]
		}
		if len(tail) > 1 {
			p, err := strconv.ParseFloat(tail[1], 64)
			if err != nil {
				return a, usageErr("--arm %q: parameter %q is not a number", v, tail[1])
			}
			if a.Policy == "plackett-luce" {
				a.Temperature = p
			} else {
				a.Epsilon = p
			}
		}
		if len(tail) > 2 {
			return a, usageErr("--arm %q: too many fields", v)
		}
		return a, nil
	}
	return experiment.ArmRequest{}, usageErr("--arm %q: no weight (want NAME=MODEL:WEIGHT[:POLICY[:PARAM]])", v)
}

func experimentCreate(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "experiment create", "(--file FILE | --id ID --arm NAME=MODEL:WEIGHT[:POLICY[:PARAM]] ...) [flags]",
		"Starts an experiment on a running serve (POST /v1/experiments) and prints it. The first arm is the\n"+
			"baseline. MODEL is a stored model's id or a serving name (\"default\": the model served now); PARAM is\n"+
			"the epsilon of epsilon-greedy or the temperature of plackett-luce. --file reads the API's JSON body\n"+
			"instead (- for standard input).")
	af := addAPIFlags(fs)
	file := fs.String("file", "", "JSON body of POST /v1/experiments (- reads standard input)")
	id := fs.String("id", "", "experiment id")
	var arms listFlag
	fs.Var(&arms, "arm", "an arm, NAME=MODEL:WEIGHT[:POLICY[:PARAM]] (repeat; the first is the baseline)")
	salt := fs.String("salt", "", "salt of the assignment hash (default the id)")
	coverage := fs.Float64("coverage", 1, "share of the namespace's users in the experiment")
	namespace := fs.String("namespace", "", "LO,HI: the [lo, hi) of the hash space (default 0,1)")
	metric := fs.String("metric", "", "metric: "+strings.Join(experiment.Metrics, ", ")+" (default outcomes)")
	var guardrails listFlag
	fs.Var(&guardrails, "guardrail", "a guardrail metric reported beside the metric (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var req experiment.CreateRequest
	switch {
	case *file != "":
		var raw []byte
		var err error
		if *file == "-" {
			raw, err = io.ReadAll(s.in)
		} else {
			raw, err = os.ReadFile(*file)
		}
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return usageErr("--file: %v", err)
		}
	default:
		if *id == "" || len(arms) == 0 {
			return usageErr("want --file, or --id and the --arm flags")
		}
		req = experiment.CreateRequest{ID: *id, Salt: *salt, Metric: *metric, Guardrails: guardrails}
		for _, v := range arms {
			a, err := parseArm(v)
			if err != nil {
				return err
			}
			req.Arms = append(req.Arms, a)
		}
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "coverage" {
				req.Coverage = coverage
			}
		})
		if *namespace != "" {
			lo, hi, ok := strings.Cut(*namespace, ",")
			l, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
			h, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
			if !ok || err1 != nil || err2 != nil {
				return usageErr("--namespace %q: want LO,HI", *namespace)
			}
			req.Namespace = &[2]float64{l, h}
		}
	}
	var out json.RawMessage
	if err := af.call(ctx, "POST", "/v1/experiments", req, &out); err != nil {
		return err
	}
	return printJSON(s.out, out)
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func experimentList(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "experiment list", "[flags]", "Lists the experiments of a running serve (GET /v1/experiments).")
	af := addAPIFlags(fs)
	asJSON := fs.Bool("json", false, "print the JSON answer instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var raw json.RawMessage
	if err := af.call(ctx, "GET", "/v1/experiments", nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(s.out, raw)
	}
	var list struct {
		Experiments []store.Experiment `json:"experiments"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tARMS\tMETRIC\tCOVERAGE\tNAMESPACE\tSTARTED")
	for _, e := range list.Experiments {
		var arms []string
		for _, a := range e.Arms {
			arms = append(arms, fmt.Sprintf("%s=%g", a.Name, a.Weight))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%g\t[%g, %g)\t%s\n", e.ID, e.Status, strings.Join(arms, ","), e.Metric, e.Coverage,
			e.Namespace[0], e.Namespace[1], e.StartedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func experimentStop(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "experiment stop", "--id ID [flags]", "Stops an experiment (POST /v1/experiments/{id}/stop); its data and report stay.")
	af := addAPIFlags(fs)
	id := fs.String("id", "", "experiment id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return usageErr("--id is required")
	}
	var out json.RawMessage
	if err := af.call(ctx, "POST", "/v1/experiments/"+url.PathEscape(*id)+"/stop", nil, &out); err != nil {
		return err
	}
	return printJSON(s.out, out)
}

func experimentReport(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "experiment report", "--id ID [--html FILE] [flags]",
		"Prints an experiment's report (GET /v1/experiments/{id}/report), or writes it as the HTML page\n"+
			"serve shows at /ui/experiments/{id}.")
	af := addAPIFlags(fs)
	id := fs.String("id", "", "experiment id")
	htmlFile := fs.String("html", "", "write the report page to this file instead of printing the JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return usageErr("--id is required")
	}
	var raw json.RawMessage
	if err := af.call(ctx, "GET", "/v1/experiments/"+url.PathEscape(*id)+"/report", nil, &raw); err != nil {
		return err
	}
	if *htmlFile == "" {
		return printJSON(s.out, raw)
	}
	var rep experiment.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("read the report: %w", err)
	}
	var buf bytes.Buffer
	if err := ui.RenderExperiment(&buf, rep, af.base()); err != nil {
		return err
	}
	if err := os.WriteFile(*htmlFile, buf.Bytes(), 0o644); err != nil {
		return errors.Join(fmt.Errorf("write %s", *htmlFile), err)
	}
	return nil
}
