package queue

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cron patterns of job schedulers follow cron-parser 5.10 (BullMQ 6.7.0's
// dependency) to the millisecond, because a Go worker computes the next
// run of a scheduler a Node producer created, and both sides must agree on
// every run time. No Go cron library has that behaviour: robfig/cron/v3
// (unmaintained) has no L or # and skips runs in a DST gap;
// netresearch/go-cron, its maintained fork, runs them at the moment of the
// change; adhocore/gronx has L and # but steps through wall-clock time its
// own way. cron-parser moves a run in a skipped hour to the same minute of
// the hour after the gap and resolves every intermediate step with luxon's
// offset rules (cron_time.go), which is where libraries differ. So this is
// our own implementation of cron-parser's rules, checked against BullMQ in
// Node by TestCronSameAsNode:
//
//   - 5 or 6 fields (seconds first when 6; fewer fields are padded from the
//     left with "0 * * * * *"), names jan-dec and sun-sat, "*", "?", lists,
//     ranges, steps, the presets (@daily, @weekly, ...);
//   - day of month L (last day), day of week nL (last weekday n of the
//     month) and n#k (k-th weekday n); 7 is Sunday;
//   - day of month and day of week both restricted match either one;
//   - DST: a run in a skipped hour moves to the hour after the gap, a
//     repeated hour runs once.
//
// H (hashed values) is refused: without a seed, cron-parser draws a new
// random value each time a pattern is parsed, so Node itself does not keep
// one schedule.

// ErrCron reports a cron pattern or time zone this package cannot use.
var ErrCron = errors.New("queue: invalid cron pattern")

// errCronSpan is cron-parser's "Out of the time span range": the next run
// would be past the end date. errCronLoop is its "loop limit exceeded" (no
// run within 10,000 search steps, as around a 30-minute DST fall-back).
// BullMQ swallows both and stops the scheduler, and so does this package.
var (
	errCronSpan = errors.New("queue: cron: out of the time span range")
	errCronLoop = errors.New("queue: cron: loop limit exceeded")
)

const cronLoopLimit = 10000

var cronPresets = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
	"@minutely": "0 * * * * *",
	"@secondly": "* * * * * *",
	"@weekdays": "0 0 0 * * 1-5",
	"@weekends": "0 0 0 * * 0,6",
}

var cronNames = map[string]int{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
}

var (
	cronAlias = regexp.MustCompile(`(?i)[a-z]{3}`)
	cronSplit = regexp.MustCompile(`\s+`)
)

// cronField is one parsed field: its numbers (sorted) and, for the day
// fields, the L entries ("L", "5L").
type cronField struct {
	nums     []int
	lasts    []string
	wildcard bool // the raw field was exactly "*" or "?"
	hasL     bool // the raw field contains L
}

func (f cronField) has(v int) bool { _, ok := slices.BinarySearch(f.nums, v); return ok }

// next is the smallest value above v, or -1.
func (f cronField) next(v int) int {
	for _, n := range f.nums {
		if n > v {
			return n
		}
	}
	return -1
}

// cronExpr is a parsed pattern.
type cronExpr struct {
	sec, min, hour, dom, month, dow cronField
	nth                             int // k of "n#k", 0 when absent
}

type cronLimits struct {
	name     string
	min, max int
	chars    string // extra characters allowed: "L", "L#"
}

var (
	limSecond = cronLimits{"second", 0, 59, ""}
	limMinute = cronLimits{"minute", 0, 59, ""}
	limHour   = cronLimits{"hour", 0, 23, ""}
	limDOM    = cronLimits{"dayOfMonth", 1, 31, "L"}
	limMonth  = cronLimits{"month", 1, 12, ""}
	limDOW    = cronLimits{"dayOfWeek", 0, 7, "L#"}
)

