"""Exact stack rANS coder (Cython over a small C hot loop) and its pure-Python twin.

`Message` is the C-backed coder; `cython_ans.reference.Message` is a pure-Python twin that
produces identical words. The bitstream is specified in format_spec/rans.md.
"""
from cython_ans._rans import (LOC_FRAC_BITS, LOC_LIMIT, LOGISTIC_MAX_BINS, MAX_PRECISION,
                              SCALE_COUNT, TAIL_FLAG, UNIFORM_MAX_BINS, Message,
                              scale_index)

__all__ = ["LOC_FRAC_BITS", "LOC_LIMIT", "LOGISTIC_MAX_BINS", "MAX_PRECISION", "SCALE_COUNT",
           "TAIL_FLAG", "UNIFORM_MAX_BINS", "Message", "scale_index"]
