package main

import (
	"github.com/spf13/cobra"
)

// newCompletionCmd is `aimdb completion bash|zsh|fish`. The scripts call back into
// aimdb, which completes commands, flags and, for record get/set/watch, the record
// keys of the running instance.
func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "print the shell completion script",
		Long: `Prints a script that makes the shell complete aimdb's commands and flags, and the
record keys of the running instance after record get, set and watch.`,
		Example: `  source <(aimdb completion bash)     # in ~/.bashrc
  source <(aimdb completion zsh)      # in ~/.zshrc
  aimdb completion fish | source      # in fish's config.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      positional(1, 1, "bash, zsh or fish"),
		RunE: runE(func(c *cobra.Command, args []string) error {
			root, w := c.Root(), c.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			}
			return usagef("no completion for shell %q: want bash, zsh or fish", args[0])
		}),
	}
}
