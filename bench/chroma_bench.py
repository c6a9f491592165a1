#!/usr/bin/env python3
"""The workload of crates/bench (chroma-rs-bench), run against real Chroma through its official Python client.

Run it with the python of the venv whose chromadb you measure (scripts/setup-venvs.sh), e.g.
  .venvs/chroma-1.5.9/bin/python bench/chroma_bench.py --dataset bench-data/clustered-100k-384 \
      --path bench-run/c159 --label "chroma-1.5.9 embedded" --out bench/results/r.jsonl
  .venvs/chroma-1.5.9/bin/python bench/chroma_bench.py --dataset ... --mode http \
      --server-cmd '.venvs/chroma-1.5.9/bin/chroma run --path {path} --host 127.0.0.1 --port {port}' ...

Targets:
  --mode persistent   chromadb.PersistentClient(path) in this process (the default)
  --mode http         chromadb.HttpClient against the server that --server-cmd starts ({path} and {port}
                      are filled in; loopback only). Any server of the Chroma API works: chroma-rs too.
  --module chroma_rs  the same workload through our Python package (crates/python) instead of chromadb:
                      `import chroma_rs as chromadb`, in process (--mode persistent) or over HTTP.

Workload (each phase in a fresh process, as crates/bench does):
  load    create collection "bench" with hnsw:space=l2; add every record of base.npy in batches of --batch
          (ids "id<row>", the embedding, a document (base_docs.txt or "document <row>") and the metadata
          {"i": row, "bucket": "b<row % 10>"}); then --queries single queries, n_results=10, default include
          -> add records/s, add CPU (this process and the server), p50/p99, recall@10 against gt_ids.npy
  reopen  a new process (and a restarted server): client + get_collection + first query = cold open
          (chromadb is imported before the clock starts; its import time is recorded apart as import_s);
          the queries again at the collection's default ef
  ef      (--ef, default 100; 0 skips) sets hnsw ef_search through the collection configuration, then in a
          new process (restarted server) runs the queries again. Chroma 0.4.x cannot change its search_ef
          after creation: measure it with --create-ef 100 instead (hnsw:search_ef at creation).
Disk = the data folder after the load phase (server stopped); RSS = VmHWM of the process that holds the
data (this process embedded, the server over HTTP).

Output: one JSON line per run appended to --out (and printed), in the record format of crates/bench
(label, system, dataset, mode, load{...}, disk_bytes, reopen{...}); bench/summarize.py tabulates both.
Only numpy and the chromadb client are needed; process figures come from /proc (Linux).
"""
import argparse
import importlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402

COLLECTION = "bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MODULE = "chromadb"  # --module: the package that plays chromadb (chromadb, or chroma_rs)


def chroma():
    """The client package under test, imported on first use."""
    return importlib.import_module(MODULE)


# --------------------------------------------------------------------------- /proc helpers
def memory(pid="self"):
    """{'VmHWM': bytes, 'VmRSS': bytes} of a process."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmHWM", "VmRSS"):
                    found[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return found


def stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def session_pids(sid):
    """Every live process of session `sid` (the server and whatever it started)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(stat_fields(entry)[3]) == sid:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def cpu_seconds(pids=None):
    """user + system CPU seconds of this process (pids None) or of the given processes."""
    if pids is None:
        t = os.times()
        return t.user + t.system
    total = 0.0
    for pid in pids:
        try:
            f = stat_fields(pid)
            total += (int(f[11]) + int(f[12])) / CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            pass
    return total


def disk_bytes(path):
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


def percentile(values, p):
    return float(np.percentile(values, p)) if values else None


