package memory

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// OtherPattern collects the keys of patterns beyond
// AnalyzeOptions.MaxPatterns.
const OtherPattern = "(other)"

// Report is the result of Analyze. It is a plain value: safe to read
// from several goroutines once Analyze has returned.
type Report struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	// SampleRatio is the share of scanned keys that were inspected.
	SampleRatio float64 `json:"sample_ratio"`
	// Keys is the number of keys SCAN returned (each shard counted once).
	Keys int64 `json:"keys"`
	// Sampled is the number of keys inspected with MEMORY USAGE.
	Sampled int64 `json:"sampled"`
	// Bytes is the estimated memory of all keys (sum over patterns).
	Bytes int64 `json:"bytes"`
	// Commands is the number of commands the analyser sent to Redis and
	// OpsPerSecond that count over Duration: the load it put on Redis.
	Commands     int64   `json:"commands"`
	OpsPerSecond float64 `json:"ops_per_second"`
	// Restarts counts shard scans started again after a node failed.
	Restarts int `json:"restarts"`
	// Patterns, biggest estimated bytes first.
	Patterns []PatternReport `json:"patterns"`
	// Nodes, one per shard: the node whose scan counted.
	Nodes []NodeReport `json:"nodes"`
}

// PatternReport describes the keys of one folded pattern.
type PatternReport struct {
	Pattern string `json:"pattern"`
	// Keys is the number of keys SCAN returned for the pattern: exact
	// when the keyspace does not change during the scan (SCAN may repeat
	// a key while a node rehashes, and misses keys created meanwhile).
	Keys int64 `json:"keys"`
	// Sampled is how many of them were inspected.
	Sampled int64 `json:"sampled"`
	// Bytes is the estimate: mean MEMORY USAGE of the sampled keys times
	// Keys. BytesLow and BytesHigh bound it at 95% confidence (normal
	// approximation with finite population correction). For aggregates
	// in big encodings (hashtable, quicklist, skiplist) MEMORY USAGE
	// itself extrapolates from AnalyzeOptions.MemorySamples elements; for
	// strings and listpacks it is exact. MEMORY USAGE leaves out each
	// key's slot in the keyspace table (8-16 bytes), so used_memory is a
	// little higher than the sum.
	Bytes     int64 `json:"bytes"`
	BytesLow  int64 `json:"bytes_low"`
	BytesHigh int64 `json:"bytes_high"`
	// Confidence is a short note: "exact", "±2.1%", or "few samples".
	Confidence string `json:"confidence"`
	// Encodings counts the sampled keys by OBJECT ENCODING.
	Encodings map[string]int64 `json:"encodings"`
	// NoTTL is the share of sampled keys without an expiry.
	NoTTL float64 `json:"no_ttl"`
	// Biggest are the largest sampled keys.
	Biggest []KeySize `json:"biggest"`
	// WhatIf estimates moving the pattern into hash buckets; nil unless
	// every sampled key is a string short enough for a listpack.
	WhatIf *WhatIf `json:"what_if,omitempty"`
}

// KeySize is one sampled key.
type KeySize struct {
	Key      string `json:"key"`
	Bytes    int64  `json:"bytes"`
	Encoding string `json:"encoding"`
}

// WhatIf is the estimated effect of storing a pattern of small strings
// as fields of Buckets.
type WhatIf struct {
	// Buckets is the bucket count Buckets would choose for Keys items.
	Buckets int `json:"buckets"`
	// Bytes is the estimated memory of the bucketed form.
	Bytes int64 `json:"bytes"`
	// Saving is the estimated reduction (current estimate - Bytes).
	Saving int64 `json:"saving"`
}

// NodeReport holds the facts of one scanned node.
type NodeReport struct {
	Addr  string `json:"addr"`
	Role  string `json:"role"`
	Slots string `json:"slots"`
	// Keys is the number of keys scanned on this node.
	Keys int64 `json:"keys"`
	// Attempts is 1, or more when the shard was scanned again on
	// another node after a failure; Abandoned lists those nodes.
	Attempts        int               `json:"attempts"`
	Abandoned       []string          `json:"abandoned,omitempty"`
	UsedMemory      int64             `json:"used_memory"`
	UsedMemoryRSS   int64             `json:"used_memory_rss"`
	Fragmentation   float64           `json:"mem_fragmentation_ratio"`
	MaxMemory       int64             `json:"maxmemory"`
	MaxMemoryPolicy string            `json:"maxmemory_policy"`
	Config          map[string]string `json:"config"`
	Err             string            `json:"error,omitempty"`
}

