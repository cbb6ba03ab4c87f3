package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cronPatterns is the equality table's pattern column: the features
// cron-parser 5.10 has, and hours that DST skips or repeats.
var cronPatterns = []string{
	"* * * * *", "*/5 * * * *", "0 * * * *", "30 * * * *", "0 2 * * *", "30 2 * * *",
	"0 3 * * *", "59 1 * * *", "0 0 * * *", "15 1,2,3 * * *", "0 */2 * * *", "0 1-4 * * *",
	"*/15 2 * * *", "0 2 * * 0", "0 2 * * 7", "30 2 * * SUN", "0 0 1 * *", "0 0 L * *",
	"0 12 L * *", "0 9 * * 1-5", "0 9 * * MON-FRI", "0 0 * * 5L", "0 2 * * 0L", "0 10 * * 1#2",
	"0 2 * * 0#5", "0 2 * * 0#1", "0 0 29 2 *", "0 0 31 * *", "0 0 30 4 *", "0 0 1,15 * 1",
	"0 0 13 * 5", "*/10 * * * * *", "0 */30 * * * *", "15,45 * * * * *", "0 0 2 * * *", "0 30 2 * * *",
	"59 59 1 * * *", "0 0 0-6 * * *", "*/20 1-3 * * *", "@daily", "@hourly", "@weekly",
	"@monthly", "@yearly", "@weekdays", "@weekends", "0 0 * * 1,3,5", "0 23 * * *",
	"0 0,12 * * *", "0 2-3 * * *", "0 1 * 3,10 0", "5/10 * * * *", "0 0 */3 * *", "0 0 * JAN-MAR *",
	"0 4 1 jan *", "0 0 ? * 6", "0 0 1 * ?", "0 2 L 3 *", "0 3 * 10 0L", "1-59/2 * * * * *",
	"0 0 0 * * 0-7/2", "0 0 0 * * 5-7", "0 15 2 1-7 * 0", "0 30 1,2,3 * * *", "0 0 12 * * 1#3",
}

// cronZones maps each zone of the table ("" = the zone of the process,
// set through TZ for Node and loaded by name for Go) to its start instants:
// a little before each 2026 DST change there, or ordinary instants (some
// with milliseconds) where the zone has none.
var cronZones = map[string][]string{
	"UTC":                 {"2026-01-31T10:00:00.5Z", "2028-02-27T00:00:00Z"},
	"Europe/Berlin":       {"2026-03-28T22:17:03.250Z", "2026-10-24T23:30:00Z"},
	"America/New_York":    {"2026-03-08T05:00:00Z", "2026-11-01T04:59:59.999Z"},
	"Australia/Sydney":    {"2026-04-04T14:00:00Z", "2026-10-03T14:45:00.001Z"},
	"Asia/Kolkata":        {"2026-06-30T18:29:59Z", "2026-12-31T18:00:00Z"},
	"Australia/Lord_Howe": {"2026-04-04T13:00:00Z", "2026-10-03T14:00:00Z"}, // 30-minute DST
}

func cronAt(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

type cronCase struct {
	Pattern   string `json:"pattern"`
	TZ        string `json:"tz,omitempty"`
	Start     int64  `json:"start"`
	N         int    `json:"n"`
	StartDate int64  `json:"startDate,omitempty"`
	EndDate   int64  `json:"endDate,omitempty"`
}

type cronResult struct {
	Runs  []int64 `json:"runs"`
	Error string  `json:"error"`
}

// nodeCron runs testdata/node/cron.js (BullMQ's own defaultRepeatStrategy)
// with zone hostTZ as the process zone.
func nodeCron(t *testing.T, hostTZ string, cases []cronCase) []cronResult {
	t.Helper()
	dir := needNode(t)
	in, _ := json.Marshal(cases)
	// about 10s of CPU; the limit is for a machine shared with other builds
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "cron.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TZ="+hostTZ)
	cmd.Stdin = bytes.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node cron.js: %v\n%s", err, stderr.String())
	}
	var res []cronResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("node cron.js: %d results for %d cases (%v)", len(res), len(cases), err)
	}
	return res
}

// goCron chains c.N runs as the Go worker computes them, with host as the
// zone of a pattern without one.
func goCron(c cronCase, host *time.Location) cronResult {
	e, err := parseCron(c.Pattern)
	if err != nil {
		return cronResult{Error: err.Error()}
	}
	loc := host
	if c.TZ != "" {
		if loc, err = cronLocation(c.TZ); err != nil {
			return cronResult{Error: err.Error()}
		}
	}
	var r cronResult
	from := c.Start
	for range c.N {
		next, err := e.nextAfter(from, loc, c.StartDate, c.EndDate)
		if errors.Is(err, errCronSpan) || errors.Is(err, errCronLoop) {
			break
		}
		if err != nil {
			return cronResult{Error: err.Error()}
		}
		r.Runs = append(r.Runs, next)
		from = next
	}
	return r
}

