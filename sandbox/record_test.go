package sandbox

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/podfiles"
)

// TestRecordReadsEarlierFormat: the pod's namespaces and files, once types
// of package sandbox, are oci.NamespacePaths and podfiles.Paths; records
// written before must still load, and the container-only TargetPID is
// never persisted.
func TestRecordReadsEarlierFormat(t *testing.T) {
	old := `{"id":"p1","namespaces":{"network":"/s/ns/net","ipc":"/s/ns/ipc","uts":"/s/ns/uts","pid":"/s/ns/pid","user":"/s/ns/user"},` +
		`"files":{"hostname":"/s/hostname","hosts":"/s/hosts","resolvConf":"/s/resolv.conf","shm":"/s/shm"}}`
	var rec record
	if err := json.Unmarshal([]byte(old), &rec); err != nil {
		t.Fatal(err)
	}
	wantNS := oci.NamespacePaths{Network: "/s/ns/net", IPC: "/s/ns/ipc", UTS: "/s/ns/uts", PID: "/s/ns/pid", User: "/s/ns/user"}
	wantFiles := podfiles.Paths{Hostname: "/s/hostname", Hosts: "/s/hosts", ResolvConf: "/s/resolv.conf", Shm: "/s/shm"}
	if rec.Namespaces != wantNS || rec.Files != wantFiles {
		t.Fatalf("decoded %+v %+v, want %+v %+v", rec.Namespaces, rec.Files, wantNS, wantFiles)
	}
	rec.Namespaces.TargetPID = "/proc/42/ns/pid"
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "42") {
		t.Errorf("TargetPID persisted: %s", data)
	}
	var back record
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Namespaces != wantNS || back.Files != wantFiles {
		t.Errorf("round trip %+v %+v", back.Namespaces, back.Files)
	}
}
