package fanout

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

// timeline records one node's way through the run, relative to the run's
// start: where the seconds go (pod start, each exec, facts) is then
// readable in the result instead of guessed.
type timeline struct {
	start  time.Time
	mu     sync.Mutex
	events []observe.Event
	// log, when set, is told each event as it is recorded (-v=2).
	log  func(node string, e observe.Event)
	node string
}

func (tl *timeline) add(what string, at time.Time, took time.Duration, bytes int) {
	e := observe.Event{What: what, AtMillis: at.Sub(tl.start).Milliseconds(), TookMillis: took.Milliseconds(), Bytes: bytes}
	tl.mu.Lock()
	tl.events = append(tl.events, e)
	tl.mu.Unlock()
	if tl.log != nil {
		tl.log(tl.node, e)
	}
}

func (tl *timeline) mark(what string) { tl.add(what, time.Now(), 0, 0) }

func (tl *timeline) list() []observe.Event {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]observe.Event(nil), tl.events...)
}

// timedExec records each exec: which probe, which tool, how long, how many bytes.
type timedExec struct {
	inner podexec.Execer
	tl    *timeline
}

func (e timedExec) Exec(ctx context.Context, ns, pod, container string, argv []string) podexec.Result {
	start := time.Now()
	r := e.inner.Exec(ctx, ns, pod, container, argv)
	e.tl.add("exec "+probeRole(pod)+" "+execLabel(argv), start, time.Since(start), len(r.Stdout)+len(r.Stderr))
	return r
}

func probeRole(pod string) string {
	switch {
	case strings.HasPrefix(pod, "netcheck-pod-"):
		return "pod"
	case strings.HasPrefix(pod, "netcheck-node-"):
		return "node"
	}
	return "workload"
}

// execLabel names an exec by its tool and, for the constant scripts, the
// script's name ($0), never its arguments' text in full.
func execLabel(argv []string) string {
	if len(argv) == 0 {
		return "?"
	}
	if argv[0] == "sh" && len(argv) > 3 {
		return argv[3]
	}
	if len(argv) > 1 {
		return argv[0] + " " + argv[len(argv)-1]
	}
	return argv[0]
}
