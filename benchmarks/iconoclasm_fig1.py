"""IconoCLaSM Figure 1: message length l(m) over information content h(x), against T.

    .venv/bin/python benchmarks/iconoclasm_fig1.py [--text FILE] [--lengths 100,1000,...]

h(x) = -log2 P(x) by the exact forward algorithm (float64) under the very integer tables the
coder uses; l(m) is the exact bit length of the rANS message (including its 64-bit head and
the one-byte payload header is NOT counted: this is the coder alone). Two columns as in the
paper: data sampled from the model (the shipped text HMM, and a Dirichlet K=64 model over 64
symbols like the paper's first experiment), and real held-out text under the shipped model, plain, with the
additive adaptive emissions (variant 1), with variant 2's blend and match model and with
variant 3's context-mixing mixture (h(x) then under that model, exactly as coded), and that
mixture with variant 4's K = 16 HMM.
Expected: the ratio tends to 1, within 1% by T = 16k.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from archiver.codecs import text as text_codec
from archiver.models._hmm import HmmCoder, message_is_initial
from archiver.models.hmm import load_shipped
from archiver.models.hmm_params import random_tables
from archiver.models.hmm_stats import information_content, information_content_mixed, sample
from cython_ans import Message
from needs_data import MAKE_TEXT, require

DEFAULT_TEXT = Path("data/text/corpus/valid/prose/persuasion.txt")


def message_bits(coder: HmmCoder, data: bytes) -> int:
    msg = Message(seed=0)
    coder.encode(data, msg)
    back = Message.from_bytes(msg.to_bytes(), seed=0)
    assert coder.decode(back, len(data)) == data and message_is_initial(back)
    return msg.bit_length()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    ap.add_argument("--lengths", default="10,30,100,300,1000,3000,10000,16384,30000")
    args = ap.parse_args()
    require(args.text, MAKE_TEXT)
    lengths = [int(v) for v in args.lengths.split(",")]
    shipped, digest = load_shipped()
    small, _ = load_shipped(text_codec.WEIGHTS[text_codec.MIXED_SMALL])
    paper = random_tables(64, 64, seed=0, n_symbols=64)
    text = args.text.read_bytes()
    v1 = dict(orders=text_codec.CONTEXT_ORDERS, weights=text_codec.CONTEXT_WEIGHTS)
    c = text_codec.TEXT._model()[0][text_codec.BLEND]        # the shipped variant 2 settings
    v2 = dict(orders=c.orders, weights=c.weights, blend=c.blend, match_min=c.match_min,
              match_weights=c.match_weights, match_rweights=c.match_rweights)
    cases = [("sampled, Dirichlet K=64", paper, sample(paper, max(lengths), seed=1), {}),
             (f"sampled, shipped K={shipped.K}", shipped, sample(shipped, max(lengths), seed=2),
              {}),
             (f"real text ({args.text.name})", shipped, text, {}),
             ("real text, variant 1", shipped, text, v1),
             ("real text, variant 2", shipped, text, v2),
             ("real text, variant 3", shipped, text, dict(cm_lambda=text_codec.MIXED_LAMBDA)),
             ("real text, variant 4", small, text, dict(cm_lambda=text_codec.MIXED_LAMBDA))]
    print(f"model {digest[:16]}...  ratio = l(m) / h(x)")
    print(f"{'T':>7} | " + " | ".join(f"{name:>30}" for name, _, _, _ in cases))
    coders = [HmmCoder(t, **c) for _, t, _, c in cases]
    for T in lengths:
        cells = []
        for (name, tables, data, c), coder in zip(cases, coders):
            x = data[:T]
            bits = message_bits(coder, x)
            h = (information_content_mixed(tables, x, coder) if "cm_lambda" in c else
                 information_content(tables, x, **c))
            cells.append(f"{bits / h:8.4f} ({bits / len(x):5.3f} vs {h / len(x):5.3f} b/B)")
        print(f"{T:>7} | " + " | ".join(f"{c:>30}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
