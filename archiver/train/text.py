"""EM training of the byte-level HMM for the text codec (torch, CPU, one thread).

    python -m archiver.train.text train  [--states 256] [--hours 1.0] [--run runs/text]
                                         [--resume-from checkpoints/text-hmm-ckpt.pt]
    python -m archiver.train.text prune  --keep 16 --run runs/text   # top-k transitions per state
    python -m archiver.train.text export --run runs/text             # -> weights/text-hmm.npz

Stepwise (online) EM, Liang & Klein 2009: each minibatch of random windows gives expected
sufficient statistics from a scaled forward-backward pass; the running statistics move toward
them with step size (k + 2) ** -0.7 and the parameters are their normalisation. This reaches a
good model in far fewer passes over the data than batch EM. Zeros in the transition matrix stay
zero under EM, so pruning to a sparse graph and continuing to train keeps the graph.

Checkpoints (`RUN/ckpt.pt`, rewritten atomically every few minutes) hold the statistics, the
step count and the RNG state: rerunning `train` with the same --run resumes where it stopped;
`--resume-from PATH` starts a fresh run directory from a copied checkpoint (the committed one).
Validation bits/byte per kind of text (held-out books/files) is logged to `RUN/log.tsv`.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

KIND_WEIGHTS = {"prose": 0.35, "code": 0.2, "techdoc": 0.2, "markup": 0.15, "fortunes": 0.1}
PROB_FLOOR = 1e-7        # keeps every parameter positive in float32 (the exporter is leaky anyway)


def load_kinds(corpus: Path, split: str) -> dict[str, np.ndarray]:
    """One byte array per kind of text: its files concatenated in name order."""
    out = {}
    for kind in KIND_WEIGHTS:
        files = sorted((corpus / split / kind).iterdir())
        out[kind] = np.frombuffer(b"".join(f.read_bytes() for f in files), dtype=np.uint8)
    return out


def sample_windows(kinds: dict[str, np.ndarray], batch: int, length: int,
                   gen: np.random.Generator) -> torch.Tensor:
    names = list(KIND_WEIGHTS)
    probs = np.array([KIND_WEIGHTS[k] for k in names])
    which = gen.choice(len(names), size=batch, p=probs / probs.sum())
    rows = []
    for w in which:
        data = kinds[names[w]]
        start = gen.integers(0, len(data) - length)
        rows.append(data[start:start + length])
    return torch.from_numpy(np.stack(rows).astype(np.int64))


class Hmm:
    """Parameters as float32 tensors: pi (K,), A (K, K) rows = P(z_t | z_t-1), E (K, 256)."""

    def __init__(self, pi, A, E):
        self.pi, self.A, self.E = pi, A, E

    @staticmethod
    def from_contexts(sample: np.ndarray, k: int, n_single: int = 96, eps: float = 0.05) -> "Hmm":
        """A trigram-like start for EM: states are frequent byte pairs (x_t-1, x_t), frequent
        single bytes x_t, and one state for all rare bytes; hard counts on `sample` give the
        transitions, emissions are one byte mixed with eps of the unigram. Random starts leave
        the states exchangeable and stepwise EM needs a long time to tell them apart."""
        x = sample.astype(np.int64)
        n_single = min(n_single, k * 3 // 8)      # small K: keep room for pairs and the rest
        uni = np.bincount(x, minlength=256).astype(np.float64) + 1
        singles = np.argsort(-uni)[:n_single]
        pairs = np.bincount(x[:-1] * 256 + x[1:], minlength=65536)
        pairs[(~np.isin(np.arange(65536) % 256, singles))] = 0
        top_pairs = np.argsort(-pairs)[:k - n_single - 1]
        state_of_single = np.full(256, k - 1)
        state_of_single[singles] = np.arange(n_single)
        state_of_pair = state_of_single[np.arange(65536) % 256].copy()
        state_of_pair[top_pairs] = n_single + np.arange(len(top_pairs))
        z = np.empty(len(x), dtype=np.int64)
        z[0] = state_of_single[x[0]]
        z[1:] = state_of_pair[x[:-1] * 256 + x[1:]]
        A = np.bincount(z[:-1] * k + z[1:], minlength=k * k).reshape(k, k) + 0.01
        byte_of_state = np.concatenate([singles, top_pairs % 256])
        E = np.tile(uni / uni.sum() * eps, (k, 1))
        E[np.arange(len(byte_of_state)), byte_of_state] += 1 - eps
        rare = uni.copy()
        rare[singles] = 0
        E[k - 1] = rare / rare.sum() * (1 - eps) + uni / uni.sum() * eps
        pi = np.bincount(z, minlength=k) + 1.0
        t = lambda a: torch.from_numpy(a / a.sum(-1, keepdims=True)).float()
        return Hmm(t(pi), t(A), t(E))

    @staticmethod
    def random(k: int, unigram: torch.Tensor, gen: torch.Generator) -> "Hmm":
        A = torch.rand(k, k, generator=gen) + 0.5
        E = unigram[None, :] * (torch.rand(k, 256, generator=gen) * 4 + 0.1)
        return Hmm(torch.full((k,), 1.0 / k), A / A.sum(1, keepdim=True),
                   E / E.sum(1, keepdim=True))

    def forward_backward(self, x: torch.Tensor, need_stats: bool = True):
        """Scaled forward-backward on x (B, T). Returns (log2-likelihood total, stats or None)."""
        B, T = x.shape
        A, E = self.A, self.E
        Et = E.t()                                   # (256, K)
        emit = Et[x]                                  # (B, T, K)
        alpha = torch.empty(B, T, self.A.shape[0])
        scale = torch.empty(B, T)
        a = self.pi[None, :] * emit[:, 0]
        for t in range(T):
            if t:
                a = (a @ A) * emit[:, t]
            c = a.sum(1, keepdim=True)
            a = a / c
            alpha[:, t] = a
            scale[:, t] = c[:, 0]
        loglik = torch.log2(scale).sum().item()
        if not need_stats:
            return loglik, None
        beta = torch.empty_like(alpha)
        b = torch.ones(B, A.shape[0])
        beta[:, T - 1] = b
        for t in range(T - 1, 0, -1):
            b = ((emit[:, t] * b) @ A.t()) / scale[:, t:t + 1]
            beta[:, t - 1] = b
        gamma = alpha * beta                          # (B, T, K), rows sum to 1
        # Transition statistics: sum_t alpha_{t-1}^T (emit_t * beta_t / c_t), times A.
        right = (emit[:, 1:] * beta[:, 1:]) / scale[:, 1:, None]
        xi = (alpha[:, :-1].reshape(-1, A.shape[0]).t() @ right.reshape(-1, A.shape[0])) * A
        em = torch.zeros(256, A.shape[0])
        em.index_add_(0, x.reshape(-1), gamma.reshape(-1, A.shape[0]))
        return loglik, (gamma[:, 0].sum(0), xi, em.t())


def normalise(stats, mask: torch.Tensor | None) -> Hmm:
    s_pi, s_A, s_E = stats
    pi = s_pi + PROB_FLOOR * s_pi.sum()
    A = s_A + PROB_FLOOR * s_A.sum(1, keepdim=True)
    if mask is not None:
        A = A * mask
    E = s_E + PROB_FLOOR * s_E.sum(1, keepdim=True)
    return Hmm(pi / pi.sum(), A / A.sum(1, keepdim=True), E / E.sum(1, keepdim=True))


def evaluate(hmm: Hmm, valid: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {}
    for kind, x in valid.items():
        ll, _ = hmm.forward_backward(x, need_stats=False)
        out[kind] = -ll / x.numel()
    out["mean"] = sum(out[k] * KIND_WEIGHTS[k] for k in KIND_WEIGHTS) / sum(KIND_WEIGHTS.values())
    return out


def valid_windows(kinds: dict[str, np.ndarray], count: int, length: int) -> dict[str, torch.Tensor]:
    gen = np.random.default_rng(1234)
    out = {}
    for kind, data in kinds.items():
        starts = gen.integers(0, len(data) - length, size=count)
        out[kind] = torch.from_numpy(np.stack([data[s:s + length] for s in starts]).astype(np.int64))
    return out


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def cmd_train(args) -> int:
    torch.set_num_threads(1)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    ckpt_path = run / "ckpt.pt"
    train = load_kinds(Path(args.corpus), "train")
    valid = valid_windows(load_kinds(Path(args.corpus), "valid"), args.valid_count, args.valid_len)
    # The run's own checkpoint wins over --resume-from, so restarting a resumed run continues it.
    source = ckpt_path if ckpt_path.exists() else args.resume_from
    if source is not None:
        if not Path(source).is_file():
            sys.exit(f"--resume-from {source}: no such checkpoint file")
        ck = torch.load(source, weights_only=False)
        stats, step, mask = ck["stats"], ck["step"], ck.get("mask")
        gen = np.random.default_rng()
        gen.bit_generator.state = ck["rng"]
        print(f"resuming {source} at step {step}", flush=True)
    else:
        gen = np.random.default_rng(0)
        sample = sample_windows(train, 4096, 1024, gen).numpy().reshape(-1)
        hmm = Hmm.from_contexts(sample.astype(np.uint8), args.states)
        stats, step, mask = (hmm.pi, hmm.A, hmm.E), 0, None
    hmm = normalise(stats, mask)
    log = open(run / "log.tsv", "a")
    deadline = time.time() + args.hours * 3600
    last_save = time.time()
    t0, bytes_seen, train_bits = time.time(), 0, 0.0
    while time.time() < deadline and (args.steps is None or step < args.steps):
        x = sample_windows(train, args.batch, args.length, gen)
        ll, batch_stats = hmm.forward_backward(x)
        n = x.numel()
        eta = (step + 1) ** -args.decay     # 1 at the first step: the start is replaced
        stats = tuple((1 - eta) * s + eta * (b / n) for s, b in zip(stats, batch_stats))
        hmm = normalise(stats, mask)
        step += 1
        bytes_seen += n
        train_bits += -ll
        if step % args.eval_every == 0 or time.time() >= deadline:
            ev = evaluate(hmm, valid)
            rate = bytes_seen / (time.time() - t0)
            line = (f"{step}\t{train_bits / bytes_seen:.4f}\t" +
                    "\t".join(f"{k}={v:.4f}" for k, v in ev.items()) + f"\t{rate / 1e3:.0f}KB/s")
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
            t0, bytes_seen, train_bits = time.time(), 0, 0.0
        if time.time() - last_save > args.save_every or time.time() >= deadline:
            save_atomic({"stats": stats, "step": step, "mask": mask,
                         "rng": gen.bit_generator.state, "states": stats[1].shape[0]}, ckpt_path)
            last_save = time.time()
    save_atomic({"stats": stats, "step": step, "mask": mask,
                 "rng": gen.bit_generator.state, "states": stats[1].shape[0]}, ckpt_path)
    return 0


def cmd_prune(args) -> int:
    """Keep the `keep` most used successors of every state; EM keeps the others at zero."""
    path = Path(args.run) / "ckpt.pt"
    ck = torch.load(path, weights_only=False)
    s_A = ck["stats"][1]
    top = torch.topk(s_A, args.keep, dim=1).indices
    mask = torch.zeros_like(s_A)
    mask.scatter_(1, top, 1.0)
    if ck.get("mask") is not None:
        mask = mask * ck["mask"]
    ck["mask"] = mask
    ck["stats"] = (ck["stats"][0], s_A * mask, ck["stats"][2])
    save_atomic(ck, path)
    print(f"{path}: kept {int(mask.sum(1).max())} successors per state", flush=True)
    return 0


def cmd_export(args) -> int:
    from archiver.models.hmm_params import export_npz
    ck = torch.load(Path(args.run) / "ckpt.pt", weights_only=False)
    hmm = normalise(ck["stats"], ck.get("mask"))
    out = Path(args.out)
    export_npz(hmm.pi.double().numpy(), hmm.A.double().numpy(), hmm.E.double().numpy(), out,
               degree=args.degree)
    print(f"wrote {out} from step {ck['step']}; run `python -m archiver.models.weights`", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the text HMM by stepwise EM.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--run", default="runs/text")
    t.add_argument("--corpus", default="data/text/corpus")
    t.add_argument("--states", type=int, default=256)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--length", type=int, default=512)
    t.add_argument("--decay", type=float, default=0.7)
    t.add_argument("--hours", type=float, default=1.0)
    t.add_argument("--steps", type=int, default=None)
    t.add_argument("--eval-every", type=int, default=50)
    t.add_argument("--valid-count", type=int, default=8)
    t.add_argument("--valid-len", type=int, default=4096)
    t.add_argument("--save-every", type=float, default=120.0)
    t.add_argument("--resume-from", default=None, metavar="PATH",
                   help="start from this checkpoint (e.g. checkpoints/text-hmm-ckpt.pt) when "
                        "RUN/ckpt.pt does not exist yet; RUN/ckpt.pt is written as usual")
    p = sub.add_parser("prune")
    p.add_argument("--run", default="runs/text")
    p.add_argument("--keep", type=int, required=True)
    e = sub.add_parser("export")
    e.add_argument("--run", default="runs/text")
    e.add_argument("--out", default="weights/text-hmm.npz")
    e.add_argument("--degree", type=int, default=None,
                   help="successors kept per state (default: all nonzero after pruning)")
    args = ap.parse_args(argv)
    return {"train": cmd_train, "prune": cmd_prune, "export": cmd_export}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
