package main

import (
	"reflect"
	"testing"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		confs     []string
		wantPorts []string
		wantRoot  string
	}{
		{desc: "no config", wantPorts: []string{"80"}, wantRoot: defaultRoot},
		{desc: "hostnet-nginx default.conf", confs: []string{"server {\n    listen       12003;\n    location / {\n        root   /usr/share/nginx/html;\n    }\n    #listen 9;\n}\n"},
			wantPorts: []string{"12003"}, wantRoot: "/usr/share/nginx/html"},
		{desc: "address, options and duplicates", confs: []string{"listen 127.0.0.1:8080 default_server;\nlisten [::]:8080;\nlisten 81;\n", "root /srv;\n"},
			wantPorts: []string{"8080", "81"}, wantRoot: "/srv"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var confs [][]byte
			for _, c := range tc.confs {
				confs = append(confs, []byte(c))
			}
			ports, root := parseConfig(confs...)
			if !reflect.DeepEqual(ports, tc.wantPorts) || root != tc.wantRoot {
				t.Errorf("parseConfig = %v %q, want %v %q", ports, root, tc.wantPorts, tc.wantRoot)
			}
		})
	}
}
