package benchbridge

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// Mode is one kind of run: a burst (Rate 0) or a paced run.
type Mode struct {
	// Name labels the mode in the results ("burst", "paced 2000/s").
	Name string
	// Count bounds the messages; Rate paces them (0: as fast as possible); Duration,
	// when positive, ends a paced run early.
	Count    uint64
	Rate     float64
	Duration time.Duration
}

// Options are the settings shared by every run.
type Options struct {
	// Mosquitto is the mosquitto command.
	Mosquitto string
	// Size and Format shape the payloads; QoS is used on every leg.
	Size   int
	Format seqload.Format
	QoS    byte
	// Capacity is AimDB's ring capacity.
	Capacity int
	// Warmup messages go through each bridge before the measurement (not counted).
	Warmup int
	// Window bounds the publisher's in-flight publishes.
	Window int
	// Quiet ends the wait for stragglers when nothing arrived for that long.
	Quiet time.Duration
	// StartTimeout bounds a side's start until it forwards its first probe;
	// RunTimeout bounds one measurement.
	StartTimeout, RunTimeout time.Duration
	// TempDir holds each run's directory (removed after the run unless Keep).
	TempDir string
	Keep    bool
}

// Result is the outcome of one run of one side.
type Result struct {
	// Side, Mode and Round say which run this was.
	Side, Mode string
	Round      int
	// Report is the counter's report.
	Report seqload.Report
	// CPU is the CPU time of the side's process tree during the measurement; Procs
	// are its processes at the end (CPU and peak RSS each). HasProcs is false for
	// the no-bridge ceiling.
	CPU      time.Duration
	Procs    []ProcUsage
	HasProcs bool
	// Load is the 1-minute load average at the end of the run.
	Load float64
	// Warnings are problems that did not spoil the measurement, such as a process
	// that needed SIGKILL to stop.
	Warnings []string
}

// CPUPerMsg is the side's CPU time per message sent, in microseconds.
func (r Result) CPUPerMsg() float64 {
	if r.Report.Sent == 0 {
		return 0
	}
	return float64(r.CPU.Microseconds()) / float64(r.Report.Sent)
}

// PeakRSS is the summed peak RSS of the side's processes, in bytes.
func (r Result) PeakRSS() uint64 { return Usage{Procs: r.Procs}.PeakRSS() }

// Run measures one side in one mode: its own broker, bridge process tree, subscriber
// and publisher, all stopped again before it returns.
func Run(ctx context.Context, o Options, side Side, mode Mode, round int) (res Result, err error) {
	res = Result{Side: side.Name(), Mode: mode.Name, Round: round}
	dir, err := os.MkdirTemp(o.TempDir, "run-")
	if err != nil {
		return res, fmt.Errorf("run directory: %w", err)
	}
	defer func() {
		if !o.Keep && err == nil {
			os.RemoveAll(dir)
		} else if err != nil {
			err = fmt.Errorf("%w (files in %s)", err, dir)
		}
	}()
	broker, err := startBroker(ctx, o.Mosquitto, dir)
	if err != nil {
		return res, err
	}
	defer warnInto(&res, broker.Stop)
	sub, err := subscribe(broker.Port, OutTopic, o.QoS)
	if err != nil {
		return res, err
	}
	defer sub.close()
	setup := Setup{Dir: dir, Port: broker.Port, QoS: o.QoS, Format: o.Format, Capacity: o.Capacity,
		BufferLimit: 2*int(mode.Count) + o.Warmup + 10000}
	proc, err := side.Start(setup)
	if err != nil {
		return res, fmt.Errorf("%s: %w", side.Name(), err)
	}
	if proc != nil {
		defer warnInto(&res, proc.Stop)
	}
	pub, err := newPublisher(broker.Port, side.Topic(), o.QoS, o.Window)
	if err != nil {
		return res, err
	}
	defer pub.close()
	if err := warmUp(ctx, o, side, proc, pub, sub); err != nil {
		return res, err
	}

	counter := seqload.NewCounter(mode.Count)
	sub.counter.Store(counter)
	defer sub.counter.Store(nil)
	var before Usage
	if proc != nil {
		before = proc.Usage()
	}
	runCtx, cancel := context.WithTimeout(ctx, o.RunTimeout)
	defer cancel()
	gen := seqload.Generator{Format: o.Format, Size: o.Size, Count: mode.Count, Rate: mode.Rate,
		Duration: mode.Duration, Publish: pub.publish, Counter: counter}
	sent, genErr := gen.Run(runCtx)
	if genErr == nil {
		genErr = pub.flush()
	}
	if genErr != nil {
		return res, fmt.Errorf("%s %s: generator stopped after %d messages: %w", side.Name(), mode.Name, sent, genErr)
	}
	counter.Wait(runCtx, sent, o.Quiet)
	if proc != nil {
		after := proc.Usage()
		res.CPU, res.Procs, res.HasProcs = after.CPUSince(before), after.Procs, true
		if exited, werr := proc.Exited(); exited {
			return res, fmt.Errorf("%s exited during the run (%v): %s", side.Name(), werr, proc.LogTail(800))
		}
	}
	res.Report = counter.Report()
	res.Load = loadAverage()[0]
	return res, nil
}

// warmUp waits until the side forwards a probe (its start-up), then sends o.Warmup
// probes through it and waits for them, so every side is measured warm.
func warmUp(ctx context.Context, o Options, side Side, proc *Proc, pub *publisher, sub *subscriber) error {
	deadline := time.Now().Add(o.StartTimeout)
	var n uint64
	for sub.probes.Load() == 0 {
		if proc != nil {
			if exited, werr := proc.Exited(); exited {
				return fmt.Errorf("%s exited at start (%v): %s", side.Name(), werr, proc.LogTail(800))
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s forwarded nothing from %s to %s within %v", side.Name(), side.Topic(), OutTopic, o.StartTimeout)
		}
		if err := pub.publish(0, seqload.Encode(o.Format, probeBase+n, time.Now(), o.Size)); err != nil {
			return err
		}
		n++
		time.Sleep(100 * time.Millisecond)
	}
	if err := pub.flush(); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond) // late start-up probes arrive
	want := sub.probes.Load() + uint64(o.Warmup)
	for i := 0; i < o.Warmup; i++ {
		if err := pub.publish(0, seqload.Encode(o.Format, probeBase+1<<32+uint64(i), time.Now(), o.Size)); err != nil {
			return err
		}
	}
	if err := pub.flush(); err != nil {
		return err
	}
	for wait := time.Now().Add(o.Quiet + 10*time.Second); sub.probes.Load() < want && time.Now().Before(wait); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return nil
}

// warnInto runs stop and keeps its error as a warning of the result: the figures were
// taken before the stop.
func warnInto(res *Result, stop func() error) {
	if err := stop(); err != nil {
		res.Warnings = append(res.Warnings, err.Error())
	}
}
