package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestLoadgen runs the demo's load generator for a few seconds against two
// instances and checks its report and the audit behind it.
func TestLoadgen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private cluster")
	}
	e := newEnv(t)
	a, b := e.start("a"), e.start("b")
	var out strings.Builder
	rep, err := loadgen(context.Background(), loadConfig{
		urls: []string{a.url, b.url}, duration: 5 * time.Second, users: 6, accounts: 20, products: 20,
		password: "demo", progress: 2 * time.Second, dsn: e.dsn, drainWait: 30 * time.Second,
		readyWait: 30 * time.Second, // /readyz includes the queue worker, which may lag the HTTP server
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	rep.print(&out)
	t.Log("\n" + out.String())
	if !rep.audited || !rep.drained {
		t.Fatalf("audit %v drained %v: %v", rep.audited, rep.drained, rep.auditErr)
	}
	au := rep.audit
	if au.DoubleCharges != 0 || au.PaidWithoutOneCharge != 0 || au.DuplicateEffects != 0 {
		t.Errorf("audit: %+v", au)
	}
	if rep.rec.charged.Load() == 0 || rep.rec.replayed.Load() == 0 || au.Charges != rep.rec.charged.Load() {
		t.Errorf("charged %d (audit %d), replayed %d", rep.rec.charged.Load(), au.Charges, rep.rec.replayed.Load())
	}
	if n := rep.rec.errs.Load(); n != 0 {
		t.Errorf("%d requests failed", n)
	}
	for _, want := range []string{"hit rate", "DOUBLE CHARGES 0", "browse", "pay-double-click"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestLoadgenCrossSideCounts checks the cross-side accounting: a login is
// counted as used on the other side once, only when sessions are shared,
// and a 401 ends the session on the sides that share it.
func TestLoadgenCrossSideCounts(t *testing.T) {
	ts := []target{{url: "http://go", side: sideGo}, {url: "http://nest", side: sideNest}}
	for _, shared := range []bool{true, false} {
		rec := newRecorder()
		u := newVuser(loadConfig{sharedSessions: shared}, ts, rec, nil, nil, 1, 0)
		u.authed = map[string]bool{sideGo: true, sideNest: shared}
		u.loginSide = sideGo
		u.observe(sideGo, "me", 200, true) // same side: not a cross-side use
		u.observe(sideNest, "order", 201, true)
		u.observe(sideNest, "me", 200, true) // the same login: counted once
		want := int64(0)
		if shared {
			want = 1
		}
		if got := rec.cross.logins.Load(); got != want {
			t.Errorf("shared=%v: cross-side logins %d, want %d", shared, got, want)
		}
		u.observe(sideNest, "me", 401, false)
		if u.loggedIn(sideNest) || u.loggedIn(sideGo) != !shared {
			t.Errorf("shared=%v: after a 401 on nest: go %v, nest %v", shared, u.loggedIn(sideGo), u.loggedIn(sideNest))
		}
	}
}

// TestLoadgenSideReport checks the per-side numbers the report prints
// from the charges table (taken before and after the run).
func TestLoadgenSideReport(t *testing.T) {
	for inst, want := range map[string]string{"nest-a": sideNest, "go-a": sideGo, "host:123": sideGo, "": ""} {
		if got := sideOf(inst); got != want {
			t.Errorf("sideOf(%q) = %q, want %q", inst, got, want)
		}
	}
	before := chargeSides{{sideGo, sideGo}: 5, {sideNest, ""}: 2}
	after := chargeSides{{sideGo, sideGo}: 9, {sideGo, sideNest}: 3, {sideNest, sideGo}: 7, {sideNest, ""}: 2, {sideNest, sideNest}: 1}
	rec := newRecorder()
	rec.sides[sideNest].requests.Add(42)
	rec.cross.payments.Add(6)
	r := &report{c: loadConfig{urls: []string{"a"}, nestURLs: []string{"b"}, sharedSessions: true}, rec: rec,
		elapsed: time.Second, sidesBefore: before, sidesAfter: after}
	var out strings.Builder
	r.print(&out)
	t.Log("\n" + out.String())
	words := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"charges (PG) 7 8",       // go 4+3, nest 7+1
		"confirmations run 11 4", // go 4+7, nest 3+1
		"requests 0 42",
		"Nest charges confirmed by Go 7, Go charges confirmed by Nest 3",
		"payments charged on the other side than the order 6",
		"sessions shared",
	} {
		if !strings.Contains(words, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
