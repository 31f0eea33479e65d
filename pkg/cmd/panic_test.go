package cmd

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

type panicky struct{ ran bool }

func (p *panicky) Complete() error { return nil }
func (p *panicky) Validate() error { return nil }
func (p *panicky) Run(context.Context) error {
	defer func() { p.ran = true }() // a deferred cleanup still runs
	panic("index out of range")
}

// A bug in a command ends as an exit-2 error, after its cleanups ran.
func TestRunCommandRecoversPanics(t *testing.T) {
	p := &panicky{}
	err := runCommand(&cobra.Command{}, p)
	code, _ := ExitCode(err)
	if err == nil || code != 2 || !strings.Contains(err.Error(), "internal error: index out of range") || !p.ran {
		t.Fatalf("err %v code %d cleanup ran %v", err, code, p.ran)
	}
}
