// Command netcheck-wget fetches an https URL the way the probe's busybox wget
// fetches an http one, and prints what busybox wget prints, so the plugin
// reads both the same way. It exists because busybox 1.35's own TLS sends no
// signature_algorithms extension: a TLS 1.2 server then has to sign with
// SHA-1, which Go 1.25 and later refuse (RFC 9155) — so busybox cannot talk
// to a Kubernetes API server built with them ("alert code 40: handshake
// failure"). It ships in netcheck's probe image beside busybox.
//
// Like busybox wget, it does not verify the server's certificate: the check
// is whether the path and the TLS handshake work, not whom to trust.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("netcheck-wget", flag.ContinueOnError)
	timeout := fs.Int("T", 10, "seconds for the whole fetch")
	headers := fs.Bool("S", false, "print the server's response headers")
	out := fs.String("O", "", "where the body goes (- for stdout)")
	if err := fs.Parse(os.Args[1:]); err != nil || fs.NArg() != 1 || *timeout < 1 {
		fmt.Fprintln(os.Stderr, "usage: netcheck-wget [-T SECS] [-S] [-O FILE] URL")
		os.Exit(2)
	}
	os.Exit(run(fs.Arg(0), time.Duration(*timeout)*time.Second, *headers, *out, os.Stdout, os.Stderr))
}

// run fetches raw and returns busybox wget's exit status: 0 for a 2xx.
func run(raw string, timeout time.Duration, headers bool, out string, stdout, stderr io.Writer) int {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		fmt.Fprintf(stderr, "wget: not an http or https URL: %q\n", raw)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dialer := &net.Dialer{}
	// The transport's dial may outlive client.Do (a timeout): what it
	// writes and records goes through one lock with what run writes.
	var mu sync.Mutex
	stderr = &lockedWriter{mu: &mu, w: stderr}
	var connectErr error
	setConnectErr := func(err error) { mu.Lock(); connectErr = err; mu.Unlock() }
	getConnectErr := func() error { mu.Lock(); defer mu.Unlock(); return connectErr }
	transport := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as busybox wget: reachability, not trust
		DisableKeepAlives: true,
		Proxy:             nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := net.DefaultResolver.LookupHost(ctx, host)
			if err != nil || len(ips) == 0 {
				err = fmt.Errorf("bad address '%s'", host)
				setConnectErr(err)
				return nil, err
			}
			target := net.JoinHostPort(ips[0], port)
			fmt.Fprintf(stderr, "Connecting to %s (%s)\n", u.Host, target)
			c, err := dialer.DialContext(ctx, network, target)
			if err != nil {
				setConnectErr(fmt.Errorf("can't connect to remote host (%s): %s", ips[0], errnoText(err)))
			}
			return c, err
		},
	}
	client := &http.Client{Transport: transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirections")
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(stderr, "wget: %v\n", err)
		return 1
	}
	req.Header.Set("User-Agent", "Wget")
	resp, err := client.Do(req)
	if err != nil {
		var tlsRecord tls.RecordHeaderError
		switch connectErr := getConnectErr(); {
		case connectErr != nil:
			fmt.Fprintf(stderr, "wget: %v\n", connectErr)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			fmt.Fprintln(stderr, "wget: download timed out")
		case strings.Contains(err.Error(), "HTTP response to HTTPS client"):
			fmt.Fprintln(stderr, "wget: TLS error: the server answered in plain HTTP, not TLS (a plain port)")
		case errors.As(err, &tlsRecord):
			fmt.Fprintf(stderr, "wget: TLS error: got a non-TLS record while expecting the handshake (%s)\n", tlsRecord.Msg)
		case strings.Contains(err.Error(), "tls:"):
			fmt.Fprintf(stderr, "wget: TLS error: %s\n", tlsText(err))
		default:
			fmt.Fprintf(stderr, "wget: error getting response: %s\n", errnoText(err))
		}
		return 1
	}
	defer resp.Body.Close()
	status := fmt.Sprintf("%s %s", resp.Proto, resp.Status)
	if headers {
		fmt.Fprintf(stderr, "  %s\n", status)
		keys := make([]string, 0, len(resp.Header))
		for k := range resp.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range resp.Header[k] {
				fmt.Fprintf(stderr, "  %s: %s\n", k, v)
			}
		}
		fmt.Fprintln(stderr, "  ")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "wget: server returned error: %s\n", status)
		return 1
	}
	w := stdout
	if out != "-" {
		name := out
		if name == "" {
			name = "index.html"
		}
		f, err := os.Create(name) //nolint:gosec // -O names the caller's own file, as wget's does
		if err != nil {
			fmt.Fprintf(stderr, "wget: can't open '%s': %v\n", name, err)
			return 1
		}
		defer f.Close()
		w = f
		fmt.Fprintf(stderr, "saving to '%s'\n", name)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			fmt.Fprintln(stderr, "wget: download timed out")
		} else {
			fmt.Fprintf(stderr, "wget: error getting response: %s\n", errnoText(err))
		}
		return 1
	}
	if out != "-" {
		fmt.Fprintf(stderr, "'%s' saved\n", w.(*os.File).Name())
	}
	return 0
}

// lockedWriter serialises writes from the dial and from run.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// errnoText words a socket error as busybox does (strerror).
func errnoText(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "No route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "Network is unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "Connection reset by peer"
	case errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, context.DeadlineExceeded):
		return "Connection timed out"
	}
	return err.Error()
}

// tlsText keeps the TLS part of a Go error ("remote error: tls: handshake
// failure") without the URL and operation wrapped around it.
func tlsText(err error) string {
	s := err.Error()
	if i := strings.Index(s, "remote error: tls:"); i >= 0 {
		return "from peer: " + strings.TrimSpace(s[i+len("remote error: tls:"):])
	}
	if i := strings.Index(s, "tls:"); i >= 0 {
		return strings.TrimSpace(s[i+len("tls:"):])
	}
	return s
}
