"""Shape-true stand-ins for jina-clip-v2: the real towers' architecture with seeded random weights.

What a user waits for does not depend on the weights, only on the graph: how many layers, how
wide, how many tokens, which operators. The real towers cannot be downloaded here, so this module
writes a model folder (MODEL_CONTRACT.md, format 1) whose towers have jina-clip-v2's shapes:

* vision: EVA02-L/14 at 512 px: a 14×14 patch convolution (36×36 = 1 296 patches + a class token
  = 1 297 tokens), absolute position embeddings, 24 pre-norm blocks of width 1 024 with 16 heads,
  2-D rotary embeddings on the patch tokens' queries and keys, a LayerNorm inside the attention
  (EVA's sub-LN), a SwiGLU MLP of 2 730 with its own LayerNorm, a final LayerNorm, the class token
  and a 1 024 → 1 024 head: ≈ 304 M parameters, ≈ 950 GFLOP per image;
* text: the XLM-RoBERTa-large shape of jina-embeddings-v3 (jina-clip-v2's text encoder): a
  250 002 × 1 024 token table, 24 post-norm layers with 16 heads, fused QKV, 1-D rotary
  embeddings (base 20 000) instead of position embeddings, a GELU MLP of 4 096, mean pooling over
  the tokens that are not padding (the mask is derived from ``pad_id`` inside the graph, as in
  the real tower, which takes no ``attention_mask``): ≈ 566 M parameters;
* a Unigram tokenizer with XLM-R's special tokens and size (250 002 pieces, sentencepiece-style
  ``▁`` word marks), so queries get realistic token counts (the query prefix is 13 tokens);
* both outputs of the official graph per tower (``*_embeddings`` and ``l2norm_*_embeddings``).

Precisions: ``fp32`` (the graph as built), ``fp16`` (onnxruntime's float16 converter, inputs and
outputs kept float32 as the contract wants: the GPU variant), ``int8`` (onnxruntime's
``quantize_dynamic``: int8 weights for MatMul and the token table, activations quantised per
call: the CPU variant, like the release's ``model_int8.onnx``).

Why the graph is written with ``onnx.helper`` rather than exported from torch + timm: onnx is
already a runtime dependency, so any checkout can make the stand-ins (no 800 MB torch in the
export extra, no exporter version drift); writing the weights straight into the external data file
keeps memory at one tensor instead of two copies of 2.3 GB; and the result is byte-identical for
a seed. The operators are the ones a torch export emits (MatMul + Add, LayerNormalization, erf
GELU, Softmax, Conv), so onnxruntime fuses and quantises them the same way.

The weights are random (normal, std 0.02, as timm initialises), so the vectors mean nothing:
speed, memory and the engine's handling are real, retrieval quality is not. The manifest says so
(``id`` ``lanterna/jina-clip-v2-standin``, licence Apache-2.0), and an index built with it is
never taken for one of the real model.

    python -m onnx_models.standin DIR [--precision fp32|fp16|int8] [--seed N] [--from FP32DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.errors import ModelError

from .manifest import CLIP_MEAN, CLIP_STD, QUERY_PREFIX, write_manifest

__all__ = ["PRECISIONS", "TextShape", "VisionShape", "build_standin", "main"]

STANDIN_ID = "lanterna/jina-clip-v2-standin"
STANDIN_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
OPSET = 17
IR_VERSION = 8  # onnx >= 1.23 writes 14 by default, which onnxruntime 1.31 refuses
INIT_STD = 0.02
PAD_ID = 1
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as in XLM-RoBERTa
MATRYOSHKA = [32, 64, 128, 256, 512, 768, 1024]
ROPE_TABLE = "rope_table"  # name prefix of the nodes kept in fp32 by the fp16 variant


@dataclass(frozen=True)
class VisionShape:
    image_size: int = 512
    patch: int = 14
    width: int = 1024
    layers: int = 24
    heads: int = 16
    mlp: int = 2730  # EVA02-L: width × 4 × 2/3 (SwiGLU)
    out_dim: int = 1024
    rope_theta: float = 10000.0
    rope_pretrain_grid: int = 16  # EVA02 was pre-trained at 224 px: its rotary grid is rescaled
    eps: float = 1e-6

    @property
    def grid(self) -> int:
        return self.image_size // self.patch

    @property
    def tokens(self) -> int:
        return self.grid * self.grid + 1


@dataclass(frozen=True)
class TextShape:
    vocab: int = 250_002
    width: int = 1024
    layers: int = 24
    heads: int = 16
    mlp: int = 4096
    out_dim: int = 1024
    max_tokens: int = 512
    rope_base: float = 20000.0
    eps: float = 1e-5


# -- graph building ------------------------------------------------------------------------------


class _Builder:
    """Nodes and initialisers of one graph; weights go straight to an external data file."""

    def __init__(self, data_path: Path, seed: int, tag: str) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self._count = 0
        self._seed = seed
        self._tag = tag
        self._data_path = data_path
        self._data = data_path.open("wb")
        self._offset = 0
        self.params = 0

    def close(self) -> None:
        self._data.close()

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def tensor(self, name: str, array: npt.NDArray[Any]) -> str:
        """A constant; big ones are appended to the external data file."""
        array = np.require(array, requirements="C")  # keeps 0-d scalars 0-d
        if array.nbytes < 1024:
            self.inits.append(numpy_helper.from_array(array, name))
            return name
        pad = (-self._offset) % 64  # aligned, so the runtime can map the file
        if pad:
            self._data.write(b"\0" * pad)
            self._offset += pad
        raw = array.tobytes()
        self._data.write(raw)
        proto = TensorProto()
        proto.name = name
        proto.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        proto.dims.extend(array.shape)
        proto.data_location = TensorProto.EXTERNAL
        for key, value in (
            ("location", self._data_path.name),
            ("offset", str(self._offset)),
            ("length", str(len(raw))),
        ):
            entry = proto.external_data.add()
            entry.key, entry.value = key, value
        self._offset += len(raw)
        self.inits.append(proto)
        return name

    def weight(self, hint: str, shape: Sequence[int], std: float = INIT_STD) -> str:
        name = self._name(hint)
        rng = np.random.default_rng([self._seed, zlib.crc32(f"{self._tag}/{name}".encode())])
        array = rng.standard_normal(tuple(shape), dtype=np.float32)
        array *= np.float32(std)
        self.params += array.size
        return self.tensor(name, array)

    def filled(self, hint: str, shape: Sequence[int], value: float) -> str:
        self.params += int(np.prod(shape))
        return self.tensor(self._name(hint), np.full(tuple(shape), value, dtype=np.float32))

    def const(self, hint: str, value: Any, dtype: Any = np.int64) -> str:
        return self.tensor(self._name(hint), np.asarray(value, dtype=dtype))

    def op(self, op_type: str, inputs: Sequence[str], hint: str = "", **attrs: Any) -> str:
        out = self._name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def ops(self, op_type: str, inputs: Sequence[str], n: int, **attrs: Any) -> list[str]:
        outs = [self._name(op_type.lower()) for _ in range(n)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=outs[0], **attrs))
        return outs

    # layers

    def linear(self, x: str, n_in: int, n_out: int, hint: str, bias: bool = True) -> str:
        y = self.op("MatMul", [x, self.weight(f"{hint}.weight", (n_in, n_out))], hint)
        if bias:
            y = self.op("Add", [y, self.filled(f"{hint}.bias", (n_out,), 0.0)], hint)
        return y

    def layernorm(self, x: str, dim: int, eps: float, hint: str) -> str:
        scale = self.filled(f"{hint}.weight", (dim,), 1.0)
        bias = self.filled(f"{hint}.bias", (dim,), 0.0)
        return self.op("LayerNormalization", [x, scale, bias], hint, axis=-1, epsilon=eps)

    def heads(self, x: str, heads: int, head_dim: int) -> str:
        """[B, N, H·D] → [B, H, N, D]"""
        shaped = self.op("Reshape", [x, self.const("heads_shape", [0, 0, heads, head_dim])])
        return self.op("Transpose", [shaped], perm=[0, 2, 1, 3])

    def merge_heads(self, x: str, width: int) -> str:
        """[B, H, N, D] → [B, N, H·D]"""
        moved = self.op("Transpose", [x], perm=[0, 2, 1, 3])
        return self.op("Reshape", [moved, self.const("merge_shape", [0, 0, width])])

    def rotate(self, x: str, cos: str, sin: str, head_dim: int) -> str:
        """Rotary embedding, rotate-half form: x·cos + [−x₂, x₁]·sin."""
        half = self.const("rope_split", [head_dim // 2, head_dim // 2])
        x1, x2 = self.ops("Split", [x, half], 2, axis=-1)
        rotated = self.op("Concat", [self.op("Neg", [x2]), x1], axis=-1)
        return self.op("Add", [self.op("Mul", [x, cos]), self.op("Mul", [rotated, sin])], "rope")

    def attention(self, q: str, k: str, v: str, head_dim: int, bias: str | None) -> str:
        scale = self.const("attn_scale", 1.0 / math.sqrt(head_dim), np.float32)
        kt = self.op("Transpose", [k], perm=[0, 1, 3, 2])
        scores = self.op("MatMul", [self.op("Mul", [q, scale]), kt], "scores")
        if bias is not None:
            scores = self.op("Add", [scores, bias])
        return self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v], "context")

    def l2norm(self, x: str) -> str:
        norm = self.op("ReduceL2", [x], axes=[-1], keepdims=1)
        eps = self.const("l2_eps", 1e-12, np.float32)
        # Add, not Max: onnxruntime's float16 converter keeps Max in fp32 and breaks its types
        return self.op("Div", [x, self.op("Add", [norm, eps])])


def _save(b: _Builder, graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="lanterna.onnx_models.standin",
    )
    b.close()
    path.write_bytes(model.SerializeToString())
    onnx.checker.check_model(str(path))


def _vision_rope(shape: VisionShape) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """EVA02's 2-D rotary table for the patch grid: half the frequencies per axis."""
    head_dim = shape.width // shape.heads
    per_axis = head_dim // 2  # 32 of the head's 64 dims rotate with the row, 32 with the column
    inv = 1.0 / shape.rope_theta ** (np.arange(0, per_axis, 2, dtype=np.float64) / per_axis)
    t = np.arange(shape.grid, dtype=np.float64) / shape.grid * shape.rope_pretrain_grid
    axis = np.outer(t, inv)  # [grid, per_axis / 2]
    rows = np.repeat(axis, shape.grid, axis=0)
    cols = np.tile(axis, (shape.grid, 1))
    angles = np.concatenate([rows, cols], axis=1)  # [grid², head_dim / 2]
    angles = np.concatenate([angles, angles], axis=1)  # rotate-half pairs i and i + D/2
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def build_vision(path: Path, seed: int, shape: VisionShape = VisionShape()) -> int:
    """EVA02-L/14 vision tower to ``path`` (+ ``path.data``); returns the parameter count."""
    b = _Builder(path.with_name(path.name + ".data"), seed, "vision")
    s, w, hd = shape, shape.width, shape.width // shape.heads
    pixels = "pixel_values"
    conv = b.op(
        "Conv",
        [
            pixels,
            b.weight("patch.weight", (w, 3, s.patch, s.patch)),
            b.filled("patch.bias", (w,), 0),
        ],
        "patch",
        kernel_shape=[s.patch, s.patch],
        strides=[s.patch, s.patch],
    )
    flat = b.op("Reshape", [conv, b.const("flat", [0, w, -1])])
    patches = b.op("Transpose", [flat], perm=[0, 2, 1])  # [B, 1296, W]
    batch = b.op("Shape", [pixels], start=0, end=1)
    cls_shape = b.op("Concat", [batch, b.const("one_w", [1, w])], axis=0)
    cls = b.op("Expand", [b.weight("cls_token", (1, 1, w)), cls_shape], "cls")
    x = b.op("Concat", [cls, patches], axis=1)
    x = b.op("Add", [x, b.weight("pos_embed", (1, s.tokens, w))], "pos")
    cos_np, sin_np = _vision_rope(s)
    cos, sin = b.tensor("rope_cos", cos_np), b.tensor("rope_sin", sin_np)
    first = b.const("split_cls", [1, s.tokens - 1])
    for layer in range(s.layers):
        p = f"blocks.{layer}"
        h = b.layernorm(x, w, s.eps, f"{p}.norm1")
        qkv = b.linear(h, w, 3 * w, f"{p}.attn.qkv")  # EVA: q and v biases (k's stays zero)
        q, k, v = (
            b.heads(t, s.heads, hd)
            for t in b.ops("Split", [qkv, b.const("qkv", [w] * 3)], 3, axis=-1)
        )
        rope = []
        for t in (q, k):
            cls_t, patch_t = b.ops("Split", [t, first], 2, axis=2)
            rope.append(b.op("Concat", [cls_t, b.rotate(patch_t, cos, sin, hd)], axis=2))
        ctx = b.merge_heads(b.attention(rope[0], rope[1], v, hd, None), w)
        ctx = b.layernorm(ctx, w, s.eps, f"{p}.attn.inner_norm")
        x = b.op("Add", [x, b.linear(ctx, w, w, f"{p}.attn.proj")], "residual")
        h = b.layernorm(x, w, s.eps, f"{p}.norm2")
        gate = b.linear(h, w, s.mlp, f"{p}.mlp.w1")
        up = b.linear(h, w, s.mlp, f"{p}.mlp.w2")
        hidden = b.op("Mul", [b.op("Mul", [gate, b.op("Sigmoid", [gate])]), up], "swiglu")
        hidden = b.layernorm(hidden, s.mlp, s.eps, f"{p}.mlp.ffn_norm")
        x = b.op("Add", [x, b.linear(hidden, s.mlp, w, f"{p}.mlp.w3")], "residual")
    x = b.layernorm(x, w, s.eps, "norm")
    pooled = b.op("Gather", [x, b.const("cls_index", 0)], "cls_pool", axis=1)
    embeddings = b.linear(pooled, w, s.out_dim, "head")
    b.nodes.append(
        helper.make_node("Identity", [embeddings], ["image_embeddings"], name="image_embeddings")
    )
    b.nodes.append(
        helper.make_node(
            "Identity",
            [b.l2norm(embeddings)],
            ["l2norm_image_embeddings"],
            name="l2norm_image_embeddings",
        )
    )
    graph = helper.make_graph(
        b.nodes,
        "jina_clip_v2_vision_standin",
        [
            helper.make_tensor_value_info(
                pixels, TensorProto.FLOAT, ["batch", 3, s.image_size, s.image_size]
            )
        ],
        [
            helper.make_tensor_value_info(
                "image_embeddings", TensorProto.FLOAT, ["batch", s.out_dim]
            ),
            helper.make_tensor_value_info(
                "l2norm_image_embeddings", TensorProto.FLOAT, ["batch", s.out_dim]
            ),
        ],
        initializer=b.inits,
    )
    _save(b, graph, path)
    return b.params


