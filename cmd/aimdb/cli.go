package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// app is the process's environment, replaceable in tests.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// newApp returns the app of the real process.
func newApp() *app {
	return &app{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
}

// newRootCmd builds the whole command tree. A new command is a function returning a
// *cobra.Command (see newGraphCmd), added here.
func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "aimdb",
		Short: "the AimDB data-sync hub: records linked to MQTT, Kafka, KNX, HTTP through plugins",
		Long: `With no command, aimdb runs (aimdb run). Exit codes: 0 ok, 1 errors, 2 usage.
Run 'aimdb <command> --help' for a command's flags and examples.`,
		Version:           version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetVersionTemplate(versionLine() + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { printHelp(c) })
	root.SetHelpCommand(newHelpCmd())
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)

	record := newGroupCmd("record", "list, read, set and watch the records of a running instance")
	record.AddCommand(a.newRecordListCmd(), a.newRecordGetCmd(), a.newRecordSetCmd(), a.newRecordWatchCmd())
	link := newGroupCmd("link", "show the links of a running instance: state, counters, last error")
	link.AddCommand(a.newLinkListCmd())
	connector := newGroupCmd("connector", "show the connector instances of a running instance: state, health, restarts")
	connector.AddCommand(a.newConnectorListCmd())
	plugins := newGroupCmd("plugins", "inspect connector plugins")
	plugins.AddCommand(a.newPluginsListCmd())
	root.AddCommand(
		a.newRunCmd(),
		a.newDemoCmd(),
		a.newCheckCmd(),
		record,
		link,
		connector,
		a.newStatusCmd(),
		a.newGraphCmd(),
		plugins,
		a.newConformanceCmd(),
		a.newVersionCmd(),
		newCompletionCmd(),
	)
	return root
}

// main runs the command named by args and returns the exit code.
func (a *app) main(ctx context.Context, args []string) int {
	root := a.newRootCmd()
	root.SetArgs(negativeNumbersLast(root, defaultToRun(args)))
	cmd, err := root.ExecuteContextC(ctx)
	var ue *usageError
	var re *reportedError
	var ce *commandError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &re):
		return exitError
	case errors.As(err, &ce):
		fmt.Fprintf(a.stderr, "%s: %v\n", cmd.CommandPath(), ce.err)
		return exitError
	case errors.As(err, &ue) && cmd.Runnable() && !cmd.HasSubCommands():
		fmt.Fprintf(a.stderr, "%s: %v\nusage: %s\nrun '%s --help' for details\n", cmd.CommandPath(), err, cmd.UseLine(), cmd.CommandPath())
		return exitUsage
	default: // a usage mistake found by cobra (unknown command) or on a command group
		fmt.Fprintf(a.stderr, "%s: %v\nrun '%s --help' for the commands\n", cmd.CommandPath(), err, cmd.CommandPath())
		return exitUsage
	}
}

// defaultToRun makes `aimdb` and `aimdb --flags...` mean `aimdb run ...`.
func defaultToRun(args []string) []string {
	if len(args) == 0 {
		return []string{"run"}
	}
	switch a := args[0]; {
	case a == "-h", a == "--help", a == "-v", a == "--version", !strings.HasPrefix(a, "-"):
		return args
	}
	return append([]string{"run"}, args...)
}

var negativeNumber = regexp.MustCompile(`^-[0-9.]`)

// negativeNumbersLast lets an argument that looks like a negative number be a
// positional argument, as users expect (`aimdb record set t -5`): it moves each such
// argument, unless it is a flag's value, behind a "--", keeping their order.
func negativeNumbersLast(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil {
		return args
	}
	var head, moved []string
	rest := []string{}
	for i, arg := range args {
		if arg == "--" {
			rest = args[i+1:]
			break
		}
		if negativeNumber.MatchString(arg) && (i == 0 || !takesValue(cmd.Flags(), args[i-1])) {
			moved = append(moved, arg)
			continue
		}
		head = append(head, arg)
	}
	if len(moved) == 0 {
		return args
	}
	return append(append(append(head, "--"), moved...), rest...)
}

// takesValue reports whether arg is a flag of fs that takes the next argument as
// its value ("--timeout 5s", "-o json").
func takesValue(fs *pflag.FlagSet, arg string) bool {
	if !strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
		return false
	}
	var f *pflag.Flag
	if name, ok := strings.CutPrefix(arg, "--"); ok {
		f = fs.Lookup(name)
	} else if len(arg) == 2 {
		f = fs.ShorthandLookup(arg[1:])
	}
	return f != nil && f.NoOptDefVal == ""
}

// usageError is a mistake in how a command was called: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// reportedError was already printed in full (for example a list of config errors):
// exit code 1.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }

// commandError is a command that ran and failed: exit code 1.
type commandError struct{ err error }

func (e *commandError) Error() string { return e.err.Error() }

// runE adapts a command body: its errors are the command's failure (exit 1) unless
// they are usage or reported errors. Whatever else cobra returns (an unknown command
// or flag) is a usage mistake.
func runE(body func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := body(cmd, args)
		var ue *usageError
		var re *reportedError
		if err == nil || errors.As(err, &ue) || errors.As(err, &re) {
			return err
		}
		return &commandError{err}
	}
}

// positional checks the number of positional arguments; want names them for the
// message ("KEY JSON").
func positional(min, max int, want string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usagef("missing argument: want %s", want)
		case len(args) > max:
			return usagef("too many arguments: %s", strings.Join(args[max:], " "))
		}
		return nil
	}
}

// newGroupCmd returns a command that only holds subcommands. Called without one, or
// with an unknown one, it is a usage mistake.
func newGroupCmd(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:                        name,
		Short:                      short,
		Args:                       cobra.ArbitraryArgs,
		SuggestionsMinimumDistance: 2,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("missing subcommand")
			}
			msg := fmt.Sprintf("unknown subcommand %q", args[0])
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += " (did you mean " + strings.Join(s, ", ") + "?)"
			}
			return &usageError{msg}
		},
	}
}

// newHelpCmd is `aimdb help [command]`; an unknown command is a usage mistake.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "show the help of aimdb or of a command",
		Example: `  aimdb help
  aimdb help record watch`,
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usagef("no command %q", strings.Join(args, " "))
			}
			printHelp(target)
			return nil
		},
	}
}

// printHelp prints a command's help: usage, description, examples, subcommands,
// flags. The root's lists every command, subcommands included.
func printHelp(c *cobra.Command) {
	w := c.OutOrStdout()
	if !c.HasParent() {
		fmt.Fprintf(w, "aimdb: %s.\n\nusage: aimdb <command> [flags] [args]\n\ncommands:\n", c.Short)
		for _, sub := range leafCommands(c) {
			fmt.Fprintf(w, "  %-18s %s\n", strings.TrimPrefix(sub.CommandPath(), "aimdb "), sub.Short)
		}
		fmt.Fprintf(w, "\n%s\n", c.Long)
		return
	}
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.UseLine(), c.Short)
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Long, "\n"))
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nexamples:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprint(w, "\ncommands:\n")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(w, "  %-18s %s\n", sub.Name(), sub.Short)
			}
		}
	}
	if c.HasAvailableLocalFlags() {
		fmt.Fprintf(w, "\nflags:\n%s", c.LocalFlags().FlagUsages())
	}
}

// leafCommands lists the commands that do something, depth first in name order.
func leafCommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() && sub.Name() != "help" {
			continue
		}
		if sub.HasAvailableSubCommands() {
			out = append(out, leafCommands(sub)...)
		} else {
			out = append(out, sub)
		}
	}
	return out
}
