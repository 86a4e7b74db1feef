package benchbridge

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// metric picks one figure of a result.
type metric struct {
	name string
	get  func(Result) float64
}

var (
	mRate = metric{"msg/s", func(r Result) float64 { return r.Report.Rate() }}
	mCPU  = metric{"CPU/msg", Result.CPUPerMsg}
	mRSS  = metric{"RSS", func(r Result) float64 { return float64(r.PeakRSS()) }}
	mP50  = metric{"p50", func(r Result) float64 { return float64(r.Report.Latency.P50) }}
	mP99  = metric{"p99", func(r Result) float64 { return float64(r.Report.Latency.P99) }}
)

// PrintTable writes one table for a mode: the medians over the rounds of each side,
// and the summed lost, duplicated and reordered messages.
func PrintTable(w io.Writer, mode string, sides []string, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "side\truns\tmsg/s\tCPU µs/msg\tpeak RSS MiB\tlost\tdup\treordered\tp50\tp99\t")
	for _, side := range sides {
		rs := pick(results, side, mode)
		if len(rs) == 0 {
			continue
		}
		var lost, dup, reord uint64
		for _, r := range rs {
			lost, dup, reord = lost+r.Report.Lost, dup+r.Report.Duplicates, reord+r.Report.Reordered
		}
		cpu, rss := "–", "–"
		if rs[0].HasProcs {
			cpu = fmt.Sprintf("%.1f", med(rs, mCPU))
			rss = fmt.Sprintf("%.0f", med(rs, mRSS)/(1<<20))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", side, len(rs), thousands(med(rs, mRate)),
			cpu, rss, lost, dup, reord, dur(med(rs, mP50)), dur(med(rs, mP99)))
	}
	tw.Flush()
}

// PrintRatios writes the same-run ratios of side a to each of others for a mode: the
// ratio is taken within each round, and the median over the rounds is printed.
func PrintRatios(w io.Writer, mode, a string, others []string, results []Result, burst bool) {
	ms := []metric{mCPU, mP99}
	if burst {
		ms = []metric{mRate, mCPU, mRSS}
	}
	for _, b := range others {
		var parts []string
		for _, m := range ms {
			if rs := roundRatios(results, mode, a, b, m); len(rs) > 0 {
				parts = append(parts, fmt.Sprintf("%s %.2f", m.name, median(rs)))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "  %s/%s (%s): %s\n", a, b, mode, strings.Join(parts, ", "))
		}
	}
}

// PrintLatencyTarget compares side a's p99 with the no-bridge p99 of the same rounds
// against issue 13's bound p99 <= 2 x no-bridge p99 + 1 ms (its target at 10,000 msg/s).
func PrintLatencyTarget(w io.Writer, mode, a, ceiling string, results []Result) {
	rs := roundRatios(results, mode, a, ceiling, mP99)
	if len(rs) == 0 {
		return
	}
	ap, cp := med(pick(results, a, mode), mP99), med(pick(results, ceiling, mode), mP99)
	target := 2*cp + float64(time.Millisecond)
	verdict := "yes"
	if ap > target {
		verdict = "no"
	}
	fmt.Fprintf(w, "  %s p99 / %s p99 (%s): %.2f (%s vs %s; within 2x + 1 ms = %s: %s)\n",
		a, ceiling, mode, median(rs), dur(ap), dur(cp), dur(target), verdict)
}

// PrintProcesses writes the median peak RSS of each process of side a (by command
// name), for the host + used plugins versus all plugins question.
func PrintProcesses(w io.Writer, mode, a string, results []Result) {
	rs := pick(results, a, mode)
	byComm := map[string][]float64{}
	var order []string
	for _, r := range rs {
		for _, p := range r.Procs {
			if _, ok := byComm[p.Comm]; !ok {
				order = append(order, p.Comm)
			}
			byComm[p.Comm] = append(byComm[p.Comm], float64(p.PeakRSS))
		}
	}
	if len(order) == 0 {
		return
	}
	var parts []string
	for _, c := range order {
		parts = append(parts, fmt.Sprintf("%s %.0f", c, median(byComm[c])/(1<<20)))
	}
	fmt.Fprintf(w, "  %s peak RSS by process (%s, MiB): %s\n", a, mode, strings.Join(parts, ", "))
}

func pick(results []Result, side, mode string) []Result {
	var out []Result
	for _, r := range results {
		if r.Side == side && r.Mode == mode {
			out = append(out, r)
		}
	}
	return out
}

func med(rs []Result, m metric) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = m.get(r)
	}
	return median(xs)
}

// roundRatios returns a/b of metric m for every round in which both sides ran.
func roundRatios(results []Result, mode, a, b string, m metric) []float64 {
	var out []float64
	for _, ra := range pick(results, a, mode) {
		for _, rb := range pick(results, b, mode) {
			if ra.Round == rb.Round && m.get(rb) != 0 {
				out = append(out, m.get(ra)/m.get(rb))
			}
		}
	}
	return out
}

func dur(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d == 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
