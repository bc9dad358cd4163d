// Peer bench driver for Debian's aliyun-oss-go-sdk (1.5.0, V1 signatures only). Built by
// benches/peers/run like peers/install builds the conformance driver (GOPATH mode against
// /usr/share/gocode). Contract: os.Args[1] = JSON spec, one JSON line out (see README.md).
//
// SDK defaults: 5 retries, CRC-64 on, UploadFile/DownloadFile with 1 routine. The SDK has no
// default part size (the caller must pass one): 8 MiB here. "threads" in the spec = Routines(n).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

type specT struct {
	Op       string  `json:"op"`
	Bucket   string  `json:"bucket"`
	Key      string  `json:"key"`
	File     string  `json:"file"`
	Prefix   string  `json:"prefix"`
	N        int     `json:"n"`
	Conc     int     `json:"conc"`
	Size     int     `json:"size"`
	Threads  int     `json:"threads"`
	Duration float64 `json:"duration"`
}

const partSize = 8 << 20

func content(key string, size int) []byte {
	unit := []byte(key + "\n")
	return bytes.Repeat(unit, size/len(unit)+1)[:size]
}

func short(err error) string {
	s := strings.SplitN(err.Error(), "\n", 2)[0]
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func pct(lat []float64, p float64) interface{} {
	if len(lat) == 0 {
		return nil
	}
	i := int(p * float64(len(lat)))
	if i >= len(lat) {
		i = len(lat) - 1
	}
	return lat[i]
}

func many(s specT, one func(k string) (bool, error)) map[string]interface{} {
	conc := s.Conc
	if conc <= 0 {
		conc = 16
	}
	var next int64 = -1
	var mu sync.Mutex
	var lat []float64
	errs, corrupt, firstErr := 0, 0, ""
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= s.N {
					return
				}
				k := fmt.Sprintf("%s%06d", s.Prefix, i)
				t := time.Now()
				good, err := one(k)
				ms := float64(time.Since(t).Microseconds()) / 1000
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = short(err)
					}
				} else {
					lat = append(lat, ms)
					if !good {
						corrupt++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	sort.Float64s(lat)
	out := map[string]interface{}{"ok": errs == 0 && corrupt == 0, "n": s.N, "conc": conc, "secs": secs,
		"ops_per_s": float64(s.N) / secs, "errors": errs, "corrupt": corrupt,
		"p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "p999_ms": pct(lat, 0.999), "max_ms": pct(lat, 1)}
	if firstErr != "" {
		out["error"] = firstErr
	}
	return out
}

func getBytes(b *oss.Bucket, k string) ([]byte, error) {
	r, err := b.GetObject(k)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return ioutil.ReadAll(r)
}

func run(s specT) (map[string]interface{}, error) {
	c, err := oss.New(os.Getenv("OSS_ENDPOINT"), os.Getenv("OSS_ACCESS_KEY_ID"), os.Getenv("OSS_ACCESS_KEY_SECRET"))
	if err != nil {
		return nil, err
	}
	b, err := c.Bucket(s.Bucket)
	if err != nil {
		return nil, err
	}
	var opts []oss.Option
	if s.Threads > 0 {
		opts = append(opts, oss.Routines(s.Threads))
	}
	ok := map[string]interface{}{"ok": true}
	switch s.Op {
	case "upload":
		return ok, b.UploadFile(s.Key, s.File, partSize, opts...)
	case "download":
		return ok, b.DownloadFile(s.Key, s.File, partSize, opts...)
	case "put":
		return many(s, func(k string) (bool, error) {
			return true, b.PutObject(k, bytes.NewReader(content(k, s.Size)))
		}), nil
	case "get":
		return many(s, func(k string) (bool, error) {
			got, err := getBytes(b, k)
			return bytes.Equal(got, content(k, s.Size)), err
		}), nil
	case "list":
		count, marker := 0, ""
		for i := 0; i < 100000; i++ {
			r, err := b.ListObjects(oss.Prefix(s.Prefix), oss.Marker(marker), oss.MaxKeys(1000))
			if err != nil {
				return nil, err
			}
			count += len(r.Objects)
			if !r.IsTruncated {
				break
			}
			marker = r.NextMarker
		}
		return map[string]interface{}{"ok": true, "count": count}, nil
	case "probe":
		want := content(s.Key, s.Size)
		end := time.Now().Add(time.Duration(s.Duration * float64(time.Second)))
		var events [][]interface{}
		for time.Now().Before(end) && len(events) < 100000 {
			t := float64(time.Now().UnixNano()) / 1e9
			got, err := getBytes(b, s.Key)
			good := err == nil && bytes.Equal(got, want)
			events = append(events, []interface{}{t, float64(time.Now().UnixNano()) / 1e9, good})
			if !good {
				time.Sleep(50 * time.Millisecond)
			}
		}
		return map[string]interface{}{"ok": true, "events": events}, nil
	}
	return nil, fmt.Errorf("unknown op %q", s.Op)
}

func main() {
	var s specT
	if len(os.Args) < 2 || json.Unmarshal([]byte(os.Args[1]), &s) != nil {
		fmt.Fprintln(os.Stderr, "usage: bench-go '<json spec>'")
		os.Exit(2)
	}
	t0 := time.Now()
	res, err := run(s)
	if err != nil {
		res = map[string]interface{}{"ok": false, "error": short(err)}
	}
	if _, has := res["secs"]; !has {
		res["secs"] = time.Since(t0).Seconds()
	}
	res["peer"], res["op"] = "go", s.Op
	json.NewEncoder(os.Stdout).Encode(res)
}
