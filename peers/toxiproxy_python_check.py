#!/usr/bin/env python3
"""Drives `ossguard chaos` with the real toxiproxy Python client (toxiproxy-python, pinned
0.1.1, installed by peers/install into .tools/venv).

Run:  TOXIPROXY_URL=http://127.0.0.1:8474 .tools/venv/bin/python peers/toxiproxy_python_check.py

It starts a local TCP echo server (127.0.0.1), creates a proxy to it through the API, adds a
latency toxic and measures the added latency, adds/removes a reset_peer toxic, disables and
re-enables the proxy, and prints one JSON object on stdout (same keys as
peers/toxiproxy_node_check.js). Exit 0 when it ran (``ok`` says whether every check passed),
2 when the client is not installed.
"""
import json
import os
import socket
import socketserver
import sys
import threading
import time
from urllib.parse import urlparse

try:
    import importlib.metadata as md

    from toxiproxy import Toxiproxy
    from toxiproxy.api import APIConsumer
    from toxiproxy.exceptions import NotFound, ProxyExists

    CLIENT_VERSION = md.version("toxiproxy-python")
except ImportError as e:  # pragma: no cover - reported to the caller
    print(json.dumps({"client": "toxiproxy-python", "ok": False, "missing": True,
                      "errors": ["toxiproxy-python is not installed (run peers/install): %s" % e]}))
    sys.exit(2)

API = os.environ.get("TOXIPROXY_URL", "http://127.0.0.1:8474")
LATENCY_MS = 100
ROUND_TRIPS = 15


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
        except OSError:
            return


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def split(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def p50_round_trip(addr, n):
    s = socket.create_connection(split(addr), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            s.sendall(b"x")
            if not s.recv(1):
                raise RuntimeError("connection closed during a round trip")
            times.append((time.perf_counter() - start) * 1000.0)
    finally:
        s.close()
    times.sort()
    return times[len(times) // 2]


def outcome(addr):
    """Connects, sends, and reports how it went: an errno name, "closed" or "data"."""
    try:
        s = socket.create_connection(split(addr), timeout=5)
    except ConnectionRefusedError:
        return "ECONNREFUSED"
    except OSError as e:
        return "connect: %s" % e
    try:
        s.sendall(b"ping")
        return "data" if s.recv(16) else "closed"
    except ConnectionResetError:
        return "ECONNRESET"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return str(e)
    finally:
        s.close()


def main():
    result = {"client": "toxiproxy-python", "client_version": CLIENT_VERSION, "api": API,
              "ok": False, "checks": {}, "errors": []}

    def check(name, cond, detail="failed"):
        result["checks"][name] = bool(cond)
        if not cond:
            result["errors"].append("%s: %s" % (name, detail))

    def step(name, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
            check(name, False, "%s: %s" % (type(e).__name__, e))

    echo = EchoServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    upstream = "127.0.0.1:%d" % echo.server_address[1]

    u = urlparse(API)
    server = Toxiproxy()
    server.update_api_consumer(u.hostname, u.port)
    state = {}

    def version():
        check("running", server.running(), "API port not reachable")
        v = server.version()
        result["server_version"] = v.decode() if isinstance(v, bytes) else str(v)
        check("version", bool(v), repr(v))

    def create():
        proxy = server.create(upstream=upstream, name="py_check", listen="127.0.0.1:0")
        state["proxy"] = proxy
        result["listen"] = proxy.listen
        check("create", proxy.name == "py_check" and proxy.enabled and not proxy.listen.endswith(":0"),
              repr(vars(proxy)))
        try:
            server.create(upstream=upstream, name="py_check")
            check("create_duplicate", False, "no ProxyExists")
        except ProxyExists:
            check("create_duplicate", True)

    def get():
        proxies = server.proxies()
        p = server.get_proxy("py_check")
        check("get", "py_check" in proxies and p is not None and p.listen == state["proxy"].listen,
              repr(list(proxies)))
        try:
            APIConsumer.get("/proxies/no_such_proxy")
            check("get_missing_404", False, "no NotFound")
        except NotFound:
            check("get_missing_404", True)

    def latency():
        proxy = state["proxy"]
        base = p50_round_trip(proxy.listen, ROUND_TRIPS)
        proxy.add_toxic(type="latency", attributes={"latency": LATENCY_MS, "jitter": 0})
        slow = p50_round_trip(proxy.listen, ROUND_TRIPS)
        result["baseline_p50_ms"] = base
        result["latency_p50_ms"] = slow
        result["added_latency_ms"] = slow - base
        toxics = proxy.toxics()
        t = toxics.get("latency_downstream")
        check("latency_toxic_shape",
              t is not None and t.type == "latency" and t.stream == "downstream"
              and t.attributes.get("latency") == LATENCY_MS and t.toxicity == 1,
              repr({k: vars(v) for k, v in toxics.items()}))
        check("latency", abs(slow - base - LATENCY_MS) <= 20, "added %.1f ms" % (slow - base))
        check("destroy_toxic", proxy.destroy_toxic("latency_downstream"), "DELETE failed")
        after = p50_round_trip(proxy.listen, 5)
        check("latency_removed", after < base + 30, "p50 %.1f ms after removal" % after)

    def reset_peer():
        proxy = state["proxy"]
        proxy.add_toxic(type="reset_peer", name="rst", attributes={"timeout": 0})
        result["reset_error"] = outcome(proxy.listen)
        check("reset_peer", result["reset_error"] == "ECONNRESET", result["reset_error"])
        proxy.destroy_toxic("rst")
        result["after_reset_removed"] = outcome(proxy.listen)
        check("reset_peer_removed", result["after_reset_removed"] == "data", result["after_reset_removed"])

    def disable():
        proxy = state["proxy"]
        proxy.disable()
        result["disabled_error"] = outcome(proxy.listen)
        check("disable", result["disabled_error"] == "ECONNREFUSED" and not server.get_proxy("py_check").enabled,
              result["disabled_error"])
        proxy.enable()
        result["enabled_again"] = outcome(proxy.listen)
        check("enable", result["enabled_again"] == "data" and server.get_proxy("py_check").enabled,
              result["enabled_again"])
        with proxy.down():
            down = outcome(proxy.listen)
        check("down_context", down == "ECONNREFUSED" and outcome(proxy.listen) == "data", down)

    def populate():
        made = server.populate([{"name": "py_pop", "upstream": upstream, "listen": "127.0.0.1:0"}])
        check("populate", len(made) == 1 and made[0].name == "py_pop", repr(made))
        server.destroy(made[0])

    def reset():
        proxy = state["proxy"]
        proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": 1})
        check("reset", server.reset() and proxy.toxics() == {}, repr(proxy.toxics()))

    def destroy():
        server.destroy(state["proxy"])
        check("destroy", server.get_proxy("py_check") is None, repr(list(server.proxies())))

    step("version", version)
    step("create", create)
    if "proxy" in state:
        for name, fn in [("get", get), ("latency", latency), ("reset_peer", reset_peer),
                         ("disable", disable), ("populate", populate), ("reset", reset),
                         ("destroy", destroy)]:
            step(name, fn)
    echo.shutdown()
    result["ok"] = not result["errors"] and bool(result["checks"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
