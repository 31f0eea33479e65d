package facts

import (
	"regexp"
	"strings"
)

// Printed fixes are pasted into a shell: every word that came from a node
// (a rule's text, a comment, a chain or interface name) is quoted so that
// nothing in it can run.

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:,=+@%-]+$`)

// ShellQuote is w as one shell word.
func ShellQuote(w string) string {
	if shellSafe.MatchString(w) {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// deleteRule is the iptables command that deletes an iptables-save "-A …"
// line, its words quoted for the shell.
func deleteRule(tool, line string) string {
	toks := tokenize(line)
	if len(toks) < 2 || toks[0] != "-A" {
		return ""
	}
	words := []string{tool, "-D"}
	for _, t := range toks[1:] {
		words = append(words, ShellQuote(t))
	}
	return strings.Join(words, " ")
}
