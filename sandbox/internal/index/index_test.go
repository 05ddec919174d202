package index

import (
	"errors"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestGet(t *testing.T) {
	x := New[int]("thing")
	x.Add("abc1", 1)
	x.Add("abc2", 2)
	x.Add("def", 3)
	cases := []struct {
		desc string
		id   string
		want int
		err  error
	}{
		{desc: "full id", id: "def", want: 3},
		{desc: "unique prefix", id: "abc2", want: 2},
		{desc: "ambiguous prefix", id: "abc", err: errdefs.ErrInvalidArgument},
		{desc: "unknown", id: "x", err: errdefs.ErrNotFound},
		{desc: "empty", id: "", err: errdefs.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := x.Get(tc.id)
			if tc.err != nil {
				if err == nil || !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Get(%q) = %d, %v", tc.id, got, err)
			}
		})
	}
	x.Delete("def")
	if l := x.List(); len(l) != 2 || l[0] != 1 {
		t.Errorf("List = %v", l)
	}
}

func TestMatchLabels(t *testing.T) {
	cases := []struct {
		desc     string
		selector map[string]string
		want     bool
	}{
		{desc: "empty selector", want: true},
		{desc: "match", selector: map[string]string{"a": "1"}, want: true},
		{desc: "wrong value", selector: map[string]string{"a": "2"}},
		{desc: "missing key", selector: map[string]string{"b": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := MatchLabels(tc.selector, map[string]string{"a": "1"}); got != tc.want {
				t.Errorf("got %v", got)
			}
		})
	}
}
