package risk

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// BINRange is one row of the BIN table. From and To are widened to 8
// digits so that ranges and card BINs of different lengths compare as
// strings.
type BINRange struct {
	From, To string
	Kind     string
	Note     string
	Line     int // line in the source file, for messages
}

// BINTable is a list of card BIN ranges and their kinds.
type BINTable struct {
	Source string
	Ranges []BINRange
}

var binDigits = regexp.MustCompile(`^[0-9]{6,8}$`)

var binHeader = []string{"bin_from", "bin_to", "kind", "note"}

// ParseBINTable reads a CSV with the header bin_from,bin_to,kind,note.
// Lines starting with '#' are comments. Any bad row is refused with its
// line number: a silently skipped prepaid range would let prepaid cards in.
func ParseBINTable(name string, r io.Reader) (*BINTable, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = len(binHeader)
	cr.TrimLeadingSpace = true
	t := &BINTable{Source: name}
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("BIN table %s line %d: %s", name, line, fmt.Sprintf(format, args...))
	}
	header := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fail(pe.Line, "%v", pe.Err)
			}
			return nil, fmt.Errorf("BIN table %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if header {
			header = false
			if strings.Join(rec, ",") != strings.Join(binHeader, ",") {
				return nil, fail(line, "header must be %s, got %s", strings.Join(binHeader, ","), strings.Join(rec, ","))
			}
			continue
		}
		from, to, kind, note := rec[0], rec[1], rec[2], rec[3]
		if !binDigits.MatchString(from) {
			return nil, fail(line, "bin_from %q must be 6 to 8 digits", from)
		}
		if !binDigits.MatchString(to) {
			return nil, fail(line, "bin_to %q must be 6 to 8 digits", to)
		}
		lo, hi := widen(from, '0'), widen(to, '9')
		if lo > hi {
			return nil, fail(line, "bin_from %s is after bin_to %s", from, to)
		}
		if !kindPattern.MatchString(kind) {
			return nil, fail(line, "kind %q must be a lower-case word like prepaid", kind)
		}
		t.Ranges = append(t.Ranges, BINRange{From: lo, To: hi, Kind: kind, Note: note, Line: line})
	}
	if header {
		return nil, fmt.Errorf("BIN table %s: empty file (the header bin_from,bin_to,kind,note is required)", name)
	}
	return t, nil
}

// widen pads a 6 to 8 digit BIN to 8 digits with pad.
func widen(bin string, pad byte) string {
	return bin + strings.Repeat(string(pad), 8-len(bin))
}

// Lookup finds the range of a card BIN among the given kinds. full is true
// when every card with this BIN is in the range, false when the BIN is
// shorter than the range's bounds and only some of its cards are. A BIN
// that is not 6 to 8 digits matches nothing.
func (t *BINTable) Lookup(bin string, kinds []string) (r BINRange, full, ok bool) {
	if t == nil || !binDigits.MatchString(bin) {
		return BINRange{}, false, false
	}
	lo, hi := widen(bin, '0'), widen(bin, '9')
	var partial *BINRange
	for i, rg := range t.Ranges {
		if !slices.Contains(kinds, rg.Kind) {
			continue
		}
		if rg.From <= lo && hi <= rg.To {
			return rg, true, true
		}
		if partial == nil && rg.From <= hi && lo <= rg.To {
			partial = &t.Ranges[i]
		}
	}
	if partial != nil {
		return *partial, false, true
	}
	return BINRange{}, false, false
}
