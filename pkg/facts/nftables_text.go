package facts

import (
	"encoding/json"
	"fmt"
	"strings"
)

// renderRule writes a rule's expressions back in nft's own syntax, for
// evidence; what it does not know it shows as the JSON it read.
func renderRule(r NftRule) string {
	var parts []string
	for _, e := range r.Expr {
		for k, v := range e {
			parts = append(parts, renderExpr(k, v))
		}
	}
	return strings.Join(parts, " ")
}

func renderExpr(k string, v json.RawMessage) string {
	switch k {
	case "match":
		var m struct {
			Op          string
			Left, Right json.RawMessage
		}
		if json.Unmarshal(v, &m) != nil {
			break
		}
		op := " "
		if m.Op == "!=" {
			op = " != "
		}
		return renderValue(m.Left) + op + renderValue(m.Right)
	case "accept", "drop", "return", "masquerade", "counter", "notrack":
		return k
	case "reject", "snat", "dnat":
		return k
	case "jump", "goto":
		var j struct{ Target string }
		_ = json.Unmarshal(v, &j)
		return k + " " + j.Target
	case "vmap":
		var m struct{ Key, Data json.RawMessage }
		if json.Unmarshal(v, &m) == nil {
			return renderValue(m.Key) + " vmap " + renderValue(m.Data)
		}
	}
	return k + " " + string(v)
}

// renderList renders a JSON list of values joined by sep.
func renderList(x json.RawMessage, sep string) string {
	var elems []json.RawMessage
	_ = json.Unmarshal(x, &elems)
	var out []string
	for _, e := range elems {
		out = append(out, renderValue(e))
	}
	return strings.Join(out, sep)
}

func renderValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		if strings.HasPrefix(s, "@") {
			return s
		}
		if strings.ContainsAny(s, ".:") || strings.Trim(s, "0123456789") == "" {
			return s
		}
		return fmt.Sprintf("%q", s)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) != nil {
		return string(v) // a number
	}
	for k, x := range obj {
		switch k {
		case "payload":
			var f struct{ Protocol, Field string }
			_ = json.Unmarshal(x, &f)
			return f.Protocol + " " + f.Field
		case "meta", "ct":
			var f struct{ Key string }
			_ = json.Unmarshal(x, &f)
			if k == "meta" {
				return f.Key
			}
			return "ct " + f.Key
		case "prefix":
			var p struct {
				Addr string
				Len  int
			}
			_ = json.Unmarshal(x, &p)
			return fmt.Sprintf("%s/%d", p.Addr, p.Len)
		case "set":
			return "{ " + renderList(x, ", ") + " }"
		case "range":
			var ends []json.RawMessage
			_ = json.Unmarshal(x, &ends)
			if len(ends) == 2 {
				return renderValue(ends[0]) + "-" + renderValue(ends[1])
			}
		case "concat":
			return renderList(x, " . ")
		case "&":
			var ops []json.RawMessage
			_ = json.Unmarshal(x, &ops)
			if len(ops) == 2 {
				return renderValue(ops[0]) + " & " + renderValue(ops[1])
			}
		}
	}
	return string(v)
}
