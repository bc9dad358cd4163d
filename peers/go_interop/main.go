// Interop checker for the Debian aliyun-oss-go-sdk: reads objects another client wrote
// (checking SHA-256 and the server's CRC-64) and writes its own, simple and multipart.
// Output: one JSON object per line. Env: OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET,
// OSSGUARD_BUCKET, OSSGUARD_WORKDIR, OSSGUARD_READ (comma-separated keys), OSSGUARD_WRITE_PREFIX.
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc64"
	"io/ioutil"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

func emit(m map[string]interface{}) {
	b, _ := json.Marshal(m)
	fmt.Println(string(b))
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func main() {
	client, err := oss.New(os.Getenv("OSS_ENDPOINT"), os.Getenv("OSS_ACCESS_KEY_ID"), os.Getenv("OSS_ACCESS_KEY_SECRET"), oss.Timeout(30, 60))
	if err != nil {
		emit(map[string]interface{}{"op": "init", "ok": false, "detail": err.Error()})
		return
	}
	bucket, err := client.Bucket(os.Getenv("OSSGUARD_BUCKET"))
	if err != nil {
		emit(map[string]interface{}{"op": "init", "ok": false, "detail": err.Error()})
		return
	}
	work := os.Getenv("OSSGUARD_WORKDIR")
	table := crc64.MakeTable(crc64.ECMA)

	for _, key := range strings.Split(os.Getenv("OSSGUARD_READ"), ",") {
		if key == "" {
			continue
		}
		path := filepath.Join(work, "go-read-"+hex.EncodeToString([]byte(key)))
		if err := bucket.GetObjectToFile(key, path); err != nil {
			emit(map[string]interface{}{"op": "read", "key": key, "ok": false, "detail": err.Error()})
			continue
		}
		data, _ := ioutil.ReadFile(path)
		meta, err := bucket.GetObjectDetailedMeta(key)
		crcOK := err == nil
		if crcOK {
			server, perr := strconv.ParseUint(meta.Get("X-Oss-Hash-Crc64ecma"), 10, 64)
			crcOK = perr == nil && server == crc64.Checksum(data, table)
		}
		emit(map[string]interface{}{"op": "read", "key": key, "ok": true, "sha256": sum(data), "size": len(data), "crc_ok": crcOK})
	}

	prefix := os.Getenv("OSSGUARD_WRITE_PREFIX")
	if prefix == "" {
		return
	}
	simple := make([]byte, 300*1024)
	rand.Read(simple)
	if err := bucket.PutObject(prefix+"simple.bin", strings.NewReader(string(simple))); err != nil {
		emit(map[string]interface{}{"op": "write", "key": prefix + "simple.bin", "ok": false, "detail": err.Error()})
	} else {
		emit(map[string]interface{}{"op": "write", "key": prefix + "simple.bin", "ok": true, "sha256": sum(simple)})
	}
	multi := make([]byte, 350*1024+17)
	rand.Read(multi)
	src := filepath.Join(work, "go-multi.bin")
	ioutil.WriteFile(src, multi, 0o644)
	err = bucket.UploadFile(prefix+"multi.bin", src, 100*1024, oss.Routines(3), oss.Checkpoint(true, filepath.Join(work, "go-multi.cp")))
	if err != nil {
		emit(map[string]interface{}{"op": "write", "key": prefix + "multi.bin", "ok": false, "detail": err.Error()})
	} else {
		emit(map[string]interface{}{"op": "write", "key": prefix + "multi.bin", "ok": true, "sha256": sum(multi)})
	}
}
