// Command loadgen is an open-loop HTTP load generator for `make bench`.
//
// Requests leave on a fixed schedule (request i at start + i/rate) whether or not the
// earlier ones have been answered, so a slow server cannot slow the client down and hide
// its own queueing (no coordinated omission): latency is measured from the moment a
// request was due, not from when it actually left. A request due while -max-inflight are
// unanswered is not queued in the client but counted as shed.
//
// Bodies are JSON lines from -bodies, used in turn; each request carries a unique
// Idempotency-Key (-idem-prefix + sequence number). The report is one JSON object on
// stdout, with the generator's own CPU time read from /proc/self/stat.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	status     int     // 0: transport error
	latencyMs  float64 // from the moment the request was due
	due        time.Time
	id         string // the accepted dossier's id (with -record)
	retryAfter bool   // a 503 that said when to come back
}

func main() {
	url := flag.String("url", "", "target URL (POST)")
	rate := flag.Float64("rate", 100, "requests per second offered")
	duration := flag.Duration("duration", 10*time.Second, "how long to offer load")
	bodiesPath := flag.String("bodies", "", "file of JSON bodies, one a line")
	idemPrefix := flag.String("idem-prefix", "lg", "prefix of the Idempotency-Key values")
	maxInflight := flag.Int("max-inflight", 256, "requests unanswered at most (more: shed)")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	record := flag.String("record", "", "file to write 'id<TAB>due unix ms' of each accepted request")
	var hdrs headers
	flag.Var(&hdrs, "H", "header 'Name: value' (repeatable)")
	flag.Parse()
	if *url == "" || *bodiesPath == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "usage: loadgen -url URL -bodies FILE -rate N -duration D [-H 'K: V']...")
		os.Exit(2)
	}
	bodies, err := readLines(*bodiesPath)
	if err != nil || len(bodies) == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: no bodies:", err)
		os.Exit(2)
	}
	transport := &http.Transport{
		MaxIdleConns:        *maxInflight,
		MaxIdleConnsPerHost: *maxInflight,
		MaxConnsPerHost:     *maxInflight,
		IdleConnTimeout:     90 * time.Second,
	}
	client := &http.Client{Transport: transport, Timeout: *timeout}

	total := int(*rate * duration.Seconds())
	results := make([]result, 0, total)
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, *maxInflight)
	shed := 0
	interval := float64(time.Second) / *rate
	start := time.Now().Add(100 * time.Millisecond)
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		select {
		case slots <- struct{}{}:
		default:
			shed++
			continue
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			defer func() { <-slots }()
			r := send(client, *url, bodies[i%len(bodies)], hdrs, fmt.Sprintf("%s-%d", *idemPrefix, i), *record != "")
			r.latencyMs = float64(time.Since(due)) / float64(time.Millisecond)
			r.due = due
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}(i, due)
	}
	offeredFor := time.Since(start)
	wg.Wait()
	elapsed := time.Since(start)

	statuses := map[string]int{}
	var accepted []float64
	bySecond := map[int][]float64{} // accepted latencies by the second of the run they were due in
	retryAfter := 0
	var recorded strings.Builder
	for _, r := range results {
		statuses[strconv.Itoa(r.status)]++
		if r.status >= 200 && r.status < 300 {
			accepted = append(accepted, r.latencyMs)
			second := int(r.due.Sub(start) / time.Second)
			bySecond[second] = append(bySecond[second], r.latencyMs)
			if r.id != "" {
				fmt.Fprintf(&recorded, "%s\t%d\n", r.id, r.due.UnixMilli())
			}
		}
		if r.status == http.StatusServiceUnavailable && r.retryAfter {
			retryAfter++
		}
	}
	if *record != "" {
		if err := os.WriteFile(*record, []byte(recorded.String()), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: cannot write -record:", err)
			os.Exit(1)
		}
	}
	sort.Float64s(accepted)
	p99BySecond := make([]any, int(*duration/time.Second)+1)
	for second := range p99BySecond {
		if lat := bySecond[second]; len(lat) > 0 {
			sort.Float64s(lat)
			p99BySecond[second] = pct(lat, 99)
		}
	}
	cpu := selfCPUSeconds()
	report := map[string]any{
		"tool":                      "loadgen (Go, open loop)",
		"offered_per_s":             *rate,
		"duration_s":                duration.Seconds(),
		"scheduled":                 total,
		"sent":                      len(results),
		"shed_client_side":          shed,
		"accepted":                  len(accepted),
		"accepted_per_s":            round(float64(len(accepted))/elapsed.Seconds(), 1),
		"achieved_offered_per_s":    round(float64(len(results))/offeredFor.Seconds(), 1),
		"status_counts":             statuses,
		"http_503":                  statuses["503"],
		"http_503_with_retry_after": retryAfter,
		"transport_errors":          statuses["0"],
		"p50_ms":                    pct(accepted, 50),
		"p99_ms":                    pct(accepted, 99),
		"max_ms":                    pct(accepted, 100),
		"p99_ms_by_second":          p99BySecond,
		"wall_s":                    round(elapsed.Seconds(), 2),
		"client_cpu_s":              round(cpu, 2),
	}
	out, _ := json.Marshal(report)
	fmt.Println(string(out))
}

func send(client *http.Client, url, body string, hdrs headers, idem string, keepID bool) result {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		return result{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idem)
	for _, h := range hdrs {
		if k, v, ok := strings.Cut(h, ":"); ok {
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{}
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After") != ""}
	if keepID && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var answer struct {
			ID string `json:"id"`
		}
		if json.NewDecoder(resp.Body).Decode(&answer) == nil {
			r.id = answer.ID
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return r
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<22)
	for scanner.Scan() {
		if line := strings.TrimSpace(scanner.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	return lines, scanner.Err()
}

// selfCPUSeconds: utime + stime of this process, from /proc/self/stat (clock ticks of
// 1/100 s, the Linux USER_HZ).
func selfCPUSeconds() float64 {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

func pct(sorted []float64, p float64) any {
	if len(sorted) == 0 {
		return nil
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return round(sorted[i], 2)
}

func round(v float64, places int) float64 {
	scale := 1.0
	for i := 0; i < places; i++ {
		scale *= 10
	}
	return float64(int64(v*scale+0.5)) / scale
}
