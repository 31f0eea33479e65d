// Command kubectl-netcheck is the kubectl plugin entry point: `kubectl netcheck`.
package main

import (
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
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := cmd.NewCmdNetcheck(streams).Execute()
	code, show := cmd.ExitCode(err)
	if show {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
	}
	os.Exit(code)
}
