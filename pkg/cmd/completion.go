package cmd

import (
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
)

// binaryName is the name the plugin's executable has on PATH; completion
// scripts register for it, not for the cobra root's "netcheck".
const binaryName = "kubectl-netcheck"

// completionShells are the shells cobra generates scripts for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

// NewCmdCompletion prints a shell completion script.
func NewCmdCompletion(streams genericiooptions.IOStreams) *cobra.Command {
	var noDesc bool
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: templates.LongDesc(`
Print a shell completion script for kubectl netcheck.

Through kubectl (kubectl 1.26 or later): kubectl completes a plugin's
arguments by running the executable kubectl_complete-netcheck from PATH.
It ships in the release archive next to kubectl-netcheck; krew unpacks it
into its store but does not put it on PATH, so copy it once:

    cp "${KREW_ROOT:-$HOME/.krew}"/store/netcheck/*/kubectl_complete-netcheck \
       "${KREW_ROOT:-$HOME/.krew}/bin/"

and enable kubectl's own completion as usual, e.g. for bash:

    source <(kubectl completion bash)

The helper is a two-line script that runs 'kubectl netcheck __complete'.

Calling the binary directly as kubectl-netcheck: load the script this
command prints.

    bash:        source <(kubectl-netcheck completion bash)
                 (needs the bash-completion package; to keep it, write it to
                 ~/.local/share/bash-completion/completions/kubectl-netcheck)
    zsh:         source <(kubectl-netcheck completion zsh)
                 (or write it to a directory on $fpath as _kubectl-netcheck;
                 run 'autoload -U compinit; compinit' first if completion is off)
    fish:        kubectl-netcheck completion fish | source
                 (or write it to ~/.config/fish/completions/kubectl-netcheck.fish)
    powershell:  kubectl-netcheck completion powershell | Out-String | Invoke-Expression
                 (add that line to your $PROFILE to keep it)`),
		Example: templates.Examples(`  # complete kubectl-netcheck in the current bash session
  source <(kubectl-netcheck completion bash)`),
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs:             completionShells,
		DisableFlagsInUseLine: true,
		RunE: func(c *cobra.Command, args []string) error {
			// Register the script for the executable's name while generating.
			root := c.Root()
			use := root.Use
			root.Use = binaryName
			defer func() { root.Use = use }()
			out := streams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, !noDesc)
			case "zsh":
				if noDesc {
					return root.GenZshCompletionNoDesc(out)
				}
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, !noDesc)
			case "powershell":
				if noDesc {
					return root.GenPowerShellCompletion(out)
				}
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return cannotRun("unknown shell %q: use one of %s", args[0], strings.Join(completionShells, ", "))
		},
	}
	cmd.Flags().BoolVar(&noDesc, "no-descriptions", false, "leave out completion descriptions")
	return cmd
}
