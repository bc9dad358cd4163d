"""Shared workload loop of the Python peer bench drivers (bench_oss2.py, bench_pyv2.py).

Contract (same for every driver, see benches/peers/README.md): argv[1] is a JSON spec
{"op": ..., "bucket": ..., ...}; env OSS_ENDPOINT, OSS_REGION, OSS_ACCESS_KEY_ID,
OSS_ACCESS_KEY_SECRET. Prints exactly one JSON line on stdout. Exit 0 unless the driver is broken.
"""
import json
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor


def content(key, size):
    """Deterministic body of a small object: (key + "\\n") repeated, cut to size."""
    unit = (key + "\n").encode()
    return (unit * (size // len(unit) + 1))[:size]


def pct(lat, p):
    if not lat:
        return None
    lat = sorted(lat)
    return round(lat[min(len(lat) - 1, int(p * len(lat)))], 3)


def lat_summary(lat):
    return {"p50_ms": pct(lat, 0.50), "p99_ms": pct(lat, 0.99), "p999_ms": pct(lat, 0.999),
            "max_ms": round(max(lat), 3) if lat else None}


def short(e):
    return (type(e).__name__ + ": " + str(e).split("\n")[0])[:200]


def many(spec, one):
    """Runs one(key) for n keys at concurrency conc with threads; one returns True/False/"corrupt"."""
    n, conc, prefix = spec["n"], spec.get("conc", 16), spec["prefix"]
    keys = ["%s%06d" % (prefix, i) for i in range(n)]
    lat, errs, corrupt, first_err = [], 0, 0, [None]

    def run(k):
        t = time.perf_counter()
        try:
            r = one(k)
        except Exception as e:  # an SDK error is a failed op, not a broken driver
            first_err[0] = first_err[0] or short(e)
            return None, "err"
        return (time.perf_counter() - t) * 1000, r

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=conc) as ex:
        for ms, r in ex.map(run, keys):
            if r == "err":
                errs += 1
            elif r == "corrupt":
                corrupt += 1
                lat.append(ms)
            else:
                lat.append(ms)
    secs = time.perf_counter() - t0
    out = {"ok": errs == 0 and corrupt == 0, "n": n, "conc": conc, "secs": round(secs, 4),
           "ops_per_s": round(n / secs, 1), "errors": errs, "corrupt": corrupt}
    out.update(lat_summary(lat))
    if first_err[0]:
        out["error"] = first_err[0]
    return out


def probe(spec, get):
    """Sequential GETs of one key for `duration` s: wall-clock events for outage recovery."""
    key, size, dur = spec["key"], spec["size"], spec["duration"]
    want = content(key, size)
    end, events = time.time() + dur, []
    while time.time() < end and len(events) < 100000:
        t = time.time()
        try:
            ok = get(key) == want
        except Exception:
            ok = False
        events.append([round(t, 3), round(time.time(), 3), ok])
        if not ok:
            time.sleep(0.05)  # a failing SDK call may return at once: don't spin the CPU
    return {"ok": True, "events": events}


def main(sdk, ops):
    spec = json.loads(sys.argv[1])
    op = spec["op"]
    t0 = time.perf_counter()
    try:
        res = ops[op](spec)
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        res = {"ok": False, "error": short(e)}
    res.setdefault("secs", round(time.perf_counter() - t0, 4))
    res.update({"peer": sdk, "op": op})
    print(json.dumps(res), flush=True)
