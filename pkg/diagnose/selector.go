package diagnose

import (
	"sort"
	"strings"
)

// SuggestSelector finds, among the pods' label sets, the selector closest
// to a selector that matches nothing: each key=value the pods lack is
// replaced by the pods' value of that key (or a key of that value) when
// it is a near spelling ("app=wbe" → "app=web"). It returns nil when no
// pod is close enough to suggest, and how many pods the suggestion matches.
func SuggestSelector(sel map[string]string, pods []map[string]string) (map[string]string, int) {
	var best map[string]string
	bestScore := -1
	for _, labels := range pods {
		cand := map[string]string{}
		score := 0
		for k, v := range sel {
			if labels[k] == v {
				cand[k] = v
				score += 2
				continue
			}
			if pv, ok := labels[k]; ok && near(v, pv) {
				cand[k] = pv
				score++
				continue
			}
			found := false
			for pk, pv := range labels {
				if pv == v && near(k, pk) {
					cand[pk] = pv
					score++
					found = true
					break
				}
			}
			if !found {
				score = -1
				break
			}
		}
		if score > bestScore || (score == bestScore && score >= 0 && selectorString(cand) < selectorString(best)) {
			best, bestScore = cand, score
		}
	}
	if bestScore < 0 || best == nil {
		return nil, 0
	}
	n := 0
	for _, labels := range pods {
		if matches(best, labels) {
			n++
		}
	}
	return best, n
}

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// near: an edit distance small for the word's length (typos, not other words).
func near(a, b string) bool {
	d := editDistance(a, b)
	limit := 1
	if len(a) > 5 {
		limit = 2
	}
	if len(a) > 12 {
		limit = 3
	}
	return d <= limit
}

// editDistance is Damerau-Levenshtein (optimal string alignment): a
// swapped pair of letters, the commonest typo, counts as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// Closest returns the names that are a near spelling of name, closest first.
func Closest(name string, names []string) []string {
	type cand struct {
		s string
		d int
	}
	var cs []cand
	for _, n := range names {
		if n != name && (near(name, n) || strings.Contains(n, name) || strings.Contains(name, n)) {
			cs = append(cs, cand{n, editDistance(name, n)})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d || (cs[i].d == cs[j].d && cs[i].s < cs[j].s) })
	var out []string
	for i, c := range cs {
		if i == 5 {
			break
		}
		out = append(out, c.s)
	}
	return out
}
