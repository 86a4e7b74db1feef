package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/benchbridge"
)

type flags struct {
	count                             uint64
	size, rounds, qos, capacity       int
	warmup, window                    int
	rates, sideList, modeList, format string
	paced, quiet                      time.Duration
	startTimeout, runTimeout          time.Duration
	aimdb, plugins, peers             string
	telegraf, redJS, node, mosquitto  string
	keep                              bool
	lingers, lingerQuickAck           string
	serve, cpuprofile                 string
}

func parseFlags() *flags {
	f := &flags{}
	flag.Uint64Var(&f.count, "count", 200000, "messages per burst run")
	flag.IntVar(&f.size, "size", 100, "payload size in bytes")
	flag.IntVar(&f.rounds, "rounds", 3, "rounds; each runs every side in every mode")
	flag.StringVar(&f.rates, "rates", "2000,10000", "rates of the paced runs in msg/s, comma-separated")
	flag.DurationVar(&f.paced, "paced-duration", 10*time.Second, "length of a paced run")
	flag.StringVar(&f.modeList, "modes", "burst,paced", "which runs: burst, paced or both")
	flag.StringVar(&f.sideList, "sides", "none,aimdb,aimdb-linger,aimdb-inprocess,telegraf,node-red", "sides to measure (none is the no-bridge ceiling; aimdb-linger is aimdb with plugin_linger = -linger)")
	flag.StringVar(&f.lingers, "linger", "5ms", "plugin_linger of the aimdb-linger side (the aimdb side keeps the default); several, comma-separated, give one side each")
	flag.StringVar(&f.lingerQuickAck, "linger-quickack", "", "tcp_quickack of the aimdb-linger sides (always or publishing; default: the connector's default)")
	flag.IntVar(&f.qos, "qos", 0, "MQTT QoS on both legs: 0 or 1")
	flag.StringVar(&f.format, "format", "ascii", "payload form: ascii (AimDB codec raw) or json (codec json)")
	flag.IntVar(&f.capacity, "capacity", 65536, "AimDB record ring capacity")
	flag.IntVar(&f.warmup, "warmup", 2000, "messages sent through each bridge before measuring")
	flag.IntVar(&f.window, "window", 1000, "publisher's publishes in flight")
	flag.DurationVar(&f.quiet, "quiet", 3*time.Second, "end a run when nothing arrived for this long")
	flag.DurationVar(&f.startTimeout, "start-timeout", 60*time.Second, "time a side has to start forwarding")
	flag.DurationVar(&f.runTimeout, "run-timeout", 5*time.Minute, "bound of one measurement")
	flag.StringVar(&f.aimdb, "aimdb", "bin/aimdb", "aimdb command")
	flag.StringVar(&f.plugins, "plugins", "bin/plugins", "aimdb plugins directory")
	flag.StringVar(&f.peers, "peers", "bin/bench-peers", "where make bench-peers installed Telegraf and Node-RED")
	flag.StringVar(&f.telegraf, "telegraf", "", "telegraf command (default: in -peers, on PATH, in GOPATH/bin)")
	flag.StringVar(&f.redJS, "node-red", "", "Node-RED's red.js (default: in -peers)")
	flag.StringVar(&f.node, "node", "", "node command (default: on PATH)")
	flag.StringVar(&f.mosquitto, "mosquitto", "", "mosquitto command (default: on PATH)")
	flag.BoolVar(&f.keep, "keep", false, "keep each run's configuration and logs")
	flag.StringVar(&f.serve, "serve", "", "serve the AimDB configuration at this path with the MQTT connector linked in-process (the aimdb-inprocess side runs this)")
	flag.StringVar(&f.cpuprofile, "cpuprofile", "", "with -serve: write a CPU profile here")
	flag.Parse()
	return f
}

