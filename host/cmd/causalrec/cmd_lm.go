package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/causalrec/causalrec/lm"
)

const lmUsage = `Usage: causalrec lm <command> [flags] [FILE...]

Commands:
  train   estimate an interpolated modified Kneser-Ney model (as KenLM's lmplz)
  score   print the perplexity of text files as JSON
  query   print the log10 probability of each sentence on stdin (as KenLM's query)

Input is one sentence per line with whitespace-separated tokens, as KenLM
expects; --tokenize applies the built-in Unicode tokeniser (case folding and
word segmentation) instead. A FILE of "-" or no FILE means stdin.
Run causalrec lm <command> --help for the flags of a command.
`

// runLM dispatches the lm subcommands.
func runLM(ctx context.Context, s stdio, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(s.err, lmUsage)
		return usageErr("missing lm command")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(s.out, lmUsage)
		return nil
	case "train":
		return lmTrain(ctx, s, args[1:])
	case "score":
		return lmScore(ctx, s, args[1:])
	case "query":
		return lmQuery(ctx, s, args[1:])
	}
	fmt.Fprint(s.err, lmUsage)
	return usageErr("unknown lm command %q", args[0])
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(s stdio, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("causalrec lm "+name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// tokenizer returns the function that splits a line into tokens.
func tokenizer(builtin bool) func(string) []string {
	if builtin {
		return lm.Tokenize
	}
	return strings.Fields
}

// eachInput calls fn with every input file, stdin for "-" or no files.
func eachInput(s stdio, files []string, fn func(name string, r io.Reader) error) error {
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		if name == "-" {
			if err := fn("-", s.in); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("open input: %w", err)
		}
		err = fn(name, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

const trainUsage = `Usage: causalrec lm train --order N --out MODEL [flags] [FILE...]

Estimates an interpolated modified Kneser-Ney n-gram model of order N (2 to 6)
from the sentences in FILE... (one per line), following KenLM's lmplz, and
writes it to MODEL: in ARPA format, or in the compact binary format if MODEL
ends in .bin or --binary is given.

Flags:
`

func lmTrain(ctx context.Context, s stdio, args []string) error {
	fs := newFlagSet(s, "train", trainUsage)
	order := fs.Int("order", 0, "n-gram `order`, 2 to 6 (required)")
	out := fs.String("out", "", "output model `path` (required)")
	binary := fs.Bool("binary", false, "write the binary format (implied by a .bin suffix)")
	tokenize := fs.Bool("tokenize", false, "apply the built-in tokeniser instead of splitting at white space")
	fallback := fs.Bool("discount_fallback", false, "use discounts 0.5 1 1.5 when the counts cannot give valid ones (as lmplz)")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *order < 2 || *order > lm.MaxOrder {
		return usageErr("--order must be between 2 and %d, got %d", lm.MaxOrder, *order)
	}
	if *out == "" {
		return usageErr("--out is required")
	}
	corpus := lm.NewCorpus()
	tok := tokenizer(*tokenize)
	err = eachInput(s, files, func(name string, r io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := corpus.ReadSentences(r, tok); err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	opts := lm.EstimateOptions{Order: *order}
	if *fallback {
		opts.DiscountFallback = &lm.DefaultFallback
	}
	a, err := lm.Estimate(corpus, opts)
	if err != nil {
		return fmt.Errorf("estimate: %w", err)
	}
	for k, d := range a.Discounts {
		s.logger.Info("discounts", "order", k+1, "n-grams", a.Orders[k].Len(), "D1", d[0], "D2", d[1], "D3+", d[2])
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("create model: %w", err)
	}
	if *binary || strings.HasSuffix(*out, ".bin") {
		var m *lm.Model
		if m, err = lm.NewModel(a); err == nil {
			err = m.WriteBinary(f)
		}
	} else {
		err = lm.WriteARPA(f, a)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out)
		return fmt.Errorf("write model %s: %w", *out, err)
	}
	s.logger.Info("trained", "order", *order, "sentences", corpus.Sentences(), "tokens", corpus.Tokens(),
		"vocabulary", len(a.Vocab), "out", *out)
	return nil
}

func loadModel(path string) (*lm.Model, error) {
	if path == "" {
		return nil, usageErr("--model is required")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	defer f.Close()
	m, err := lm.LoadModel(f)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

const scoreUsage = `Usage: causalrec lm score --model MODEL [flags] [FILE...]

Scores every sentence of FILE... (one per line) from <s> with </s>, words not
in the model scored as <unk>, and prints JSON: "tokens" counts the scored
events including </s> (KenLM's Tokens), "words" the tokens without </s>,
"oov" the words not in the model; perplexity is 10^(-log10_prob/tokens), and
perplexity_without_oov leaves the OOV words out of both sum and count. The
totals cover all files; "files" holds the same numbers per file.
MODEL may be ARPA or binary.

Flags:
`

type scoreJSON struct {
	File                 string  `json:"file,omitempty"`
	Sentences            int     `json:"sentences"`
	Words                int     `json:"words"`
	Tokens               int     `json:"tokens"`
	OOV                  int     `json:"oov"`
	Log10Prob            float64 `json:"log10_prob"`
	Perplexity           float64 `json:"perplexity"`
	PerplexityWithoutOOV float64 `json:"perplexity_without_oov"`
}

type scoreReport struct {
	Model string `json:"model"`
	Order int    `json:"order"`
	scoreJSON
	Files []scoreJSON `json:"files"`
}

func toScoreJSON(name string, f lm.Fluency) scoreJSON {
	nanToZero := func(v float64) float64 {
		if v != v {
			return 0
		}
		return v
	}
	return scoreJSON{
		File:                 name,
		Sentences:            f.Sentences,
		Words:                f.Events - f.Sentences,
		Tokens:               f.Events,
		OOV:                  f.OOV,
		Log10Prob:            f.LogProb,
		Perplexity:           nanToZero(f.Perplexity()),
		PerplexityWithoutOOV: nanToZero(f.PerplexityWithoutOOV()),
	}
}

func lmScore(ctx context.Context, s stdio, args []string) error {
	fs := newFlagSet(s, "score", scoreUsage)
	modelPath := fs.String("model", "", "model `path`, ARPA or binary (required)")
	tokenize := fs.Bool("tokenize", false, "apply the built-in tokeniser instead of splitting at white space")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return err
	}
	tok := tokenizer(*tokenize)
	var total lm.Fluency
	rep := scoreReport{Model: *modelPath, Order: m.Order(), Files: []scoreJSON{}}
	err = eachInput(s, files, func(name string, r io.Reader) error {
		var f lm.Fluency
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 1<<16), 1<<26)
		line := 0
		for sc.Scan() {
			line++
			if line%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			f.Add(m.Fluency(tok(sc.Text())))
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read %s: line %d: %w", name, line+1, err)
		}
		total.Add(f)
		rep.Files = append(rep.Files, toScoreJSON(name, f))
		return nil
	})
	if err != nil {
		return err
	}
	rep.scoreJSON = toScoreJSON("", total)
	enc := json.NewEncoder(s.out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

const queryUsage = `Usage: causalrec lm query --model MODEL [flags] < sentences

Reads one sentence per line on stdin and prints, for each, its total log10
probability from <s> with </s> scored and the number of words not in the
model (scored as <unk>), in KenLM query's form:
  Total: <log10> OOV: <count>
MODEL may be ARPA or binary.

Flags:
`

func lmQuery(ctx context.Context, s stdio, args []string) error {
	fs := newFlagSet(s, "query", queryUsage)
	modelPath := fs.String("model", "", "model `path`, ARPA or binary (required)")
	tokenize := fs.Bool("tokenize", false, "apply the built-in tokeniser instead of splitting at white space")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("query reads stdin; unexpected argument %q", rest[0])
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return err
	}
	tok := tokenizer(*tokenize)
	sc := bufio.NewScanner(s.in)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<26)
	w := bufio.NewWriter(s.out)
	var buf []byte
	line := 0
	for sc.Scan() {
		line++
		if line%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		total, oov := m.ScoreSentence(tok(sc.Text()))
		buf = append(buf[:0], "Total: "...)
		buf = strconv.AppendFloat(buf, total, 'g', 10, 64)
		buf = append(buf, " OOV: "...)
		buf = strconv.AppendInt(buf, int64(oov), 10)
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: line %d: %w", line+1, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
