package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/cricket-cri/cricket/pkg/config"
)

// deploy/cricket.toml is what operators install; it must stay the default.
func TestDeployConfigIsDefault(t *testing.T) {
	want, err := os.ReadFile("../../deploy/cricket.toml")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := config.Default().WriteTOML(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Error("deploy/cricket.toml differs from `cricketd config default`; regenerate it with: go run ./cmd/cricketd config default > deploy/cricket.toml")
	}
}

func TestRunCommands(t *testing.T) {
	cases := []struct {
		desc string
		args []string
		want int
	}{
		{desc: "unknown command", args: []string{"frobnicate"}, want: exitConfig},
		{desc: "config without default", args: []string{"config"}, want: exitConfig},
		{desc: "bad flag", args: []string{"serve", "--nope"}, want: exitConfig},
		{desc: "stray argument", args: []string{"serve", "extra"}, want: exitConfig},
		{desc: "help", args: []string{"help"}, want: exitOK},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := run(tc.args); got != tc.want {
				t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}
