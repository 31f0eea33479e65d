package podexec

import (
	"strings"
	"testing"
)

func TestCappedKeepsTheFirstBytesAndDrains(t *testing.T) {
	c := &capped{max: 10}
	for _, p := range []string{"12345", "67890abc", "def"} {
		if n, err := c.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v: the stream must keep draining", p, n, err)
		}
	}
	if got := c.buf.String(); got != "1234567890" || !c.truncated {
		t.Fatalf("kept %q, truncated %v", got, c.truncated)
	}
	small := &capped{max: 10}
	_, _ = small.Write([]byte(strings.Repeat("x", 10)))
	if small.truncated {
		t.Fatal("exactly the limit is not truncated")
	}
}