# --------------------------------------------------------------------------- dataset and client
def load_dataset(folder, n_queries):
    base = np.load(os.path.join(folder, "base.npy"), mmap_mode="r")
    queries = np.load(os.path.join(folder, "queries.npy"))[:n_queries]
    truth = np.load(os.path.join(folder, "gt_ids.npy"))[: len(queries), :10]
    docs = None
    path = os.path.join(folder, "base_docs.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            docs = f.read().split("\n")
    return base, queries, truth, docs


def connect(a):
    chromadb = chroma()

    if a.mode == "http":
        return chromadb.HttpClient(host="127.0.0.1", port=a.port)
    return chromadb.PersistentClient(path=a.path)


def configured_ef(collection, created_with):
    """The ef_search the collection answers with, when the client can tell."""
    for attr in ("configuration_json", "configuration"):
        try:
            hnsw = (getattr(collection, attr) or {}).get("hnsw") or {}
            if hnsw.get("ef_search"):
                return int(hnsw["ef_search"])
        except Exception:  # noqa: BLE001 - older clients have neither attribute
            pass
    md = collection.metadata or {}
    if "hnsw:search_ef" in md:
        return int(md["hnsw:search_ef"])
    if MODULE == "chromadb" and chroma().__version__.startswith("0."):
        return created_with or 10  # hnswlib's default in the 0.x Python index
    return None


def run_queries(collection, queries, truth, a):
    """Single queries, n_results=10, default include; latency, recall@10 and CPU per query."""
    before = cpu_seconds(), cpu_seconds(a.server_pids) if a.server_pids else None
    latencies, hits = [], 0
    for i, q in enumerate(queries):
        vector = q.tolist()
        t = time.perf_counter()
        result = collection.query(query_embeddings=[vector], n_results=10)
        latencies.append((time.perf_counter() - t) * 1000.0)
        found = {int(x[2:]) for x in result["ids"][0]}
        hits += len(found & set(truth[i].tolist()))
    out = {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
           "mean_ms": float(np.mean(latencies)), "first_query_ms": latencies[0],
           "recall@10": hits / (10.0 * len(queries)),
           "client_cpu_ms_per_q": (cpu_seconds() - before[0]) * 1000.0 / len(queries)}
    if before[1] is not None:
        out["server_cpu_ms_per_q"] = (cpu_seconds(a.server_pids) - before[1]) * 1000.0 / len(queries)
    return out


# --------------------------------------------------------------------------- phases (fresh processes)
def phase_load(a):
    chromadb = chroma()

    base, queries, truth, docs = load_dataset(a.dataset, a.queries)
    client = connect(a)
    metadata = {"hnsw:space": "l2"}
    if a.create_ef:
        metadata["hnsw:search_ef"] = a.create_ef
    collection = client.create_collection(COLLECTION, metadata=metadata, embedding_function=None)
    try:
        limit = client.get_max_batch_size()
    except Exception:  # noqa: BLE001 - 0.4.x has a property instead
        limit = getattr(client, "max_batch_size", None)
    batch = min(a.batch, limit) if limit else a.batch
    n = base.shape[0]
    add_s, add_cpu = 0.0, 0.0
    server_cpu0 = cpu_seconds(a.server_pids) if a.server_pids else None
    for start in range(0, n, batch):
        end = min(n, start + batch)
        rows = range(start, end)
        kwargs = {"ids": [f"id{i}" for i in rows],
                  "embeddings": np.asarray(base[start:end], dtype=np.float32).tolist(),
                  "documents": [docs[i] if docs else f"document {i}" for i in rows],
                  "metadatas": [{"i": i, "bucket": f"b{i % 10}"} for i in rows]}
        t, c = time.perf_counter(), cpu_seconds()
        collection.add(**kwargs)
        add_s += time.perf_counter() - t
        add_cpu += cpu_seconds() - c
        print(f"\r  added {end}/{n} ({end / add_s:.0f} rec/s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    result = {"client_version": chromadb.__version__, "n": n, "count": collection.count(), "batch": batch,
              "max_batch_size": limit, "add_s": add_s, "add_rec_s": n / add_s, "add_client_cpu_s": add_cpu}
    if server_cpu0 is not None:
        result["add_server_cpu_s"] = cpu_seconds(a.server_pids) - server_cpu0
    ef = configured_ef(collection, a.create_ef)
    result["default_ef"] = ef
    result["default"] = {**run_queries(collection, queries, truth, a), "ef": f"default (ef_search {ef})"}
    mem = memory()
    result.update(client_peak_rss=mem.get("VmHWM"), client_rss_end=mem.get("VmRSS"))
    if a.mode == "http":
        try:
            result["server_version"] = client.get_version()
        except Exception:  # noqa: BLE001
            pass
    return result


def phase_reopen(a):
    t = time.perf_counter()
    chroma()  # imported before the clock starts, as a loaded binary is for chroma-rs

    import_s = time.perf_counter() - t
    _, queries, truth, _ = load_dataset(a.dataset, a.queries)
    first = queries[0].tolist()
    t = time.perf_counter()
    client = connect(a)
    collection = client.get_collection(COLLECTION)
    collection.query(query_embeddings=[first], n_results=10)
    cold = time.perf_counter() - t
    result = {"cold_open_s": cold, "import_s": import_s, "default": {**run_queries(collection, queries, truth, a), "ef": "default"}}
    if a.ef:
        try:
            collection.modify(configuration={"hnsw": {"ef_search": a.ef}})
            result["ef_method"] = "configuration.hnsw.ef_search"
        except Exception as e:  # noqa: BLE001 - 0.x clients and servers
            result["ef_method"] = f"unsupported: {type(e).__name__}: {e}"[:300]
    mem = memory()
    result.update(client_peak_rss=mem.get("VmHWM"), client_rss_end=mem.get("VmRSS"))
    return result


def phase_ef(a):
    _, queries, truth, _ = load_dataset(a.dataset, a.queries)
    collection = connect(a).get_collection(COLLECTION)
    return {**run_queries(collection, queries, truth, a), "ef": f"ef_search {a.ef}"}


# --------------------------------------------------------------------------- the server
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A Chroma-API server started from a command template, in its own session."""

    def __init__(self, a):
        self.cmd = shlex.split(a.server_cmd.format(path=a.path, port=a.port))
        self.port = a.port
        self.log = os.path.abspath(a.path).rstrip("/") + ".server.log"
        self.proc = None

    def start(self):
        t = time.perf_counter()
        with open(self.log, "ab") as log:
            # cwd beside the data folder: old servers write ./chroma.log
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=os.path.dirname(self.log))
        deadline = time.time() + 120
        while time.time() < deadline:
            for path in ("/api/v2/heartbeat", "/api/v1/heartbeat"):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=1).read()
                    return time.perf_counter() - t
                except Exception:  # noqa: BLE001 - not up yet
                    pass
            if self.proc.poll() is not None:
                sys.exit(f"the server exited with status {self.proc.returncode}; see {self.log}")
            time.sleep(0.05)
        self.stop()
        sys.exit(f"the server did not answer within 120 s; see {self.log}")

    def pids(self):
        return session_pids(self.proc.pid)

    def memory(self):
        """Memory of the biggest process of the session (the one holding the data)."""
        figures = [memory(pid) for pid in self.pids()]
        return max(figures, key=lambda m: m.get("VmRSS", 0), default={})

    def stop(self):
        if not self.proc:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        deadline = time.time() + 30
        while self.pids() and time.time() < deadline:
            time.sleep(0.05)
        with socket.socket() as s:
            while s.connect_ex(("127.0.0.1", self.port)) == 0 and time.time() < deadline:
                time.sleep(0.05)
        self.proc = None


# --------------------------------------------------------------------------- driver
def log(msg):
    print(f"[chroma_bench] {msg}", file=sys.stderr, flush=True)


def run_phase(a, phase, server=None):
    """Run one phase in a fresh python process and return its JSON result."""
    args = [sys.executable, os.path.abspath(__file__), "--phase", phase, "--dataset", a.dataset,
            "--path", a.path, "--mode", a.mode, "--port", str(a.port), "--queries", str(a.queries),
            "--batch", str(a.batch), "--ef", str(a.ef), "--create-ef", str(a.create_ef), "--module", a.module]
    if server:
        args += ["--server-pids", ",".join(map(str, server.pids()))]
    done = subprocess.run(args, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"phase {phase} failed with status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def default_system(a):
    chromadb = chroma()
    if MODULE != "chromadb":
        return f"{MODULE}-python"
    return "chroma-rs" if a.mode == "http" and "chroma-rs" in (a.server_cmd or "") else f"chroma-{chromadb.__version__}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, help="a folder made by bench/make_dataset.py")
    ap.add_argument("--path", default="bench-run/chroma", help="data folder (deleted and recreated)")
    ap.add_argument("--mode", choices=["persistent", "http"], default="persistent")
    ap.add_argument("--server-cmd", help="with --mode http: server command with {path} and {port}")
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--batch", type=int, default=5000, help="records per add (capped at the client's limit)")
    ap.add_argument("--queries", type=int, default=1000, help="single queries per pass (default 1000)")
    ap.add_argument("--ef", type=int, default=100, help="ef_search of the last pass (0: no such pass)")
    ap.add_argument("--create-ef", type=int, default=0, help="hnsw:search_ef given at creation (0: none)")
    ap.add_argument("--label", default="", help="free text shown by summarize.py --runs")
    ap.add_argument("--system", default="", help="the row of the summary (default chroma-<client version>)")
    ap.add_argument("--out", help="JSONL file to append the record to")
    ap.add_argument("--module", default="chromadb", help="the client package: chromadb, or chroma_rs (ours)")
    ap.add_argument("--phase", choices=["load", "reopen", "ef"], help=argparse.SUPPRESS)
    ap.add_argument("--server-pids", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    global MODULE
    MODULE = a.module
    a.server_pids = [int(p) for p in a.server_pids.split(",") if p]

    if a.phase:
        print(json.dumps({"load": phase_load, "reopen": phase_reopen, "ef": phase_ef}[a.phase](a), default=str))
        return
    if a.mode == "http" and not a.server_cmd:
        ap.error("--mode http needs --server-cmd")

    a.dataset = os.path.abspath(a.dataset)
    a.path = os.path.abspath(a.path)
    shutil.rmtree(a.path, ignore_errors=True)
    os.makedirs(os.path.dirname(a.path), exist_ok=True)
    a.port = a.port or free_port()
    system = a.system or default_system(a)
    record = {"label": a.label or f"{system} {'embedded' if a.mode == 'persistent' else 'http'}",
              "system": system, "dataset": os.path.basename(a.dataset.rstrip("/")), "mode": a.mode,
              "payload": "full", "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    server = Server(a) if a.mode == "http" else None

    log(f"{record['label']} on {record['dataset']}: load phase")
    if server:
        record["server_start_empty_s"] = server.start()
    record["load"] = run_phase(a, "load", server)
    record["version"] = record["load"]["client_version"]
    if server:
        record["server_peak_rss_load"] = server.memory().get("VmHWM")
        server.stop()
    record["disk_bytes"] = disk_bytes(a.path)

    log("reopen phase (fresh process)")
    if server:
        record["server_start_persisted_s"] = server.start()
    record["reopen"] = run_phase(a, "reopen", server)
    if server:
        record["server_cold_open_s"] = record["server_start_persisted_s"] + record["reopen"]["cold_open_s"]
        mem = server.memory()
        record["server_peak_rss_reopen"], record["server_rss_reopen_end"] = mem.get("VmHWM"), mem.get("VmRSS")
        server.stop()
    if a.ef and record["reopen"].get("ef_method", "").startswith("configuration"):
        log(f"ef_search {a.ef} phase (fresh process)")
        if server:
            server.start()
        record["reopen"][f"ef{a.ef}"] = run_phase(a, "ef", server)
        if server:
            server.stop()

    line = json.dumps(record, default=str)
    print(line)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "a") as f:
            f.write(line + "\n")
    load, reopen = record["load"], record["reopen"]
    log(f"add {load['add_rec_s']:.0f} rec/s | p50 {load['default']['p50_ms']:.3f} ms "
        f"p99 {load['default']['p99_ms']:.3f} ms | recall@10 {load['default']['recall@10']:.3f} | "
        f"cold open {record.get('server_cold_open_s', reopen['cold_open_s']):.3f} s | "
        f"disk {record['disk_bytes'] / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
