package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// errNoProgress is the cause of a request cancelled by the progress timeout.
var errNoProgress = fmt.Errorf("no progress: %w", context.DeadlineExceeded)

// clients caches one http.Client per TLS setup so that connections to a
// registry are reused across pulls.
type clients struct {
	mu sync.Mutex
	m  map[string]*http.Client
}

// closeIdle closes the idle connections of every client.
func (c *clients) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.m {
		cl.CloseIdleConnections()
	}
}

func (c *clients) get(h RegistryHost) (*http.Client, error) {
	key := fmt.Sprint(h.Scheme, h.Host, h.SkipVerify, h.CAs, h.Clients)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.m[key]; ok {
		return cl, nil
	}
	cfg, err := tlsConfig(h)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	cl := &http.Client{Transport: tr}
	if c.m == nil {
		c.m = map[string]*http.Client{}
	}
	c.m[key] = cl
	return cl, nil
}

func tlsConfig(h RegistryHost) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: h.SkipVerify} //nolint:gosec // opt-in per host
	if len(h.CAs) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, ca := range h.CAs {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("read ca %s: %w", ca, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca %s: no certificates: %w", ca, errdefs.ErrInvalidArgument)
			}
		}
		cfg.RootCAs = pool
	}
	for _, pair := range h.Clients {
		key := pair[1]
		if key == "" {
			key = pair[0]
		}
		cert, err := tls.LoadX509KeyPair(pair[0], key)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s: %w", pair[0], err)
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	return cfg, nil
}

// repoClient fetches manifests and blobs of one repository, trying the
// registry's hosts in order.
type repoClient struct {
	clients  *clients
	registry string
	path     string
	hosts    []RegistryHost
	creds    func(host string) (credentials, error)
	progress time.Duration
	// maxDownloads bounds the layers fetched at once.
	maxDownloads int

	mu     sync.Mutex
	tokens map[string]string // host -> Authorization header value
}

// fetchResult is an open response body with the host that served it.
type fetchResult struct {
	body io.ReadCloser
	host RegistryHost
	resp *http.Response
}

// fetch GETs "<api root>/<repo>/<kind>/<object>" from the first host with
// capability want that answers 200. Every failure is kept so the error says
// why each host was skipped; a cancelled ctx stops at once.
func (c *repoClient) fetch(ctx context.Context, want Capabilities, kind, object string, accept []string) (*fetchResult, error) {
	var errs []error
	for _, h := range c.hosts {
		if h.Capabilities&want == 0 {
			continue
		}
		res, err := c.fetchFrom(ctx, h, kind, object, accept, "")
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetch %s %s: %w", kind, object, context.Cause(ctx))
		}
		klog.FromContext(ctx).V(2).Info("registry host failed, trying the next", "host", h.Host, "object", object, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", h.Host, err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("fetch %s/%s %s: no host can serve it: %w", c.registry, c.path, object, errdefs.ErrNotFound)
	}
	return nil, fmt.Errorf("fetch %s/%s %s: %w", c.registry, c.path, object, joinFirstClass(errs))
}

// joinFirstClass joins errs; when every host says NotFound the result is
// NotFound, otherwise the sentinel of the last error wins.
func joinFirstClass(errs []error) error {
	all404 := true
	for _, e := range errs {
		all404 = all404 && errors.Is(e, errdefs.ErrNotFound)
	}
	joined := errors.Join(errs...)
	if all404 {
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, joined)
	}
	return joined
}

