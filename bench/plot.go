package bench

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// CurvePoint is one forwarder's medians at one offered rate.
type CurvePoint struct {
	Series string  // "asgigram disk", "asgigram memory", "baseline"
	Rate   float64 // offered updates/s
	// CPUPerUpdate is the forwarder's CPU per update, in microseconds.
	CPUPerUpdate float64
	P99          time.Duration
	// P99Added is P99 minus the baseline's p99 of the same run (0 for the
	// baseline itself).
	P99Added time.Duration
}

// Curve turns reports of offered-rate runs (the -json output) into points:
// asgigram's medians, named after its spool ("asgigram memory" with
// --spool memory, else "asgigram disk"), and the baseline's, one point
// per rate (the median over the reports of that rate).
func Curve(reps []*Report) ([]CurvePoint, error) {
	var pts []CurvePoint
	base := map[float64][]CurvePoint{}
	for _, rep := range reps {
		if rep.Config.Mode() != "offered" {
			return nil, fmt.Errorf("a report of mode %s: the curve takes offered-rate runs", rep.Config.Mode())
		}
		a, b, ok := rep.pair()
		if !ok {
			return nil, fmt.Errorf("the report at %.0f/s lacks asgigram or the baseline", rep.Config.OfferedRate)
		}
		rate := rep.Config.OfferedRate
		series := "asgigram disk"
		if f := strings.Join(rep.Config.AsgigramFlags, " "); strings.Contains(f, "--spool memory") || strings.Contains(f, "--spool=memory") {
			series = "asgigram memory"
		}
		pts = append(pts, CurvePoint{Series: series, Rate: rate, CPUPerUpdate: a.CPUPer10k * 100, P99: a.P99, P99Added: a.P99 - b.P99})
		base[rate] = append(base[rate], CurvePoint{Series: RunnerBaseline, Rate: rate, CPUPerUpdate: b.CPUPer10k * 100, P99: b.P99})
	}
	for _, bs := range base {
		slices.SortFunc(bs, func(x, y CurvePoint) int { return cmp.Compare(x.CPUPerUpdate, y.CPUPerUpdate) })
		p := bs[len(bs)/2]
		slices.SortFunc(bs, func(x, y CurvePoint) int { return cmp.Compare(x.P99, y.P99) })
		p.P99 = bs[len(bs)/2].P99
		pts = append(pts, p)
	}
	slices.SortFunc(pts, func(x, y CurvePoint) int {
		return cmp.Or(cmp.Compare(x.Series, y.Series), cmp.Compare(x.Rate, y.Rate))
	})
	return pts, nil
}

// PrintCurve writes the points as a Markdown table.
func PrintCurve(w io.Writer, pts []CurvePoint) {
	fmt.Fprintln(w, "| forwarder | offered/s | CPU µs/update | p99 ms | p99 added ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, p := range pts {
		added := fmt.Sprintf("%+.2f", float64(p.P99Added)/float64(time.Millisecond))
		if p.Series == RunnerBaseline {
			added = "—"
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f | %s |\n", p.Series, p.Rate, p.CPUPerUpdate, float64(p.P99)/float64(time.Millisecond), added)
	}
}

var seriesColor = map[string]string{"asgigram disk": "#d62728", "asgigram memory": "#1f77b4", RunnerBaseline: "#555555"}

// PlotSVG draws the curve as an SVG: CPU per update and p99 latency against
// the offered rate (log scale), one line per forwarder.
func PlotSVG(w io.Writer, pts []CurvePoint, title string) error {
	const pw, ph, left, top, gap = 360, 240, 70, 50, 90
	width, height := left+2*pw+gap+30, top+ph+90
	var rates []float64
	var series []string
	for _, p := range pts {
		if !slices.Contains(rates, p.Rate) {
			rates = append(rates, p.Rate)
		}
		if !slices.Contains(series, p.Series) {
			series = append(series, p.Series)
		}
	}
	if len(rates) == 0 {
		return fmt.Errorf("nothing to plot")
	}
	slices.Sort(rates)
	lo, hi := math.Log10(rates[0]), math.Log10(rates[len(rates)-1])
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, xmlEscape(title))
	panels := []struct {
		label string
		val   func(CurvePoint) float64
	}{
		{"CPU per update (µs)", func(p CurvePoint) float64 { return p.CPUPerUpdate }},
		{"p99 latency (ms)", func(p CurvePoint) float64 { return float64(p.P99) / float64(time.Millisecond) }},
	}
	for i, pn := range panels {
		x0 := left + i*(pw+gap)
		maxV := 0.0
		for _, p := range pts {
			maxV = max(maxV, pn.val(p))
		}
		step := niceStep(maxV / 5)
		top2 := step * math.Ceil(maxV/step)
		if top2 == 0 {
			top2 = 1
		}
		xOf := func(r float64) float64 { return float64(x0) + 20 + (math.Log10(r)-lo)/(hi-lo)*float64(pw-40) }
		yOf := func(v float64) float64 { return float64(top+ph) - v/top2*float64(ph) }
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0, top-12, xmlEscape(pn.label))
		for v := 0.0; v <= top2+step/2; v += step {
			y := yOf(v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x0+pw, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, trimFloat(v))
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", x0, top, pw, ph)
		for _, r := range rates {
			x := xOf(r)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", x, top+ph, x, top+ph+5)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n", x, top+ph+18, r)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">offered updates/s (log scale)</text>`+"\n", x0+pw/2, top+ph+36)
		for _, s := range series {
			var sp []CurvePoint
			for _, p := range pts {
				if p.Series == s {
					sp = append(sp, p)
				}
			}
			color := cmp.Or(seriesColor[s], "#2ca02c")
			var path strings.Builder
			for j, p := range sp {
				if j > 0 {
					path.WriteByte(' ')
				}
				fmt.Fprintf(&path, "%.1f,%.1f", xOf(p.Rate), yOf(pn.val(p)))
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", path.String(), color)
			for _, p := range sp {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s at %.0f/s: %.2f</title></circle>`+"\n",
					xOf(p.Rate), yOf(pn.val(p)), color, xmlEscape(s), p.Rate, pn.val(p))
			}
		}
	}
	for i, s := range series {
		x := left + i*170
		y := top + ph + 62
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`, x, y, x+24, y, cmp.Or(seriesColor[s], "#2ca02c"))
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x+30, y+4, xmlEscape(s))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceStep rounds a grid step up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
