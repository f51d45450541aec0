package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "jobctl",
		Short: "Validate and render job/config.yaml files of the Keptn job function",
		Long: `jobctl checks a job/config.yaml before it reaches Keptn. It uses the
function's own parser and Job builder, so a config that jobctl accepts is one
the function accepts, and the Jobs it renders are the ones the function would
create.

Exit codes: 0 success, 1 the input is invalid (config errors, a policy
refusal, a malformed event, an action that would fail), 2 wrong usage, an
unreadable file, or a policy check that cannot be made from here.`,
		Example: `  # check configs (exit 1 and file:line:column lines when one is wrong)
  jobctl validate job/config.yaml

  # see the Jobs a test event would create, without a cluster
  jobctl event test --project sockshop --stage dev --service carts > event.json
  jobctl render --config job/config.yaml --event event.json`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newValidateCmd(), newRenderCmd(), newEventCmd(), newCompletionCmd(root), newVersionCmd())
	return root
}

func newCompletionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a completion script for bash, zsh or fish. It completes commands,
flags, shell names, output formats and Keptn task names.`,
		Example: `  # bash, this session
  source <(jobctl completion bash)
  # bash, every session (needs the bash-completion package)
  jobctl completion bash > ~/.local/share/bash-completion/completions/jobctl
  # zsh (compinit must be enabled)
  jobctl completion zsh > "${fpath[1]}/_jobctl"
  # fish
  jobctl completion fish > ~/.config/fish/completions/jobctl.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			default:
				return root.GenFishCompletion(out, true)
			}
		},
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print jobctl's version, commit and Go version",
		Example: `  jobctl version`,
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			printVersion(cmd.OutOrStdout())
		},
	}
}

// printVersion reads what the Go toolchain stamped into the binary (module
// version and VCS state), so there is no version variable to forget to set.
func printVersion(w io.Writer) {
	version, revision, modified := "unknown", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	fmt.Fprintf(w, "jobctl %s", version)
	if revision != "" {
		fmt.Fprintf(w, " commit %s", revision)
		if modified {
			fmt.Fprint(w, " (modified)")
		}
	}
	fmt.Fprintf(w, " %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
