#!/usr/bin/env python3
"""Concurrent load test for a Chroma-compatible server, through the official Python client.

Run with the chromadb 1.5.9 venv (API v2):

    .venvs/chroma-1.5.9/bin/python bench/load_test.py --url http://127.0.0.1:8000 [--duration 60]

What it does
  * creates one fresh collection (dimension --dim, default 128; l2) and preloads --preload
    records so that queries have something to find from the first second;
  * starts --clients threads (default 32), each with its own chromadb.HttpClient (each has
    its own httpx connection pool), which for --duration seconds pick an operation at random
    (--mix, default add 30 / query 40 / get 30):
      add    a small batch (--batch, default 8) of new records with ids unique per client
             ("c<client>-<seq>"); every acknowledged add is recorded;
      query  one random vector, n_results 10; checks it got min(10, count) ids;
      get    by up to 10 ids this client already had acknowledged; every one must come back
             (read-your-writes), else it is counted as an error;
  * with --server-pid, samples the server's RSS every --rss-interval seconds and checks that
    its growth over the second half stays within --rss-growth-mib plus --rss-per-record bytes
    per record added in that half (the data it must hold; anything beyond is a leak);
  * afterwards verifies that every acknowledged id is present (get by ids, in pages of
    --verify-page) and that count() == preload + acknowledged adds;
  * prints total ops/s, per-operation throughput and p50/p90/p99/max latency, errors (must be
    0), and appends one JSON line to bench/results/load-<UTC date>.jsonl (--out to change).

Exit status is 0 only if there were no errors, the verification passed and (with --server-pid)
the RSS bound held.

Note: the client threads share Python's GIL; the client-side CPU time is reported so a
client-bound run can be recognised (with 2 cores, client and server compete for CPU).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import resource
import sys
import threading
import time
import traceback
import urllib.parse
from collections import defaultdict

import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb  # noqa: E402
from chromadb.config import Settings  # noqa: E402

OPS = ("add", "query", "get")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=os.environ.get("CHROMA_URL", "http://127.0.0.1:8000"),
                   help="server URL; several, comma-separated (nodes over one PostgreSQL): client i "
                        "talks to URL i mod n, setup and verification to the first")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--clients", type=int, default=32, help="concurrent client threads (default 32)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--batch", type=int, default=8, help="records per add (default 8)")
    p.add_argument("--preload", type=int, default=1000, help="records added before the timed phase")
    p.add_argument("--n-results", type=int, default=10)
    p.add_argument("--get-ids", type=int, default=10, help="ids per get (default 10)")
    p.add_argument("--mix", default="add=30,query=40,get=30", help="operation weights")
    p.add_argument("--verify-page", type=int, default=500)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--label", default="", help="free text stored in the JSON line (e.g. server name)")
    p.add_argument("--out", default=None, help="JSONL file (default bench/results/load-<date>.jsonl)")
    p.add_argument("--keep", action="store_true", help="keep the collection afterwards")
    p.add_argument("--server-pid", type=int, default=None,
                   help="pid of the server process (local): report its CPU seconds during the run")
    p.add_argument("--node-pids", default=None,
                   help="comma-separated pids of local server processes (the nodes): their CPU seconds "
                        "summed, and per query/op, in the report")
    p.add_argument("--postgres-cpu", action="store_true",
                   help="report the CPU seconds of every local `postgres` process during the run, and "
                        "per record added")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request HTTP timeout, seconds")
    p.add_argument("--rss-interval", type=float, default=5.0,
                   help="with --server-pid: sample the server's RSS every this many seconds (default 5)")
    p.add_argument("--rss-growth-mib", type=float, default=64.0,
                   help="with --server-pid: RSS may grow by this much over the second half of the run, "
                        "plus --rss-per-record bytes per record added in that half (default 64)")
    p.add_argument("--rss-per-record", type=float, default=2048.0,
                   help="bytes of RSS growth allowed per record added in the second half (its vector, "
                        "graph links, ids and SQLite rows; default 2048)")
    return p.parse_args(argv)


def parse_mix(s):
    w = {}
    for part in s.split(","):
        k, _, v = part.partition("=")
        k = k.strip()
        if k not in OPS:
            raise SystemExit(f"--mix: unknown operation {k!r} (use {', '.join(OPS)})")
        w[k] = float(v)
    for k in OPS:
        w.setdefault(k, 0.0)
    if sum(w.values()) <= 0:
        raise SystemExit("--mix: all weights are zero")
    return w


def make_client(url, timeout):
    u = urllib.parse.urlparse(url)
    ssl = u.scheme == "https"
    port = u.port or (443 if ssl else 80)
    settings = Settings(anonymized_telemetry=False)
    c = chromadb.HttpClient(host=u.hostname, port=port, ssl=ssl, settings=settings)
    # The client's httpx session has no timeout (timeout=None); bound it so that a hung
    # server shows up as errors instead of a hung load test.
    try:
        import httpx
        c._server._session.timeout = httpx.Timeout(timeout)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        pass
    return c


def proc_rss_kib(pid):
    """VmRSS of a local process in KiB, from /proc (None if unknown)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class RssSampler(threading.Thread):
    """Samples the server's RSS and the records acknowledged so far, every `interval` seconds."""

    def __init__(self, pid, interval, workers, t_start):
        super().__init__(name="rss-sampler", daemon=True)
        self.pid, self.interval, self.workers, self.t_start = pid, interval, workers, t_start
        self.samples = []                     # (seconds since start, RSS KiB, acknowledged records)
        self.stop_evt = threading.Event()

    def sample(self):
        rss = proc_rss_kib(self.pid)
        if rss is not None:
            acked = sum(len(w.acked) for w in self.workers)
            self.samples.append((round(time.monotonic() - self.t_start, 1), rss, acked))

    def run(self):
        self.sample()
        while not self.stop_evt.wait(self.interval):
            self.sample()

    def stop(self):
        self.stop_evt.set()
        self.join()
        self.sample()


