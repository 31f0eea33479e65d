// Command netcheck-lookup looks a name up the way the C resolvers (glibc,
// musl) do for an application: the candidates resolv.conf's search list and
// ndots make of it, in their order, each asked for A and AAAA at once on one
// socket, until one answers with an address. It counts the queries that
// cost and times them, then does the same for the name with a trailing dot
// (one candidate), so the plugin can say what ndots costs in this pod
// (kubernetes#14051). busybox nslookup cannot: it ignores the search list.
// It ships in netcheck's probe image beside busybox.
//
// -resolv-conf names another configuration to follow (the in-pod wrapper
// passes the workload's). It exits 0 when it looked the name up, whatever
// the answer. Output, one line per way of writing the name (the plugin's
// ClassifyLookup reads it); the time is the median of -rounds lookups, or
// that of the one lookup made when the name found no address:
//
//	search queries=8 rcode=NOERROR answer=www.example.net. ms=4.213 tried=www.example.net.default.svc.cluster.local.,…
//	dotted queries=2 rcode=NOERROR answer=www.example.net. ms=0.912 tried=www.example.net.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

func main() {
	fs := flag.NewFlagSet("netcheck-lookup", flag.ContinueOnError)
	conf := fs.String("resolv-conf", "/etc/resolv.conf", "the resolver configuration to follow")
	rounds := fs.Int("rounds", 3, "timed lookups per way of writing the name (the median is printed)")
	deadline := fs.Int("w", 20, "seconds for the whole run")
	if err := fs.Parse(os.Args[1:]); err != nil || fs.NArg() != 1 || *rounds < 1 || *rounds > 9 || *deadline < 1 {
		fmt.Fprintln(os.Stderr, "usage: netcheck-lookup [-resolv-conf PATH] [-rounds 1-9] [-w SECS] NAME")
		os.Exit(2)
	}
	if err := validName(fs.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "netcheck-lookup:", err)
		os.Exit(2)
	}
	c, err := load(*conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netcheck-lookup:", err)
		os.Exit(1)
	}
	os.Exit(run(os.Stdout, os.Stderr, c, fs.Arg(0), *rounds, time.Duration(*deadline)*time.Second))
}

// load reads the resolver configuration at path.
func load(path string) (conf, error) {
	b, err := os.ReadFile(path) //nolint:gosec // the resolver configuration the caller names is the point
	if err != nil {
		return conf{}, fmt.Errorf("cannot read resolver configuration: %w", err)
	}
	c := parseConf(string(b))
	if len(c.servers) == 0 {
		return conf{}, fmt.Errorf("%s names no nameserver", path)
	}
	return c, nil
}

// run prints both lines and returns 0.
func run(out, errOut io.Writer, c conf, name string, rounds int, deadline time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	dotted := canonical(name)
	ways := []struct{ label, name string }{{"search", name}, {"dotted", dotted}}
	// One untimed lookup of each first, side by side: the first ask of an
	// outside name fills CoreDNS's cache, which would be charged to
	// whichever went first. When either finds no address, that lookup is
	// what is printed: repeating what waits out timeouts would only make
	// the run wait longer for the same answer.
	res := make([][]result, len(ways))
	var wg sync.WaitGroup
	for i, w := range ways {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = []result{c.lookup(ctx, w.name)}
		}()
	}
	wg.Wait()
	if res[0][0].answer != "" && res[1][0].answer != "" {
		res = make([][]result, len(ways))
		for r := 0; r < rounds; r++ {
			for i, w := range ways {
				res[i] = append(res[i], c.lookup(ctx, w.name))
			}
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintf(errOut, "netcheck-lookup: the run took over %s\n", deadline)
	}
	for i, w := range ways {
		fmt.Fprintln(out, w.label, median(res[i]).String())
	}
	return 0
}
