package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// JUnit's shape as CI viewers read it: one suite per run, one case per
// node × side × check, and one per finding.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes r as JUnit XML: a failed check fails its case, and
// carries the findings on its node (cause, evidence, fix); every finding
// is a case of its own, failed unless it is only information.
func WriteJUnit(w io.Writer, r Result) error {
	s := junitSuite{Name: "kubectl netcheck " + strings.TrimSpace(r.Command+" "+strings.Join(r.Targets, " ")),
		Timestamp: r.Metadata.CreationTimestamp.UTC().Format(time.RFC3339)}
	s.Time = fmt.Sprintf("%.3f", float64(r.DurationMillis)/1000)
	for _, n := range r.Nodes {
		for _, side := range []struct {
			name string
			res  observe.SideResult
		}{{"pod", n.Pod}, {"node", n.Host}} {
			for _, c := range side.res.Checks {
				tc := junitCase{Classname: n.Name, Name: fmt.Sprintf("%s %s %s", side.name, c.Kind, c.ID), Time: fmt.Sprintf("%.3f", c.Latency.Seconds())}
				switch {
				case c.Outcome == observe.NotRun:
					tc.Skipped = &junitSkipped{Message: c.Detail}
					s.Skipped++
				case c.Outcome.Failed() || c.Outcome == observe.Error:
					tc.Failure = &junitFailure{Message: string(c.Outcome) + ": " + c.Detail, Type: string(c.Outcome), Body: findingsOn(r.Findings, n.Name)}
					s.Failures++
				}
				s.Cases = append(s.Cases, tc)
			}
		}
	}
	for _, f := range r.Findings {
		tc := junitCase{Classname: strings.Join(f.Nodes, ","), Name: fmt.Sprintf("finding %s → %s", f.Cause, f.Target), Time: "0"}
		if tc.Classname == "" {
			tc.Classname = "cluster"
		}
		if f.Severity != diagnose.Info {
			tc.Failure = &junitFailure{Message: f.Summary, Type: string(f.Cause), Body: describe(f)}
			s.Failures++
		}
		s.Cases = append(s.Cases, tc)
	}
	if r.Error != "" {
		s.Cases = append(s.Cases, junitCase{Classname: "run", Name: "run", Time: "0", Failure: &junitFailure{Message: r.Error, Type: "error"}})
		s.Errors++
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func findingsOn(fs []diagnose.Finding, node string) string {
	var parts []string
	for _, f := range fs {
		if slices.Contains(f.Nodes, node) {
			parts = append(parts, describe(f))
		}
	}
	return strings.Join(parts, "\n\n")
}

func describe(f diagnose.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s → %s\n%s\n", f.Severity, f.Cause, f.Target, f.Summary)
	if len(f.Evidence) > 0 {
		b.WriteString("evidence:\n  " + strings.Join(f.Evidence, "\n  ") + "\n")
	}
	if len(f.Fix) > 0 {
		b.WriteString("fix:\n  " + strings.Join(f.Fix, "\n  ") + "\n")
	}
	return b.String()
}