def build_text(path: Path, seed: int, shape: TextShape = TextShape()) -> int:
    """XLM-R-large-shaped text tower (jina-embeddings-v3 layout) to ``path`` (+ ``path.data``)."""
    b = _Builder(path.with_name(path.name + ".data"), seed, "text")
    s, w, hd = shape, shape.width, shape.width // shape.heads
    ids = "input_ids"
    keep = b.op("Not", [b.op("Equal", [ids, b.const("pad_id", PAD_ID)])])
    mask = b.op("Cast", [keep], "mask", to=TensorProto.FLOAT)  # [B, S]
    # additive attention bias: 0 for tokens, -10000 for padding, as [B, 1, 1, S]
    one = b.const("one", 1.0, np.float32)
    neg = b.const("neg", -10000.0, np.float32)
    bias = b.op("Mul", [b.op("Sub", [one, mask]), neg])
    bias = b.op("Unsqueeze", [bias, b.const("axes12", [1, 2])], "attn_bias")
    # 1-D rotary table for the sequence length at hand; its nodes stay fp32 in the fp16 variant
    # (an angle of 500 rad has a resolution of 0.25 rad in fp16)
    seq = b.op("Squeeze", [b.op("Shape", [ids], start=1, end=2), b.const("axis0", [0])])
    steps = b.op("Range", [b.const("start", 0), seq, b.const("step", 1)], ROPE_TABLE)
    positions = b.op("Cast", [steps], ROPE_TABLE, to=TensorProto.FLOAT)
    inv = 1.0 / s.rope_base ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    inv_freq = b.tensor("rope_inv_freq", inv.astype(np.float32)[None, :])  # [1, D/2]
    column = b.op("Unsqueeze", [positions, b.const("axis1", [1])], ROPE_TABLE)
    angles = b.op("Mul", [column, inv_freq], ROPE_TABLE)
    angles = b.op("Concat", [angles, angles], ROPE_TABLE, axis=-1)  # [S, D]
    # a Cast to float is a no-op here and becomes the fp16 variant's way back to fp16
    cos = b.op("Cast", [b.op("Cos", [angles], ROPE_TABLE)], "rope_cos", to=TensorProto.FLOAT)
    sin = b.op("Cast", [b.op("Sin", [angles], ROPE_TABLE)], "rope_sin", to=TensorProto.FLOAT)
    table = b.weight("embeddings.word_embeddings.weight", (s.vocab, w))
    x = b.op("Gather", [table, ids], "embed", axis=0)
    x = b.op("Add", [x, b.weight("embeddings.token_type_embeddings.weight", (w,))])
    x = b.layernorm(x, w, s.eps, "embeddings.LayerNorm")
    for layer in range(s.layers):
        p = f"encoder.layers.{layer}"
        qkv = b.linear(x, w, 3 * w, f"{p}.mixer.Wqkv")
        q, k, v = (
            b.heads(t, s.heads, hd)
            for t in b.ops("Split", [qkv, b.const("qkv", [w] * 3)], 3, axis=-1)
        )
        q, k = b.rotate(q, cos, sin, hd), b.rotate(k, cos, sin, hd)
        ctx = b.merge_heads(b.attention(q, k, v, hd, bias), w)
        x = b.op("Add", [x, b.linear(ctx, w, w, f"{p}.mixer.out_proj")], "residual")
        x = b.layernorm(x, w, s.eps, f"{p}.norm1")
        hidden = b.linear(x, w, s.mlp, f"{p}.mlp.fc1")
        root2 = b.const("sqrt2", math.sqrt(2.0), np.float32)
        half = b.const("half", 0.5, np.float32)
        erf = b.op("Erf", [b.op("Div", [hidden, root2])])
        hidden = b.op("Mul", [b.op("Mul", [hidden, half]), b.op("Add", [erf, one])], "gelu")
        x = b.op("Add", [x, b.linear(hidden, s.mlp, w, f"{p}.mlp.fc2")], "residual")
        x = b.layernorm(x, w, s.eps, f"{p}.norm2")
    weights = b.op("Unsqueeze", [mask, b.const("axis_last", [-1])])  # [B, S, 1]
    summed = b.op("ReduceSum", [b.op("Mul", [x, weights]), b.const("axis_seq", [1])], keepdims=0)
    count = b.op("ReduceSum", [weights, b.const("axis_seq", [1])], keepdims=0)
    pooled = b.op("Div", [summed, count], "mean_pool")
    if s.out_dim != w:  # jina-clip-v2 has none (both 1024); miniature stand-ins need one
        pooled = b.linear(pooled, w, s.out_dim, "projection", bias=False)
    b.nodes.append(
        helper.make_node("Identity", [pooled], ["text_embeddings"], name="text_embeddings")
    )
    b.nodes.append(
        helper.make_node(
            "Identity",
            [b.l2norm(pooled)],
            ["l2norm_text_embeddings"],
            name="l2norm_text_embeddings",
        )
    )
    graph = helper.make_graph(
        b.nodes,
        "jina_clip_v2_text_standin",
        [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "sequence"])],
        [
            helper.make_tensor_value_info(
                "text_embeddings", TensorProto.FLOAT, ["batch", s.out_dim]
            ),
            helper.make_tensor_value_info(
                "l2norm_text_embeddings", TensorProto.FLOAT, ["batch", s.out_dim]
            ),
        ],
        initializer=b.inits,
    )
    _save(b, graph, path)
    return b.params


