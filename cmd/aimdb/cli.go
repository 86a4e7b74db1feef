package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand: its name ("record get"), usage, help text with
// examples, flags and body.
type command struct {
	name    string
	args    string // positional arguments, for the usage line
	summary string
	help    string // description and examples, shown by --help
	flags   func(fs *flag.FlagSet)
	// minArgs and maxArgs bound the positional arguments.
	minArgs, maxArgs int
	run              func(ctx context.Context, a *app, fs *flag.FlagSet, args []string) error
}

// app is the process's environment, replaceable in tests.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// usageError is a mistake in how a command was called: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// reportedError was already printed in full (for example a list of config errors).
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }

var commands []*command

func register(c *command) { commands = append(commands, c) }

func findCommand(args []string) (*command, []string) {
	var best *command
	var rest []string
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) < len(words) {
			continue
		}
		match := true
		for i, w := range words {
			if args[i] != w {
				match = false
				break
			}
		}
		if match && (best == nil || len(words) > len(strings.Fields(best.name))) {
			best, rest = c, args[len(words):]
		}
	}
	return best, rest
}

// main runs the command named by args and returns the exit code.
func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" && args[0] != "-help") {
		args = append([]string{"run"}, args...) // `aimdb [run] ...`
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			if c, rest := findCommand(args[1:]); c != nil && len(rest) == 0 {
				a.printHelp(c, a.stdout)
				return exitOK
			}
			fmt.Fprintf(a.stderr, "aimdb: no command %q\n", strings.Join(args[1:], " "))
			return exitUsage
		}
		a.printOverview(a.stdout)
		return exitOK
	}
	c, rest := findCommand(args)
	if c == nil {
		if group := groupOf(args[0]); group != "" {
			if len(args) == 1 || strings.HasPrefix(args[1], "-") {
				fmt.Fprintf(a.stderr, "aimdb %s: missing subcommand\n\n", group)
			} else {
				fmt.Fprintf(a.stderr, "aimdb %s: unknown subcommand %q\n\n", group, args[1])
			}
			a.printGroup(group, a.stderr)
		} else {
			fmt.Fprintf(a.stderr, "aimdb: unknown command %q\n\n", strings.Join(args, " "))
			a.printOverview(a.stderr)
		}
		return exitUsage
	}
	fs := flag.NewFlagSet("aimdb "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		a.printHelp(c, a.stdout)
		return exitOK
	}
	if err == nil {
		switch {
		case len(pos) < c.minArgs:
			err = usagef("missing argument: want %s", c.args)
		case len(pos) > c.maxArgs:
			err = usagef("too many arguments: %s", strings.Join(pos[c.maxArgs:], " "))
		}
	}
	if err == nil {
		err = c.run(ctx, a, fs, pos)
	}
	var ue *usageError
	var re *reportedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), isFlagError(err):
		fmt.Fprintf(a.stderr, "aimdb %s: %v\nusage: aimdb %s\nrun 'aimdb %s --help' for details\n", c.name, err, usageLine(c), c.name)
		return exitUsage
	case errors.As(err, &re):
		return exitError
	default:
		fmt.Fprintf(a.stderr, "aimdb %s: %v\n", c.name, err)
		return exitError
	}
}

// flagErr marks errors from the flag package.
type flagErr struct{ error }

func isFlagError(err error) bool {
	var fe flagErr
	return errors.As(err, &fe)
}

var negativeNumber = regexp.MustCompile(`^-[0-9.]`)

// parseInterspersed parses flags before, between and after positional arguments, as
// users expect (`aimdb record get KEY -o json`). "--" ends the flags; an argument that
// looks like a negative number is positional (`aimdb record set t -5`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagErr{err}
		}
		rest := fs.Args()
		// fs.Parse stops at the first positional argument, or after "--".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		args = rest
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
		for len(args) > 0 && negativeNumber.MatchString(args[0]) {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
}

func usageLine(c *command) string {
	s := c.name + " [flags]"
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

func (a *app) printHelp(c *command, w io.Writer) {
	fmt.Fprintf(w, "usage: aimdb %s\n\n%s\n", usageLine(c), c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.help, "\n"))
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		line := "  " + dash + f.Name
		if name != "" {
			line += " " + name
		}
		line += "\n      " + usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, line)
	})
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nflags:\n%s\n", strings.Join(lines, "\n"))
	}
}

func (a *app) printOverview(w io.Writer) {
	fmt.Fprint(w, "aimdb: the AimDB data-sync hub: records linked to MQTT, Kafka, KNX, HTTP through plugins.\n\nusage: aimdb <command> [flags] [args]\n\ncommands:\n")
	cs := append([]*command(nil), commands...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nWith no command, aimdb runs (`aimdb run`). Exit codes: 0 ok, 1 errors, 2 usage.\nRun 'aimdb <command> --help' for a command's flags and examples.\n")
}

// groupOf returns the command group a word names ("record"), or "".
func groupOf(word string) string {
	for _, c := range commands {
		if g, _, ok := strings.Cut(c.name, " "); ok && g == word {
			return g
		}
	}
	return ""
}

func (a *app) printGroup(group string, w io.Writer) {
	fmt.Fprintf(w, "aimdb %s commands:\n", group)
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
		}
	}
}

// newApp returns the app of the real process.
func newApp() *app {
	return &app{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
}
