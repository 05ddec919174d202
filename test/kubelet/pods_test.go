package kubelet

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The static pods the kubelet runs. In web, %[1]s is the image, %[2]d the
// hostPort, %[3]s an absent host path, %[4]d every probe's timeoutSeconds;
// in crash, %[1]s is the image, %[2]d every probe's timeoutSeconds
// (probeTimeout).
//
// web: an init container writes the page an httpd container serves from a
// shared emptyDir; HTTP readiness and liveness probes on it; a hostPort; CPU
// and memory limits; a second container that logs fast (log rotation) and
// has exec probes. The logger writes its 100 lines a second in bursts of
// 10 with one fork a burst, not two forks a line (a $(printf) and a
// sleep): on a slow node (test/vm under TCG) those forks can use up the
// container's 200m CPU limit, under which its exec probes run too.
//
// crash: a container that exits 3 a second after each start (restarted by
// restartPolicy Always with back-off), one that fails its exec liveness
// probe six seconds after each start (killed and restarted by the kubelet),
// and one whose HTTP readiness probe never succeeds.
const (
	webManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  dnsPolicy: Default
  terminationGracePeriodSeconds: 5
  volumes:
  - name: www
    emptyDir: {}
  - name: absent
    hostPath: {path: %[3]s}
  initContainers:
  - name: init
    image: %[1]s
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo hello-from-init > /www/index.html"]
    volumeMounts: [{name: www, mountPath: /www}]
  containers:
  - name: web
    image: %[1]s
    imagePullPolicy: IfNotPresent
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [{containerPort: 8080, hostPort: %[2]d, protocol: TCP}]
    volumeMounts: [{name: www, mountPath: /www}, {name: absent, mountPath: /absent}]
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {cpu: 200m, memory: 64Mi}
    readinessProbe:
      httpGet: {path: /index.html, port: 8080}
      timeoutSeconds: %[4]d
      periodSeconds: 2
    livenessProbe:
      httpGet: {path: /index.html, port: 8080}
      timeoutSeconds: %[4]d
      periodSeconds: 3
  - name: logger
    image: %[1]s
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "touch /tmp/ready; pad=$(printf '%%0100d' 0); i=0; while true; do for j in 0 1 2 3 4 5 6 7 8 9; do i=$((i+1)); echo \"line $i $pad\"; done; sleep 0.1; done"]
    resources:
      limits: {cpu: 200m, memory: 32Mi}
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      timeoutSeconds: %[4]d
      periodSeconds: 2
    livenessProbe:
      exec: {command: ["sh", "-c", "test -e /tmp/ready"]}
      timeoutSeconds: %[4]d
      periodSeconds: 3
`
	crashManifest = `apiVersion: v1
kind: Pod
metadata:
  name: crash
  namespace: default
spec:
  dnsPolicy: Default
  restartPolicy: Always
  terminationGracePeriodSeconds: 2
  containers:
  - name: crasher
    image: %[1]s
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo crashing; sleep 1; exit 3"]
  - name: liveness
    image: %[1]s
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "touch /tmp/healthy; sleep 6; rm /tmp/healthy; exec sleep 3600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      timeoutSeconds: %[2]d
      initialDelaySeconds: 1
      periodSeconds: 2
      failureThreshold: 1
  - name: unready
    image: %[1]s
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    readinessProbe:
      httpGet: {path: /, port: 9999}
      timeoutSeconds: %[2]d
      periodSeconds: 2
`
)

// The part of the kubelet's v1.PodList this test reads.
type podList struct {
	Items []pod `json:"items"`
}

type pod struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	} `json:"metadata"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
		InitContainerStatuses []containerStatus `json:"initContainerStatuses"`
		ContainerStatuses     []containerStatus `json:"containerStatuses"`
	} `json:"status"`
}

type containerStatus struct {
	Name         string         `json:"name"`
	Ready        bool           `json:"ready"`
	Started      *bool          `json:"started"`
	RestartCount int            `json:"restartCount"`
	ContainerID  string         `json:"containerID"`
	State        containerState `json:"state"`
	LastState    containerState `json:"lastState"`
}

type containerState struct {
	Running *struct {
		StartedAt string `json:"startedAt"`
	} `json:"running"`
	Waiting *struct {
		Reason string `json:"reason"`
	} `json:"waiting"`
	Terminated *struct {
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason"`
	} `json:"terminated"`
}

func (s containerState) String() string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting(" + s.Waiting.Reason + ")"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%s, exit %d)", s.Terminated.Reason, s.Terminated.ExitCode)
	}
	return "none"
}

func (p *pod) condition(typ string) string {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func (p *pod) container(name string) *containerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	for i := range p.Status.InitContainerStatuses {
		if p.Status.InitContainerStatuses[i].Name == name {
			return &p.Status.InitContainerStatuses[i]
		}
	}
	return nil
}

// kubeletAPI reads the kubelet's HTTP endpoints on 127.0.0.1.
type kubeletAPI struct {
	readOnly, secure int
	client           *http.Client
}

func newKubeletAPI(readOnly, secure int) *kubeletAPI {
	return &kubeletAPI{readOnly: readOnly, secure: secure, client: &http.Client{
		Timeout: 30 * time.Second,
		// The kubelet serves its own self-signed certificate; the test
		// only talks to it on 127.0.0.1.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}}
}

func (k *kubeletAPI) do(method, url string) ([]byte, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// readOnlyGet GETs path from the read-only port (no authentication).
func (k *kubeletAPI) readOnlyGet(path string) ([]byte, error) {
	return k.do(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", k.readOnly, path))
}

// secureDo calls path on the kubelet's main (TLS) port, anonymous.
func (k *kubeletAPI) secureDo(method, path string) ([]byte, error) {
	return k.do(method, fmt.Sprintf("https://127.0.0.1:%d%s", k.secure, path))
}

// pods returns the kubelet's pods by name, with the status of static
// pods (GET /pods).
func (k *kubeletAPI) pods() (map[string]*pod, error) {
	b, err := k.readOnlyGet("/pods")
	if err != nil {
		return nil, err
	}
	var l podList
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("decode /pods: %w", err)
	}
	out := map[string]*pod{}
	for i := range l.Items {
		out[l.Items[i].Metadata.Name] = &l.Items[i]
	}
	return out, nil
}

// describe summarises a pod's status in one line for failure messages.
func describe(p *pod) string {
	if p == nil {
		return "pod not listed"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s ready=%s ip=%s", p.Status.Phase, p.condition("Ready"), p.Status.PodIP)
	for _, c := range append(append([]containerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s %s ready=%t restarts=%d last=%s]", c.Name, c.State, c.Ready, c.RestartCount, c.LastState)
	}
	return b.String()
}
