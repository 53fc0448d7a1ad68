"""Hybrid Stream Mixer against a parameter-matched Llama, each ratio measured in one run.

    python benchmarks/bench_stream_mixer.py train    --contexts 1024 4096     # 1. training tokens/s (+ 4. MFU)
    python benchmarks/bench_stream_mixer.py forward  --contexts 512 1024 ...  # 2. forward time vs T
    python benchmarks/bench_stream_mixer.py generate --contexts 256 ... 8192  # 3. decode tokens/s and cache memory
    python benchmarks/bench_stream_mixer.py chunk                             # chunk_size choice, chunked vs reference

The Llama has the hybrid's depth, width and attention heads; its MLP width is solved so both have the same
parameter count, so their dense work per token is equal and the difference is attention's cost. Every
comparison prints the FLOP-ideal ratio (Llama FLOPs/token over hybrid FLOPs/token) beside the achieved one.
Times are CPU seconds of this process on one thread (see ``clock``). ``--scale reference`` runs the
published configuration; the default ``small`` (width 256, 16 layers, attention at 8, 32 streams of 32,
vocabulary 4096) keeps the 15:1 mixer:attention structure at a size a shared CPU can time.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from nestling.models.stream_mixer import StreamMixerCache, StreamMixerConfig, StreamMixerForCausalLM
from nestling.models.stream_mixer.modeling_stream_mixer import StreamMixer

# On one thread, this process's CPU time is the time the work takes with the core to itself: other users of a
# shared machine then slow the wall clock but not the measurement. More threads fall back to the wall clock.
clock = time.process_time

SCALES = {
    "reference": dict(),
    "small": dict(hidden_size=256, intermediate_size=704, num_hidden_layers=16, attention_layers=[8], n_streams=32,
                  stream_dim=32, n_read_heads=4, num_attention_heads=4, head_dim=64, vocab_size=4096),
}


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def build_pair(scale: str, max_ctx: int, chunk_size: int, prefill_segment: int | None = None):
    """(hybrid, llama) with equal parameter counts (to within one MLP column per layer)."""
    extra = {} if prefill_segment is None else dict(prefill_segment=prefill_segment)
    cfg = StreamMixerConfig(**SCALES[scale], chunk_size=chunk_size, max_position_embeddings=max(max_ctx, 1024),
                            **extra)
    hybrid = StreamMixerForCausalLM(cfg)
    D, L = cfg.hidden_size, cfg.num_hidden_layers

    def llama(width):
        return LlamaConfig(vocab_size=cfg.vocab_size, hidden_size=D, intermediate_size=width, num_hidden_layers=L,
                           num_attention_heads=cfg.num_attention_heads, head_dim=cfg.head_dim,
                           max_position_embeddings=max(max_ctx, 1024), tie_word_embeddings=True,
                           rms_norm_eps=cfg.rms_norm_eps)

    with torch.device("meta"):
        base = n_params(LlamaForCausalLM(llama(1)))
    width = round(1 + (n_params(hybrid) - base) / (3 * D * L))
    return hybrid, LlamaForCausalLM(llama(width))


def flops_per_token(model, T: int, train: bool) -> float:
    """6N (2N forward only) plus causal attention score/value work and the mixers' state and read work.

    Attention per layer and token, forward: QK^T and AV over T/2 keys on average = 2 * 2 * (nh*hd) * T / 2.
    Mixer per layer and token, forward, as the chunked form executes it: the (C x C) intra-chunk matmul
    2*C*M*Dv, the chunk-carry matmul 2*M*Dv*T/C^2, the read 2 * 2*H*M*Dv. Backward is twice the forward.
    """
    cfg = model.config
    mult = 3 if train else 1
    total = 2 * mult * n_params(model)
    attn_width = cfg.num_attention_heads * cfg.head_dim
    if isinstance(model, LlamaForCausalLM):
        return total + mult * cfg.num_hidden_layers * 2 * attn_width * T
    n_attn = len(cfg.attention_layers)
    C = min(cfg.chunk_size, T)
    M, Dv, H = cfg.n_streams, cfg.stream_dim, cfg.n_read_heads
    mixer = 2 * C * M * Dv + 2 * M * Dv * T / C**2 + 4 * H * M * Dv
    return total + mult * (n_attn * 2 * attn_width * T + (cfg.num_hidden_layers - n_attn) * mixer)


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    """Measured fp32 matmul FLOP/s of this machine (best of reps), the MFU denominator."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = clock()
        a @ b
        best = min(best, clock() - t)
    return 2 * n**3 / best


