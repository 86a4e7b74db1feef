// Command bench-bridge measures MQTT bridges side by side on loopback: AimDB,
// Telegraf, Node-RED and the no-bridge ceiling, alternating within each round, and
// prints msg/s, CPU µs per message, peak RSS, losses and latency with the same-run
// ratios. `make bench-bridge` runs it with the defaults; `make bench-peers` installs
// the peers into bin/bench-peers. A peer that is not installed is skipped.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/benchbridge"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-bridge:", err)
		os.Exit(1)
	}
}

func run() error {
	f := parseFlags()
	if f.serve != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return benchbridge.ServeInProcess(ctx, f.serve, f.cpuprofile)
	}
	format, err := seqload.ParseFormat(f.format)
	if err != nil {
		return err
	}
	if f.qos > 1 || f.count == 0 || f.rounds < 1 {
		return fmt.Errorf("-qos must be 0 or 1, -count and -rounds positive")
	}
	modes, err := f.modes()
	if err != nil {
		return err
	}
	sides, err := f.sides()
	if err != nil {
		return err
	}
	mosq, err := lookPath(f.mosquitto, "mosquitto")
	if err != nil {
		return fmt.Errorf("mosquitto is needed for every run: %w", err)
	}
	tmp, err := os.MkdirTemp("", "bench-bridge-")
	if err != nil {
		return err
	}
	if !f.keep {
		defer os.RemoveAll(tmp)
	}
	opts := benchbridge.Options{Mosquitto: mosq, Size: f.size, Format: format, QoS: byte(f.qos),
		Capacity: f.capacity, Warmup: f.warmup, Window: f.window, Quiet: f.quiet,
		StartTimeout: f.startTimeout, RunTimeout: f.runTimeout, TempDir: tmp, Keep: f.keep}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("bench-bridge: %s\n", strings.Join(os.Args, " "))
	fmt.Printf("%d × %d B %s payloads at QoS %d, %d rounds, sides alternating; load average at start: %s\n",
		f.count, f.size, format, f.qos, f.rounds, benchbridge.LoadAverage())
	var results []benchbridge.Result
	for round := 1; round <= f.rounds; round++ {
		for _, mode := range modes {
			for i := range sides {
				side := sides[(i+round-1)%len(sides)] // a different side goes first each round
				res, err := benchbridge.Run(ctx, opts, side, mode, round)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "round %d %s %s: run failed, not counted: %v\n", round, mode.Name, side.Name(), err)
					continue
				}
				for _, w := range res.Warnings {
					fmt.Fprintf(os.Stderr, "round %d %s %s: warning: %s\n", round, mode.Name, side.Name(), w)
				}
				results = append(results, res)
				fmt.Fprintf(os.Stderr, "round %d %-13s %-9s %8.0f msg/s %7.1f µs/msg %5.0f MiB lost %d dup %d p99 %v load %.2f\n",
					round, mode.Name, side.Name(), res.Report.Rate(), res.CPUPerMsg(), float64(res.PeakRSS())/(1<<20),
					res.Report.Lost, res.Report.Duplicates, res.Report.Latency.P99.Round(time.Microsecond), res.Load)
			}
		}
	}
	report(results, sides, modes)
	fmt.Printf("\nload average at end: %s\n", benchbridge.LoadAverage())
	return nil
}

// report prints a table per mode and the same-run ratios of each AimDB side to the others.
func report(results []benchbridge.Result, sides []benchbridge.Side, modes []benchbridge.Mode) {
	const ceiling = "no bridge"
	peers := []string{"Telegraf", "Node-RED", "AimDB in-process"}
	var names, aimdbs []string // aimdbs: AimDB through its plugin, with and without a linger
	for _, s := range sides {
		names = append(names, s.Name())
		if _, ok := s.(benchbridge.AimDB); ok {
			aimdbs = append(aimdbs, s.Name())
		}
	}
	for _, m := range modes {
		fmt.Printf("\n%s (medians over rounds; lost/dup/reordered summed):\n", m.Name)
		benchbridge.PrintTable(os.Stdout, m.Name, names, results)
		fmt.Println("same-run ratios (median of per-round ratios):")
		for _, aimdb := range aimdbs {
			benchbridge.PrintRatios(os.Stdout, m.Name, aimdb, peers, results, m.Rate == 0)
			if m.Rate != 0 {
				benchbridge.PrintLatencyTarget(os.Stdout, m.Name, aimdb, ceiling, results)
			}
			benchbridge.PrintProcesses(os.Stdout, m.Name, aimdb, results)
		}
	}
}
