package cmd

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// progressPrinter draws one line on a terminal, rewritten in place: how
// many nodes are at each step and how many are done, then a summary line
// when every node is. A thousand nodes stay one line.
func progressPrinter(w io.Writer, total int) func(node, step string) {
	var mu sync.Mutex
	start := time.Now()
	at := map[string]string{}
	return func(node, step string) {
		mu.Lock()
		defer mu.Unlock()
		at[node] = step
		fmt.Fprint(w, "\r\033[K"+progressLine(at, total, time.Since(start)))
		if done(at) == total {
			fmt.Fprintln(w)
		}
	}
}

func done(at map[string]string) int {
	n := 0
	for _, s := range at {
		if s == "done" {
			n++
		}
	}
	return n
}

// progressLine is "4/13 nodes done · 6 probing, 3 creating probe pods (2.1s)".
func progressLine(at map[string]string, total int, took time.Duration) string {
	count := map[string]int{}
	for _, s := range at {
		if s != "done" {
			count[s]++
		}
	}
	var steps []string
	for s, n := range count {
		steps = append(steps, fmt.Sprintf("%d %s", n, s))
	}
	sort.Strings(steps)
	line := fmt.Sprintf("%d/%d nodes done", done(at), total)
	if len(steps) > 0 {
		line += " · " + strings.Join(steps, ", ")
	}
	return line + fmt.Sprintf(" (%.1fs)", took.Seconds())
}
