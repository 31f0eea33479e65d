package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run against real servers on loopback: what it prints is what the plugin's
// ClassifyHTTP reads (checked there on captures from the lab).
func TestRun(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/denied" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("hello"))
	})
	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()
	plain := httptest.NewServer(h)
	defer plain.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + closed.Addr().String() + "/"
	closed.Close()
	body := filepath.Join(t.TempDir(), "body")
	// accepts and never answers: the handshake waits out the timeout
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	tests := []struct {
		name, url string
		rc        int
		stderr    []string
	}{
		{"ok", tlsSrv.URL + "/", 0, []string{"Connecting to 127.0.0.1:", "  HTTP/1.1 200 OK", "saved"}},
		{"forbidden", tlsSrv.URL + "/denied", 1, []string{"  HTTP/1.1 403 Forbidden", "wget: server returned error: HTTP/1.1 403 Forbidden"}},
		{"plain port", "https://" + strings.TrimPrefix(plain.URL, "http://") + "/", 1, []string{"wget: TLS error: the server answered in plain HTTP"}},
		{"refused", closedURL, 1, []string{"wget: can't connect to remote host (127.0.0.1): Connection refused"}},
		{"not a URL", "ftp://x/", 1, []string{"not an http or https URL"}},
		{"timeout", "https://" + silent.Addr().String() + "/", 1, []string{"wget: download timed out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if rc := run(tt.url, time.Second, true, body, &out, &errb); rc != tt.rc {
				t.Fatalf("rc %d, want %d\n%s", rc, tt.rc, errb.String())
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
	if b, err := os.ReadFile(body); err != nil || string(b) != "hello" {
		t.Errorf("body %q, %v", b, err)
	}
}
