// Command kubectl-netcheck is the kubectl plugin entry point: `kubectl netcheck`.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netcheck/kubectl-netcheck/pkg/cmd"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := cmd.NewCmdNetcheck(streams).Execute()
	code, show := cmd.ExitCode(err)
	if show {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
	}
	os.Exit(code)
}
