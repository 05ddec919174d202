package image

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestSelectCredentials(t *testing.T) {
	docker := dockerConfig{Auths: map[string]dockerAuth{
		"https://index.docker.io/v1/": {Auth: base64.StdEncoding.EncodeToString([]byte("hub:hubpw"))},
		"mirror.local:5000":           {Username: "m", Password: "mpw"},
	}}
	cri := &AuthConfig{Username: "cri", Password: "cripw"}
	for _, tc := range []struct {
		desc               string
		cri                *AuthConfig
		registry, host     string
		wantUser, wantPass string
		wantToken          string
	}{
		{desc: "cri auth for the registry", cri: cri, registry: "gcr.io", host: "gcr.io", wantUser: "cri", wantPass: "cripw"},
		{desc: "cri auth never goes to a mirror", cri: cri, registry: "gcr.io", host: "mirror.local:5000", wantUser: "m", wantPass: "mpw"},
		{desc: "cri auth for hub upstream host", cri: cri, registry: "docker.io", host: "registry-1.docker.io", wantUser: "cri", wantPass: "cripw"},
		{desc: "cri auth field decoded", cri: &AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("u:p:w"))},
			registry: "r.io", host: "r.io", wantUser: "u", wantPass: "p:w"},
		{desc: "cri server address selects host", cri: &AuthConfig{ServerAddress: "https://other.io", RegistryToken: "tok"},
			registry: "r.io", host: "other.io", wantToken: "tok"},
		{desc: "cri server address elsewhere", cri: &AuthConfig{ServerAddress: "other.io", RegistryToken: "tok"},
			registry: "r.io", host: "r.io"},
		{desc: "docker config for hub", registry: "docker.io", host: "registry-1.docker.io", wantUser: "hub", wantPass: "hubpw"},
		{desc: "nothing configured", registry: "quay.io", host: "quay.io"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, err := selectCredentials(tc.cri, docker, tc.registry, tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if c.username != tc.wantUser || c.password != tc.wantPass || c.registryToken != tc.wantToken {
				t.Errorf("got %q/%q/%q", c.username, c.password, c.registryToken)
			}
		})
	}
}

func TestAuthConfigNeverPrinted(t *testing.T) {
	a := AuthConfig{Username: "u", Password: "hunter2", IdentityToken: "idtok"}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v", a, a, a), fmt.Sprint(&a)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "idtok") {
			t.Errorf("secret in %q", s)
		}
	}
}

// tokenRegistry puts a bearer-token challenge in front of reg: /token
// hands out "good-token" for basic user:pw (or anonymously when anon).
func tokenRegistry(reg *testRegistry, anon bool) {
	reg.wrap = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			u, p, ok := r.BasicAuth()
			if !anon && (!ok || u != "user" || p != "pw") {
				w.WriteHeader(http.StatusUnauthorized)
				return true
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"token": "good-token"})
			return true
		}
		if r.Method == http.MethodGet && r.Header.Get("Authorization") != "Bearer good-token" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="test",scope="repository:priv:pull"`, reg.srv.URL))
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	}
}

func TestPullWithAuth(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		anon      bool
		auth      *AuthConfig
		docker    string
		wantClass error
	}{
		{desc: "cri username password", auth: &AuthConfig{Username: "user", Password: "pw"}},
		{desc: "cri auth field", auth: &AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("user:pw"))}},
		{desc: "cri registry token", auth: &AuthConfig{RegistryToken: "good-token"}},
		{desc: "docker config.json", docker: `{"auths":{"HOST":{"auth":"dXNlcjpwdw=="}}}`},
		{desc: "anonymous token", anon: true},
		{desc: "wrong password", auth: &AuthConfig{Username: "user", Password: "bad"}, wantClass: errdefs.ErrPermissionDenied},
		{desc: "no credentials", wantClass: errdefs.ErrPermissionDenied},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			reg := newTestRegistry(t)
			reg.push("priv", "latest", buildImage(t, "", layerTar(t, map[string]string{"a": "b"})))
			tokenRegistry(reg, tc.anon)
			root := t.TempDir()
			dockerPath := ""
			if tc.docker != "" {
				dockerPath = filepath.Join(root, "config.json")
				_ = os.WriteFile(dockerPath, []byte(strings.ReplaceAll(tc.docker, "HOST", reg.host())), 0o600)
			}
			s := newTestService(t, root, reg, func(o *Options) { o.DockerConfigPath = dockerPath })
			_, err := s.Pull(context.Background(), reg.host()+"/priv", tc.auth, "")
			if tc.wantClass == nil && err != nil {
				t.Fatal(err)
			}
			if tc.wantClass != nil && !errors.Is(err, tc.wantClass) {
				t.Fatalf("err = %v, want %v", err, tc.wantClass)
			}
			if err != nil && (strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "good-token")) {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
}
