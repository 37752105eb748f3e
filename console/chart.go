package console

import (
	"github.com/example/dunning/money"
	"github.com/example/dunning/reports"
)

// chart is one currency's aging as bars, laid out here so that the
// template only draws (an inline SVG: no script, no library).
type chart struct {
	Currency string
	Total    string
	Bars     []bar
}

// bar is one bucket.
type bar struct {
	Bucket  string // reports.BucketNames
	Amount  string // formatted
	Count   int64
	X, Y, H int // in the SVG's user units
	LabelY  int
}

// Chart geometry, in SVG user units.
const (
	chartHeight = 160 // the tallest bar
	chartTop    = 24  // room above it for the amount
	barWidth    = 64
	barGap      = 24
)

func agingChart(c reports.CurrencyAging) chart {
	out := chart{Currency: c.Currency, Total: money.Format(c.Total.Minor, c.Currency)}
	var most int64
	for _, b := range c.Buckets {
		most = max(most, b.Minor)
	}
	for i, b := range c.Buckets {
		h := 0
		if most > 0 {
			// At least a sliver for a bucket that holds anything.
			h = max(int(b.Minor*chartHeight/most), min(int(b.Minor), 2))
		}
		y := chartTop + chartHeight - h
		out.Bars = append(out.Bars, bar{Bucket: b.Bucket, Amount: money.Format(b.Minor, c.Currency), Count: b.Count,
			X: barGap/2 + i*(barWidth+barGap), Y: y, H: h, LabelY: y - 6})
	}
	return out
}
