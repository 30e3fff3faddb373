#!/usr/bin/env python3
"""HF transformers as the oracle for the GPU path, on the GPU machine.

Reads the JSON `memento gpu-check --logits-out FILE` writes (the organism's directory, the
token ids of a 64-token prefill, and memento's logits for every row on the CPU and on the
device), runs the same safetensors directory through transformers' Qwen3ForCausalLM in f32
on the GPU (TF32 off), and prints ||ours - hf|| / ||hf|| for each. Exits 1 above 1e-3.

    python3 scripts/hf_logits.py organism-logits.json
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM

BOUND = 1e-3


def main(path: str) -> int:
    doc = json.load(open(path))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(doc["model"], dtype=torch.float32)
    model = model.to(device).eval()
    ids = torch.tensor([doc["ids"]], device=device)
    with torch.no_grad():
        hf = model(ids).logits[0].double().cpu()
    failed = False
    for key in ("cpu_logits", "device_logits"):
        ours = torch.tensor(doc[key], dtype=torch.float64)
        err = ((ours - hf).norm() / hf.norm()).item()
        ok = err <= BOUND
        failed |= not ok
        print(f"hf       memento {key:<14} vs transformers {torch.__version__}/{device}: "
              f"{err:.3e}  <= {BOUND:.0e} {'ok' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
