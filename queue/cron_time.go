package queue

import "time"

// wallTime is a point in time seen in one zone, with the arithmetic of
// luxon 3 (the date library under cron-parser 5.10, which BullMQ 6.7 uses
// for job scheduler patterns). The cron search mutates such a value step by
// step, and around DST changes the result depends on exactly how each step
// resolves a wall-clock time that does not exist or exists twice. Go's
// time.Date makes its own choice there, so the steps are rebuilt here from
// luxon's documented behaviour:
//
//   - calendar steps (days, months) and setting a field compute the new
//     wall-clock time and resolve it with fixOffset, starting from the
//     offset the value had before the step;
//   - time steps (hours, minutes, seconds) add to the instant.
//
// Offsets are kept in seconds (luxon keeps minutes, fractional for the rare
// historical offsets with seconds, which is the same value).
type wallTime struct {
	ts  int64 // milliseconds since the epoch
	off int64 // seconds east of UTC in force at ts
	loc *time.Location
	c   time.Time // the wall-clock fields, as a UTC time
}

// zoneOffset is the offset (seconds) of loc at the instant ms.
func zoneOffset(loc *time.Location, ms int64) int64 {
	_, off := time.UnixMilli(ms).In(loc).Zone()
	return int64(off)
}

func newWallTime(ms int64, loc *time.Location) wallTime {
	return makeWallTime(ms, zoneOffset(loc, ms), loc)
}

func makeWallTime(ms, off int64, loc *time.Location) wallTime {
	return wallTime{ts: ms, off: off, loc: loc, c: time.UnixMilli(ms + off*1000).UTC()}
}

// fixOffset turns a wall-clock time (local, as milliseconds of a UTC
// clock) into an instant, guessing offset o first: luxon's rule, which on
// a repeated hour keeps the side of o and in a skipped hour moves forward
// by the gap.
func fixOffset(local, o int64, loc *time.Location) (ms, off int64) {
	guess := local - o*1000
	o2 := zoneOffset(loc, guess)
	if o == o2 {
		return guess, o
	}
	guess -= (o2 - o) * 1000
	o3 := zoneOffset(loc, guess)
	if o2 == o3 {
		return guess, o2
	}
	return local - min(o2, o3)*1000, max(o2, o3)
}

// localMS is the wall-clock time y-mo-d h:mi:s.ms (fields may overflow, as
// Date.UTC allows) as milliseconds of a UTC clock.
func localMS(y, mo, d, h, mi, s, ms int) int64 {
	return time.Date(y, time.Month(mo), d, h, mi, s, ms*int(time.Millisecond), time.UTC).UnixMilli()
}

// daysIn is the number of days of month mo (which may overflow) of year y.
func daysIn(y, mo int) int {
	return time.Date(y, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func (w wallTime) year() int    { return w.c.Year() }
func (w wallTime) month() int   { return int(w.c.Month()) }
func (w wallTime) day() int     { return w.c.Day() }
func (w wallTime) hour() int    { return w.c.Hour() }
func (w wallTime) minute() int  { return w.c.Minute() }
func (w wallTime) second() int  { return w.c.Second() }
func (w wallTime) milli() int   { return w.c.Nanosecond() / int(time.Millisecond) }
func (w wallTime) weekday() int { return int(w.c.Weekday()) }

// set replaces the given wall-clock fields (-1 keeps one) and resolves
// the result from the current offset.
func (w wallTime) set(mo, d, h, mi, s, ms int) wallTime {
	y := w.year()
	keepDay := d < 0
	pick := func(v, cur int) int {
		if v < 0 {
			return cur
		}
		return v
	}
	mo, d, h, mi, s, ms = pick(mo, w.month()), pick(d, w.day()), pick(h, w.hour()), pick(mi, w.minute()), pick(s, w.second()), pick(ms, w.milli())
	if keepDay {
		d = min(d, daysIn(y, mo))
	}
	ts, off := fixOffset(localMS(y, mo, d, h, mi, s, ms), w.off, w.loc)
	return makeWallTime(ts, off, w.loc)
}

// plusCalendar adds months and days to the wall-clock date.
func (w wallTime) plusCalendar(months, days int) wallTime {
	y, mo := w.year(), w.month()+months
	d := min(w.day(), daysIn(y, mo)) + days
	ts, off := fixOffset(localMS(y, mo, d, w.hour(), w.minute(), w.second(), w.milli()), w.off, w.loc)
	return makeWallTime(ts, off, w.loc)
}

// plusMillis adds to the instant.
func (w wallTime) plusMillis(ms int64) wallTime {
	ts, _ := fixOffset(w.c.UnixMilli(), w.off, w.loc)
	ts += ms
	return makeWallTime(ts, zoneOffset(w.loc, ts), w.loc)
}

func (w wallTime) startOfMonth() wallTime  { return w.set(-1, 1, 0, 0, 0, 0) }
func (w wallTime) startOfDay() wallTime    { return w.set(-1, -1, 0, 0, 0, 0) }
func (w wallTime) startOfHour() wallTime   { return w.set(-1, -1, -1, 0, 0, 0) }
func (w wallTime) startOfMinute() wallTime { return w.set(-1, -1, -1, -1, 0, 0) }

// endOfDay is the last millisecond of the wall-clock day.
func (w wallTime) endOfDay() wallTime {
	return w.plusCalendar(0, 1).startOfDay().plusMillis(-1)
}

// lastDayOfMonth is cron-parser's table lookup (February 29 in leap years).
func (w wallTime) lastDayOfMonth() int { return daysIn(w.year(), w.month()) }