func (c *repoClient) fetchFrom(ctx context.Context, h RegistryHost, kind, object string, accept []string, rng string) (*fetchResult, error) {
	cl, err := c.clients.get(h)
	if err != nil {
		return nil, err
	}
	u := h.URL() + "/" + c.path + "/" + kind + "/" + object
	if h.Mirror {
		u += "?ns=" + url.QueryEscape(c.registry)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	w := newWatchdog(c.progress, cancel)
	resp, err := c.do(ctx, cl, h, u, accept, rng, true)
	if err != nil {
		w.stop()
		cancel(nil)
		return nil, err
	}
	body := &progressBody{r: resp.Body, w: w, cancel: cancel, ctx: ctx}
	return &fetchResult{body: body, host: h, resp: resp}, nil
}

// do sends the GET, answering one auth challenge with credentials.
func (c *repoClient) do(ctx context.Context, cl *http.Client, h RegistryHost, u string, accept []string, rng string, retry bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	for k, vs := range h.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	for _, a := range accept {
		req.Header.Add("Accept", a)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	c.mu.Lock()
	if t := c.tokens[h.Host]; t != "" {
		req.Header.Set("Authorization", t)
	}
	c.mu.Unlock()
	resp, err := cl.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		return nil, fmt.Errorf("get %s: %w: %w", redactURL(u), errdefs.ErrUnavailable, err)
	}
	if resp.StatusCode == http.StatusUnauthorized && retry {
		challenge := resp.Header.Get("WWW-Authenticate")
		drain(resp)
		if err := c.authorize(ctx, cl, h, challenge); err != nil {
			return nil, err
		}
		return c.do(ctx, cl, h, u, accept, rng, false)
	}
	if resp.StatusCode != http.StatusOK && (rng == "" || resp.StatusCode != http.StatusPartialContent) {
		drain(resp)
		return nil, statusError(resp.StatusCode, u)
	}
	return resp, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<url>"
	}
	p.User = nil
	p.RawQuery = ""
	return p.String()
}

func statusError(code int, u string) error {
	class := errdefs.ErrUnavailable
	switch {
	case code == http.StatusNotFound:
		class = errdefs.ErrNotFound
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		class = errdefs.ErrPermissionDenied
	case code == http.StatusTooManyRequests:
		class = errdefs.ErrResourceExhausted
	case code >= 400 && code < 500:
		class = errdefs.ErrFailedPrecondition
	}
	return fmt.Errorf("get %s: http %d: %w", redactURL(u), code, class)
}

// authorize turns a WWW-Authenticate challenge and the host's credentials
// into an Authorization header cached for the host.
func (c *repoClient) authorize(ctx context.Context, cl *http.Client, h RegistryHost, challenge string) error {
	creds, err := c.creds(h.Host)
	if err != nil {
		return err
	}
	scheme, params := parseChallenge(challenge)
	var value string
	switch {
	case creds.registryToken != "":
		value = "Bearer " + creds.registryToken
	case scheme == "basic" && creds.username != "":
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(creds.username, creds.password)
		value = req.Header.Get("Authorization")
	case scheme == "bearer":
		tok, err := c.fetchToken(ctx, cl, params, creds)
		if err != nil {
			return err
		}
		value = "Bearer " + tok
	default:
		return fmt.Errorf("registry %s: unauthorized and no usable credentials: %w", h.Host, errdefs.ErrPermissionDenied)
	}
	c.mu.Lock()
	c.tokens[h.Host] = value
	c.mu.Unlock()
	return nil
}

// parseChallenge parses `Bearer realm="x",service="y",scope="z"`.
func parseChallenge(s string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				v, rest = after[1:], ""
			} else {
				v, rest = after[1:end+1], after[end+2:]
			}
		} else {
			v, rest, _ = strings.Cut(after, ",")
		}
		params[strings.ToLower(strings.TrimSpace(k))] = v
	}
	return strings.ToLower(scheme), params
}

// fetchToken gets a bearer token from the challenge's realm: an OAuth2
// refresh-token exchange for an identity token, else a GET with optional
// basic credentials (anonymous pulls work this way too).
func (c *repoClient) fetchToken(ctx context.Context, cl *http.Client, p map[string]string, creds credentials) (string, error) {
	realm, err := url.Parse(p["realm"])
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") {
		return "", fmt.Errorf("auth challenge realm %q: %w", p["realm"], errdefs.ErrInvalidArgument)
	}
	scope := p["scope"]
	if scope == "" {
		scope = "repository:" + c.path + ":pull"
	}
	var req *http.Request
	if creds.identityToken != "" {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {creds.identityToken},
			"service": {p["service"]}, "scope": {scope}, "client_id": {"cricket"}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		q := realm.Query()
		q.Set("service", p["service"])
		q.Set("scope", scope)
		realm.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
		if err == nil && creds.username != "" {
			req.SetBasicAuth(creds.username, creds.password)
		}
	}
	if err != nil {
		return "", fmt.Errorf("build token request: %w", err)
	}
	return doTokenRequest(cl, req)
}

