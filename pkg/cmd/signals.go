package cmd

// Signals and progress: what a probing run shows and how it is interrupted.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// signalContext is cancelled by SIGINT/SIGTERM, so every wait unwinds and
// the deferred cleanup runs.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// watchSignals: the first SIGINT/SIGTERM cancels the run, whose deferred
// cleanup then deletes the pods under the second context; a second signal
// cancels that one too, for a user who will not wait (the pods then end at
// their activeDeadlineSeconds).
func watchSignals(parent context.Context, errOut io.Writer) (run, cleanup context.Context, stop func()) {
	run, cancelRun := context.WithCancel(parent)
	cleanup, cancelCleanup := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			case <-ch:
				if n == 0 {
					fmt.Fprintln(errOut, "interrupted: removing probe pods (Ctrl-C again to skip)")
					cancelRun()
					continue
				}
				fmt.Fprintln(errOut, "skipping cleanup: leftover pods end at their deadline; `kubectl netcheck cleanup` removes them")
				cancelCleanup()
				return
			}
		}
	}()
	return run, cleanup, func() {
		signal.Stop(ch)
		close(done)
		cancelRun()
		cancelCleanup()
	}
}