def rss_report(samples, duration, growth_mib, per_record):
    """RSS start/peak/end and the second half's growth against its allowance (fixed MiB plus
    bytes per record added in that half: the data the server must hold)."""
    if len(samples) < 2:
        return None
    mid = min(samples, key=lambda s: abs(s[0] - duration / 2))
    end = samples[-1]
    growth = (end[1] - mid[1]) / 1024
    records = end[2] - mid[2]
    allowed = growth_mib + records * per_record / 2**20
    return {
        "interval_s": round(samples[1][0] - samples[0][0], 1),
        "samples": len(samples),
        "start_mib": round(samples[0][1] / 1024, 1),
        "mid_mib": round(mid[1] / 1024, 1),
        "peak_mib": round(max(s[1] for s in samples) / 1024, 1),
        "end_mib": round(end[1] / 1024, 1),
        "second_half_growth_mib": round(growth, 1),
        "second_half_records": records,
        "second_half_allowed_mib": round(allowed, 1),
        "bytes_per_record_second_half": round(growth * 2**20 / records) if records else None,
        "ok": growth <= allowed,
        "series": [[t, round(k / 1024, 1), a] for t, k, a in samples],
    }


def proc_cpu_seconds(pid):
    """utime+stime of a local process and its reaped children, from /proc (None if unknown)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def postgres_cpu_seconds():
    """utime+stime of every local process named postgres* (the server and its backends)."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                head, _, rest = f.read().rpartition(")")
            if "(postgres" in head:
                total += sum(int(x) for x in rest.split()[11:13])
        except (OSError, ValueError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


class Worker(threading.Thread):
    def __init__(self, idx, args, weights, coll_name, start_evt, deadline_box, preload_count):
        super().__init__(name=f"client-{idx}", daemon=True)
        self.idx = idx
        self.args = args
        self.coll_name = coll_name
        self.start_evt = start_evt
        self.deadline_box = deadline_box
        self.preload_count = preload_count
        self.rnd = random.Random(args.seed * 1000 + idx)
        self.np = np.random.default_rng(args.seed * 1000 + idx)
        self.ops = list(weights)
        self.weights = [weights[k] for k in self.ops]
        self.lat = defaultdict(list)          # op -> [seconds]
        self.errors = defaultdict(int)        # op -> count
        self.error_samples = []
        self.acked = []                       # acknowledged ids, in order
        self.unacked = []                     # ids of adds that raised (state unknown)
        self.seq = 0
        self.setup_error = None
        self.ready = threading.Event()

    def vecs(self, n):
        return self.np.random((n, self.args.dim), dtype=np.float32) * 2 - 1

    def err(self, op, e):
        self.errors[op] += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{op}: {type(e).__name__}: {str(e)[:300]}")

    def run(self):
        try:
            urls = self.args.url.split(",")
            client = make_client(urls[self.idx % len(urls)], self.args.timeout)
            coll = client.get_collection(self.coll_name)
        except Exception as e:  # noqa: BLE001
            self.setup_error = f"{type(e).__name__}: {e}"
            self.ready.set()
            return
        self.ready.set()
        self.start_evt.wait()
        deadline = self.deadline_box[0]
        nres = self.args.n_results
        while time.monotonic() < deadline:
            op = self.rnd.choices(self.ops, self.weights)[0]
            if op == "get" and not self.acked:
                op = "add"
            if op == "add":
                ids = [f"c{self.idx}-{self.seq + k}" for k in range(self.args.batch)]
                self.seq += self.args.batch
                emb = self.vecs(len(ids))
                metas = [{"client": self.idx, "seq": self.seq + k} for k in range(len(ids))]
                t0 = time.perf_counter()
                try:
                    coll.add(ids=ids, embeddings=emb, metadatas=metas)
                except Exception as e:  # noqa: BLE001
                    self.err(op, e)
                    self.unacked.extend(ids)
                    continue
                self.lat[op].append(time.perf_counter() - t0)
                self.acked.extend(ids)
            elif op == "query":
                q = self.vecs(1)
                t0 = time.perf_counter()
                try:
                    r = coll.query(query_embeddings=q, n_results=nres, include=["distances"])
                except Exception as e:  # noqa: BLE001
                    self.err(op, e)
                    continue
                self.lat[op].append(time.perf_counter() - t0)
                got = len(r["ids"][0])
                floor = min(nres, self.preload_count + len(self.acked))
                if got < floor:
                    self.err(op, AssertionError(f"query returned {got} ids, expected >= {floor}"))
            else:
                k = min(self.args.get_ids, len(self.acked))
                want = self.rnd.sample(self.acked, k)
                t0 = time.perf_counter()
                try:
                    r = coll.get(ids=want, include=[])
                except Exception as e:  # noqa: BLE001
                    self.err(op, e)
                    continue
                self.lat[op].append(time.perf_counter() - t0)
                missing = set(want) - set(r["ids"])
                if missing:
                    self.err(op, AssertionError(f"get by acknowledged ids missed {len(missing)}: {sorted(missing)[:5]}"))


def main(argv=None):
    args = parse_args(argv)
    weights = parse_mix(args.mix)
    rng = np.random.default_rng(args.seed)
    started_at = _dt.datetime.now(_dt.timezone.utc)

    admin = make_client(args.url.split(",")[0], args.timeout)
    try:
        server_version = admin.get_version()
    except Exception as e:  # noqa: BLE001
        print(f"load_test: cannot reach {args.url}: {e}", file=sys.stderr)
        return 2
    coll_name = f"load-{started_at.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
    coll = admin.create_collection(coll_name, metadata={"purpose": "load-test"})

    # preload
    t0 = time.perf_counter()
    pre_ids = []
    step = 250
    for s in range(0, args.preload, step):
        ids = [f"pre-{i}" for i in range(s, min(s + step, args.preload))]
        emb = rng.random((len(ids), args.dim), dtype=np.float32) * 2 - 1
        coll.add(ids=ids, embeddings=emb)
        pre_ids.extend(ids)
    preload_s = time.perf_counter() - t0
    print(f"load_test: server {args.url} (version {server_version}), collection {coll_name}, "
          f"preloaded {len(pre_ids)} x {args.dim}-d in {preload_s:.1f}s", file=sys.stderr)

    start_evt = threading.Event()
    deadline_box = [0.0]
    workers = [Worker(i, args, weights, coll_name, start_evt, deadline_box, len(pre_ids)) for i in range(args.clients)]
    for w in workers:
        w.start()
    # let every client finish its handshake before the clock starts
    for w in workers:
        w.ready.wait(timeout=args.timeout)
    load_before = [round(x, 2) for x in os.getloadavg()]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    srv0 = proc_cpu_seconds(args.server_pid)
    node_pids = [int(x) for x in args.node_pids.split(",")] if args.node_pids else []
    nodes0 = [proc_cpu_seconds(p) for p in node_pids]
    pg0 = postgres_cpu_seconds() if args.postgres_cpu else None
    t_start = time.monotonic()
    sampler = None
    if args.server_pid is not None and proc_rss_kib(args.server_pid) is not None:
        sampler = RssSampler(args.server_pid, args.rss_interval, workers, t_start)
        sampler.start()
    deadline_box[0] = t_start + args.duration
    start_evt.set()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - t_start
    if sampler is not None:
        sampler.stop()
    rss = rss_report(sampler.samples, elapsed, args.rss_growth_mib, args.rss_per_record) if sampler else None
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    srv1 = proc_cpu_seconds(args.server_pid)
    nodes1 = [proc_cpu_seconds(p) for p in node_pids]
    nodes_cpu = (round(sum(b - a for a, b in zip(nodes0, nodes1)), 2)
                 if node_pids and None not in nodes0 + nodes1 else None)
    pg_cpu = round(postgres_cpu_seconds() - pg0, 2) if pg0 is not None else None
    server_cpu = round(srv1 - srv0, 1) if srv0 is not None and srv1 is not None else None
    load_after = [round(x, 2) for x in os.getloadavg()]
    client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)

    setup_errors = [f"{w.name}: {w.setup_error}" for w in workers if w.setup_error]
    lat = defaultdict(list)
    errors = defaultdict(int)
    samples = []
    acked, unacked = [], []
    for w in workers:
        for k, v in w.lat.items():
            lat[k].extend(v)
        for k, v in w.errors.items():
            errors[k] += v
        samples.extend(w.error_samples)
        acked.extend(w.acked)
        unacked.extend(w.unacked)

    # ---- verification ----
    verify = {"acked_ids": len(acked), "missing": 0, "count": None, "expected_count": len(pre_ids) + len(acked),
              "unacked_ids": len(unacked), "ok": False, "error": None}
    t0 = time.perf_counter()
    try:
        missing = []
        for s in range(0, len(acked), args.verify_page):
            page = acked[s:s + args.verify_page]
            got = set(coll.get(ids=page, include=[])["ids"])
            missing.extend(i for i in page if i not in got)
        verify["missing"] = len(missing)
        verify["missing_sample"] = missing[:10]
        verify["count"] = coll.count()
        # adds that raised may or may not have been applied: tolerate exactly those
        if unacked:
            extra = set(coll.get(ids=unacked, include=[])["ids"]) if unacked else set()
            verify["unacked_present"] = len(extra)
            verify["expected_count"] += len(extra)
        verify["ok"] = verify["missing"] == 0 and verify["count"] == verify["expected_count"]
    except Exception as e:  # noqa: BLE001
        verify["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc()
    verify["seconds"] = round(time.perf_counter() - t0, 2)

    if not args.keep:
        try:
            admin.delete_collection(coll_name)
        except Exception as e:  # noqa: BLE001
            print(f"load_test: could not delete {coll_name}: {e}", file=sys.stderr)

    # ---- report ----
    total_ops = sum(len(v) for v in lat.values())
    total_errors = sum(errors.values()) + len(setup_errors)
    per_op = {}
    for op in OPS:
        v = sorted(lat.get(op, []))
        per_op[op] = {
            "ops": len(v),
            "ops_per_s": round(len(v) / elapsed, 1) if elapsed > 0 else None,
            "p50_ms": round(percentile(v, 0.50) * 1e3, 2) if v else None,
            "p90_ms": round(percentile(v, 0.90) * 1e3, 2) if v else None,
            "p99_ms": round(percentile(v, 0.99) * 1e3, 2) if v else None,
            "max_ms": round(v[-1] * 1e3, 2) if v else None,
            "errors": errors.get(op, 0),
        }
    per_op["add"]["records_per_s"] = round(len(lat.get("add", [])) * args.batch / elapsed, 1) if elapsed > 0 else None
    result = {
        "kind": "chroma-load-test",
        "started_at": started_at.isoformat(timespec="seconds"),
        "label": args.label,
        "url": args.url,
        "server_version": server_version,
        "client": f"chromadb-python {chromadb.__version__}",
        "clients": args.clients,
        "duration_s": round(elapsed, 2),
        "dim": args.dim,
        "batch": args.batch,
        "preload": len(pre_ids),
        "mix": weights,
        "n_results": args.n_results,
        "total_ops": total_ops,
        "ops_per_s": round(total_ops / elapsed, 1) if elapsed > 0 else None,
        "per_op": per_op,
        "errors": total_errors,
        "error_samples": (setup_errors + samples)[:10],
        "verify": verify,
        "client_cpu_s": round(client_cpu, 1),
        "server_cpu_s": server_cpu,
        "nodes": len(args.url.split(",")),
        "nodes_cpu_s": nodes_cpu,
        "nodes_cpu_ms_per_op": round(nodes_cpu / total_ops * 1e3, 3) if nodes_cpu is not None and total_ops else None,
        "postgres_cpu_s": pg_cpu,
        "postgres_cpu_us_per_record": (round(pg_cpu / (len(lat.get("add", [])) * args.batch) * 1e6, 1)
                                       if pg_cpu is not None and lat.get("add") else None),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "rss": rss,
        "ok": total_errors == 0 and verify["ok"] and (rss is None or rss["ok"]),
    }

    print(f"\n{args.clients} clients x {elapsed:.1f}s against {args.url} ({server_version})")
    print(f"total: {total_ops} ops, {result['ops_per_s']} ops/s, errors {total_errors}")
    print(f"{'op':<6} {'ops':>8} {'ops/s':>9} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9} {'errors':>7}")
    for op in OPS:
        s = per_op[op]
        fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
        print(f"{op:<6} {s['ops']:>8} {fmt(s['ops_per_s']):>9} {fmt(s['p50_ms']):>9} {fmt(s['p90_ms']):>9} "
              f"{fmt(s['p99_ms']):>9} {fmt(s['max_ms']):>9} {s['errors']:>7}")
    print(f"add: {per_op['add']['records_per_s']} records/s (batch {args.batch})")
    print(f"verify: {verify['acked_ids']} acknowledged ids, missing {verify['missing']}, "
          f"count {verify['count']} (expected {verify['expected_count']}) -> {'OK' if verify['ok'] else 'FAIL'}"
          + (f" [{verify['error']}]" if verify["error"] else ""))
    print(f"client-side CPU: {client_cpu:.1f}s over {elapsed:.1f}s wall; load average before {load_before[0]}, "
          f"after {load_after[0]} ({os.cpu_count()} CPUs)"
          + (f"; server CPU {server_cpu:.1f}s" if server_cpu is not None else ""))
    if nodes_cpu is not None or pg_cpu is not None:
        print(f"nodes ({result['nodes']}) CPU: {nodes_cpu}s, {result['nodes_cpu_ms_per_op']} ms per op; "
              f"PostgreSQL CPU: {pg_cpu}s, {result['postgres_cpu_us_per_record']} µs per record added")
    if rss is not None:
        print(f"server RSS (every {rss['interval_s']}s): start {rss['start_mib']} MiB, mid {rss['mid_mib']}, "
              f"peak {rss['peak_mib']}, end {rss['end_mib']}; second half +{rss['second_half_growth_mib']} MiB "
              f"for {rss['second_half_records']} records added (allowed {rss['second_half_allowed_mib']} MiB = "
              f"{args.rss_growth_mib:g} MiB + {args.rss_per_record:g} B/record) -> {'OK' if rss['ok'] else 'FAIL'}")
    for s in (setup_errors + samples)[:10]:
        print(f"  error: {s}")

    out = args.out
    if out is None:
        here = os.path.dirname(os.path.abspath(__file__))
        out = os.path.join(here, "results", f"load-{started_at.strftime('%Y%m%d')}.jsonl")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    line = json.dumps(result, sort_keys=True)
    with open(out, "a") as f:
        f.write(line + "\n")
    print(line)
    print(f"(appended to {out})", file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
