// Command lm benchmarks package lm on the Gutenberg corpus: it estimates
// modified Kneser–Ney models of orders 3 and 5 from Pride and Prejudice,
// The Adventures of Sherlock Holmes and Moby-Dick, reports the perplexity
// of Frankenstein as KenLM's query does (OOVs scored as <unk>, </s>
// counted), and measures query throughput and bytes per n-gram against a
// map-based baseline scorer in the same run.
//
// Usage:
//
//	go run ./bench/lm [-data ../shared/data/corpus/gutenberg] [-out dir]
//
// The corpus is tokenised as corpus/REFERENCE_NUMBERS.md says: the whole
// file lower-cased, paragraphs split at blank lines, tokens matching
// [a-z]+(?:['’][a-z]+)*|[0-9]+|[.,;:!?], one paragraph per sentence, empty
// paragraphs skipped. With -out, the tokenised train and test files are
// written there (one sentence per line) for use with `causalrec lm`.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	trainFiles = []string{
		"pg1342_pride_and_prejudice.txt",
		"pg1661_adventures_of_sherlock_holmes.txt",
		"pg2701_moby_dick.txt",
	}
	testFiles = []string{"pg84_frankenstein.txt"}
)

func main() {
	data := flag.String("data", "../shared/data/corpus/gutenberg", "directory of the Gutenberg corpus")
	out := flag.String("out", "", "if set, write the tokenised train.txt and test.txt here")
	queries := flag.Int("passes", 20, "passes over the test set when timing queries")
	flag.Parse()
	if err := run(*data, *out, *queries); err != nil {
		fmt.Fprintln(os.Stderr, "bench/lm:", err)
		os.Exit(1)
	}
}

var tokenRE = regexp.MustCompile(`[a-z]+(?:['’][a-z]+)*|[0-9]+|[.,;:!?]`)
var blankLines = regexp.MustCompile(`\n[ \t\r]*\n`)

// paragraphs tokenises a file into one sentence per paragraph.
func paragraphs(text string) [][]string {
	var out [][]string
	for _, p := range blankLines.Split(strings.ToLower(text), -1) {
		toks := tokenRE.FindAllString(p, -1)
		if len(toks) > 0 {
			out = append(out, toks)
		}
	}
	return out
}

func readCorpus(dir string, names []string) ([][]string, error) {
	var out [][]string
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, paragraphs(string(b))...)
	}
	return out, nil
}

func writeSentences(path string, sents [][]string) error {
	var b bytes.Buffer
	for _, s := range sents {
		b.WriteString(strings.Join(s, " "))
		b.WriteByte('\n')
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func run(dir, out string, passes int) error {
	train, err := readCorpus(dir, trainFiles)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("SKIP: Gutenberg corpus not found under %s (%v); pass -data\n", dir, err)
		return nil
	}
	if err != nil {
		return err
	}
	test, err := readCorpus(dir, testFiles)
	if err != nil {
		return err
	}
	ntok := 0
	for _, s := range train {
		ntok += len(s)
	}
	fmt.Printf("train: %d paragraphs, %d tokens\n", len(train), ntok)
	ntok = 0
	for _, s := range test {
		ntok += len(s)
	}
	fmt.Printf("test: %d paragraphs, %d tokens\n", len(test), ntok)
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		if err := writeSentences(filepath.Join(out, "train.txt"), train); err != nil {
			return err
		}
		if err := writeSentences(filepath.Join(out, "test.txt"), test); err != nil {
			return err
		}
	}
	return evaluate(train, test, passes)
}