// Stats are the figures a metrics exporter publishes: bytes and keys per
// pattern, at most 50 patterns plus OtherPattern.
type Stats struct {
	Keys     int64          `json:"keys"`
	Bytes    int64          `json:"bytes"`
	Patterns []PatternStats `json:"patterns"`
}

// PatternStats is one pattern's share.
type PatternStats struct {
	Pattern string `json:"pattern"`
	Keys    int64  `json:"keys"`
	Bytes   int64  `json:"bytes"`
}

// maxStatsPatterns bounds the label set of Stats.
const maxStatsPatterns = 50

// Stats returns the bounded per-pattern figures for metrics.
func (r *Report) Stats() Stats {
	s := Stats{Keys: r.Keys, Bytes: r.Bytes}
	var other PatternStats
	other.Pattern = OtherPattern
	for i, p := range r.Patterns {
		if i < maxStatsPatterns && p.Pattern != OtherPattern {
			s.Patterns = append(s.Patterns, PatternStats{Pattern: p.Pattern, Keys: p.Keys, Bytes: p.Bytes})
			continue
		}
		other.Keys += p.Keys
		other.Bytes += p.Bytes
	}
	if other.Keys > 0 {
		s.Patterns = append(s.Patterns, other)
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes a human-readable report: patterns, what-ifs, nodes.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "%d keys scanned, %d sampled (ratio %.3g), ~%s in %s, %d commands (%.0f ops/s)\n\n",
		r.Keys, r.Sampled, r.SampleRatio, human(r.Bytes), r.Duration.Round(time.Millisecond), r.Commands, r.OpsPerSecond)
	fmt.Fprintln(tw, "BYTES\t±95%\tKEYS\tAVG\tNO TTL\tENCODINGS\t  PATTERN")
	for _, p := range r.Patterns {
		avg := int64(0)
		if p.Keys > 0 {
			avg = p.Bytes / p.Keys
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f%%\t%s\t  %s\n", human(p.Bytes), p.Confidence, p.Keys, avg, 100*p.NoTTL, encodings(p.Encodings), p.Pattern)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var whatIf []PatternReport
	for _, p := range r.Patterns {
		if p.WhatIf != nil && p.WhatIf.Saving > 0 {
			whatIf = append(whatIf, p)
		}
	}
	if len(whatIf) > 0 {
		fmt.Fprintln(w, "\nWhat if small strings moved into hash buckets (memory.Buckets):")
		for _, p := range whatIf {
			fmt.Fprintf(w, "  %s: %s -> ~%s in %d buckets, saving ~%s (%.0f%%)\n", p.Pattern, human(p.Bytes), human(p.WhatIf.Bytes),
				p.WhatIf.Buckets, human(p.WhatIf.Saving), 100*float64(p.WhatIf.Saving)/float64(max(p.Bytes, 1)))
		}
	}
	fmt.Fprintln(w, "\nBiggest sampled keys:")
	for _, p := range r.Patterns[:min(len(r.Patterns), 10)] {
		for _, k := range p.Biggest[:min(len(p.Biggest), 3)] {
			fmt.Fprintf(w, "  %10s  %-10s %s\n", human(k.Bytes), k.Encoding, k.Key)
		}
	}
	fmt.Fprintln(w, "\nNodes:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDR\tROLE\tSLOTS\tKEYS\tUSED\tRSS\tFRAG\tPOLICY\tHASH LISTPACK\tNOTE")
	for _, n := range r.Nodes {
		note := n.Err
		if n.Attempts > 1 {
			note = fmt.Sprintf("rescanned after %s failed %s", strings.Join(n.Abandoned, ","), note)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%.2f\t%s\t%s/%s\t%s\n", n.Addr, n.Role, n.Slots, n.Keys, human(n.UsedMemory),
			human(n.UsedMemoryRSS), n.Fragmentation, n.MaxMemoryPolicy, n.Config["hash-max-listpack-entries"], n.Config["hash-max-listpack-value"], note)
	}
	return tw.Flush()
}

func encodings(m map[string]int64) string {
	var total int64
	names := make([]string, 0, len(m))
	for k, v := range m {
		total += v
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return int(m[b] - m[a]) })
	parts := make([]string, 0, len(names))
	for _, k := range names[:min(3, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*float64(m[k])/float64(total)))
	}
	return strings.Join(parts, " ")
}

func human(b int64) string {
	f := float64(b)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if math.Abs(f) < 1024 || u == "GiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", b)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	return ""
}