def time_train(model, B: int, T: int, steps: int) -> float:
    """Tokens/s of forward + backward + AdamW step, after one warm-up step."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    x = torch.randint(0, model.config.vocab_size, (B, T))

    def step():
        loss = model(x, labels=x, use_cache=False).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    t = clock()
    for _ in range(steps):
        step()
    return B * T * steps / (clock() - t)


def cmd_train(args):
    hybrid, llama = build_pair(args.scale, max(args.contexts), args.chunk_size)
    peak = matmul_peak()
    print(f"params hybrid={n_params(hybrid):,} llama={n_params(llama):,} (llama MLP {llama.config.intermediate_size})")
    print(f"fp32 matmul peak {peak / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} thread(s))")
    for T in args.contexts:
        B = max(1, args.batch_tokens // T)
        steps = args.steps if T <= 2048 else max(1, args.steps // 2)
        tps = {name: time_train(m, B, T, steps) for name, m in (("hybrid", hybrid), ("llama", llama))}
        fl = {name: flops_per_token(m, T, True) for name, m in (("hybrid", hybrid), ("llama", llama))}
        ideal, achieved = fl["llama"] / fl["hybrid"], tps["hybrid"] / tps["llama"]
        print(f"T={T:6d} B={B} tok/s hybrid={tps['hybrid']:8.1f} llama={tps['llama']:8.1f} "
              f"speed-up={achieved:.2f}x ideal={ideal:.2f}x achieved/ideal={achieved / ideal:.2f} "
              f"MFU hybrid={fl['hybrid'] * tps['hybrid'] / peak:.1%} llama={fl['llama'] * tps['llama'] / peak:.1%}")


@torch.no_grad()
def time_forward(model, T: int, reps: int) -> float:
    model.eval()
    x = torch.randint(0, model.config.vocab_size, (1, T))
    model(x, use_cache=False)
    best = float("inf")
    for _ in range(reps):
        t = clock()
        model(x, use_cache=False)
        best = min(best, clock() - t)
    return best


def cmd_forward(args):
    hybrid, llama = build_pair(args.scale, max(args.contexts), args.chunk_size, args.prefill_segment)
    print(f"hybrid prefill_segment={hybrid.config.prefill_segment} (0: one pass over the whole context)")
    times = {}
    for T in args.contexts:
        h = time_forward(hybrid, T, args.steps)
        lt = time_forward(llama, T, args.steps) if T <= args.llama_max else float("nan")
        times[T] = (h, lt)
        ideal = flops_per_token(llama, T, False) / flops_per_token(hybrid, T, False)
        print(f"T={T:6d} forward s hybrid={h:8.3f} llama={lt:8.3f} speed-up={lt / h:.2f}x ideal={ideal:.2f}x")
    if 1024 in times and 8192 in times:
        # The hybrid's one attention layer is quadratic too: its FLOP-ideal ratio is a little above 8x.
        ideal = {m: 8 * flops_per_token(m, 8192, False) / flops_per_token(m, 1024, False) for m in (hybrid, llama)}
        print(f"T=8192/T=1024 time: hybrid {times[8192][0] / times[1024][0]:.2f}x (FLOP-ideal {ideal[hybrid]:.2f}x) "
              f"llama {times[8192][1] / times[1024][1]:.2f}x (FLOP-ideal {ideal[llama]:.2f}x); linear = 8x")


def cache_bytes(cache) -> tuple[int, int]:
    """(KV bytes, stream-state bytes) held by a cache."""
    kv = state = 0
    for layer in cache.layers:
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            kv += t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0
        for t in getattr(layer, "recurrent_states", {}).values():
            state += t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0
    return kv, state


@torch.no_grad()
def time_decode(model, ctx: int, new: int):
    """Greedy decode tokens/s after a ctx-token prefill, and the cache's bytes at the end."""
    from transformers import DynamicCache

    model.eval()
    x = torch.randint(0, model.config.vocab_size, (1, ctx))
    cache = StreamMixerCache(model.config) if isinstance(model, StreamMixerForCausalLM) else DynamicCache()
    out = model(x, past_key_values=cache, use_cache=True, logits_to_keep=1)
    tok = out.logits[:, -1:].argmax(-1)
    t = clock()
    for _ in range(new):
        out = model(tok, past_key_values=cache, use_cache=True)
        tok = out.logits[:, -1:].argmax(-1)
    return new / (clock() - t), cache_bytes(cache)


def cmd_generate(args):
    hybrid, llama = build_pair(args.scale, max(args.contexts) + args.new_tokens, args.chunk_size)
    for ctx in args.contexts:
        (h, hb), (lt, lb) = time_decode(hybrid, ctx, args.new_tokens), time_decode(llama, ctx, args.new_tokens)
        print(f"ctx={ctx:5d} decode tok/s hybrid={h:7.1f} llama={lt:7.1f} speed-up={h / lt:.2f}x | cache MiB "
              f"hybrid={sum(hb) / 2**20:6.2f} (stream states {hb[1] / 2**20:.3f}, KV {hb[0] / 2**20:.2f}) "
              f"llama={sum(lb) / 2**20:7.2f}")


def cmd_chunk(args):
    """Forward+backward time of one mixer layer per chunk size (and the step-by-step reference)."""
    T = max(args.contexts)
    x = torch.randn(1, T, SCALES[args.scale].get("hidden_size", 512), requires_grad=True)
    cfg = dict(SCALES[args.scale], max_position_embeddings=T)
    for C in (8, 16, 32, 64, 128, 256, "reference"):
        impl = "reference" if C == "reference" else "chunked"
        layer = StreamMixer(StreamMixerConfig(**cfg, chunk_size=64 if impl == "reference" else C, mixer_impl=impl), 0)
        layer(x).sum().backward()
        best = float("inf")
        for _ in range(args.steps):
            t = clock()
            layer(x).sum().backward()
            best = min(best, clock() - t)
        print(f"T={T} chunk={C!s:>9} mixer layer fwd+bwd {best * 1e3:8.1f} ms")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["train", "forward", "generate", "chunk"])
    p.add_argument("--scale", choices=list(SCALES), default="small")
    p.add_argument("--contexts", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--batch-tokens", type=int, default=4096)
    p.add_argument("--chunk-size", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--prefill-segment", type=int, default=None,
                   help="hybrid segment-wise no-grad forward length (forward; default: the config's, 0 = off)")
    p.add_argument("--llama-max", type=int, default=8192, help="longest context timed for the Llama (forward)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.threads > 1:
        global clock
        clock = time.perf_counter
    torch.manual_seed(0)
    {"train": cmd_train, "forward": cmd_forward, "generate": cmd_generate, "chunk": cmd_chunk}[args.what](args)


if __name__ == "__main__":
    main()