// daysInMonthTable is cron-parser's table (February has 29).
var daysInMonthTable = [12]int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// parseCron parses pattern as cron-parser 5.10 does (non-strict mode).
func parseCron(pattern string) (*cronExpr, error) {
	expr := pattern
	if p, ok := cronPresets[expr]; ok {
		expr = p
	}
	if expr == "" {
		expr = "0 * * * * *"
	}
	if len(expr) > 1024 {
		return nil, fmt.Errorf("%w %q: longer than 1024 characters", ErrCron, pattern)
	}
	atoms := cronSplit.Split(strings.TrimSpace(expr), -1)
	if len(atoms) > 6 {
		return nil, fmt.Errorf("%w %q: too many fields", ErrCron, pattern)
	}
	atoms = append([]string{"0", "*", "*", "*", "*", "*"}[:6-len(atoms)], atoms...)
	e := &cronExpr{}
	var err error
	parse := func(dst *cronField, raw string, l cronLimits) {
		if err == nil {
			*dst, err = parseCronField(raw, l)
		}
	}
	parse(&e.sec, atoms[0], limSecond)
	parse(&e.min, atoms[1], limMinute)
	parse(&e.hour, atoms[2], limHour)
	parse(&e.month, atoms[4], limMonth)
	parse(&e.dom, atoms[3], limDOM)
	dowRaw := atoms[5]
	if err == nil {
		var dowVal string
		dowVal, e.nth, err = parseNth(dowRaw)
		if err == nil {
			e.dow, err = parseCronField(dowVal, limDOW)
			e.dow.wildcard = dowRaw == "*" || dowRaw == "?"
			e.dow.hasL = strings.Contains(dowRaw, "L")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrCron, pattern, err)
	}
	if slices.Contains(e.dow.lasts, "L") {
		return nil, fmt.Errorf("%w %q: day of week: unexpected standalone L", ErrCron, pattern)
	}
	if len(e.month.nums) == 1 {
		// days the only month never has are dropped (unless none is left)
		days := daysInMonthTable[e.month.nums[0]-1]
		var keep []int
		for _, d := range e.dom.nums {
			if d <= days {
				keep = append(keep, d)
			}
		}
		if len(keep) > 0 || len(e.dom.lasts) > 0 {
			e.dom.nums = keep
		}
		if !e.dom.hasL && e.dow.wildcard && len(e.dom.nums) > 0 && e.dom.nums[0] > days {
			return nil, fmt.Errorf("%w %q: invalid explicit day of month definition", ErrCron, pattern)
		}
	}
	return e, nil
}

// parseNth splits "n#k" of the day of week field.
func parseNth(raw string) (string, int, error) {
	parts := strings.Split(raw, "#")
	if len(parts) == 1 {
		return raw, 0, nil
	}
	nth, numErr := strconv.Atoi(parts[len(parts)-1])
	if strings.ContainsAny(raw, ",-/") {
		return "", 0, errors.New("day of week: '#' cannot be combined with ',', '-' or '/'")
	}
	if len(parts) > 2 || numErr != nil || nth < 1 || nth > 5 {
		return "", 0, errors.New("day of week: invalid occurrence number (#)")
	}
	return parts[0], nth, nil
}

