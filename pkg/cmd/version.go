package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Stamped at build time with -ldflags -X.
var (
	Version = "dev"
	Commit  = "none"
	Date    = "unknown"
)

// NewCmdVersion prints the build's version.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl netcheck",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			info := map[string]string{"version": Version, "commit": Commit, "date": Date, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
			switch output {
			case "json":
				b, _ := json.MarshalIndent(info, "", "  ")
				fmt.Fprintln(streams.Out, string(b))
			case "":
				fmt.Fprintf(streams.Out, "kubectl-netcheck %s (commit %s, built %s, %s, %s)\n", Version, Commit, Date, info["go"], info["platform"])
			default:
				return cannotRun("--output %q: use json or leave it out", output)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}
