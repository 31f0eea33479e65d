package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Stamped at build time with -ldflags -X.
var (
	Version = "dev"
	Commit  = "none"
	Date    = "unknown"
)

// buildVersion fills what -ldflags did not stamp from the module's build
// info: `go install …@v1.2.3` records the version, a build from a clone
// the VCS revision and time (unless -buildvcs=false).
func buildVersion() (version, commit, date string) {
	version, commit, date = Version, Commit, Date
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && commit == "none":
			commit = s.Value
		case s.Key == "vcs.time" && date == "unknown":
			date = s.Value
		}
	}
	return
}

// NewCmdVersion prints the build's version.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl netcheck",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			version, commit, date := buildVersion()
			info := map[string]string{"version": version, "commit": commit, "date": date, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
			switch output {
			case "json":
				b, _ := json.MarshalIndent(info, "", "  ")
				fmt.Fprintln(streams.Out, string(b))
			case "":
				fmt.Fprintf(streams.Out, "kubectl-netcheck %s (commit %s, built %s, %s, %s)\n", version, commit, date, info["go"], info["platform"])
			default:
				return cannotRun("--output %q: use json or leave it out", output)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}
