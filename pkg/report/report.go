// Package report renders a run's result: a per-node table and the findings
// for people, the same model as JSON or YAML for machines.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
)

// APIVersion of the machine-readable output.
const APIVersion = "netcheck.io/v1alpha1"

// Result is everything a run found, shaped as a Kubernetes object so that
// kubectl's printers (-o jsonpath, go-template) read it as they read any:
// metadata names the run, spec is what was asked, status what was found.
// Go code reads the spec and status fields directly (embedded).
type Result struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        Meta `json:"metadata"`
	Spec            `json:"spec"`
	Status          `json:"status"`
}

// Meta names the run: its run id (the probe pods' netcheck.io/run-id) and when it started.
type Meta struct {
	Name              string      `json:"name"`
	CreationTimestamp metav1.Time `json:"creationTimestamp"`
}

// Spec is what the run was asked.
type Spec struct {
	Command   string   `json:"command"`
	Targets   []string `json:"targets,omitempty"`
	Namespace string   `json:"probeNamespace"`
}

// Status is what the run found.
type Status struct {
	Nodes    []observe.Node     `json:"nodes"`
	Skipped  []plan.Skipped     `json:"skippedNodes,omitempty"`
	Sampled  string             `json:"sampled,omitempty"`
	Findings []diagnose.Finding `json:"findings"`
	Healthy  bool               `json:"healthy"`
	// Every duration is a number of milliseconds (field names end in Millis).
	DurationMillis   int64  `json:"durationMillis"`
	FirstReadyMillis int64  `json:"firstProbeReadyMillis,omitempty"`
	Cleanup          string `json:"cleanup,omitempty"`
	// Notes are run-level remarks (a side not run, a fallback used).
	Notes []string `json:"notes,omitempty"`
	// Error is why the run could not give a verdict (exit 2).
	Error string `json:"error,omitempty"`
}

// DeepCopyObject makes *Result a runtime.Object for kubectl's printers.
func (r *Result) DeepCopyObject() runtime.Object {
	b, err := json.Marshal(r)
	c := &Result{}
	if err == nil {
		_ = json.Unmarshal(b, c)
	}
	return c
}

// TemplatePrinter is the printer of a -o jsonpath=… or go-template=…
// format, nil for other formats; the error names what is wrong with the template.
func TemplatePrinter(format string) (printers.ResourcePrinter, error) {
	switch {
	case strings.HasPrefix(format, "jsonpath="):
		p, err := printers.NewJSONPathPrinter(strings.TrimPrefix(format, "jsonpath="))
		if err != nil {
			return nil, fmt.Errorf("-o %s: %v", format, err)
		}
		return p, nil
	case strings.HasPrefix(format, "go-template="):
		p, err := printers.NewGoTemplatePrinter([]byte(strings.TrimPrefix(format, "go-template=")))
		if err != nil {
			return nil, fmt.Errorf("-o %s: %v", format, err)
		}
		return p, nil
	}
	return nil, nil
}

// Layout draws one kind of result as a table; every scenario has its own.
type Layout interface {
	Table(w io.Writer, r Result, wide bool)
	// Healthy is the line printed when nothing was found.
	Healthy(r Result) string
}

// Print writes r in format: "" or "table", "wide" (drawn by l), "json",
// "yaml", "name", "jsonpath=…", "go-template=…".
func Print(w io.Writer, r Result, format string, l Layout) error {
	if p, err := TemplatePrinter(format); p != nil || err != nil {
		if err != nil {
			return err
		}
		return p.PrintObj(&r, w)
	}
	switch format {
	case "name":
		_, err := fmt.Fprintf(w, "%s/%s\n", strings.ToLower(r.Kind), r.Metadata.Name)
		return err
	case "json":
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "", "table", "wide":
		if len(r.Nodes) > 0 { // no probe ran (no DNS server ready): a header alone says nothing
			l.Table(w, r, format == "wide")
			fmt.Fprintln(w)
		}
		printFindings(w, r, l, format == "wide")
		return nil
	}
	return fmt.Errorf("unknown output format %q: use table, wide, json, yaml, name, jsonpath=… or go-template=…", format)
}

// Cell is what a side's check of a kind shows.
func Cell(checks []observe.Check, id observe.CheckID, kinds ...observe.CheckKind) string {
	for _, c := range checks {
		if c.ID != id {
			continue
		}
		for _, k := range kinds {
			if c.Kind != k {
				continue
			}
			s := string(c.Outcome)
			switch {
			case c.Outcome == observe.OK && c.Kind == observe.Ping && c.Latency > 0:
				s += " " + c.Latency.Round(10*time.Microsecond).String()
			case c.Kind == observe.HTTP && c.HTTPStatus != 0:
				s += " " + strconv.Itoa(c.HTTPStatus)
			case (c.Kind == observe.DNS || c.Kind == observe.Lookup) && c.Outcome == observe.OK:
				s = c.Detail
			case c.Outcome != observe.OK && c.Detail != "" && c.Outcome != observe.Timeout:
				s += " (" + c.Detail + ")"
			}
			return s
		}
	}
	return "-"
}

