package registrar

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if len(a) != 64 || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
}

func TestReserve(t *testing.T) {
	cases := []struct {
		desc        string
		first       func(r *Registrar) // after "a" reserved name "n"
		wantAdopted string
		wantErr     error
	}{
		{desc: "held by a live object", first: func(r *Registrar) { r.Done("n", "a", true) }, wantErr: errdefs.ErrAlreadyExists},
		{desc: "finished after its caller left", first: func(r *Registrar) { r.Done("n", "a", false) }, wantAdopted: "a"},
		{desc: "released after failure", first: func(r *Registrar) { r.Release("n", "a") }},
		{desc: "pending creation finishes later", first: func(r *Registrar) {
			go func() { time.Sleep(20 * time.Millisecond); r.Done("n", "a", false) }()
		}, wantAdopted: "a"},
		{desc: "pending creation fails later", first: func(r *Registrar) {
			go func() { time.Sleep(20 * time.Millisecond); r.Release("n", "a") }()
		}},
		{desc: "pending creation outlasts the retry", first: func(r *Registrar) {}, wantErr: context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := New()
			if _, err := r.Reserve(context.Background(), "n", "a"); err != nil {
				t.Fatal(err)
			}
			tc.first(r)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			adopted, err := r.Reserve(ctx, "n", "b")
			if !errors.Is(err, tc.wantErr) || adopted != tc.wantAdopted {
				t.Fatalf("Reserve = %q, %v; want %q, %v", adopted, err, tc.wantAdopted, tc.wantErr)
			}
			if tc.wantErr == nil && tc.wantAdopted == "" {
				if holder, _ := r.Holder("n"); holder != "b" {
					t.Errorf("holder = %q, want b", holder)
				}
			}
		})
	}
}

func TestAdoptedOnlyOnce(t *testing.T) {
	r := New()
	_, _ = r.Reserve(context.Background(), "n", "a")
	r.Done("n", "a", false)
	if adopted, _ := r.Reserve(context.Background(), "n", "b"); adopted != "a" {
		t.Fatalf("adopted = %q", adopted)
	}
	r.Done("n", "a", true)
	if _, err := r.Reserve(context.Background(), "n", "c"); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad(t *testing.T) {
	r := New()
	if err := r.Load("n", "a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Load("n", "b"); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second load: %v", err)
	}
	if _, err := r.Reserve(context.Background(), "n", "c"); !errdefs.IsAlreadyExists(err) {
		t.Errorf("reserve loaded name: %v", err)
	}
	r.Release("n", "x") // not the holder: no effect
	if h, _ := r.Holder("n"); h != "a" {
		t.Errorf("holder = %q", h)
	}
}

func TestAnswerable(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	soon, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	later, cancel3 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel3()
	cases := []struct {
		desc string
		ctx  context.Context
		want bool
	}{
		{desc: "no deadline", ctx: context.Background(), want: true},
		{desc: "cancelled", ctx: cancelled, want: false},
		{desc: "deadline within the margin: the reply may arrive too late", ctx: soon, want: false},
		{desc: "deadline far away", ctx: later, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := Answerable(tc.ctx); got != tc.want {
				t.Errorf("Answerable = %v, want %v", got, tc.want)
			}
		})
	}
}
