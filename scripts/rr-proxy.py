#!/usr/bin/env python3
"""A round-robin HTTP/1.1 reverse proxy (stdlib only) in front of several chroma-rs nodes.

usage: rr-proxy.py LISTEN_PORT BACKEND_PORT [BACKEND_PORT...]     (all on 127.0.0.1)

Each *request* (not each connection: clients keep connections alive) goes to the next node in
turn, so a client's write and its next read land on different nodes: the suites run through it
test read-your-writes across nodes (issue 15). Bodies are forwarded whole (Content-Length or
chunked in; Content-Length out). A node that cannot be reached gets a 502 with its port named,
never a hang: connect and read time out after 120 s. scripts/test.sh starts it (step api,
step chroma); it prints "ready" on stdout once listening.
"""
import http.client
import http.server
import itertools
import socketserver
import sys
import threading

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    listen = int(sys.argv[1])
    backends = [int(p) for p in sys.argv[2:]]
    turn = itertools.cycle(range(len(backends)))
    turn_lock = threading.Lock()
    local = threading.local()

    def conn(port: int) -> http.client.HTTPConnection:
        # One kept-alive connection per (handler thread, node).
        pool = getattr(local, "pool", None)
        if pool is None:
            pool = local.pool = {}
        c = pool.get(port)
        if c is None:
            c = pool[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        return c

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the suites' output is what matters
            pass

        def read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def forward(self) -> None:
            body = self.read_body()
            with turn_lock:
                port = backends[next(turn)]
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            headers["Content-Length"] = str(len(body))
            while True:
                reused = port in getattr(local, "pool", {})
                c = conn(port)
                try:
                    c.request(self.command, self.path, body=body, headers=headers)
                    r = c.getresponse()
                    data = r.read()
                    break
                except (ConnectionError, http.client.HTTPException, OSError) as e:
                    c.close()
                    local.pool.pop(port, None)
                    # A kept-alive connection the node closed while idle (it answered nothing):
                    # retry once on a new connection. A new connection that fails is a 502.
                    if not (reused and isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError,
                                                         ConnectionResetError))):
                        msg = f'{{"error":"BadGateway","message":"node 127.0.0.1:{port}: {e}"}}'.encode()
                        self.send_response(502)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(msg)))
                        self.end_headers()
                        self.wfile.write(msg)
                        return
            self.send_response_only(r.status, r.reason)
            for k, v in r.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = forward

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        # socketserver's default backlog is 5: a suite's burst of threads (Chroma's
        # test_multithreaded_get_or_create) overflowed it and saw connections reset.
        request_queue_size = 256

    srv = Server(("127.0.0.1", listen), Handler)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