// RouteCell is the route a side's packets to key take.
func RouteCell(n observe.Node, key string, side observe.Side) string {
	for _, f := range n.Facts.Targets {
		if f.Target != key {
			continue
		}
		r := f.NodeRoute
		if side == observe.SidePod && f.PodRoute != nil {
			r = *f.PodRoute
		}
		if r.Err != "" {
			return r.Err
		}
		s := ""
		if r.Via != "" {
			s = "via " + r.Via + " "
		}
		s += "dev " + r.Dev
		if f.NodeRoute.Default {
			s = "default " + s
		}
		return s
	}
	return "-"
}

// SideResult sums up one side's checks of a target.
func SideResult(checks []observe.Check, id observe.CheckID, err string) string {
	if err != "" {
		return "NOT RUN"
	}
	ran, ok, pingOnlyFail := false, false, false
	for _, c := range checks {
		if c.ID != id || c.Kind == observe.DNS || c.Outcome == observe.NotRun {
			continue
		}
		if c.Outcome == observe.Error {
			continue
		}
		ran = true
		if c.Outcome == observe.OK || c.Outcome == observe.HTTPError || c.Outcome == observe.Refused {
			ok = true
		} else if c.Kind == observe.Ping {
			pingOnlyFail = true
		}
	}
	for _, c := range checks {
		if c.ID == id && c.Kind == observe.DNS && c.Outcome.Failed() {
			return "FAIL (DNS)"
		}
	}
	switch {
	case !ran:
		return "?"
	case ok && pingOnlyFail:
		return "OK (no ICMP)"
	case ok:
		return "OK"
	}
	return "FAIL"
}

// NewTable is the kubectl-like borderless table; flush writes it without
// the padding tablewriter leaves at line ends (it gets in grep's and diff's way).
func NewTable(header []string) (*Table, func(io.Writer)) {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "  ", Overwrite: true}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	t.Header(header)
	tb := &Table{t: t}
	return tb, func(w io.Writer) {
		if tb.err == nil {
			tb.err = t.Render()
		}
		if tb.err != nil {
			fmt.Fprintf(w, "(table not printed: %v; -o json has it all)\n", tb.err)
			return
		}
		for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
}

// Table is a table being filled; its first error is kept and printed
// in place of the table.
type Table struct {
	t   *tablewriter.Table
	err error
}

// Append adds a row.
func (tb *Table) Append(row []string) {
	if tb.err == nil {
		tb.err = tb.t.Append(row)
	}
}

// Tri shows a three-valued fact.
func Tri(v observe.Tri) string {
	if v == "" {
		return "?"
	}
	return string(v)
}

func printFindings(w io.Writer, r Result, l Layout, wide bool) {
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped node %s: %s\n", s.Node, s.Reason)
	}
	if r.Sampled != "" {
		fmt.Fprintln(w, r.Sampled)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, l.Healthy(r))
	}
	for i, f := range r.Findings {
		if i > 0 {
			fmt.Fprintln(w)
		}
		where := ""
		if len(f.Nodes) > 0 {
			where = " on " + strings.Join(f.Nodes, ", ")
		}
		tgt := ""
		if f.Target != "" {
			tgt = " → " + f.Target
		}
		fmt.Fprintf(w, "%s %s%s%s\n  %s\n", strings.ToUpper(string(f.Severity)), f.Cause, where, tgt, f.Summary)
		if len(f.Evidence) > 0 {
			fmt.Fprintln(w, "  evidence:")
			ev := f.Evidence
			if !wide && len(ev) > 8 {
				ev = append(ev[:8:8], fmt.Sprintf("… %d more (-o wide or -o json for all)", len(f.Evidence)-8))
			}
			for _, e := range ev {
				fmt.Fprintf(w, "    %s\n", e)
			}
		}
		if len(f.Candidates) > 0 {
			fmt.Fprintln(w, "  also possible:")
			for _, c := range f.Candidates {
				fmt.Fprintf(w, "    - %s\n", c)
			}
		}
		if len(f.Fix) > 0 {
			fmt.Fprintln(w, "  fix:")
			for _, c := range f.Fix {
				fmt.Fprintf(w, "    %s\n", c)
			}
		}
	}
	notes := map[string]bool{}
	for _, n := range r.Nodes {
		for _, note := range n.Facts.Notes {
			if !notes[note] {
				notes[note] = true
				fmt.Fprintf(w, "note: %s\n", note)
			}
		}
	}
	// Say what the facts rest on: the host's own tools or the probe's fallbacks.
	byTools := map[string][]string{}
	var order []string
	for _, n := range r.Nodes {
		if len(n.Facts.Tools) == 0 {
			continue
		}
		var tools []string
		for _, t := range n.Facts.Tools {
			// The node-side filter's account of the rules it left out
			// differs by a rule or two between nodes: -o json keeps it.
			if i := strings.Index(t, "; left out "); i >= 0 && strings.HasSuffix(t, ")") {
				t = t[:i] + ")"
			}
			tools = append(tools, t)
		}
		k := strings.Join(tools, ", ")
		if _, ok := byTools[k]; !ok {
			order = append(order, k)
		}
		byTools[k] = append(byTools[k], n.Name)
	}
	for _, k := range order {
		fmt.Fprintf(w, "node facts (%s) read with: %s\n", strings.Join(byTools[k], ", "), k)
	}
}