// jsParseInt is JavaScript's parseInt(s, 10): leading digits, NaN (ok =
// false) when there are none.
func jsParseInt(s string) (int, bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i || j-i > 9 {
		return 0, false
	}
	n, _ := strconv.Atoi(s[i:j])
	if neg {
		n = -n
	}
	return n, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func parseCronField(raw string, l cronLimits) (cronField, error) {
	f := cronField{wildcard: raw == "*" || raw == "?", hasL: strings.Contains(raw, "L")}
	v := raw
	if l == limMonth || l == limDOW {
		var bad string
		v = cronAlias.ReplaceAllStringFunc(v, func(m string) string {
			n, ok := cronNames[strings.ToLower(m)]
			if !ok && bad == "" {
				bad = m
			}
			return strconv.Itoa(n)
		})
		if bad != "" {
			return f, fmt.Errorf("%s: cannot resolve alias %q", l.name, strings.ToLower(bad))
		}
	}
	for _, r := range v {
		if !(r >= '0' && r <= '9') && !strings.ContainsRune("?,*/-", r) && !strings.ContainsRune(l.chars, r) {
			if r == 'H' {
				return f, fmt.Errorf("%s: H (hashed values) is not supported: BullMQ's cron-parser draws a new random value on every parse", l.name)
			}
			return f, fmt.Errorf("%s: invalid characters in %q", l.name, raw)
		}
	}
	v = strings.NewReplacer("*", fmt.Sprintf("%d-%d", l.min, l.max), "?", fmt.Sprintf("%d-%d", l.min, l.max)).Replace(v)
	seen := map[string]bool{}
	add := func(n int, s string) error {
		key := s
		if s == "" {
			key = strconv.Itoa(n)
		}
		if seen[key] {
			return fmt.Errorf("%s: duplicate values found: %s", l.name, key)
		}
		seen[key] = true
		if s == "" {
			f.nums = append(f.nums, n)
		} else {
			f.lasts = append(f.lasts, s)
		}
		return nil
	}
	for _, atom := range strings.Split(v, ",") {
		if atom == "" {
			return f, errors.New(l.name + ": invalid list value format")
		}
		nums, scalar, last, err := parseCronRepeat(atom, l)
		if err != nil {
			return f, err
		}
		if last != "" {
			if strings.ContainsRune(l.chars, 'L') && strings.Contains(last, "L") {
				if err := validLast(last, l); err != nil {
					return f, err
				}
				if err := add(0, last); err != nil {
					return f, err
				}
				continue
			}
			n, ok := jsParseInt(last)
			if !ok || n < l.min || n > l.max {
				return f, fmt.Errorf("%s: got value %s expected range %d-%d", l.name, last, l.min, l.max)
			}
			nums, scalar = []int{n}, true
		}
		if scalar && l == limDOW {
			nums[0] %= 7
		}
		for _, n := range nums {
			if err := add(n, ""); err != nil {
				return f, err
			}
		}
	}
	slices.Sort(f.nums)
	return f, nil
}

// validLast checks an L entry as cron-parser does (up to two digits, then L).
func validLast(s string, l cronLimits) error {
	body := strings.TrimSuffix(s, "L")
	if !strings.HasSuffix(s, "L") || len(body) > 2 || (body != "" && !allDigits(body)) {
		return fmt.Errorf("%s: got value %s expected range %d-%d or chars L", l.name, s, l.min, l.max)
	}
	return nil
}

// parseCronRepeat parses "a", "a-b", "a/s", "a-b/s". A single value comes
// back as a string in last when it is not a plain number.
func parseCronRepeat(atom string, l cronLimits) (nums []int, scalar bool, last string, err error) {
	parts := strings.Split(atom, "/")
	if len(parts) > 2 {
		return nil, false, "", fmt.Errorf("%s: invalid repeat: %s", l.name, atom)
	}
	step := 1
	rng := atom
	if len(parts) == 2 {
		rng = parts[0]
		if !strings.Contains(rng, "-") {
			rng = rng + "-" + strconv.Itoa(l.max)
		}
		var ok bool
		step, ok = jsParseInt(parts[1])
		if !ok {
			step = 0
		}
	}
	ends := strings.Split(rng, "-")
	if len(ends) <= 1 {
		if allDigits(rng) {
			n, _ := strconv.Atoi(rng)
			if n < l.min || n > l.max {
				return nil, false, "", fmt.Errorf("%s: got value %s expected range %d-%d", l.name, rng, l.min, l.max)
			}
			return []int{n}, true, "", nil
		}
		return nil, true, rng, nil
	}
	lo, okLo := jsParseInt(ends[0])
	hi, okHi := jsParseInt(ends[1])
	if !okLo || !okHi || lo < l.min || hi > l.max {
		return nil, false, "", fmt.Errorf("%s: got range %s expected range %d-%d", l.name, rng, l.min, l.max)
	}
	if lo > hi {
		return nil, false, "", fmt.Errorf("%s: invalid range %d-%d, min > max", l.name, lo, hi)
	}
	if step <= 0 {
		return nil, false, "", fmt.Errorf("%s: cannot repeat at every %s", l.name, parts[len(parts)-1])
	}
	if l == limDOW && hi%7 == 0 && (hi-lo)%step == 0 {
		nums = append(nums, 0)
	}
	for i := lo; i <= hi; i += step {
		if !slices.Contains(nums, i) {
			nums = append(nums, i)
		}
	}
	return nums, false, "", nil
}

// nextCron is BullMQ's next run of pattern after the instant fromMS
// (milliseconds), in zone loc: cron-parser's next() with currentDate =
// max(fromMS, startMS). startMS and endMS bound the search (0 = none);
// past endMS it returns errCronSpan.
func (e *cronExpr) nextAfter(fromMS int64, loc *time.Location, startMS, endMS int64) (int64, error) {
	if startMS > 0 && startMS > fromMS {
		fromMS = startMS
	}
	if endMS > 0 && fromMS > endMS {
		fromMS = endMS
	}
	s := cronSearch{e: e, cur: newWallTime(fromMS, loc), dstStart: -1, dstLanding: -1, dstEnd: -1}
	return s.find(startMS, endMS)
}

// cronSearch is cron-parser's CronDate plus its DST bookkeeping.
type cronSearch struct {
	e                            *cronExpr
	cur                          wallTime
	dstStart, dstLanding, dstEnd int // hours, -1 = none
}

type cronUnit int

const (
	unitSecond cronUnit = iota
	unitMinute
	unitHour
	unitDay
	unitMonth
)

// add is CronDate.applyDateOperation(Add, unit, hours.length).
func (s *cronSearch) add(u cronUnit) {
	switch u {
	case unitMonth:
		s.cur = s.cur.plusCalendar(1, 0).startOfMonth()
		return
	case unitDay:
		s.cur = s.cur.plusCalendar(0, 1).startOfDay()
		return
	}
	prevHour, prevOff := s.cur.hour(), s.cur.off
	switch u {
	case unitHour:
		s.cur = s.cur.plusMillis(3600_000).startOfHour()
	case unitMinute:
		s.cur = s.cur.plusMillis(60_000).startOfMinute()
	case unitSecond:
		s.cur = s.cur.plusMillis(1000)
	}
	h := s.cur.hour()
	advance := (h - prevHour + 24) % 24
	full := len(s.e.hour.nums) == 24
	switch {
	case s.cur.off > prevOff && advance >= 2:
		if !full {
			s.dstStart = (prevHour + 1) % 24
			s.dstLanding = h
		}
	case advance == 0 && s.cur.minute() == 0 && s.cur.second() == 0:
		if !full {
			s.dstEnd = h
		}
	}
}

func (s *cronSearch) find(startMS, endMS int64) (int64, error) {
	e := s.e
	start := s.cur.ts
	if s.cur.milli() > 0 {
		s.cur = s.cur.set(-1, -1, -1, -1, -1, 0)
		s.add(unitSecond)
	}
	for step := 1; step < cronLoopLimit; step++ {
		if (startMS > 0 && s.cur.ts < startMS) || (endMS > 0 && s.cur.ts > endMS) {
			return 0, errCronSpan
		}
		switch {
		case !e.month.has(s.cur.month()):
			s.add(unitMonth)
		case !s.matchDay():
			s.add(unitDay)
		case !s.matchHour():
		case !e.min.has(s.cur.minute()):
			if n := e.min.next(s.cur.minute()); n >= 0 {
				s.setMinSec(n)
			} else {
				s.add(unitHour)
				s.setMinSec(e.min.nums[0])
			}
		case !e.sec.has(s.cur.second()):
			if n := e.sec.next(s.cur.second()); n >= 0 {
				s.cur = s.cur.set(-1, -1, -1, -1, n, -1)
			} else {
				s.add(unitMinute)
				s.cur = s.cur.set(-1, -1, -1, -1, e.sec.nums[0], -1)
			}
		case s.cur.ts == start:
			s.add(unitSecond)
		default:
			return s.cur.ts, nil
		}
	}
	return 0, errCronLoop
}

// matchDay is cron-parser's day of month / day of week rule.
func (s *cronSearch) matchDay() bool {
	e, c := s.e, s.cur
	last := c.lastDayOfMonth()
	dom := e.dom.has(c.day()) || (e.dom.hasL && c.day() == last)
	wd := c.weekday()
	dow := e.dow.has(wd) && (e.nth <= 0 || (c.day()+6)/7 == e.nth)
	if !dow && e.dow.hasL && c.day() > last-7 {
		// every entry counts by its first digit, as in cron-parser
		for _, n := range e.dow.nums {
			if (n%10)%7 == wd {
				dow = true
			}
		}
		for _, l := range e.dow.lasts {
			if d, ok := jsParseInt(l[:1]); ok && d%7 == wd {
				dow = true
			}
		}
	}
	switch {
	case !e.dom.wildcard && !e.dow.wildcard && (dom || dow):
		return true
	case dom && e.dow.wildcard:
		return true
	case e.dom.wildcard && !e.dow.wildcard && dow:
		return true
	}
	return false
}

// dstDay reports whether the offset at the start of the current day
// differs from the one at its end.
func (s *cronSearch) dstDay() bool {
	return s.cur.startOfDay().off != s.cur.endOfDay().off
}

// matchHour is cron-parser's #matchHour (forward only): false means the
// date moved and the search goes on.
func (s *cronSearch) matchHour() bool {
	e := s.e
	h := s.cur.hour()
	if s.dstStart >= 0 && s.dstLanding == h {
		for sk := s.dstStart; sk != h; sk = (sk + 1) % 24 {
			if e.hour.has(sk) {
				return true
			}
		}
	}
	if s.dstEnd == h {
		s.dstEnd = -1
		s.add(unitHour)
		return false
	}
	if e.hour.has(h) {
		return true
	}
	s.dstStart, s.dstLanding = -1, -1
	next := e.hour.next(h)
	if next < 0 {
		s.add(unitDay)
		return false
	}
	if s.dstDay() {
		for i := 0; i < next-h; i++ {
			s.add(unitHour)
			if s.cur.hour() >= next {
				break
			}
		}
	} else {
		s.cur = s.cur.set(-1, -1, next, -1, -1, -1)
	}
	s.setMinSec(e.min.nums[0])
	return false
}

// setMinSec sets the minute, then the second to the first allowed one: two
// steps, each resolved from the offset the previous one left.
func (s *cronSearch) setMinSec(minute int) {
	s.cur = s.cur.set(-1, -1, -1, minute, -1, -1)
	s.cur = s.cur.set(-1, -1, -1, -1, s.e.sec.nums[0], -1)
}

// cronNext parses pattern and returns its next run after fromMS in zone tz
// ("" = the host's zone, as Node).
func cronNext(pattern, tz string, fromMS, startMS, endMS int64) (int64, error) {
	e, err := parseCron(pattern)
	if err != nil {
		return 0, err
	}
	loc, err := cronLocation(tz)
	if err != nil {
		return 0, err
	}
	return e.nextAfter(fromMS, loc, startMS, endMS)
}

func cronLocation(tz string) (*time.Location, error) {
	if tz == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q: %w", ErrCron, tz, err)
	}
	return loc, nil
}
