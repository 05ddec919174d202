package integration

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
)

// dialHelperEnv makes TestSecureDefaultsDialHelper dial the socket it names.
const dialHelperEnv = "CRICKET_TEST_DIAL_SOCKET"

// TestSecureDefaultsDialHelper is not a test: the socket test runs this
// binary as nobody with dialHelperEnv set, and it prints what connecting
// to the daemon's socket did.
func TestSecureDefaultsDialHelper(t *testing.T) {
	path := os.Getenv(dialHelperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Printf("dial: errno %d\n", int(errno))
			return
		}
		fmt.Printf("dial: %v\n", err)
		return
	}
	c.Close()
	fmt.Println("dial: ok")
}

// TestSecureDefaultsSocketRefusesNonRoot connects to the CRI socket as
// nobody, through directories anyone may traverse, so that only the
// socket's own mode stands in the way: the connection is refused with
// EACCES. With the socket opened up to everyone the same helper connects,
// which shows the check can fail.
func TestSecureDefaultsSocketRefusesNonRoot(t *testing.T) {
	d := startDaemon(t)
	for _, dir := range []string{filepath.Dir(d.Dir), d.Dir, d.State} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	helper := filepath.Join(d.Dir, "dial-helper")
	copyFile(t, os.Args[0], helper, 0o755)
	dial := func() string {
		cmd := exec.Command(helper, "-test.run=^TestSecureDefaultsDialHelper$")
		cmd.Env = []string{dialHelperEnv + "=" + d.Socket}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run helper as nobody: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "dial: ") {
				return strings.TrimPrefix(line, "dial: ")
			}
		}
		t.Fatalf("helper said nothing about dialing:\n%s", out)
		return ""
	}
	if got, want := dial(), fmt.Sprintf("errno %d", int(syscall.EACCES)); got != want {
		t.Errorf("nobody connecting to the CRI socket: %s, want %s (EACCES)", got, want)
	}
	if err := os.Chmod(d.Socket, 0o666); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(d.Socket, 0o660)
	if got := dial(); got != "ok" {
		t.Fatalf("control: nobody cannot connect even to a 0666 socket (%s); the check proves nothing", got)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// authRegistry is a registry that wants a bearer token from its /token
// realm, which it issues for basic credentials or an identity token
// (OAuth2 refresh-token grant), and that also accepts a fixed registry
// token. open serves the same content without auth, for pushing.
type authRegistry struct {
	srv, open                      *httptest.Server
	user, pass, identity, regToken string
	issued                         string
}

func newAuthRegistry(t *testing.T) *authRegistry {
	t.Helper()
	secret := func(p string) string { return p + "-" + hex.EncodeToString([]byte(t.Name()))[:12] + "-s3cr3t" }
	r := &authRegistry{user: "puller", pass: secret("pass"), identity: secret("identity"), regToken: secret("regtoken"), issued: secret("bearer")}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.open = httptest.NewServer(inner)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/token" {
			r.token(w, req)
			return
		}
		if a := req.Header.Get("Authorization"); a == "Bearer "+r.issued || a == "Bearer "+r.regToken {
			inner.ServeHTTP(w, req)
			return
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="cricket-test"`, "http://"+req.Host))
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(func() { r.srv.Close(); r.open.Close() })
	return r
}

func (r *authRegistry) token(w http.ResponseWriter, req *http.Request) {
	ok := false
	if req.Method == http.MethodPost {
		_ = req.ParseForm()
		ok = req.PostForm.Get("grant_type") == "refresh_token" && req.PostForm.Get("refresh_token") == r.identity
	} else if u, p, has := req.BasicAuth(); has {
		ok = u == r.user && p == r.pass
	}
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	fmt.Fprintf(w, `{"token": %q}`, r.issued)
}

// push stores a small random image as repo:v1 and returns the reference
// the daemon pulls.
func (r *authRegistry) push(t *testing.T, repo string) string {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(r.open.URL, "http://")+"/"+repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, imagebuild.RemoteOptions(context.Background())...); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(r.srv.URL, "http://") + "/" + repo + ":v1"
}

// TestSecureDefaultsCredentialsNeverLogged pulls with every kind of CRI
// credential (username and password, the "auth" field, an identity token,
// a registry token), good and bad, from a registry that needs them, with
// the daemon logging at -v=6 (full requests). The good ones work, so they
// were used; no secret, nor its base64 form, nor the bearer token they
// earn appears in any error or in the daemon's log.
func TestSecureDefaultsCredentialsNeverLogged(t *testing.T) {
	r := newAuthRegistry(t)
	d := newDaemon(t)
	host := strings.TrimPrefix(r.srv.URL, "http://")
	certs := filepath.Join(d.Dir, "certs.d")
	writePlainHTTPHosts(t, certs, host)
	d.Start("--registry-config-path", certs, "-v", "6")
	wrong := "wrong-" + r.pass
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		desc    string
		auth    *runtimeapi.AuthConfig
		wantErr bool
	}{
		{desc: "username and password", auth: &runtimeapi.AuthConfig{Username: r.user, Password: r.pass}},
		{desc: "auth field", auth: &runtimeapi.AuthConfig{Auth: b64(r.user + ":" + r.pass)}},
		{desc: "identity token", auth: &runtimeapi.AuthConfig{IdentityToken: r.identity}},
		{desc: "registry token", auth: &runtimeapi.AuthConfig{RegistryToken: r.regToken}},
		{desc: "wrong password", auth: &runtimeapi.AuthConfig{Username: r.user, Password: wrong}, wantErr: true},
		{desc: "wrong auth field", auth: &runtimeapi.AuthConfig{Auth: b64(r.user + ":" + wrong)}, wantErr: true},
		{desc: "wrong identity token", auth: &runtimeapi.AuthConfig{IdentityToken: "wrong-" + r.identity}, wantErr: true},
		{desc: "malformed auth field", auth: &runtimeapi.AuthConfig{Auth: "!!" + r.pass}, wantErr: true},
	}
	secrets := []string{r.pass, wrong, r.identity, r.regToken, r.issued, b64(r.user + ":" + r.pass), b64(r.user + ":" + wrong)}
	for i, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ref := r.push(t, fmt.Sprintf("private%d", i))
			tc.auth.ServerAddress = host
			_, err := d.Image().PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}, Auth: tc.auth})
			if tc.wantErr != (err != nil) {
				t.Fatalf("pull err = %v, wantErr %v", err, tc.wantErr)
			}
			for _, s := range secrets {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("error reveals a secret: %v", err)
				}
			}
		})
	}
	_, _ = d.Image().ListImages(context.Background(), &runtimeapi.ListImagesRequest{})
	d.Stop()
	logged := d.RunLog()
	if !strings.Contains(logged, `"request"`) || !strings.Contains(logged, "<redacted>") {
		t.Fatalf("the daemon log has no full PullImage request at -v=6; the check proves nothing:\n%.3000s", logged)
	}
	for _, s := range append(secrets, url.QueryEscape(r.pass), url.QueryEscape(r.identity)) {
		if strings.Contains(logged, s) {
			t.Errorf("daemon log contains the secret %q", s)
		}
	}
}

// TestSecureDefaultsStreamingOnLoopback: with the default configuration the
// exec, attach and port-forward URLs point at a loopback address, and every
// TCP socket the daemon listens on is bound to loopback.
func TestSecureDefaultsStreamingOnLoopback(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	pod := testPod(t, "streaming", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	id := startContainer(t, rt, podID, pod, testContainer("sleeper", "sleep 1000"))
	var urls []string
	ex, err := rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"true"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	at, err := rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{80}})
	if err != nil {
		t.Fatal(err)
	}
	urls = append(urls, ex.Url, at.Url, pf.Url)
	for _, u := range urls {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("streaming URL %q: %v", u, err)
		}
		if ip := net.ParseIP(parsed.Hostname()); ip == nil || !ip.IsLoopback() {
			t.Errorf("streaming URL %s is not on a loopback address", u)
		}
	}
	listening := listeningAddrs(t, d.Pid())
	if len(listening) == 0 {
		t.Fatal("the daemon listens on no TCP socket, yet serves streaming URLs; the check proves nothing")
	}
	for _, a := range listening {
		if !a.IsLoopback() {
			t.Errorf("the daemon listens on %v, not loopback", a)
		}
	}
}

// listeningAddrs returns the local IPs of the TCP sockets in LISTEN state
// that process pid holds.
func listeningAddrs(t *testing.T, pid int) []net.IP {
	t.Helper()
	inodes := map[string]bool{}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []net.IP
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			hexIP, _, _ := strings.Cut(f[1], ":")
			out = append(out, procNetIP(hexIP))
		}
	}
	return out
}

// procNetIP decodes an address of /proc/net/tcp{,6}: 32-bit words in host
// (little-endian) order.
func procNetIP(h string) net.IP {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b)
}
