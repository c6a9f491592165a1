"""Sentences per second of all-MiniLM-L6-v2 under ONNX Runtime (CPU) or sentence-transformers
(torch CPU), batches of 32, one JSON line per round: the Python side of bench/embed/run.sh.

  python bench/embed/throughput.py ENGINE --model-dir DIR [--onnx FILE] --sentences FILE
                                   [--count N] [--rounds R] [--threads T]

ENGINE:
  ort         ONNX Runtime on the exported model (bench/embed/export_onnx.py), each batch padded
              to its longest text: the fastest way to run it with ONNX Runtime.
  ort-chroma  the same, as Chroma's default function runs it (1.5.9's ONNXMiniLM_L6_V2): every
              text padded to 256 word pieces.
  st          sentence-transformers' SentenceTransformer.encode on torch (CPU).

Tokenizing and pooling are timed with the model, as the native side does them inside embed().
"""

import argparse
import json
import os
import sys
import time


def read_sentences(path, count):
    with open(path, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f]
    if len(texts) < count:
        sys.exit(f"{count} sentences wanted, {path} has {len(texts)}")
    return texts[:count]


def ort_encoder(model_dir, onnx_path, threads, pad_to):
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, sess_options=so, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.enable_truncation(max_length=256)
    if pad_to:
        tok.enable_padding(pad_id=0, pad_token="[PAD]", length=pad_to)
    else:
        tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(batch):
        enc = tok.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (out * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    return encode, f"onnxruntime {ort.__version__}"


def st_encoder(model_dir, threads):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = 256

    def encode(batch):
        return model.encode(batch, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)

    return encode, f"torch {torch.__version__}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine", choices=["ort", "ort-chroma", "st"])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--onnx")
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--count", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    texts = read_sentences(a.sentences, a.count)
    if a.engine == "st":
        encode, version = st_encoder(a.model_dir, a.threads)
    else:
        if not a.onnx:
            sys.exit("--onnx FILE is needed (bench/embed/export_onnx.py writes it)")
        encode, version = ort_encoder(a.model_dir, a.onnx, a.threads, 256 if a.engine == "ort-chroma" else None)
    encode(texts[:64])  # warm-up
    for r in range(a.rounds):
        t0 = time.perf_counter()
        for i in range(0, len(texts), 32):
            encode(texts[i:i + 32])
        secs = time.perf_counter() - t0
        print(json.dumps({"engine": a.engine, "round": r, "threads": a.threads, "batch": 32, "sentences": len(texts),
                          "seconds": secs, "per_second": len(texts) / secs, "version": version}), flush=True)


if __name__ == "__main__":
    main()
