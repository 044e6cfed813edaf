"""scikit-learn's 8x8 handwritten digits as a sequence corpus: a real, tiny image corpus.

Each image (1,797 of them, shipped with scikit-learn, no download) becomes one document: a start
token (17) followed by its 64 pixels read row by row, each one of 17 grey levels (0-16), as in
the autoregressive image models of Henighan et al. (2020). Windows are aligned to images, so
with the default n_ctx = 64 one window is one image and `position_losses` is the loss by pixel.
Every tenth image is held out. The corpus is small (about 105k training tokens), so runs repeat
it: a run of D tokens makes D / 105k passes.
"""

from __future__ import annotations

import numpy as np

from scalinglab.data.base import Corpus, fingerprint_of

GREY_LEVELS = 17
START = GREY_LEVELS
VOCAB_SIZE = GREY_LEVELS + 1
PIXELS = 64


def load_digits() -> Corpus:
    """The digits corpus (vocab 18: 17 grey levels and the start token)."""
    from sklearn.datasets import load_digits as sklearn_digits

    images = sklearn_digits().images.reshape(-1, PIXELS).astype(np.uint8)
    documents = np.concatenate([np.full((len(images), 1), START, dtype=np.uint8), images], axis=1)
    held_out = np.arange(len(images)) % 10 == 0
    train, val = documents[~held_out].ravel(), documents[held_out].ravel()
    return Corpus(
        "digits",
        np.ascontiguousarray(train),
        np.ascontiguousarray(val),
        VOCAB_SIZE,
        f"digits-{fingerprint_of({'sha': _sha(documents)})}",
        n_ctx_default=PIXELS,
        max_epochs=None,
        document_length=PIXELS + 1,
        info={"images": int(len(images))},
    )


def _sha(array: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(array.tobytes()).hexdigest()[:16]
