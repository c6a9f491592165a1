#!/usr/bin/env python3
"""Reference embeddings for crates/embed/tests/reference.rs, computed another way: Hugging Face's
`tokenizers` (from the model's tokenizer.json, truncation at 256 pieces as Chroma's default
function sets it) and the numpy forward pass of bench/make_dataset.py (padded batches with an
attention mask, A&S erf), float32.

usage: python tests/embed/reference.py SENTENCES.json MODEL_DIR OUT.json
Writes {"ids": [[int]], "vectors": [[float]]}, one entry per text. Needs the `bench` venv.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from make_dataset import MiniLM  # noqa: E402


def main():
    sentences_path, model_dir, out_path = sys.argv[1:4]
    with open(sentences_path, encoding="utf-8") as f:
        texts = json.load(f)
    model = MiniLM(model_dir, max_tokens=256)
    ids = [e.ids for e in model.tokenizer.encode_batch(texts)]
    # Batches of 16 texts of similar length, padded to the longest with the attention mask
    # (the encoder's own `encode` sizes batches for large corpora: here it would pad all).
    vectors = np.zeros((len(texts), model.hidden), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), 16):
        rows = order[start:start + 16]
        length = max(len(ids[i]) for i in rows)
        batch = np.zeros((len(rows), length), np.int64)
        mask = np.zeros((len(rows), length), np.float32)
        for r, i in enumerate(rows):
            batch[r, :len(ids[i])] = ids[i]
            mask[r, :len(ids[i])] = 1.0
        vectors[rows] = model.encode_batch(batch, mask)
    with open(out_path, "w") as f:
        json.dump({"ids": ids, "vectors": vectors.astype(float).tolist()}, f)


if __name__ == "__main__":
    main()
