package streaming

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeCert writes a certificate for 127.0.0.1 named cn, signed by
// parent (self-signed when nil), and its key, as PEM files in dir.
func writeCert(t *testing.T, dir, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (string, string, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cp, kp := filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+".key")
	if err := os.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cp, kp, cert, key
}

// peerCert dials l with cfg and returns the server's certificate.
func peerCert(t *testing.T, addr string, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func TestCertificatesReload(t *testing.T) {
	dir := t.TempDir()
	cert1, key1, c1, _ := writeCert(t, dir, "one", nil, nil, false)
	certs, err := LoadCertificates(TLSFiles{Cert: cert1, Key: key1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", certs.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// handshakes receives the server side's result of each handshake.
	handshakes := make(chan error, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { handshakes <- c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	serverSide := func() error {
		select {
		case err := <-handshakes:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("no handshake seen by the server")
			return nil
		}
	}
	insecure := &tls.Config{InsecureSkipVerify: true}
	if got, err := peerCert(t, l.Addr().String(), insecure); err != nil || !got.Equal(c1) {
		t.Fatalf("first certificate: %v", err)
	}
	if err := serverSide(); err != nil {
		t.Fatal(err)
	}

	if err := certs.Reload(TLSFiles{Cert: filepath.Join(dir, "missing.pem"), Key: key1}); err == nil {
		t.Fatal("a missing certificate: want an error")
	}
	if got, err := peerCert(t, l.Addr().String(), insecure); err != nil || !got.Equal(c1) {
		t.Fatalf("a failed reload changed the certificate: %v", err)
	}
	_ = serverSide()

	// Rotation with mutual TLS: clients need a certificate the CA signed.
	caPEM, _, ca, caKey := writeCert(t, dir, "ca", nil, nil, true)
	cert2, key2, c2, _ := writeCert(t, dir, "two", ca, caKey, false)
	if err := certs.Reload(TLSFiles{Cert: cert2, Key: key2, CA: caPEM}); err != nil {
		t.Fatal(err)
	}
	_, _ = peerCert(t, l.Addr().String(), insecure)
	if err := serverSide(); err == nil {
		t.Fatal("a client without a certificate was accepted under mutual TLS")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	clientCert, clientKey, _, _ := writeCert(t, dir, "client", ca, caKey, false)
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := peerCert(t, l.Addr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}})
	if err != nil || !got.Equal(c2) {
		t.Fatalf("after rotation, a verified client with a certificate: %v", err)
	}
	if err := serverSide(); err != nil {
		t.Fatalf("a client with a certificate: %v", err)
	}
}
