"""Published numbers and physical constants, each with its source.

Everything a Fermi estimate, a named law or a hardware estimate uses lives here, so a reader can
check where a number comes from in one place.
"""

# --- Units -----------------------------------------------------------------------------------
# One petaflop/s-day, the unit of Kaplan et al. (2020) and Brown et al. (2020): 1e15 * 86400.
PF_DAY_FLOPS = 1e15 * 24 * 3600  # = 8.64e19 FLOPs
SECONDS_PER_HOUR = 3600.0

# --- Published scaling laws ------------------------------------------------------------------
# Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", Approach 3 (Eq. 10).
CHINCHILLA_HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
# Besiroglu et al. (2024), "Chinchilla Scaling: A replication attempt" (arXiv:2404.10102): the
# fully converged refit of Hoffmann's own runs (summed Huber, delta 1e-3, 5 highest-loss dropped).
CHINCHILLA_EPOCH = {"E": 1.8172, "A": 477.8, "B": 2143.9, "alpha": 0.3473, "beta": 0.3672}
# Epoch's published 95% bootstrap intervals (4000 resamples), Table 1 of the same paper.
CHINCHILLA_EPOCH_INTERVALS = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415),
                              "A": (285.0, 744.0), "B": (1042.0, 5810.0)}
# Kaplan et al. (2020), "Scaling Laws for Neural Language Models", Eq. (1.5) and Table 2:
# L(N, D) = [(Nc/N)^(aN/aD) + Dc/D]^aD, N non-embedding parameters, D tokens, loss in nats.
KAPLAN_LND = {"Nc": 6.4e13, "Dc": 1.8e13, "aN": 0.076, "aD": 0.103}
# Kaplan et al. (2020), Fig. 14 (left) and Sec. 6.1: compute-efficient model size
# N_opt = 1.3e9 * (C_min / PF-day)^0.73 non-embedding parameters.
KAPLAN_NOPT_COEFF = 1.3e9
KAPLAN_NOPT_EXPONENT = 0.73

# Muennighoff et al. (2023), "Scaling Data-Constrained Language Models", Eq. (5)-(6): repeated
# tokens and excess parameters decay in value with these fitted constants.
MUENNIGHOFF_R_STAR_D = 15.4
MUENNIGHOFF_R_STAR_N = 5.3

# --- Hardware --------------------------------------------------------------------------------
# Dense bf16 tensor-core peak (FLOP/s) and board power (W) from NVIDIA's datasheets:
# A100 SXM 80GB: 312 TFLOP/s, 400 W; H100 SXM: 989 TFLOP/s, 700 W; H200 SXM: 989 TFLOP/s, 700 W.
GPUS = {
    "a100": {"peak_flops": 312e12, "power_watts": 400.0},
    "h100": {"peak_flops": 989e12, "power_watts": 700.0},
    "h200": {"peak_flops": 989e12, "power_watts": 700.0},
}

# --- Data stocks -----------------------------------------------------------------------------
# Orders of magnitude for "how much text is there?", as used in Stanford CS324/CS336 lectures.
# Words are converted to tokens at ~1.3 tokens per word (GPT-2 BPE on English prose).
TOKENS_PER_WORD = 1.3
DATA_STOCKS_WORDS = {
    # ~200 words/min, a few hours a day for 70 years: roughly 2e9 words read in a lifetime.
    "lifetime of reading": 2e9,
    # English Wikipedia, ~4.5e9 words by 2023 per Wikipedia:Size_of_Wikipedia (~3e9 in 2019).
    "English Wikipedia": 3e9,
    # Library of Congress print collection: ~2.5e7 books at ~4e4 words each, ~1e12 words.
    "Library of Congress": 1e12,
    # Common Crawl, ~1e15 words over all snapshots (Villalobos et al. 2022).
    "Common Crawl": 1e15,
}
# Villalobos et al. (2024), "Will we run out of data?": the stock of quality public human text,
# about 3e14 tokens.
PUBLIC_TEXT_TOKENS = 3e14
