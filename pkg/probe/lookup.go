package probe

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

// LookupArgv looks name up the way applications do, through the side's
// search list, then with a trailing dot (the probe image's netcheck-lookup).
func LookupArgv(name string) []string {
	return []string{"netcheck-lookup", strings.TrimSuffix(name, ".")}
}

// ClassifyLookup reads netcheck-lookup's two lines. OK when the name as
// written found an address; DNSFailure with the rcode when it did not.
func ClassifyLookup(r podexec.Result) observe.Check {
	c := observe.Check{Kind: observe.Lookup}
	var cost observe.LookupCost
	seen := 0
	for _, l := range strings.Split(r.Stdout, "\n") {
		label, rest, _ := strings.Cut(strings.TrimSpace(l), " ")
		var w *observe.LookupWay
		switch label {
		case "search":
			w = &cost.Search
		case "dotted":
			w = &cost.Dotted
		default:
			continue
		}
		if parseLookupWay(rest, w) {
			seen++
		}
	}
	if seen != 2 {
		text := firstLine(r.Stderr)
		if text == "" && r.Err != nil {
			text = r.Err.Error()
		}
		c.Outcome, c.Detail = observe.Error, "cannot time the lookup: "+text
		if strings.Contains(r.Stderr+errText(r.Err), "netcheck-lookup") && strings.Contains(r.Stderr+errText(r.Err), "not found") {
			c.Detail = "the probe image has no netcheck-lookup (netcheck's default image has it)"
		}
		return c
	}
	c.Lookup = &cost
	c.Latency = time.Duration(cost.Search.Millis * float64(time.Millisecond))
	c.Detail = fmt.Sprintf("%d queries %s, with a trailing dot %d %s", cost.Search.Queries, millis(cost.Search.Millis), cost.Dotted.Queries, millis(cost.Dotted.Millis))
	c.Outcome = observe.OK
	if cost.Search.Answer == "" {
		c.Outcome = observe.DNSFailure
		c.Detail = cost.Search.Rcode + " after " + c.Detail
	}
	return c
}

// parseLookupWay reads "queries=8 rcode=NOERROR answer=a. ms=4.213 tried=a.b.,a." into w.
func parseLookupWay(s string, w *observe.LookupWay) bool {
	have := 0
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch k {
		case "queries":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				w.Queries, have = n, have+1
			}
		case "rcode":
			w.Rcode, have = v, have+1
		case "answer":
			if v != "-" {
				w.Answer = v
			}
		case "ms":
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
				w.Millis, have = f, have+1
			}
		case "tried":
			if v != "" {
				w.Tried = strings.Split(v, ",")
			}
		}
	}
	return have == 3
}

// millis prints a lookup's time the way ping times print.
func millis(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).Round(10 * time.Microsecond).String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
