// Package cmd wires the kubectl netcheck commands: flags, the
// Complete → Validate → Run lifecycle, and exit codes.
package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
)

// Exit codes: what a script calling netcheck can rely on.
const (
	ExitHealthy  = 0 // every check passed
	ExitProblems = 1 // the run completed and found problems
	ExitError    = 2 // the run could not be carried out (usage, RBAC, admission, …)
)

// ExitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Problems is returned by a command whose run found problems (exit 1):
// the report is already printed, so there is nothing more to say.
var errProblems = &exitError{code: ExitProblems, err: errors.New("problems found")}

// cannotRun is every exit-2 error: bad input, refused API calls, admission,
// interrupts — the run could not give a verdict. The message says what to do.
func cannotRun(format string, a ...any) error {
	return &exitError{code: ExitError, err: fmt.Errorf(format, a...)}
}

// ExitCode maps an error returned by Execute to the process exit code and
// tells whether the message is worth printing.
func ExitCode(err error) (int, bool) {
	if err == nil {
		return ExitHealthy, false
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee != errProblems && ee != errDryRun
	}
	return ExitError, true
}

// command is the shape of every probing command, as in kubectl: fill in
// from flags and kubeconfig, check the input, then act.
type command interface {
	Complete() error
	Validate() error
	Run(ctx context.Context) error
}

// runCommand is every probing command's RunE body. A panic becomes an
// exit-2 error after the deferred cleanups have run, never a stack trace.
func runCommand(c *cobra.Command, o command) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = cannotRun("internal error: %v (probe pods were removed; please report it)", r)
		}
	}()
	defer func() {
		if eo, ok := o.(errorObject); ok && err != nil {
			eo.printError(c.Name(), err)
		}
	}()
	if err := o.Complete(); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return o.Run(c.Context())
}

// errorObject is a command that, asked for -o json|yaml, also prints an
// exit-2 error as its result object (status.error), so a script reading
// stdout gets an object whatever happened.
type errorObject interface {
	printError(command string, err error)
}

// NewCmdNetcheck is the root command.
func NewCmdNetcheck(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	cmd := &cobra.Command{
		Use: "netcheck",
		// kubectl plugins present themselves as "kubectl netcheck" in help.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl netcheck"},
		Short:       "Tell why a pod cannot reach something, and which command fixes it",
		Long: templates.LongDesc(`
kubectl netcheck launches short-lived probe pods on every selected node — one in
the pod network, one privileged in the node's own network namespace — runs the
same ping/TCP/HTTP/DNS checks from both, reads the node's routes, NAT and
FORWARD rules, sysctls and conntrack, and names the cause of a failure with
the evidence it saw and the command that fixes it. It removes every pod it made.

Start with:

    kubectl netcheck node                         # are the nodes' own network settings sane?
    kubectl netcheck external 192.168.2.0/24      # pods can't reach an outside subnet? why?
    kubectl netcheck service my-svc -n shop       # a Service doesn't answer? why?

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		SilenceUsage:  true,
		SilenceErrors: true,
		// No Args: cobra then answers an unknown subcommand with "did you mean".
		RunE: func(c *cobra.Command, _ []string) error {
			return c.Help()
		},
	}
	klogs := newKlogFlags()
	klogs.add(cmd.PersistentFlags())
	cmd.PersistentPreRun = func(*cobra.Command, []string) { klogs.apply(streams.ErrOut) }
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	flags.AddFlags(cmd.PersistentFlags())
	registerGlobalCompletion(cmd, flags)
	cmd.AddCommand(NewCmdExternal(flags, streams))
	cmd.AddCommand(NewCmdNode(flags, streams))
	cmd.AddCommand(NewCmdDNS(flags, streams))
	cmd.AddCommand(NewCmdService(flags, streams))
	cmd.AddCommand(NewCmdAPI(flags, streams))
	cmd.AddCommand(NewCmdPods(flags, streams))
	cmd.AddCommand(NewCmdCleanup(flags, streams))
	cmd.AddCommand(NewCmdVersion(streams))
	cmd.AddCommand(NewCmdCompletion(streams))
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cannotRun("%v\nsee '%s --help'", err, c.CommandPath())
	})
	return cmd
}