# -- tokenizer -----------------------------------------------------------------------------------

_WORDS = (
    "the query for evidence documents a an of in on at with and or to from "
    "by is are my our this that it photo photos picture image document file scan red green blue "
    "yellow black white orange purple pink brown grey gray car cars dog dogs cat cats flower "
    "flowers forest leaves sky sea beach mountain mountains snow sunset dress cake birthday grass "
    "rainy street kids playing park house tree river city sun summer winter night day old new "
    "family friends holiday wedding party food dinner water lake boat train plane bird people "
    "man woman child baby girl boy portrait landscape garden road bridge church castle window "
    "door room kitchen table chair book books paper letter invoice receipt contract report "
    "le la les de des et un une der die das und ein eine el los las y una il di che"
)


def build_tokenizer(path: Path, vocab: int = TextShape.vocab) -> None:
    """A sentencepiece-style Unigram tokenizer of XLM-R's size and special tokens.

    Common words (with and without the word mark, lower and capitalised) are single pieces; any
    other Latin word falls apart into three-, two- and one-letter pieces, CJK ideographs, kana and
    Hangul syllables are one piece each, as in XLM-R. The rest of the table is filler pieces, so
    ids span the whole 250 002-row token table.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    pieces: dict[str, float] = {}

    def add(piece: str, score: float) -> None:
        if piece and piece not in pieces and len(pieces) < vocab - len(SPECIALS):
            pieces[piece] = score

    for word in _WORDS.split():
        for form in (word, word.capitalize()):
            add("▁" + form, -6.0)
            add(form, -7.0)
    for p in ":,.;!?'\"()-/0123456789":
        add(p, -7.5)
        add("▁" + p, -7.5)
    letters = "abcdefghijklmnopqrstuvwxyz"
    singles = list(letters + letters.upper()) + [chr(c) for c in range(0xC0, 0x250)]
    singles += [chr(c) for c in range(0x370, 0x530)]  # Greek, Cyrillic
    singles += [chr(c) for c in range(0x600, 0x6FF)] + [chr(c) for c in range(0x900, 0x97F)]
    for ch in singles:
        add("▁" + ch, -11.0)
        add(ch, -11.5)
    for a in letters:
        for c in letters:
            add("▁" + a + c, -10.0)
            add(a + c, -10.5)
    for a in letters:
        for c in letters:
            for d in letters:
                add("▁" + a + c + d, -10.0)
                add(a + c + d, -10.5)
    for lo, hi in ((0x3040, 0x3100), (0x4E00, 0xA000), (0xAC00, 0xD7A4)):
        for code in range(lo, hi):
            add(chr(code), -10.0)
    filler = 0
    while len(pieces) < vocab - len(SPECIALS):
        add(f"▁\u2060{filler:06d}", -20.0)  # never matched by real text (word joiner + digits)
        filler += 1
    table = [(t, 0.0) for t in SPECIALS] + list(pieces.items())
    tok = Tokenizer(models.Unigram(table, unk_id=SPECIALS.index("<unk>"), byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.add_special_tokens(list(SPECIALS))
    tok.save(str(path))


# -- variants ------------------------------------------------------------------------------------


def _fp16(source: Path, target: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    keep = [n.name for n in model.graph.node if n.name.startswith(ROPE_TABLE)]
    half = convert_float_to_float16(
        model, keep_io_types=True, disable_shape_infer=True, node_block_list=keep
    )
    half.ir_version = IR_VERSION
    onnx.save_model(
        half,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=target.name + ".data",
        size_threshold=1024,
    )


def _int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gather"],
        use_external_data_format=True,
        extra_options={"MatMulConstBOnly": True},  # only weights; attention stays float
    )
    model = onnx.load(str(target), load_external_data=False)
    if model.ir_version != IR_VERSION:
        model.ir_version = IR_VERSION
        target.write_bytes(model.SerializeToString())
    _tidy_external(target)


def _tidy_external(target: Path) -> None:
    """quantize_dynamic names its external data file after the model; keep the ``.data`` form."""
    expected = target.with_name(target.name + ".data")
    model = onnx.load(str(target), load_external_data=False)
    locations = {
        entry.value
        for init in model.graph.initializer
        if init.data_location == TensorProto.EXTERNAL
        for entry in init.external_data
        if entry.key == "location"
    }
    if locations in (set(), {expected.name}):
        return
    full = onnx.load(str(target))
    for stale in locations:
        (target.parent / stale).unlink(missing_ok=True)
    onnx.save_model(
        full,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=expected.name,
        size_threshold=1024,
    )


def _manifest(precision: str, seed: int) -> dict[str, Any]:
    return {
        "format": 1,
        "id": STANDIN_ID,
        "revision": f"standin-{STANDIN_VERSION}-seed{seed}",
        "variant": precision,
        "licence": "Apache-2.0",
        "note": (
            "Shape-true stand-in of jina-clip-v2 with random weights, for speed and memory "
            "measurements: its vectors carry no meaning."
        ),
        "dim": 1024,
        "matryoshka_dims": MATRYOSHKA,
        "text": {
            "file": "text.onnx",
            "tokenizer": "tokenizer.json",
            "max_tokens": TextShape.max_tokens,
            "pad_id": PAD_ID,
            "query_prefix": QUERY_PREFIX,
            "output": "l2norm_text_embeddings",
        },
        "vision": {
            "file": "vision.onnx",
            "image_size": VisionShape.image_size,
            "resize": "shortest_edge_then_center_crop",
            "resample": "bicubic",
            "mean": CLIP_MEAN,
            "std": CLIP_STD,
            "output": "l2norm_image_embeddings",
        },
    }


def _note(msg: str) -> None:
    print(f"[standin] {msg}", file=sys.stderr, flush=True)


def build_standin(
    out_dir: Path,
    precision: str = "fp32",
    *,
    seed: int = 0,
    source: Path | None = None,
    vision: VisionShape = VisionShape(),
    text: TextShape = TextShape(),
) -> Path:
    """Write a stand-in model folder; ``source`` reuses an fp32 stand-in for fp16 and int8.

    ``vision`` and ``text`` change the shapes (tests use tiny ones; the defaults are the real
    model's). The folder is written beside ``out_dir`` and moved into place when complete.
    """
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ModelError(f"{out_dir} is not empty", "choose a new folder for the stand-in")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".standin-") as tmp_name:
        tmp = Path(tmp_name)
        work = tmp / "model"
        work.mkdir()
        if source is not None:
            fp32 = Path(source)
            if not (fp32 / "vision.onnx").is_file() or not (fp32 / "text.onnx").is_file():
                raise ModelError(f"{fp32} is not a stand-in folder (no vision.onnx/text.onnx)")
        else:
            fp32 = tmp / "fp32" if precision != "fp32" else work
            fp32.mkdir(exist_ok=True)
            start = time.perf_counter()
            params = build_vision(fp32 / "vision.onnx", seed, vision)
            took = time.perf_counter() - start
            _note(f"vision tower: {params / 1e6:.1f} M parameters ({took:.0f} s)")
            start = time.perf_counter()
            params = build_text(fp32 / "text.onnx", seed, text)
            took = time.perf_counter() - start
            _note(f"text tower: {params / 1e6:.1f} M parameters ({took:.0f} s)")
        for tower in ("vision.onnx", "text.onnx"):
            start = time.perf_counter()
            if precision == "fp16":
                _fp16(fp32 / tower, work / tower)
            elif precision == "int8":
                _int8(fp32 / tower, work / tower)
            elif fp32 != work:
                for name in (tower, tower + ".data"):
                    shutil.copyfile(fp32 / name, work / name)
            if precision != "fp32":
                _note(f"{tower} to {precision} ({time.perf_counter() - start:.0f} s)")
        build_tokenizer(work / "tokenizer.json", text.vocab)
        manifest = _manifest(precision, seed)
        manifest["text"]["max_tokens"] = text.max_tokens
        manifest["vision"]["image_size"] = vision.image_size
        manifest["dim"] = min(vision.out_dim, text.out_dim)
        manifest["matryoshka_dims"] = [d for d in MATRYOSHKA if d <= manifest["dim"]]
        manifest["shapes"] = {
            "vision": {k: getattr(vision, k) for k in VisionShape.__dataclass_fields__},
            "text": {k: getattr(text, k) for k in TextShape.__dataclass_fields__},
        }
        write_manifest(work, manifest)
        if out_dir.exists():
            out_dir.rmdir()
        shutil.move(str(work), str(out_dir))
    out_dir.chmod(0o755)  # made under a private temporary folder
    for child in out_dir.iterdir():
        child.chmod(0o644)
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m onnx_models.standin",
        description=(
            "Write a shape-true stand-in of jina-clip-v2 (real architecture, random weights) "
            "for benchmarks: `lanterna --model DIR bench`."
        ),
    )
    parser.add_argument("out_dir", type=Path, help="new folder for the model")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="an fp32 stand-in folder to convert (saves building the fp32 towers again)",
    )
    args = parser.parse_args(argv)
    try:
        folder = build_standin(args.out_dir, args.precision, seed=args.seed, source=args.source)
    except ModelError as exc:
        print(f"standin: {exc.one_line()}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"standin: cannot write the model: {exc}", file=sys.stderr)
        return 1
    info = json.loads((folder / "manifest.json").read_text())
    total = sum((folder / n).stat().st_size for n in info["sha256"])
    print(f"wrote {info['variant']} stand-in to {folder} ({total / 2**30:.2f} GiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
