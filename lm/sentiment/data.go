package sentiment

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrData is wrapped by every error about a malformed line of labelled
// data. Check with errors.Is.
var ErrData = errors.New("malformed labelled data")

// ReadLabeled reads labelled sentences, one per line: "text<TAB>label" with
// label 0 (negative) or 1 (positive). The line is split at its last tab, so
// the text may contain tabs. Spaces around the label and a "\r" line ending
// are ignored; blank lines are skipped. A malformed line is an error that
// wraps ErrData and names the line number.
func ReadLabeled(r io.Reader) (texts []string, labels []int, err error) {
	err = eachLine(r, func(n int, line string) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		k := strings.LastIndexByte(line, '\t')
		if k < 0 {
			return fmt.Errorf("%w: line %d: no tab between text and label", ErrData, n)
		}
		text := line[:k]
		if strings.TrimSpace(text) == "" {
			return fmt.Errorf("%w: line %d: empty text", ErrData, n)
		}
		var y int
		switch lab := strings.TrimSpace(line[k+1:]); lab {
		case "0":
			y = 0
		case "1":
			y = 1
		default:
			if len(lab) > 20 {
				lab = lab[:20] + "..."
			}
			return fmt.Errorf("%w: line %d: label %q is not 0 or 1", ErrData, n, lab)
		}
		texts = append(texts, text)
		labels = append(labels, y)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read labelled data: %w", err)
	}
	return texts, labels, nil
}
