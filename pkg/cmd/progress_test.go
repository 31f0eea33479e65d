package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

func TestProgressLine(t *testing.T) {
	at := map[string]string{"n1": "done", "n2": "probing", "n3": "probing", "n4": "creating probe pods"}
	if got, want := progressLine(at, 5, 2100*time.Millisecond), "1/5 nodes done · 1 creating probe pods, 2 probing (2.1s)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var b bytes.Buffer
	p := progressPrinter(&b, 2)
	for _, s := range [][2]string{{"n1", "probing"}, {"n2", "probing"}, {"n1", "done"}, {"n2", "done"}} {
		p(s[0], s[1])
	}
	out := b.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || !strings.Contains(out, "2/2 nodes done") || strings.Count(out, "\r\033[K") != 4 {
		t.Errorf("one line rewritten in place, then a newline: %q", out)
	}
}

// Each node's timeline says where the run's time went: the probes' start,
// each exec with its size, the facts.
func TestTimelineInResult(t *testing.T) {
	r := runExternal(t, healthyExec(t), context.Background(), nil, "198.19.0.1", "--node", "nc-node1")
	var res report.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	var whats []string
	last := int64(-1)
	for _, e := range res.Nodes[0].Timeline {
		whats = append(whats, e.What)
		if e.What == "facts assembled" && e.AtMillis < last {
			t.Errorf("facts assembled before an earlier event: %+v", res.Nodes[0].Timeline)
		}
		last = max(last, e.AtMillis)
	}
	joined := strings.Join(whats, "|")
	for _, want := range []string{"start", "pod probe ready", "node probe ready", "both sides checked", "exec pod ping 198.19.0.1", "exec node netcheck-facts", "facts assembled"} {
		if !strings.Contains(joined, want) {
			t.Errorf("timeline lacks %q: %s", want, joined)
		}
	}
}

// TestEpipeWriterCancelsWhenTheReaderIsGone: with SIGPIPE ignored (as
// watchSignals does for a run), a write to a pipe nobody reads fails with
// EPIPE and calls gone; a write that succeeds does not.
func TestEpipeWriterCancelsWhenTheReaderIsGone(t *testing.T) {
	signal.Ignore(syscall.SIGPIPE)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	called := 0
	e := epipeWriter{w, func() { called++ }}
	if _, err := e.Write([]byte("read\n")); err != nil || called != 0 {
		t.Fatalf("write with a reader: %v, gone called %d times", err, called)
	}
	r.Close()
	if _, err := e.Write([]byte("unread\n")); !errors.Is(err, syscall.EPIPE) || called != 1 {
		t.Fatalf("write without a reader: %v, gone called %d times", err, called)
	}
}
