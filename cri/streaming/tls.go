package streaming

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// TLSFiles name the PEM files of the streaming server's TLS.
type TLSFiles struct {
	// Cert and Key are the server's certificate (with its chain) and key.
	Cert, Key string
	// CA, when set, holds the CAs that sign client certificates: clients
	// must then present one (mutual TLS).
	CA string
}

// Certificates serve the TLS configuration of the streaming server from
// files that Reload reads again, so that a certificate can be rotated
// without a restart: each new connection gets the configuration of the
// last successful load.
type Certificates struct {
	cur atomic.Pointer[tls.Config]
}

// LoadCertificates reads files.
func LoadCertificates(files TLSFiles) (*Certificates, error) {
	c := &Certificates{}
	if err := c.Reload(files); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads files again; on error the previous configuration stays.
func (c *Certificates) Reload(files TLSFiles) error {
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return fmt.Errorf("streaming TLS certificate %s, key %s: %w", files.Cert, files.Key, err)
	}
	// Streams upgrade HTTP/1.1 connections (SPDY, WebSocket): no h2.
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if files.CA != "" {
		pem, err := os.ReadFile(files.CA)
		if err != nil {
			return fmt.Errorf("streaming TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("streaming TLS client CA %s: no PEM certificate in it", files.CA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	c.cur.Store(cfg)
	return nil
}

// Config is the server's TLS configuration: it hands each connection the
// current certificates.
func (c *Certificates) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return c.cur.Load(), nil
		},
	}
}
