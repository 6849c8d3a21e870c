package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func runSplit(_ context.Context, s stdio, args []string) error {
	fs := newFlags(s, "split", "--data FILE --test 0.3 --seed 1 [--stratify COL,...] --train-out A --test-out B",
		"Splits the rows of a CSV file at random into a training and a test file, each with the\n"+
			"header row and its rows unchanged, in input order. --stratify splits every group of rows\n"+
			"with the same values in those columns on its own (the arm, and the outcome when it is\n"+
			"rare), so both files keep the groups' shares. The same file, --test and --seed give the\n"+
			"same split. Names ending in .gz are read and written compressed.")
	data := fs.String("data", "", "CSV file with a header row")
	testArg := fs.String("test", "", "the test file's share of the rows, in (0, 1), or its number of rows (required)")
	seed := fs.Uint64("seed", 1, "seed of the random split")
	stratify := fs.String("stratify", "", "comma-separated columns whose groups are split separately, e.g. the treatment column")
	trainOut := fs.String("train-out", "", "training CSV file to write")
	testOut := fs.String("test-out", "", "test CSV file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *data == "":
		return usageErr("--data is required")
	case *testArg == "":
		return usageErr("--test is required: a share in (0, 1) such as 0.3, or a number of rows")
	case *trainOut == "" || *testOut == "":
		return usageErr("--train-out and --test-out are required")
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	}
	size, err := strconv.ParseFloat(*testArg, 64)
	if err != nil || !(size > 0) || (size >= 1 && size != math.Trunc(size)) || math.IsInf(size, 0) {
		return usageErr("--test %q: want a share in (0, 1) such as 0.3, or a whole number of rows", *testArg)
	}
	if err := distinctPaths(map[string]string{"--data": *data, "--train-out": *trainOut, "--test-out": *testOut}); err != nil {
		return err
	}

	// First pass: the stratum of every row.
	var header []string
	var strataOf []int32
	var strata []string
	err = withCSVFile(*data, func(r io.Reader) error {
		cr := csv.NewReader(r)
		cr.ReuseRecord = true
		h, err := cr.Read()
		if err != nil {
			return csvErr(err, "no header row")
		}
		header = slices.Clone(h)
		cols, err := columnIndexes(header, splitList(*stratify))
		if err != nil {
			return err
		}
		index := map[string]int32{}
		var key strings.Builder
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return csvErr(err, "")
			}
			key.Reset()
			for _, c := range cols {
				key.WriteString(rec[c])
				key.WriteByte(0)
			}
			k, ok := index[key.String()]
			if !ok {
				k = int32(len(strata))
				index[key.String()] = k
				strata = append(strata, key.String())
			}
			strataOf = append(strataOf, k)
		}
	})
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	n := len(strataOf)
	nTest := int(size)
	if size < 1 {
		nTest = int(math.Round(size * float64(n)))
	}
	if nTest < 1 || nTest >= n {
		return fmt.Errorf("%s: --test %s leaves %d of %d rows for the test file; both files need rows", *data, *testArg, nTest, n)
	}
	inTest := splitRows(strataOf, len(strata), nTest, rand.New(rand.NewPCG(*seed, 0x5711)))

	// Second pass: copy every row to its file.
	var train, test *csvOut
	if train, err = createCSV(*trainOut, header, nil); err != nil {
		return err
	}
	defer train.abort()
	if test, err = createCSV(*testOut, header, nil); err != nil {
		return err
	}
	defer test.abort()
	err = withCSVFile(*data, func(r io.Reader) error {
		cr := csv.NewReader(r)
		cr.ReuseRecord = true
		if _, err := cr.Read(); err != nil {
			return csvErr(err, "no header row")
		}
		for i := 0; ; i++ {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				if i != n {
					return fmt.Errorf("the file changed while it was split: %d rows, then %d", n, i)
				}
				return nil
			}
			if err != nil {
				return csvErr(err, "")
			}
			if i >= n {
				return fmt.Errorf("the file changed while it was split: more than %d rows", n)
			}
			out := train
			if inTest[i] {
				out = test
			}
			if err := out.w.Write(rec); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if err := train.commit(); err != nil {
		return err
	}
	if err := test.commit(); err != nil {
		return err
	}
	how := ""
	if *stratify != "" {
		how = fmt.Sprintf(", stratified by %s (%d groups)", *stratify, len(strata))
	}
	fmt.Fprintf(s.err, "split %d rows: %d to %s, %d to %s%s\n", n, n-nTest, *trainOut, nTest, *testOut, how)
	return nil
}

// splitRows picks nTest of the rows for the test set: each stratum gets
// its share of nTest by the largest-remainder method (so the total is
// exact), and its rows are drawn from a shuffle.
func splitRows(strataOf []int32, nStrata, nTest int, rng *rand.Rand) []bool {
	n := len(strataOf)
	rows := make([][]int, nStrata)
	for i, k := range strataOf {
		rows[k] = append(rows[k], i)
	}
	quota := make([]int, nStrata)
	rem := make([]float64, nStrata)
	given := 0
	for k, r := range rows {
		exact := float64(nTest) * float64(len(r)) / float64(n)
		quota[k] = int(exact)
		rem[k] = exact - float64(quota[k])
		given += quota[k]
	}
	byRem := make([]int, nStrata)
	for k := range byRem {
		byRem[k] = k
	}
	slices.SortStableFunc(byRem, func(a, b int) int {
		switch {
		case rem[a] > rem[b]:
			return -1
		case rem[a] < rem[b]:
			return 1
		}
		return 0
	})
	for _, k := range byRem[:nTest-given] {
		quota[k]++
	}
	inTest := make([]bool, n)
	for k, r := range rows {
		rng.Shuffle(len(r), func(i, j int) { r[i], r[j] = r[j], r[i] })
		for _, i := range r[:quota[k]] {
			inTest[i] = true
		}
	}
	return inTest
}

// columnIndexes finds the named columns in header.
func columnIndexes(header, names []string) ([]int, error) {
	out := make([]int, len(names))
	for i, name := range names {
		out[i] = slices.Index(header, name)
		if out[i] < 0 {
			return nil, fmt.Errorf("column %q not found (columns: %s)", name, strings.Join(header, ", "))
		}
	}
	return out, nil
}

// csvErr words a CSV reading error; empty is the message for io.EOF.
func csvErr(err error, empty string) error {
	if errors.Is(err, io.EOF) {
		return errors.New(empty)
	}
	return err
}

// distinctPaths refuses to read and write the same file.
func distinctPaths(flags map[string]string) error {
	seen := map[string]string{}
	names := make([]string, 0, len(flags))
	for f := range flags {
		names = append(names, f)
	}
	slices.Sort(names)
	for _, f := range names {
		abs, err := filepath.Abs(flags[f])
		if err != nil {
			return err
		}
		if g, ok := seen[abs]; ok {
			return usageErr("%s and %s name the same file %s", g, f, flags[f])
		}
		seen[abs] = f
	}
	return nil
}

// csvOut is a CSV file being written: to a temporary name, renamed into
// place by commit, removed by abort; "-" writes to standard output.
type csvOut struct {
	path, tmp string
	f         *os.File // nil for standard output
	buf       *bufio.Writer
	zw        *gzip.Writer
	w         *csv.Writer
	done      bool
}

func createCSV(path string, header []string, stdout io.Writer) (*csvOut, error) {
	o := &csvOut{path: path, tmp: path + ".tmp"}
	if path == "-" {
		o.tmp = ""
		o.buf = bufio.NewWriterSize(stdout, 1<<16)
	} else {
		var err error
		if o.f, err = os.Create(o.tmp); err != nil {
			return nil, err
		}
		o.buf = bufio.NewWriterSize(o.f, 1<<20)
	}
	var w io.Writer = o.buf
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		o.zw = gzip.NewWriter(o.buf)
		w = o.zw
	}
	o.w = csv.NewWriter(w)
	if err := o.w.Write(header); err != nil {
		o.abort()
		return nil, err
	}
	return o, nil
}

func (o *csvOut) commit() error {
	o.w.Flush()
	err := o.w.Error()
	if o.zw != nil {
		err = errors.Join(err, o.zw.Close())
	}
	err = errors.Join(err, o.buf.Flush())
	o.done = true
	if o.tmp == "" {
		return err
	}
	err = errors.Join(err, o.f.Close())
	if err == nil {
		err = os.Rename(o.tmp, o.path)
	}
	if err != nil {
		_ = os.Remove(o.tmp)
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

// abort removes the temporary file unless commit succeeded.
func (o *csvOut) abort() {
	if o.done || o.tmp == "" {
		return
	}
	_ = o.f.Close()
	_ = os.Remove(o.tmp)
	o.done = true
}
