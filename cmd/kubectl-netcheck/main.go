// Command kubectl-netcheck is the kubectl plugin entry point: `kubectl netcheck`.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/netcheck/kubectl-netcheck/pkg/cmd"
)

func main() {
	// client-go logs transport chatter ("Unknown stream id") through klog:
	// a CLI's stderr belongs to its own messages.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	_ = klogFlags.Set("logtostderr", "false")
	_ = klogFlags.Set("alsologtostderr", "false")
	_ = klogFlags.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := cmd.NewCmdNetcheck(streams).Execute()
	code, show := cmd.ExitCode(err)
	if show {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
	}
	os.Exit(code)
}
