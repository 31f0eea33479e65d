package cmd

// Signals and progress: what a probing run shows and how it is interrupted.

import (
	"context"
	"errors"
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
//
// A reader of stdout or stderr that goes away (`... -v=2 2>&1 | head`)
// must not kill the process with its pods running, as SIGPIPE would: it is
// ignored for the run, and a write that fails with EPIPE cancels the run
// like a first Ctrl-C (gone, for epipeWriter) — nobody reads its result,
// and its pods are still removed. Asking for SIGPIPE with signal.Notify
// instead would also catch a closed exec stream's socket write, and cancel
// healthy runs.
func watchSignals(parent context.Context, errOut io.Writer) (run, cleanup context.Context, gone, stop func()) {
	run, cancelRun := context.WithCancel(parent)
	cleanup, cancelCleanup := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	signal.Ignore(syscall.SIGPIPE)
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
	return run, cleanup, cancelRun, func() {
		signal.Stop(ch)
		close(done)
		cancelRun()
		cancelCleanup()
	}
}

// epipeWriter calls gone when a write fails because the stream's reader
// went away (EPIPE, with SIGPIPE ignored).
type epipeWriter struct {
	w    io.Writer
	gone func()
}

func (e epipeWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		e.gone()
	}
	return n, err
}
