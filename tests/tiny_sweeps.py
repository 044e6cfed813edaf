"""The smallest real sweep the crash and monitor tests train: four runs of 3k and 12k
parameters on 1e4 and 4e4 tokens, about a second each on one thread."""

TINY = """
kind = "grid"
params = [3e3, 1.2e4]
tokens = [1e4, 4e4]
[overrides]
n_ctx = 32
eval_tokens = 2048
batch_tokens = 512
"""