// acc accumulates the keys of one pattern on one shard scan.
type acc struct {
	keys       int64
	n          int64 // sampled
	sum, sumSq float64
	enc        map[string]int64
	noTTL      int64
	top        []KeySize // descending by Bytes, at most topN
	keyLen     int64     // sum of sampled key lengths
	strings    int64     // sampled string keys with a value within maxValue
	strLen     int64     // sum of their value lengths
}

func (a *acc) addSample(k KeySize, ttl bool, topN int) {
	a.n++
	f := float64(k.Bytes)
	a.sum += f
	a.sumSq += f * f
	if a.enc == nil {
		a.enc = map[string]int64{}
	}
	a.enc[k.Encoding]++
	if !ttl {
		a.noTTL++
	}
	a.keyLen += int64(len(k.Key))
	a.pushTop(k, topN)
}

func (a *acc) pushTop(k KeySize, topN int) {
	if len(a.top) == topN && k.Bytes <= a.top[len(a.top)-1].Bytes {
		return
	}
	i, _ := slices.BinarySearchFunc(a.top, k.Bytes, func(e KeySize, b int64) int {
		switch {
		case e.Bytes > b:
			return -1
		case e.Bytes < b:
			return 1
		}
		return 0
	})
	a.top = slices.Insert(a.top, i, k)
	if len(a.top) > topN {
		a.top = a.top[:topN]
	}
}

func (a *acc) merge(b *acc, topN int) {
	a.keys += b.keys
	a.n += b.n
	a.sum += b.sum
	a.sumSq += b.sumSq
	for k, v := range b.enc {
		if a.enc == nil {
			a.enc = map[string]int64{}
		}
		a.enc[k] += v
	}
	a.noTTL += b.noTTL
	a.keyLen += b.keyLen
	a.strings += b.strings
	a.strLen += b.strLen
	for _, k := range b.top {
		a.pushTop(k, topN)
	}
}

// pattern turns an accumulator into a PatternReport. limits are the
// smallest listpack limits of the nodes, for the what-if.
func (a *acc) pattern(name string, maxFields, maxValue int) PatternReport {
	p := PatternReport{Pattern: name, Keys: a.keys, Sampled: a.n, Encodings: a.enc, Biggest: a.top}
	if p.Encodings == nil {
		p.Encodings = map[string]int64{}
	}
	if a.n == 0 {
		p.Confidence = "no sample"
		return p
	}
	N, n := float64(a.keys), float64(a.n)
	mean := a.sum / n
	p.Bytes = int64(math.Round(mean * N))
	p.NoTTL = float64(a.noTTL) / n
	switch {
	case a.n >= a.keys:
		p.Confidence = "exact"
		p.BytesLow, p.BytesHigh = p.Bytes, p.Bytes
	case a.n < 30:
		p.Confidence = "few samples"
		p.BytesLow, p.BytesHigh = int64(a.sum), p.Bytes*2
	default:
		variance := max(0, (a.sumSq-n*mean*mean)/(n-1))
		se := N * math.Sqrt(variance/n) * math.Sqrt(max(0, 1-n/N))
		half := 1.96 * se
		p.BytesLow, p.BytesHigh = max(int64(a.sum), int64(float64(p.Bytes)-half)), int64(float64(p.Bytes)+half)
		p.Confidence = fmt.Sprintf("±%.1f%%", 100*half/max(1, float64(p.Bytes)))
	}
	if a.strings == a.n && strings.Contains(name, "*") && maxFields > 0 {
		p.WhatIf = whatIf(name, a, maxFields, p.Bytes)
	}
	return p
}

// whatIf estimates the bucketed size of a pattern of small strings: each
// item becomes a listpack entry pair (field = the key's variable part,
// value), about len(field)+len(value)+4 bytes, in buckets filled to 75%
// of maxFields, plus about 90 bytes per bucket key and 10% allocator
// slack. The current size (MEMORY USAGE) leaves out each key's slot in
// the keyspace dictionary (8-16 bytes), so the saving is conservative.
func whatIf(name string, a *acc, maxFields int, current int64) *WhatIf {
	n := float64(a.n)
	fixed := float64(len(name) - strings.Count(name, "*"))
	field := max(1, float64(a.keyLen)/n-fixed)
	value := float64(a.strLen) / n
	buckets := int(math.Ceil(float64(a.keys) / (0.75 * float64(maxFields))))
	bytes := int64(float64(a.keys)*(field+value+4)*1.1 + float64(buckets)*90)
	return &WhatIf{Buckets: buckets, Bytes: bytes, Saving: current - bytes}
}
