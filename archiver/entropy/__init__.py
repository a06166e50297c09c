"""Python side of the rANS coder: model families with array parameters and THE leaky
quantiser. Every function here agrees exactly with what cython_ans.Message codes."""
from archiver.entropy.logistic import (logistic_cdf, logistic_codelength, logistic_freqs,
                                       masked_logistic_codelength)
from archiver.entropy.quantize import quantize_cdf, quantize_freqs

__all__ = ["logistic_cdf", "logistic_codelength", "logistic_freqs", "masked_logistic_codelength",
           "quantize_cdf", "quantize_freqs"]