func fmtRuns(runs []int64, loc *time.Location) string {
	var s []string
	for _, r := range runs {
		s = append(s, time.UnixMilli(r).In(loc).Format("2006-01-02T15:04:05.000Z07:00"))
	}
	return strings.Join(s, " ")
}

// TestCronSameAsNode computes the next runs of every pattern × zone ×
// start instant with BullMQ (Node) and with Go and requires the same
// instants, the same stops and errors on the same patterns.
func TestCronSameAsNode(t *testing.T) {
	// cron-parser over luxon is slow (up to tens of ms per run on a busy
	// machine), so each case chains few runs: the first crosses the DST
	// change the start instant sits before, the second starts after it.
	const n = 2
	var cases []cronCase
	for _, p := range cronPatterns {
		for tz, starts := range cronZones {
			for _, s := range starts {
				cases = append(cases, cronCase{Pattern: p, TZ: tz, Start: cronAt(s), N: n})
			}
		}
	}
	// bounds: a start date in the future, an end date that stops the chain
	base := cronAt(cronZones["Europe/Berlin"][0])
	for _, p := range []string{"*/5 * * * *", "0 2 * * *", "30 2 * * SUN", "0 0 L * *"} {
		for tz := range cronZones {
			cases = append(cases,
				cronCase{Pattern: p, TZ: tz, Start: base, N: n, StartDate: base + 36*3600_000},
				cronCase{Pattern: p, TZ: tz, Start: base, N: n, EndDate: base + 3*24*3600_000})
		}
	}
	// invalid patterns: both sides refuse them
	for _, p := range []string{"0 0 31 2 *", "* * * * * * *", "0 0 * * 1#6", "0 0 * * L", "0 60 * * *",
		"0 0 * * 1,1", "0 0 * * 0,7", "0 0 * 13 *", "0 0 * * 1#2,3", "0 0 5-1 * *", "0 0 * * */0", "a b c d e", "0 0 32 * *"} {
		cases = append(cases, cronCase{Pattern: p, TZ: "UTC", Start: base, N: 1})
	}
	check := func(t *testing.T, hostTZ string, cases []cronCase) {
		host, err := time.LoadLocation(hostTZ)
		if err != nil {
			t.Fatal(err)
		}
		want := nodeCron(t, hostTZ, cases)
		bad := 0
		for i, c := range cases {
			got := goCron(c, host)
			loc := host
			if c.TZ != "" {
				loc, _ = time.LoadLocation(c.TZ)
			}
			if (want[i].Error != "") != (got.Error != "") || fmt.Sprint(want[i].Runs) != fmt.Sprint(got.Runs) {
				bad++
				if bad <= 20 {
					t.Errorf("%q tz=%q from %s (start %d end %d):\n node %s %s\n go   %s %s", c.Pattern, c.TZ,
						time.UnixMilli(c.Start).In(loc).Format(time.RFC3339Nano), c.StartDate, c.EndDate,
						fmtRuns(want[i].Runs, loc), want[i].Error, fmtRuns(got.Runs, loc), got.Error)
				}
			}
		}
		t.Logf("host zone %s: %d cases, %d mismatches", hostTZ, len(cases), bad)
	}
	t.Run("zones", func(t *testing.T) { check(t, "UTC", cases) })
	// no tz: the host's zone, here New York and Berlin
	var local []cronCase
	for _, p := range cronPatterns {
		for _, s := range cronZones["America/New_York"] {
			local = append(local, cronCase{Pattern: p, Start: cronAt(s), N: n + 1})
		}
	}
	t.Run("host-New_York", func(t *testing.T) { check(t, "America/New_York", local) })
}

func TestCronRefusesHashed(t *testing.T) {
	for _, p := range []string{"H * * * *", "0 H(0-5) * * *", "0 0 * * THU"} {
		_, err := parseCron(p)
		if p == "0 0 * * THU" {
			if err != nil {
				t.Errorf("%q: %v", p, err)
			}
			continue
		}
		if !errors.Is(err, ErrCron) || !strings.Contains(err.Error(), "H (hashed values) is not supported") {
			t.Errorf("%q: got %v, want an ErrCron naming H", p, err)
		}
	}
}

func FuzzParseCron(f *testing.F) {
	for _, p := range cronPatterns {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		e, err := parseCron(p)
		if err != nil {
			if !errors.Is(err, ErrCron) {
				t.Fatalf("%q: error %v is not ErrCron", p, err)
			}
			return
		}
		if len(e.sec.nums) == 0 || len(e.min.nums) == 0 || len(e.hour.nums) == 0 || len(e.month.nums) == 0 {
			t.Fatalf("%q: parsed with an empty field", p)
		}
		_, _ = e.nextAfter(1_780_000_000_000, time.UTC, 0, 0)
	})
}
