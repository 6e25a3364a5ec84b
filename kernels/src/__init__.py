"""Memory-lean LM-head kernels: per-token log-probabilities and entropy without ``[T x V]`` logits.

Public API:
    token_logprobs_and_entropy  -- the kernel (Triton forward on CUDA, chunked torch elsewhere)
    reference_token_logprobs_and_entropy -- naive baseline, for tests and benchmarks
    score_sequences             -- per-token scores of a causal LM over a batch of sequences
    install_chunked_lm_head / ChunkedLogprobsGRPOMixin -- TRL GRPOTrainer hook
"""

from datarecipes.kernels.integration import (
    ChunkedLogprobsGRPOMixin,
    install_chunked_lm_head,
    score_sequences,
)
from datarecipes.kernels.logprobs import (
    IGNORE_INDEX,
    ChunkedLogprobEntropy,
    reference_token_logprobs_and_entropy,
    token_logprobs_and_entropy,
)

__all__ = [
    "IGNORE_INDEX",
    "ChunkedLogprobEntropy",
    "ChunkedLogprobsGRPOMixin",
    "install_chunked_lm_head",
    "score_sequences",
    "reference_token_logprobs_and_entropy",
    "token_logprobs_and_entropy",
]
