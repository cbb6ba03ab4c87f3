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
