// Command releaseproxy lets `kubectl krew install` run offline against the
// manifest this repository commits, unchanged: it is an HTTPS proxy that
// answers requests for the release archives' GitHub URLs from a local
// directory. krew (HTTPS_PROXY pointed here, SSL_CERT_FILE at the CA this
// writes) downloads what it would from GitHub and checks the sha256 the
// committed manifest names. It never dials out: every other host is refused
// and every other path is a 404.
//
//	releaseproxy -dir dist -prefix /netcheck/kubectl-netcheck/releases/download/v0.9.0/ \
//	  -ca ca.pem -addr-file addr
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	dir := flag.String("dir", "dist", "directory the archives are served from")
	host := flag.String("host", "github.com", "the one host answered (port 443)")
	prefix := flag.String("prefix", "/", "URL path prefix of the archives")
	caFile := flag.String("ca", "releaseproxy-ca.pem", "where to write the CA certificate clients must trust")
	addrFile := flag.String("addr-file", "", "where to write host:port once listening")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	flag.Parse()
	log.SetPrefix("releaseproxy: ")
	log.SetFlags(0)

	leaf, err := certify(*host, *caFile)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()+"\n"), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("listening on %s for https://%s%s from %s", ln.Addr(), *host, *prefix, *dir)

	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, *prefix)
		if !ok || name == "" || name != path.Base(name) || r.Method != http.MethodGet {
			log.Printf("%q %q%q: not a release archive (404)", r.Method, r.Host, r.URL.Path) //nolint:gosec // %q quotes what the client sent
			http.NotFound(w, r)
			return
		}
		log.Printf("GET %q from %s", "https://"+r.Host+r.URL.Path, filepath.Join(*dir, path.Base(name))) //nolint:gosec // %q quotes what the client sent
		http.ServeFileFS(w, r, os.DirFS(*dir), name)                                                     //nolint:gosec // one path element (checked above), and DirFS refuses any path out of dir
	})
	tunnels := newConnListener(ln.Addr())
	tlsConf := &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	inner := &http.Server{Handler: files, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = inner.Serve(tls.NewListener(tunnels, tlsConf)) }()

	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Host != *host+":443" {
			log.Printf("refused %q %q: only CONNECT %s:443 is answered", r.Method, r.Host, *host) //nolint:gosec // %q quotes what the client sent
			http.Error(w, "releaseproxy answers only CONNECT "+*host+":443", http.StatusForbidden)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "cannot hijack", http.StatusInternalServerError)
			return
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		if _, err := buf.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || buf.Flush() != nil {
			_ = conn.Close()
			return
		}
		tunnels.push(&bufferedConn{Conn: conn, r: buf.Reader})
	})
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// certify writes a throwaway CA to caFile and returns a certificate for host
// signed by it; both live only as long as this process.
func certify(host, caFile string) (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "releaseproxy throwaway CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// connListener hands the tunnelled connections to an http.Server as if it
// had accepted them.
type connListener struct {
	conns chan net.Conn
	addr  net.Addr
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{conns: make(chan net.Conn), addr: addr}
}

func (l *connListener) push(c net.Conn) { l.conns <- c }

func (l *connListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, errors.New("closed")
	}
	return c, nil
}

func (l *connListener) Close() error   { return nil }
func (l *connListener) Addr() net.Addr { return l.addr }

// bufferedConn keeps what the CONNECT request's reader had already buffered
// (a client may send its TLS hello right behind the request).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