func doTokenRequest(cl *http.Client, req *http.Request) (string, error) {
	resp, err := cl.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request to %s: %w: %w", req.URL.Host, errdefs.ErrUnavailable, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return "", statusError(resp.StatusCode, req.URL.String())
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil {
		return "", fmt.Errorf("decode token from %s: %w", req.URL.Host, errdefs.ErrUnavailable)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	if tok.Token == "" {
		return "", fmt.Errorf("token from %s is empty: %w", req.URL.Host, errdefs.ErrPermissionDenied)
	}
	return tok.Token, nil
}

// watchdog cancels a request when no bytes arrive for its period.
type watchdog struct {
	t *time.Timer
	d time.Duration
}

func newWatchdog(d time.Duration, cancel context.CancelCauseFunc) *watchdog {
	if d <= 0 {
		return &watchdog{}
	}
	return &watchdog{d: d, t: time.AfterFunc(d, func() { cancel(errNoProgress) })}
}

func (w *watchdog) kick() {
	if w.t != nil {
		w.t.Reset(w.d)
	}
}

func (w *watchdog) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}

// progressBody kicks the watchdog on every read that returns bytes and
// reports the progress timeout, not a bare "context canceled", as the cause.
type progressBody struct {
	r      io.ReadCloser
	w      *watchdog
	cancel context.CancelCauseFunc
	ctx    context.Context
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.w.kick()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		if cause := context.Cause(b.ctx); cause != nil {
			return n, cause
		}
		return n, fmt.Errorf("read body: %w: %w", errdefs.ErrUnavailable, err)
	}
	return n, err
}

func (b *progressBody) Close() error {
	b.w.stop()
	err := b.r.Close()
	b.cancel(nil)
	return err
}

// maxResumes bounds how often one blob download reconnects.
const maxResumes = 3

// openBlob GETs blob d and returns a body that, when the connection breaks
// mid-way, asks the same host for the rest with a Range request and carries
// on: a reset costs a reconnect, not the bytes already received. Timeouts
// and cancellation are not resumed.
func (c *repoClient) openBlob(ctx context.Context, d Descriptor) (io.ReadCloser, error) {
	res, err := c.fetch(ctx, CapPull, "blobs", d.Digest, nil)
	if err != nil {
		return nil, err
	}
	return &resumingBody{ctx: ctx, c: c, d: d, host: res.host, cur: res.body}, nil
}

type resumingBody struct {
	ctx     context.Context
	c       *repoClient
	d       Descriptor
	host    RegistryHost
	cur     io.ReadCloser
	off     int64
	resumes int
}

func (b *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := b.cur.Read(p)
		b.off += int64(n)
		if err == nil || errors.Is(err, io.EOF) || !b.resumable(err) {
			return n, err
		}
		if rerr := b.resume(); rerr != nil {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (b *resumingBody) resumable(err error) bool {
	return b.ctx.Err() == nil && errors.Is(err, errdefs.ErrUnavailable) && b.resumes < maxResumes &&
		b.d.Size > 0 && b.off < b.d.Size
}

func (b *resumingBody) resume() error {
	_ = b.cur.Close()
	b.resumes++
	rng := fmt.Sprintf("bytes=%d-%d", b.off, b.d.Size-1)
	res, err := b.c.fetchFrom(b.ctx, b.host, "blobs", b.d.Digest, nil, rng)
	if err != nil {
		b.cur = io.NopCloser(strings.NewReader(""))
		return err
	}
	klog.FromContext(b.ctx).V(2).Info("resuming blob download", "digest", b.d.Digest, "offset", b.off, "host", b.host.Host)
	b.cur = res.body
	if res.resp.StatusCode == http.StatusOK {
		// The server ignored the Range: skip what we already have.
		if _, err := io.CopyN(io.Discard, b.cur, b.off); err != nil {
			return err
		}
	}
	return nil
}

func (b *resumingBody) Close() error { return b.cur.Close() }
