package probe

// ruleFilter is the awk program that trims an iptables-save dump on the
// node before it crosses the API server. kube-proxy writes a few chains
// per Service port (KUBE-SVC, KUBE-SEP per endpoint, KUBE-EXT, KUBE-FW,
// KUBE-SVL) and a dispatch rule per address in KUBE-SERVICES: on a
// cluster of ten thousand Services that is most of a nat table of tens of
// megabytes, none of it about the Services this run asked for.
//
// It keeps every table, policy and chain that is not per-Service; in the
// dispatch chains, the rules for a host address only when the address was
// asked about ("+aADDR") and node-port rules only for the ports asked
// about ("+pPORT"); and the per-Service chains those kept rules reach,
// followed to the endpoints. It says what it left out in a comment line,
// which ParseFacts reads back. POSIX awk (busybox's, mawk, gawk); no
// single quote, since the script holds it in one.
const ruleFilter = `
function perService(c) { return c ~ /^KUBE-(SVC|SVL|SEP|EXT|FW)-/ }
function dispatch(c) { return c == "KUBE-SERVICES" || c == "KUBE-NODEPORTS" || c == "KUBE-EXTERNAL-SERVICES" }
function target(   j) {
  for (j = 3; j < nf; j++) if (f[j] == "-j" || f[j] == "-g") return f[j + 1]
  return ""
}
BEGIN {
  for (i = 1; i < ARGC; i++) {
    k = substr(ARGV[i], 1, 2); v = substr(ARGV[i], 3)
    if (k == "+a") addr[v] = 1
    if (k == "+p") port[v] = 1
    delete ARGV[i]
  }
}
{ n++; L[n] = $0 }
END {
  for (i = 1; i <= n; i++) {
    if (substr(L[i], 1, 3) != "-A ") continue
    nf = split(L[i], f, " ")
    if (!dispatch(f[2])) continue
    d = ""; dp = ""
    for (j = 3; j < nf; j++) { if (f[j] == "-d") d = f[j + 1]; if (f[j] == "--dport") dp = f[j + 1] }
    keep = 1
    if (d ~ /\/(32|128)$/) { sub(/\/[0-9]+$/, "", d); keep = (d in addr) }
    else if (dp != "" && f[2] != "KUBE-SERVICES") keep = (dp in port)
    if (!keep) { drop[i] = 1; continue }
    t = target(); if (perService(t)) need[t] = 1
  }
  for (more = 1; more; ) {
    more = 0
    for (i = 1; i <= n; i++) {
      if (substr(L[i], 1, 3) != "-A ") continue
      nf = split(L[i], f, " ")
      if (!(f[2] in need)) continue
      t = target()
      if (perService(t) && !(t in need)) { need[t] = 1; more = 1 }
    }
  }
  rules = 0; chains = 0
  for (i = 1; i <= n; i++) {
    line = L[i]
    if (substr(line, 1, 1) == ":") {
      split(substr(line, 2), f, " ")
      if (perService(f[1]) && !(f[1] in need)) { chains++; continue }
    } else if (substr(line, 1, 3) == "-A ") {
      split(line, f, " ")
      if (drop[i] || (perService(f[2]) && !(f[2] in need))) { rules++; continue }
    }
    print line
  }
  if (rules || chains) print "# netcheck: left out " rules (rules == 1 ? " rule" : " rules") " and " chains (chains == 1 ? " chain" : " chains") " of Services not asked about"
}
`

// nftFilter does the same for kube-proxy's own nftables table, whose
// per-Service chains (service-, endpoint-, external-, firewall-) are the
// bulk of `nft -j list table ip kube-proxy`: about 3 KB per Service port.
// nft prints the table as one line of JSON. The line is read as records
// split at "{" (linear in busybox awk, where a regex split or gsub of a
// long line is quadratic); a top-level object begins with a record
// `"KIND": ` of one of nft's object kinds followed by one beginning
// `"family": ` (or `"version": `), a shape no nested expression has.
// The maps (one element per Service port) are kept whole; a chain is
// kept when a map sends an address or node port asked about to it, or a
// kept chain jumps to it. A document of another shape passes unchanged.
const nftFilter = `
function perService(c) { return c ~ /^(service|endpoint|external|firewall)-/ }
function name(r, key,   i, s) {
  i = index(r, "\"" key "\": \""); if (!i) return ""
  s = substr(r, i + length(key) + 5); return substr(s, 1, index(s, "\"") - 1)
}
function kindOf(r,   k) {
  if (substr(r, 1, 1) != "\"" || substr(r, length(r) - 2) != "\": ") return ""
  k = substr(r, 2, length(r) - 4); return index(kinds, "|" k "|") ? k : ""
}
BEGIN {
  for (i = 1; i < ARGC; i++) {
    k = substr(ARGV[i], 1, 2); v = substr(ARGV[i], 3)
    if (k == "+a") addr[v] = 1
    if (k == "+p") port[v] = 1
    delete ARGV[i]
  }
  RS = "{"
  kinds = "|metainfo|table|chain|rule|set|map|element|flowtable|counter|quota|limit|secmark|synproxy|ct helper|ct timeout|ct expectation|"
}
NR == 1 { bad = ($0 != ""); if (bad) printf "%s", $0; next }
NR == 2 { bad = bad || ($0 != "\"nftables\": ["); if (bad) printf "{%s", $0; next }
bad { printf "{%s", $0; next }
{
  R[NR] = $0
  if (pending) {
    pending = 0
    if (substr($0, 1, 10) == "\"family\": " || substr($0, 1, 11) == "\"version\": ") {
      n++; first[n] = NR - 1; kind[n] = kindOf(R[NR - 1])
      if (kind[n] == "rule") cn[n] = name($0, "chain")
      if (kind[n] == "chain") cn[n] = name($0, "name")
    }
  }
  if (kindOf($0) != "") pending = 1
  if (n == 0) next
  if (substr($0, 1, 10) == "\"concat\": ") key = $0
  if (substr($0, 1, 11) != "\"target\": \"") next
  t = name($0, "target")
  if (!perService(t)) next
  if (kind[n] == "map") {
    for (a in addr) if (index(key, "[\"" a "\", ")) need[t] = 1
    for (p in port) if (index(key, "\", " p "]")) need[t] = 1
  } else if (kind[n] == "rule") {
    jumps[n] = jumps[n] " " t
  }
}
END {
  if (bad || n == 0) { if (!bad) for (j = 3; j <= NR; j++) printf "{%s", R[j]; exit }
  for (more = 1; more; ) {
    more = 0
    for (i = 1; i <= n; i++) {
      if (!(i in jumps) || !(cn[i] in need)) continue
      m = split(jumps[i], to, " ")
      for (k = 1; k <= m; k++) if (!(to[k] in need)) { need[to[k]] = 1; more = 1 }
    }
  }
  first[n + 1] = NR + 1; rules = 0; chains = 0; sep = ""
  printf "{\"nftables\": ["
  for (i = 1; i <= n; i++) {
    if (perService(cn[i]) && !(cn[i] in need)) { if (kind[i] == "rule") rules++; else chains++; continue }
    printf "%s", sep; sep = ", "
    for (j = first[i]; j < first[i + 1]; j++) {
      r = R[j]
      if (j == first[i + 1] - 1) { sub(/\]\}\n?$/, "", r); sub(/, $/, "", r) }
      printf "{%s", r
    }
  }
  print "]}"
  if (rules || chains) print "# netcheck: left out " rules (rules == 1 ? " rule" : " rules") " and " chains (chains == 1 ? " chain" : " chains") " of Services not asked about"
}
`
