package cmd

import (
	"bytes"
	"strings"
	"testing"
	"time"
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
