#!/usr/bin/env python3
"""Re-quantize a GGUF file with llama.cpp's own quantizer (PyPI llama-cpp-python), e.g. the
SmolLM2 Q4_1 file to Q4_K_M, the type users download most, for `memento bench decode`:

    pip install llama-cpp-python
    python scripts/quantize_gguf.py ~/.cache/memento/models/SmolLM2-135M-Instruct.Q4_1.gguf \
        /tmp/SmolLM2-135M-Instruct.Q4_K_M.gguf --type Q4_K_M

Re-quantizing an already quantized file (allow_requantize) rounds twice: the result is a real
Q4_K_M file of the same shapes, fit for speed measurements, not the best Q4_K_M of the model.
"""
import argparse
import ctypes
import sys

import llama_cpp

TYPES = {
    "Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "Q4_K_S": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_S,
    "Q5_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
    "Q6_K": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K,
    "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
    "Q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="GGUF file to read")
    ap.add_argument("output", help="GGUF file to write")
    ap.add_argument("--type", default="Q4_K_M", choices=sorted(TYPES))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = TYPES[args.type]
    params.nthread = args.threads
    params.allow_requantize = True
    rc = llama_cpp.llama_model_quantize(
        args.input.encode(), args.output.encode(), ctypes.byref(params)
    )
    if rc != 0:
        sys.exit(f"llama_model_quantize failed with {rc}")
    print(args.output)


if __name__ == "__main__":
    main()
