package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/causalrec/causalrec/lm/sentiment"
)

const sentimentUsage = `Usage:
  causalrec sentiment score [--model FILE] < texts.txt
  causalrec sentiment train --data FILE --out FILE [flags]

score reads one text per line on standard input and prints one score per
line in [-1, 1]: the VADER compound score, or with --model the trained
classifier's 2p-1 (p = probability that the text is positive).

train fits a classifier (logistic regression over words, word pairs and
VADER, AFINN and opinion-lexicon features) to "text<TAB>label" lines, label
0 (negative) or 1 (positive), and writes the model (JSON) to --out.
`

// runSentiment implements "causalrec sentiment".
func runSentiment(ctx context.Context, s stdio, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(s.err, sentimentUsage)
		return usageErr("missing subcommand (score or train)")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(s.out, sentimentUsage)
		return flag.ErrHelp
	case "score":
		return runSentimentScore(ctx, s, args[1:])
	case "train":
		return runSentimentTrain(ctx, s, args[1:])
	}
	fmt.Fprint(s.err, sentimentUsage)
	return usageErr("unknown subcommand %q (want score or train)", args[0])
}

// sentimentFlags is a flag set whose help (usage text and flags) goes to
// s.out when asked for with -h or --help.
type sentimentFlags struct {
	*flag.FlagSet
	help func()
}

func newSentimentFlags(s stdio, name, usage string) sentimentFlags {
	fs := flag.NewFlagSet("sentiment "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // errors are reported by the caller
	help := func() {
		fmt.Fprint(s.out, usage)
		fs.SetOutput(s.out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return sentimentFlags{fs, help}
}

func (fs sentimentFlags) parse(args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help()
			return err
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func runSentimentScore(ctx context.Context, s stdio, args []string) error {
	fs := newSentimentFlags(s, "score", "Usage: causalrec sentiment score [--model FILE] < texts.txt\n\n"+
		"Prints one score in [-1, 1] per input line: the VADER compound score, or\n"+
		"2p-1 of the classifier in --model.\n\nFlags:\n")
	model := fs.String("model", "", "classifier model `FILE` written by \"causalrec sentiment train\" (default: VADER)")
	if err := fs.parse(args); err != nil {
		return err
	}

	analyzer := sentiment.NewAnalyzer()
	score := analyzer.Compound
	if *model != "" {
		f, err := os.Open(*model)
		if err != nil {
			return fmt.Errorf("open model: %w", err)
		}
		c, err := sentiment.LoadClassifier(bufio.NewReader(f), analyzer)
		f.Close()
		if err != nil {
			return fmt.Errorf("model %s: %w", *model, err)
		}
		score = c.Score
	}

	in := bufio.NewReaderSize(s.in, 64*1024)
	out := bufio.NewWriterSize(s.out, 64*1024)
	buf := make([]byte, 0, 16)
	for n := 1; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := in.ReadString('\n')
		if line == "" && err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read line %d: %w", n, err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		buf = strconv.AppendFloat(buf[:0], score(line), 'f', 4, 64)
		buf = append(buf, '\n')
		if _, err := out.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if errors.Is(err, io.EOF) { // last line without a newline
			break
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", n, err)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func runSentimentTrain(ctx context.Context, s stdio, args []string) error {
	fs := newSentimentFlags(s, "train", "Usage: causalrec sentiment train --data FILE --out FILE [flags]\n\n"+
		"Trains a sentiment classifier on \"text<TAB>label\" lines (label 0 or 1)\n"+
		"and writes the model to --out.\n\nFlags:\n")
	def := sentiment.DefaultTrainOptions()
	data := fs.String("data", "", "training `FILE` of text<TAB>label lines (required)")
	outPath := fs.String("out", "", "model `FILE` to write (required)")
	seed := fs.Uint64("seed", 1, "random seed; the same data and seed give the same model")
	epochs := fs.Int("epochs", def.Epochs, "passes over the data")
	lr := fs.Float64("lr", def.LearningRate, "AdaGrad learning rate")
	l2 := fs.Float64("l2", def.L2, "ridge penalty on word weights")
	minCount := fs.Int("min-count", def.MinCount, "drop word features seen in fewer texts")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *data == "" {
		return usageErr("--data is required")
	}
	if *outPath == "" {
		return usageErr("--out is required")
	}

	f, err := os.Open(*data)
	if err != nil {
		return fmt.Errorf("open training data: %w", err)
	}
	texts, labels, err := sentiment.ReadLabeled(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if len(texts) == 0 {
		return fmt.Errorf("%s: no labelled lines", *data)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	opts := sentiment.TrainOptions{Epochs: *epochs, LearningRate: *lr, L2: *l2, MinCount: *minCount}
	if opts.Epochs <= 0 || opts.LearningRate <= 0 || opts.L2 < 0 || opts.MinCount <= 0 {
		return usageErr("--epochs, --lr and --min-count must be positive and --l2 non-negative")
	}
	c, err := sentiment.Train(texts, labels, nil, opts, rand.NewPCG(*seed, 0), nil)
	if err != nil {
		return err
	}
	right := 0
	for i, t := range texts {
		if c.Predict(t) == labels[i] {
			right++
		}
	}
	if err := writeSentimentModel(*outPath, c.Save); err != nil {
		return err
	}
	fmt.Fprintf(s.err, "trained on %d texts: %d word features, training accuracy %.4f; model written to %s\n",
		len(texts), c.NumFeatures(), float64(right)/float64(len(texts)), *outPath)
	return nil
}

// writeSentimentModel writes path through a temporary file in the same
// folder, so a failed write leaves no partial file behind.
func writeSentimentModel(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	w := bufio.NewWriter(tmp)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write model %s: %w", path, err)
	}
	return nil
}
