package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
)

// testCA signs certificates for 127.0.0.1 and localhost in a test's temp
// dir.
type testCA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// file is the CA certificate's PEM file.
	file string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca := &testCA{dir: t.TempDir()}
	ca.file, _, ca.cert, ca.key = ca.issue(t, "test-ca", true)
	return ca
}

// issue writes a certificate named cn (a CA when isCA) and its key, signed
// by ca (self-signed for the CA itself), and returns their files.
func (ca *testCA) issue(t *testing.T, cn string, isCA bool) (certFile, keyFile string, cert *x509.Certificate, key *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		// crictl checks the name localhost unless given --tls-sni.
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	parent, parentKey := tmpl, key
	if ca.cert != nil {
		parent, parentKey = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(ca.dir, cn+".pem"), filepath.Join(ca.dir, cn+".key")
	writeConfig(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeConfig(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	cert, _ = x509.ParseCertificate(der)
	return certFile, keyFile, cert, key
}

// Exec, through crictl, with the streaming server on HTTPS: the URLs are
// https; crictl without TLS flags does not verify the server (as the
// kubelet's own proxy would, it should); with mutual TLS turned on by a
// reload, a client without a certificate is refused and crictl with its
// --tls-* flags verifies the server and is let in.
func TestStreamExecOverTLS(t *testing.T) {
	m := sharedMirror(t)
	d := newDaemon(t)
	ca := newTestCA(t)
	serverCert, serverKey, _, _ := ca.issue(t, "streaming", false)
	clientCert, clientKey, _, _ := ca.issue(t, "client", false)
	certs := filepath.Join(d.Dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, m.Addrs()); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, d.Config, handlerConfig(t)+fmt.Sprintf("[streaming]\ntls_cert_file = %q\ntls_key_file = %q\n", serverCert, serverKey))
	d.Start("--registry-config-path", certs)
	t.Cleanup(func() { removeAllPods(t, d) })
	pull(t, d, podImage)
	_, id := streamPod(t, d, "tls", testContainer("app", "sleep 1000"))

	resp, err := d.Runtime().Exec(context.Background(), &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"true"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Url, "https://127.0.0.1:") {
		t.Errorf("exec URL %q, want https on the loopback address", resp.Url)
	}
	out, code := crictlStream(t, d, "", time.Minute, "exec", id, "echo", "over-tls")
	if code != 0 || lastLine(out) != "over-tls" {
		t.Fatalf("crictl exec over TLS: exit %d, output %q", code, out)
	}

	writeConfig(t, filepath.Join(d.Dir, "cricket.d", "20-mtls.toml"), fmt.Sprintf("[streaming]\ntls_ca_file = %q\n", ca.file))
	hup(t, d, "configuration reloaded")
	out, code = crictlStream(t, d, "", time.Minute, "exec", id, "echo", "no-client-cert")
	if code == 0 || lastLine(out) == "no-client-cert" {
		t.Errorf("a client without a certificate got in under mutual TLS: exit %d, output %q", code, out)
	}
	out, code = crictlStream(t, d, "", time.Minute, "exec", "--tls-ca", ca.file, "--tls-cert", clientCert, "--tls-key", clientKey,
		id, "echo", "mutual")
	if code != 0 || lastLine(out) != "mutual" {
		t.Errorf("crictl exec with a client certificate: exit %d, output %q", code, out)
	}

	// A CA that did not sign the server's certificate: crictl, verifying,
	// refuses the server.
	other := newTestCA(t)
	otherCert, otherKey, _, _ := other.issue(t, "other-client", false)
	out, code = crictlStream(t, d, "", time.Minute, "exec", "--tls-ca", other.file, "--tls-cert", otherCert, "--tls-key", otherKey,
		id, "echo", "wrong-ca")
	if code == 0 || lastLine(out) == "wrong-ca" {
		t.Errorf("crictl accepted a server its CA did not sign: exit %d, output %q", code, out)
	}
}
