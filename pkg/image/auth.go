package image

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// AuthConfig carries the CRI AuthConfig of a pull. Its fields are secrets:
// it has no String method that reveals them and must never be logged.
type AuthConfig struct {
	Username string
	Password string
	// Auth is base64("username:password").
	Auth          string
	ServerAddress string
	IdentityToken string
	RegistryToken string
}

// String hides the secrets from any %v that reaches a log.
func (a AuthConfig) String() string { return "AuthConfig{redacted}" }

// GoString hides the secrets from %#v.
func (a AuthConfig) GoString() string { return a.String() }

// credentials are what a registry host gets: basic credentials, a refresh
// token to exchange, or a ready bearer token.
type credentials struct {
	username      string
	password      string
	identityToken string
	registryToken string
}

func (c credentials) empty() bool {
	return c.username == "" && c.password == "" && c.identityToken == "" && c.registryToken == ""
}

// fromAuthConfig decodes a, splitting its Auth field when the username is
// not given separately.
func fromAuthConfig(a AuthConfig) (credentials, error) {
	c := credentials{username: a.Username, password: a.Password, identityToken: a.IdentityToken, registryToken: a.RegistryToken}
	if a.Auth != "" && c.username == "" {
		u, p, err := decodeAuth(a.Auth)
		if err != nil {
			return credentials{}, err
		}
		c.username, c.password = u, p
	}
	return c, nil
}

func decodeAuth(s string) (string, string, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", "", fmt.Errorf("decode auth: %w", errdefs.ErrInvalidArgument)
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("decode auth: no colon: %w", errdefs.ErrInvalidArgument)
	}
	return u, p, nil
}

// matchesHost reports whether a server address (as users write it in
// config.json or AuthConfig: a host, or a URL) names host.
func matchesHost(addr, host string) bool {
	a := addr
	if i := strings.Index(a, "://"); i >= 0 {
		a = a[i+3:]
	}
	a, _, _ = strings.Cut(a, "/")
	if a == host {
		return true
	}
	hub := map[string]bool{DockerHub: true, "index.docker.io": true, "registry-1.docker.io": true}
	return hub[a] && hub[host]
}

// selectCredentials picks the credentials for a request to endpoint host
// while pulling from registry: the CRI AuthConfig applies to the registry
// itself (or to the host its ServerAddress names), never to other mirrors;
// otherwise the docker config.json entry of the endpoint, if any.
func selectCredentials(cri *AuthConfig, docker dockerConfig, registry, host string) (credentials, error) {
	if cri != nil {
		target := registry
		if cri.ServerAddress != "" {
			target = cri.ServerAddress
		}
		if matchesHost(target, host) {
			return fromAuthConfig(*cri)
		}
	}
	return docker.lookup(host)
}

// dockerConfig is the "auths" part of a docker config.json.
type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// loadDockerConfig reads a docker config.json; a missing file is empty.
func loadDockerConfig(path string) (dockerConfig, error) {
	if path == "" {
		return dockerConfig{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return dockerConfig{}, nil
	}
	if err != nil {
		return dockerConfig{}, fmt.Errorf("read docker config %s: %w", path, err)
	}
	var c dockerConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return dockerConfig{}, fmt.Errorf("parse docker config %s: %w: %w", path, errdefs.ErrInvalidArgument, err)
	}
	return c, nil
}

func (c dockerConfig) lookup(host string) (credentials, error) {
	for addr, a := range c.Auths {
		if !matchesHost(addr, host) {
			continue
		}
		return fromAuthConfig(AuthConfig{Username: a.Username, Password: a.Password, Auth: a.Auth,
			IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken})
	}
	return credentials{}, nil
}
