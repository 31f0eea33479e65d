// Command echo is a tiny test server for the e2e cluster: HTTP on :8080
// (replies with who answered and who asked) and a TCP echo on :9000.
// Ports can be changed with HTTP_PORT and TCP_PORT.
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	host, _ := os.Hostname()
	go func() {
		ln, err := net.Listen("tcp", ":"+env("TCP_PORT", "9000"))
		if err != nil {
			log.Fatal(err)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				continue
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				_, _ = io.Copy(c, c)
			}(c)
		}
	}()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "echo host=%s client=%s path=%s\n", host, r.RemoteAddr, r.URL.Path)
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: ":" + env("HTTP_PORT", "8080"), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
