package main

import (
	"strings"
	"testing"
)

func TestParseMinimums(t *testing.T) {
	tests := []struct {
		desc    string
		in      string
		want    map[minimumKey]int
		wantErr string
	}{
		{desc: "comments and blank lines", in: "# header\n\n  # indented\n", want: map[minimumKey]int{}},
		{
			desc: "host and vm lines",
			in:   "cricket 127  # NRI on\n@vm cricket 136\nrunc 127\n",
			want: map[minimumKey]int{{"host", "cricket"}: 127, {"vm", "cricket"}: 136, {"host", "runc"}: 127},
		},
		{desc: "missing count", in: "cricket\n", wantErr: "want `[@context] handler passed`"},
		{desc: "extra field", in: "cricket 127 128\n", wantErr: "want `[@context] handler passed`"},
		{desc: "empty tag", in: "@ cricket 1\n", wantErr: "want `[@context] handler passed`"},
		{desc: "not a number", in: "cricket many\n", wantErr: `"many" is not a non-negative number`},
		{desc: "negative", in: "cricket -1\n", wantErr: "not a non-negative number"},
		{desc: "duplicate in one context", in: "cricket 1\ncricket 2\n", wantErr: "already recorded on line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := parseMinimums(strings.NewReader(tc.in), "expected.txt")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k].Passed != v {
					t.Errorf("%v: got %d, want %d", k, got[k].Passed, v)
				}
			}
		})
	}
}

func TestCheckCount(t *testing.T) {
	mins, err := parseMinimums(strings.NewReader("cricket 127\n@vm cricket 136\n"), "expected.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc    string
		context string
		handler string
		passed  int
		partial bool
		wantOK  bool
		wantMsg string
	}{
		{desc: "as recorded", context: "host", handler: "cricket", passed: 127, wantOK: true, wantMsg: "as recorded in expected.txt:1"},
		{desc: "one below", context: "host", handler: "cricket", passed: 126, wantMsg: "BELOW THE RECORDED COUNT: 126 passed, expected.txt:1 wants at least 127"},
		{desc: "more than recorded", context: "host", handler: "cricket", passed: 128, wantOK: true, wantMsg: "raise it"},
		{desc: "vm context reads its own line", context: "vm", handler: "cricket", passed: 127, wantMsg: "wants at least 136"},
		{desc: "no line for the handler", context: "host", handler: "crun", passed: 122, wantMsg: "NO RECORDED COUNT for crun in context host: add `crun 122`"},
		{desc: "no line in the vm context", context: "vm", handler: "runc", passed: 130, wantMsg: "add `@vm runc 130`"},
		{desc: "focused run is not held to it", context: "host", handler: "cricket", passed: 3, partial: true, wantOK: true, wantMsg: "not checked"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			c := checkCount(mins, "expected.txt", tc.context, tc.handler, tc.passed, tc.partial)
			if c.OK != tc.wantOK || !strings.Contains(c.Message, tc.wantMsg) {
				t.Errorf("got %+v, want ok=%v and a message containing %q", c, tc.wantOK, tc.wantMsg)
			}
		})
	}
}
