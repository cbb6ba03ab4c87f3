package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestSetDispatchAndUsage(t *testing.T) {
	var got []string
	cmd := func(name string) Func {
		return func(_ context.Context, args []string, _, _ io.Writer) error {
			got = append(got, name+" "+strings.Join(args, " "))
			return nil
		}
	}
	s := Set{Name: "tool", Footer: "footer", Commands: []Command{
		{Name: "zeta", Usage: "last letter", Run: cmd("zeta")},
		{Name: "alpha", Usage: "first letter", Run: cmd("alpha")},
	}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := s.Run(context.Background(), []string{"alpha", "-x", "y"}, &out, &errb); err != nil || len(got) != 1 || got[0] != "alpha -x y" {
		t.Fatalf("dispatch: err %v, ran %q", err, got)
	}
	if err := s.Run(context.Background(), []string{"beta"}, &out, &errb); err == nil || !strings.Contains(err.Error(), `"beta"`) {
		t.Fatalf("unknown command: %v", err)
	}
	want := "usage: tool <command> [flags]\n  zeta       last letter\n  alpha      first letter\nfooter\n"
	if errb.String() != want {
		t.Fatalf("usage (-want +got):\n-%q\n+%q", want, errb.String())
	}
	errb.Reset()
	if err := s.Run(context.Background(), nil, &out, &errb); err == nil || errb.String() != want {
		t.Fatalf("no command: err %v, usage %q", err, errb.String())
	}
}

func TestValidateRefusesBadTables(t *testing.T) {
	run := func(context.Context, []string, io.Writer, io.Writer) error { return nil }
	for name, cmds := range map[string][]Command{
		"empty name": {{Name: "", Run: run}},
		"duplicate":  {{Name: "a", Run: run}, {Name: "a", Run: run}},
		"no run":     {{Name: "a"}},
	} {
		s := Set{Name: "tool", Commands: cmds}
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, cmds)
		}
	}
}