// modes turns -modes, -count, -rates and -paced-duration into the runs of a round.
func (f *flags) modes() ([]benchbridge.Mode, error) {
	var out []benchbridge.Mode
	for _, m := range strings.Split(f.modeList, ",") {
		switch strings.TrimSpace(m) {
		case "burst":
			out = append(out, benchbridge.Mode{Name: "burst", Count: f.count})
		case "paced":
			for _, r := range strings.Split(f.rates, ",") {
				rate, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
				if err != nil || rate <= 0 {
					return nil, fmt.Errorf("-rates: %q is not a positive rate", r)
				}
				out = append(out, benchbridge.Mode{Name: fmt.Sprintf("paced %g/s", rate),
					Count: uint64(rate * f.paced.Seconds()), Rate: rate, Duration: 2 * f.paced})
			}
		default:
			return nil, fmt.Errorf("-modes: unknown mode %q (want burst, paced)", m)
		}
	}
	return out, nil
}

// sides resolves -sides to the installed peers; a missing one is skipped with a message.
func (f *flags) sides() ([]benchbridge.Side, error) {
	var out []benchbridge.Side
	for _, s := range strings.Split(f.sideList, ",") {
		switch strings.TrimSpace(s) {
		case "none":
			out = append(out, benchbridge.Direct{})
		case "aimdb", "aimdb-linger":
			bin, err1 := filepath.Abs(f.aimdb)
			plugins, err2 := filepath.Abs(f.plugins)
			if err := firstErr(err1, err2, exists(bin), exists(filepath.Join(plugins, "mqtt"))); err != nil {
				skip("AimDB", err, "run make build")
				continue
			}
			if strings.TrimSpace(s) == "aimdb" {
				out = append(out, benchbridge.AimDB{Bin: bin, Plugins: plugins})
				continue
			}
			for _, l := range strings.Split(f.lingers, ",") {
				d, err := time.ParseDuration(strings.TrimSpace(l))
				if err != nil || d < 0 {
					return nil, fmt.Errorf("-linger: %q is not a duration", l)
				}
				out = append(out, benchbridge.AimDB{Bin: bin, Plugins: plugins, Linger: &d, QuickAck: f.lingerQuickAck})
			}
		case "aimdb-inprocess":
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			out = append(out, benchbridge.AimDBInProcess{Bin: self})
		case "telegraf":
			bin, err := f.telegrafBin()
			if err != nil {
				skip("Telegraf", err, "run make bench-peers")
				continue
			}
			out = append(out, benchbridge.Telegraf{Bin: bin})
		case "node-red":
			red := f.redJS
			if red == "" {
				red = filepath.Join(f.peers, "node-red", "node_modules", "node-red", "red.js")
			}
			red, err1 := filepath.Abs(red)
			node, err2 := lookPath(f.node, "node")
			if err := firstErr(err1, exists(red), err2); err != nil {
				skip("Node-RED", err, "run make bench-peers")
				continue
			}
			out = append(out, benchbridge.NodeRED{Node: node, RedJS: red})
		default:
			return nil, fmt.Errorf("-sides: unknown side %q (want none, aimdb, aimdb-linger, aimdb-inprocess, telegraf, node-red)", s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no side to measure")
	}
	return out, nil
}

// telegrafBin finds telegraf: -telegraf, the peers directory, PATH, GOPATH/bin.
func (f *flags) telegrafBin() (string, error) {
	if f.telegraf != "" {
		return lookPath(f.telegraf, "")
	}
	if p, err := filepath.Abs(filepath.Join(f.peers, "telegraf")); err == nil && exists(p) == nil {
		return p, nil
	}
	if p, err := exec.LookPath("telegraf"); err == nil {
		return filepath.Abs(p)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if p := filepath.Join(dir, "bin", "telegraf"); exists(p) == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("telegraf not found in %s, on PATH or in GOPATH/bin", f.peers)
}

// lookPath resolves an explicit command (flag) or looks up name on PATH.
func lookPath(explicit, name string) (string, error) {
	if explicit == "" {
		explicit = name
	}
	p, err := exec.LookPath(explicit)
	if err != nil {
		return "", err
	}
	return filepath.Abs(p)
}

func exists(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func skip(side string, err error, hint string) {
	fmt.Fprintf(os.Stderr, "skipping %s: %v (%s)\n", side, err, hint)
}
