package sigpolicy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// testParse is a minimal normaliser: docker.io for host-less names.
func testParse(s string) (Ref, error) {
	var r Ref
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, r.Digest = name[:i], name[i+1:]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
	}
	if name == "" {
		return Ref{}, errors.New("empty")
	}
	if first, _, _ := strings.Cut(name, "/"); !strings.ContainsAny(first, ".:") {
		name = "docker.io/" + name
	}
	r.Repo = name
	return r, nil
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		desc string
		ref  Ref
		want []string
	}{
		{desc: "tagged, deep path, port", ref: Ref{Repo: "reg.example.com:5000/team/app/web", Tag: "v1"},
			want: []string{"reg.example.com:5000/team/app/web:v1", "reg.example.com:5000/team/app/web", "reg.example.com:5000/team/app",
				"reg.example.com:5000/team", "reg.example.com:5000", "*.example.com", "*.com", ""}},
		{desc: "by digest", ref: Ref{Repo: "docker.io/library/busybox", Digest: "sha256:aa"},
			want: []string{"docker.io/library/busybox@sha256:aa", "docker.io/library/busybox", "docker.io/library", "docker.io", "*.io", ""}},
		{desc: "localhost", ref: Ref{Repo: "localhost/app", Tag: "x"}, want: []string{"localhost/app:x", "localhost/app", "localhost", ""}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := Scopes(tc.ref); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Scopes = %q\nwant %q", got, tc.want)
			}
		})
	}
}

const scopedPolicy = `{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "": [{"type": "insecureAcceptAnything"}],
      "registry.example.com": [{"type": "reject"}],
      "registry.example.com/team": [{"type": "insecureAcceptAnything"}],
      "registry.example.com/team/app:pinned": [{"type": "reject"}],
      "*.corp.example": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}]
    },
    "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}
  }
}`

func TestPolicyForPicksTheMostSpecificScope(t *testing.T) {
	p, err := Parse([]byte(scopedPolicy), "/", testParse)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref, scope, typ string
	}{
		{ref: "registry.example.com/team/app:v1", scope: "registry.example.com/team", typ: TypeInsecureAcceptAnything},
		{ref: "registry.example.com/team/app:pinned", scope: "registry.example.com/team/app:pinned", typ: TypeReject},
		{ref: "registry.example.com/other/app:v1", scope: "registry.example.com", typ: TypeReject},
		{ref: "registry.example.com/teammate/app:v1", scope: "registry.example.com", typ: TypeReject},
		{ref: "mirror.corp.example/x:1", scope: "*.corp.example", typ: TypeSignedBy},
		{ref: "busybox:1", scope: "", typ: TypeInsecureAcceptAnything},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			ref, _ := testParse(tc.ref)
			scope, reqs := p.For(ref)
			if scope != tc.scope || reqs[0].Type != tc.typ {
				t.Errorf("For(%s) = scope %q %s, want scope %q %s", tc.ref, scope, reqs[0].Type, tc.scope, tc.typ)
			}
		})
	}
}

func TestCheckWithoutSignatureRequirements(t *testing.T) {
	p, err := Parse([]byte(scopedPolicy), "/", testParse)
	if err != nil {
		t.Fatal(err)
	}
	noFetch := func() ([]Signature, error) {
		t.Fatal("signatures fetched for a policy that needs none")
		return nil, nil
	}
	for _, tc := range []struct {
		ref     string
		refused string // "" when accepted; else a part of the error
	}{
		{ref: "registry.example.com/team/app:v1"},
		{ref: "registry.example.com/other/app:v1", refused: `scope "registry.example.com" requirement 0 (reject)`},
		{ref: "mirror.corp.example/x:1", refused: "signedBy (GPG simple signing) is not supported"},
	} {
		ref, _ := testParse(tc.ref)
		err := p.Check(Image{Ref: ref, ManifestDigest: "sha256:1"}, noFetch)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s refused: %v", tc.ref, err)
		case tc.refused != "" && (!errors.Is(err, errdefs.ErrSignatureValidation) || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: err = %v, want ErrSignatureValidation with %q", tc.ref, err, tc.refused)
		}
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.pub"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ desc, json, want string }{
		{desc: "no default", json: `{"transports": {}}`, want: `no "default"`},
		{desc: "empty default", json: `{"default": []}`, want: "no requirements"},
		{desc: "unknown type", json: `{"default": [{"type": "trustMe"}]}`, want: "unknown requirement type"},
		{desc: "unknown field", json: `{"default": [{"type": "reject", "x": 1}]}`, want: "unknown field"},
		{desc: "sigstore without trust", json: `{"default": [{"type": "sigstoreSigned"}]}`, want: "needs keyPath"},
		{desc: "missing key file", json: `{"default": [{"type": "sigstoreSigned", "keyPath": "missing.pub"}]}`, want: "no such file"},
		{desc: "not a key", json: `{"default": [{"type": "sigstoreSigned", "keyPath": "bad.pub"}]}`, want: "key 0"},
		{desc: "fulcio without rekor", json: `{"default": [{"type": "sigstoreSigned", "fulcio": {"caData": "", "oidcIssuer": "i", "subjectEmail": "e"}}]}`, want: "caPath or caData"},
		{desc: "bad identity", json: `{"default": [{"type": "sigstoreSigned", "keyData": "eA==", "signedIdentity": {"type": "anything"}}]}`, want: "key 0"},
		{desc: "bad wildcard", json: `{"default": [{"type": "reject"}], "transports": {"docker": {"*.example.com/x": [{"type": "reject"}]}}}`, want: "wildcard"},
		{desc: "not json", json: `{`, want: "unexpected EOF"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Parse([]byte(tc.json), dir, testParse)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidArgument with %q", err, tc.want)
			}
		})
	}
}
