#!/usr/bin/env python3
"""Benchmark llama.cpp (PyPI llama-cpp-python, CPU) prefill and greedy decode speed on a GGUF file,
as the reference point for memento's own engine.

For each context length L, a deterministic synthetic prompt of exactly L tokens (a fixed English
filler text, tokenized without BOS, repeated and cut to L ids) is prefilled in one eval (llama.cpp
splits it into n_batch chunks), then N further tokens are decoded one eval at a time, each the
argmax of the previous logits. Prefill and decode are timed separately; decode time covers only
the N single-token steps. The KV cache is cleared before every measurement, and a short warm-up
eval (page-faulting the mmapped weights, starting the thread pool) runs before the first one.

    pip install llama-cpp-python numpy
    python scripts/bench_llamacpp.py --model ~/.cache/memento/models/SmolLM2-135M-Instruct.Q4_1.gguf
    python scripts/bench_llamacpp.py --model M.gguf --threads 2 --contexts 64,1024 --json

llama.cpp's extra CPU weight buffers (AMX tiles, weight repacking) are off unless --extra-bufts
is given: with llama-cpp-python 0.3.36 on an AMX-capable CPU, ggml's AMX matmul for Q4_1 weights
segfaults in llama_decode. Flash attention is off unless --flash-attn is given (the
llama-cpp-python default).
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

import numpy as np

import llama_cpp
import llama_cpp.llama_cpp as llama_cpp_c
from llama_cpp import Llama

FILLER = (
    "The committee met on a grey Tuesday morning to review the quarterly figures. Revenue had "
    "grown by 4.2 percent, while costs in the northern warehouses rose faster than expected. "
    "After a long discussion about shipping routes, fuel prices and the new inventory system, "
    "they agreed to revisit the budget in three weeks, once the audit of 1,250 invoices was done. "
    "Meanwhile, the engineering team reported that the pump in building C failed twice; a "
    "replacement was ordered, and a temporary bypass kept the cooling loop running overnight. "
)

N_BATCH = 512
CTX_SLACK = 16


def disable_extra_bufts():
    """Llama() exposes no switch for llama_model_params.use_extra_bufts; patch the defaults."""
    orig = llama_cpp_c.llama_model_default_params

    def params():
        p = orig()
        p.use_extra_bufts = False
        return p

    llama_cpp_c.llama_model_default_params = params


def synthetic_ids(llm, n):
    base = llm.tokenize(FILLER.encode("utf-8"), add_bos=False, special=False)
    reps = n // len(base) + 1
    return (base * reps)[:n]


def last_argmax(llm):
    ptr = llama_cpp_c.llama_get_logits_ith(llm.ctx, -1)
    logits = np.ctypeslib.as_array(
        ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(llm.n_vocab(),))
    return int(np.argmax(logits))


def clear(llm):
    llm.reset()  # n_tokens = 0; eval() then also drops KV positions >= 0
    llm._ctx.kv_cache_clear()


def run_once(llm, ids, n_decode):
    """(prefill_s, decode_s, prefill_cpu_s, decode_cpu_s): wall and whole-process CPU seconds."""
    clear(llm)
    c0, t0 = time.process_time(), time.perf_counter()
    llm.eval(ids)
    t1, c1 = time.perf_counter(), time.process_time()
    tok = last_argmax(llm)
    c2, t2 = time.process_time(), time.perf_counter()
    for _ in range(n_decode):
        llm.eval([tok])
        tok = last_argmax(llm)
    t3, c3 = time.perf_counter(), time.process_time()
    assert llm.n_tokens == len(ids) + n_decode
    return t1 - t0, t3 - t2, c1 - c0, c3 - c2


def bench_context(args, L):
    n_ctx = L + args.decode_tokens + CTX_SLACK
    llm = Llama(
        args.model,
        n_ctx=n_ctx,
        n_batch=N_BATCH,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=0,
        seed=0,
        flash_attn=args.flash_attn,
        logits_all=False,
        verbose=False,
    )
    try:
        ids = synthetic_ids(llm, L)
        assert len(ids) == L
        # Warm-up: a short prefill and a few decode steps, then a clean KV cache.
        run_once(llm, ids[: min(L, 32)], 4)
        runs = [run_once(llm, ids, args.decode_tokens) for _ in range(args.repeats)]
        clear(llm)
    finally:
        llm.close()
    best_p = min(runs, key=lambda r: r[0])
    best_d = min(runs, key=lambda r: r[1])
    prefill_s, decode_s = best_p[0], best_d[1]
    res = {
        "context": L,
        "n_ctx": n_ctx,
        "decode_tokens": args.decode_tokens,
        "prefill_tok_s": L / prefill_s,
        "decode_tok_s": args.decode_tokens / decode_s,
        "prefill_s": prefill_s,
        "decode_s": decode_s,
        # Process CPU time / (wall time * threads). Well below 1 means the threads were
        # descheduled (another load on the machine) and the timing is not trustworthy.
        "prefill_cpu_util": best_p[2] / (prefill_s * args.threads),
        "decode_cpu_util": best_d[3] / (decode_s * args.threads),
    }
    if args.repeats > 1:
        res["prefill_s_median"] = statistics.median(r[0] for r in runs)
        res["decode_s_median"] = statistics.median(r[1] for r in runs)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="GGUF file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--contexts", default="64,1024,4096,7168",
                    help="comma-separated prompt lengths in tokens")
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1,
                    help="measurements per context; the fastest is reported")
    ap.add_argument("--flash-attn", action="store_true")
    ap.add_argument("--extra-bufts", action="store_true",
                    help="allow AMX / repacked weight buffers (may crash, see docstring)")
    ap.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    args = ap.parse_args()
    contexts = [int(c) for c in args.contexts.split(",") if c.strip()]
    if args.decode_tokens < 1 or args.threads < 1 or args.repeats < 1 or min(contexts) < 1:
        ap.error("--decode-tokens, --threads, --repeats and every context must be >= 1")
    if not args.extra_bufts:
        disable_extra_bufts()

    results = []
    for L in contexts:
        r = bench_context(args, L)
        results.append(r)
        print(f"ctx {L:>6}: prefill {r['prefill_tok_s']:9.1f} tok/s ({r['prefill_s']:.3f} s, "
              f"cpu {r['prefill_cpu_util']:.2f})  decode {r['decode_tok_s']:7.1f} tok/s "
              f"({r['decode_s']:.3f} s, cpu {r['decode_cpu_util']:.2f})",
              file=sys.stderr, flush=True)
        if min(r["prefill_cpu_util"], r["decode_cpu_util"]) < 0.9:
            print(f"warning: ctx {L}: CPU utilisation below 0.9; the machine looks busy",
                  file=sys.stderr, flush=True)

    out = {
        "engine": "llama.cpp",
        "version": llama_cpp.__version__,
        "model": os.path.basename(args.model),
        "threads": args.threads,
        "n_batch": N_BATCH,
        "flash_attn": args.flash_attn,
        "extra_bufts": args.extra_bufts,
        "repeats": args.repeats,
        "results": results,
    }
    if args.json:
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    print(f"llama.cpp {out['version']}  {out['model']}  threads={args.threads}  "
          f"decode_tokens={args.decode_tokens}  flash_attn={args.flash_attn}")
    print(f"{'context':>8} {'prefill tok/s':>14} {'prefill s':>10} {'decode tok/s':>13} "
          f"{'decode s':>9} {'cpu util p/d':>13}")
    for r in results:
        print(f"{r['context']:>8} {r['prefill_tok_s']:>14.1f} {r['prefill_s']:>10.3f} "
              f"{r['decode_tok_s']:>13.1f} {r['decode_s']:>9.3f} "
              f"{r['prefill_cpu_util']:>6.2f}/{r['decode_cpu_util']:.2f}")


if __name__ == "__main__":
    main()
