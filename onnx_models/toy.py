"""A small, real model folder that follows the model contract, for tests and trying the app offline.

The real jina-clip-v2 towers are gigabytes and cannot be downloaded in tests, so this module writes
a stand-in that exercises the same code paths: real ONNX graphs run by onnxruntime, a real
Hugging Face `tokenizers` file, a manifest with checksums. The toy model "understands" only
colours, but in a dozen languages and scripts, so multilingual text-to-image search, image-to-image
search and near-duplicate detection can all be tested end to end with meaningful expectations.

How it works, in short. Each colour has a concept vector in the first 256 dimensions (the ones the
engine keeps after Matryoshka truncation); the concept vectors are exactly orthogonal.

By default the toy has the geometry of a real CLIP model (``geometry="clip"``):

* A modality gap. Each tower adds its own fixed offset before normalising, so every text vector
  sits in one region and every image vector in another: a matching text-image pair scores a cosine
  of about 0.3, two unrelated sentences about 0.6, two unrelated pictures about 0.6.
* Ordinary words and the query prefix move a text vector: their rows lie in the kept dimensions.
* Text and images meet through a bridge that the query prefix opens. A colour word's row is a
  text-side direction; the text tower adds the matching image-side concept, weakly for plain text
  and strongly when the pooled text carries the prefix's direction. So a query embedded without
  its prefix barely finds photos, and a passage embedded with the prefix looks like a query.

``geometry="clean"`` is the ideal toy some unit tests ask for by name: no gap, colour words are
the image concepts themselves, other words sit mostly beyond dimension 256.

* Text tower: the masked mean of per-token rows of an embedding table (then, for "clip", the gap
  offset and the bridge).
* Vision tower: the image's mean colour is softly assigned to the prototypes in `COLOURS`, giving a
  mix of the same concept vectors; a 4x4 grid of mean colours, projected onto directions orthogonal
  to every concept, tells apart two pictures of the same colour; a fixed vector beyond dimension
  256 makes truncation matter; for "clip", the image offset.

Everything is drawn from a numpy generator seeded by ``(model_id, seed)``: the same arguments give
byte-identical files, and a different seed or id gives a different model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

__all__ = ["COLOURS", "COLOUR_WORDS", "build_toy_model", "main"]

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (40, 160, 60),
    "blue": (30, 80, 210),
    "yellow": (245, 215, 40),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
    "orange": (250, 135, 20),
    "purple": (130, 50, 170),
}

# colour -> language -> the forms a user may type. Japanese and Chinese text is split into single
# ideographs and kana, so for those languages the single-character colour word must be listed; the
# longer forms (赤い, 红色) are listed for documentation and tests and only add their other pieces
# (い, 色) to the vocabulary as ordinary words.
COLOUR_WORDS: dict[str, dict[str, list[str]]] = {
    "red": {
        "en": ["red"],
        "fr": ["rouge", "rouges"],
        "de": ["rot", "rote", "roten", "roter", "rotes", "rotem"],
        "es": ["rojo", "roja", "rojos", "rojas"],
        "it": ["rosso", "rossa", "rossi", "rosse"],
        "pt": ["vermelho", "vermelha", "vermelhos", "vermelhas"],
        "ru": ["красный", "красная", "красное", "красные", "красную"],
        "el": ["κόκκινο", "κόκκινος", "κόκκινη", "κόκκινα"],
        "ar": ["أحمر", "حمراء"],
        "hi": ["लाल"],
        "ja": ["赤", "赤い"],
        "zh": ["红", "紅", "红色", "紅色"],
        "ko": ["빨간", "빨강", "빨간색"],
    },
    "green": {
        "en": ["green"],
        "fr": ["vert", "verte", "verts", "vertes"],
        "de": ["grün", "grüne", "grünen", "grüner", "grünes", "grünem"],
        "es": ["verde", "verdes"],
        "it": ["verde", "verdi"],
        "pt": ["verde", "verdes"],
        "ru": ["зелёный", "зелёная", "зелёное", "зелёные", "зеленый", "зеленая", "зеленое"],
        "el": ["πράσινο", "πράσινος", "πράσινη", "πράσινα"],
        "ar": ["أخضر", "خضراء"],
        "hi": ["हरा", "हरी", "हरे"],
        "ja": ["緑", "緑色"],
        "zh": ["绿", "綠", "绿色", "綠色"],
        "ko": ["초록", "초록색", "녹색"],
    },
    "blue": {
        "en": ["blue"],
        "fr": ["bleu", "bleue", "bleus", "bleues"],
        "de": ["blau", "blaue", "blauen", "blauer", "blaues", "blauem"],
        "es": ["azul", "azules"],
        "it": ["blu", "azzurro", "azzurra", "azzurri"],
        "pt": ["azul", "azuis"],
        "ru": ["синий", "синяя", "синее", "синие", "синюю", "голубой"],
        "el": ["μπλε", "γαλάζιο"],
        "ar": ["أزرق", "زرقاء"],
        "hi": ["नीला", "नीली", "नीले"],
        "ja": ["青", "青い"],
        "zh": ["蓝", "藍", "蓝色", "藍色"],
        "ko": ["파란", "파랑", "파란색"],
    },
    "yellow": {
        "en": ["yellow"],
        "fr": ["jaune", "jaunes"],
        "de": ["gelb", "gelbe", "gelben", "gelber", "gelbes", "gelbem"],
        "es": ["amarillo", "amarilla", "amarillos", "amarillas"],
        "it": ["giallo", "gialla", "gialli", "gialle"],
        "pt": ["amarelo", "amarela", "amarelos", "amarelas"],
        "ru": ["жёлтый", "жёлтая", "жёлтое", "жёлтые", "желтый", "желтая", "желтое"],
        "el": ["κίτρινο", "κίτρινος", "κίτρινη", "κίτρινα"],
        "ar": ["أصفر", "صفراء"],
        "hi": ["पीला", "पीली", "पीले"],
        "ja": ["黄", "黄色", "黄色い"],
        "zh": ["黄", "黃", "黄色", "黃色"],
        "ko": ["노란", "노랑", "노란색"],
    },
    "black": {
        "en": ["black"],
        "fr": ["noir", "noire", "noirs", "noires"],
        "de": ["schwarz", "schwarze", "schwarzen", "schwarzer", "schwarzes", "schwarzem"],
        "es": ["negro", "negra", "negros", "negras"],
        "it": ["nero", "nera", "neri", "nere"],
        "pt": ["preto", "preta", "pretos", "pretas"],
        "ru": ["чёрный", "чёрная", "чёрное", "чёрные", "черный", "черная", "черное"],
        "el": ["μαύρο", "μαύρος", "μαύρη", "μαύρα"],
        "ar": ["أسود", "سوداء"],
        "hi": ["काला", "काली", "काले"],
        "ja": ["黒", "黒い"],
        "zh": ["黑", "黑色"],
        "ko": ["검은", "검정", "검정색"],
    },
    "white": {
        "en": ["white"],
        "fr": ["blanc", "blanche", "blancs", "blanches"],
        "de": ["weiß", "weiße", "weißen", "weißer", "weißes", "weiss", "weisse", "weisses"],
        "es": ["blanco", "blanca", "blancos", "blancas"],
        "it": ["bianco", "bianca", "bianchi", "bianche"],
        "pt": ["branco", "branca", "brancos", "brancas"],
        "ru": ["белый", "белая", "белое", "белые"],
        "el": ["άσπρο", "άσπρος", "άσπρη", "λευκό", "λευκός", "λευκή"],
        "ar": ["أبيض", "بيضاء"],
        "hi": ["सफ़ेद", "सफेद"],
        "ja": ["白", "白い"],
        "zh": ["白", "白色"],
        "ko": ["하얀", "하얀색", "흰", "흰색"],
    },
    "orange": {
        "en": ["orange"],
        "fr": ["orange", "oranges"],
        "de": ["orange", "oranger", "orangene", "orangenes", "orangefarben"],
        "es": ["naranja", "anaranjado", "anaranjada"],
        "it": ["arancione", "arancioni"],
        "pt": ["laranja"],
        "ru": ["оранжевый", "оранжевая", "оранжевое", "оранжевые"],
        "el": ["πορτοκαλί"],
        "ar": ["برتقالي"],
        "hi": ["नारंगी"],
        "ja": ["橙", "オレンジ"],
        "zh": ["橙", "橙色", "橘", "橘色"],
        "ko": ["주황", "주황색", "오렌지"],
    },
    "purple": {
        "en": ["purple", "violet"],
        "fr": ["violet", "violette", "violets", "violettes"],
        "de": ["lila", "violett", "violette"],
        "es": ["morado", "morada", "morados", "moradas", "púrpura"],
        "it": ["viola"],
        "pt": ["roxo", "roxa", "roxos", "roxas"],
        "ru": ["фиолетовый", "фиолетовая", "фиолетовое", "фиолетовые"],
        "el": ["μωβ"],
        "ar": ["بنفسجي"],
        "hi": ["बैंगनी"],
        "ja": ["紫", "紫色"],
        "zh": ["紫", "紫色"],
        "ko": ["보라", "보라색"],
    },
}

# Ordinary words, so that everyday text does not all collapse to <unk>. They carry no colour.
_FILLER_TEXT = """
    a an the of in on at with and or to for from by is are my our this that it its
    photo photos picture pictures image images document documents file scan screenshot
    cat dog car house tree flower flowers sky sea beach meadow grass mountain river city street
    sun summer winter night day long sentence about under over big small old new light dark
    colour color shirt dress ball apple book wall door bird fish holiday family friends
    un une le la les de des du et en sur avec dans chat chien voiture maison arbre fleur fleurs
    ciel mer plage prairie herbe montagne soleil été hiver nuit couleur robe pomme livre mur oiseau
    ein eine einer der die das den dem und mit im auf von foto bild bilder katze hund auto haus
    baum blume blumen himmel meer strand wiese gras berg sonne sommer nacht farbe kleid apfel buch
    una el los las y con imagen gato perro coche casa árbol flor flores cielo mar playa prado
    hierba montaña sol verano noche vestido manzana libro pájaro
    il lo gli di e gatto cane macchina fiore fiori mare spiaggia sole estate notte
    o os um uma cão cachorro carro céu praia
    фото кошка кот собака машина дом небо море луг трава цветы цветок солнце лето ночь и в на с
    φωτογραφία γάτα σκύλος αυτοκίνητο ουρανός θάλασσα λουλούδια και
    صورة قطة كلب سيارة سماء بحر زهور
    फोटो बिल्ली कुत्ता कार आसमान फूल और
    猫 犬 狗 車 车 空 天 海 花 草 地 的 色 写 真 照 片 图 像 山 木 家 人
    い の は が を に と で な た し す
    사진 고양이 개 자동차 하늘 바다 꽃
    : , . ; ! ? ' " ( ) - /
"""
FILLER_WORDS: tuple[str, ...] = tuple(_FILLER_TEXT.split())

# Function words and punctuation carry almost nothing in a real model's pooled text; in the
# "clip" toy their rows are tiny, so two texts are not alike just because both hold "the" or ":"
# (the query prefix holds them too).
_FUNCTION_TEXT = """
    a an the of in on at with and or to for from by is are my our this that it its
    un une le la les de des du et en sur avec dans ein eine einer der die das den dem und mit im
    auf von una el los las y con il lo gli di e o os um uma и в на с και و और 的 い の は が を に
    と で な た し す : , . ; ! ? ' " ( ) - /
"""
FUNCTION_WORDS: frozenset[str] = frozenset(_FUNCTION_TEXT.split())
CLIP_FUNCTION_NORM = 0.03

MATRYOSHKA_DIMS = (32, 64, 128, 256, 512, 768, 1024)
KEPT_DIMS = 256  # what the engine keeps; the concept space lives here
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as in XLM-RoBERTa
PAD_ID = 1
OPSET = 17
IR_VERSION = 8  # accepted by every onnxruntime >= 1.20
GRID = 4  # the vision tower's layout grid is GRID x GRID cells
GRID_FEATURES = 3 * GRID * GRID

# Sizes of the parts of the embedding table, relative to a unit concept vector.
COLOUR_WORD_NOISE = 0.05  # per part (kept dims, rest): colour words stay close to their concept
FILLER_KEPT_NORM = 0.05  # ordinary words barely touch the kept dims ...
FILLER_REST_NORM = 0.5  # ... and live mostly beyond them
TEXT_BIAS_NORM = 1e-3  # keeps an all-<unk> text from giving a zero vector
# Vision: a solid colour gets > 0.99 weight on its own prototype (the closest pair of prototypes,
# orange and yellow, are ~0.1 apart in squared [0, 1] RGB distance).
TEMPERATURE = 0.02
GRID_GAIN = 1.0  # shaded pictures (±40 grey levels) keep cosine ~0.85 with their colour word
IMAGE_REST_NORM = 0.8
NORM_EPS = 1e-12

# "clip" geometry (see the module docstring); the figures in docs/ranking.md come from these.
GEOMETRIES = ("clip", "clean")
CLIP_FILLER_KEPT_NORM = 0.25  # ordinary words move a text vector ...
CLIP_FILLER_REST_NORM = 0.2  # ... mostly inside the kept dims
CLIP_PREFIX_PULL = 0.15  # each piece of the query prefix also points along the prefix direction
TEXT_GAP = 1.5  # the text tower's offset, relative to a unit pooled text
IMAGE_GAP = 1.4  # the vision tower's offset, relative to a unit colour concept
BRIDGE_BASE = 0.5  # how much of the image-side concept plain text carries ...
BRIDGE_PREFIX_GAIN = 2.1  # ... and how much more per unit of prefix direction in the pooled text
CLIP_WORD_LAYOUT = 0.25  # how much of a picture's layout directions an ordinary word carries

TEXT_FILE, VISION_FILE, TOKENIZER_FILE, MANIFEST_FILE = (
    "text.onnx",
    "vision.onnx",
    "tokenizer.json",
    "manifest.json",
)
DEFAULT_QUERY_PREFIX = "Represent the query for retrieving evidence documents: "


# --- tokenizer -----------------------------------------------------------------------------------


def _normalizer() -> normalizers.Normalizer:
    """NFKC + lowercase; Greek final sigma folded so capitalised Greek words still match."""
    return normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace("ς", "σ")]
    )


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Words and punctuation; every Han ideograph and hiragana on its own.

    Japanese and Chinese are written without spaces, so "赤い猫" must still yield 赤. Katakana and
    Hangul runs stay whole: they spell words (オレンジ, 빨간) whose single syllables would be
    ambiguous and very common (하 of 하얀 "white" is also the 하 of 하늘 "sky").
    """
    cjk = Regex(r"\p{Han}|\p{Hiragana}|[\p{Katakana}ー]+|\p{Hangul}+")
    return pre_tokenizers.Sequence(
        [pre_tokenizers.Split(cjk, behavior="isolated"), pre_tokenizers.Whitespace()]
    )


def _pieces(text: str) -> list[str]:
    """The vocabulary entries `text` is made of, exactly as the tokenizer will see them."""
    normalised = _normalizer().normalize_str(text)
    return [piece for piece, _ in _pre_tokenizer().pre_tokenize_str(normalised)]


def _vocabulary(query_prefix: str) -> tuple[dict[str, int], dict[str, int]]:
    """The WordLevel vocabulary and, for colour-carrying pieces, the index of their colour.

    A piece carries a colour when it is itself one of that colour's listed forms; the other pieces
    of longer forms (the い of 赤い) and all filler words carry none.
    """
    carriers: dict[str, int] = {}
    for index, by_language in enumerate(COLOUR_WORDS.values()):
        for form in _all_forms(by_language):
            pieces = _pieces(form)
            if len(pieces) != 1:
                continue
            if carriers.setdefault(pieces[0], index) != index:
                raise ValueError(f"{form!r} is listed under two colours")
    others: set[str] = set()
    for text in (*FILLER_WORDS, query_prefix, *_all_colour_forms()):
        others.update(_pieces(text))
    ordinary = sorted(others - carriers.keys() - set(SPECIAL_TOKENS))
    tokens = [*SPECIAL_TOKENS, *carriers, *ordinary]
    return {token: i for i, token in enumerate(tokens)}, carriers


def _all_forms(by_language: dict[str, list[str]]) -> Iterable[str]:
    for forms in by_language.values():
        yield from forms


def _all_colour_forms() -> Iterable[str]:
    for by_language in COLOUR_WORDS.values():
        yield from _all_forms(by_language)


def _tokenizer(vocab: dict[str, int]) -> Tokenizer:
    """XLM-RoBERTa's special tokens and template; no truncation or padding (the engine does it)."""
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = _normalizer()
    tokenizer.pre_tokenizer = _pre_tokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])],
    )
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


# --- weights -------------------------------------------------------------------------------------


def _rng(model_id: str, seed: int) -> np.random.Generator:
    """One generator per (model id, seed): another id or seed means another model."""
    digest = hashlib.sha256(f"{model_id}\n{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def _random_vectors(rng: np.random.Generator, count: int, size: int, norm: float) -> np.ndarray:
    """`count` random directions in `size` dimensions, each scaled to `norm`."""
    vectors = rng.standard_normal((count, size))
    scaled: np.ndarray = norm * vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return scaled


def _kept_directions(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` orthonormal directions in the kept dims: concepts first, then layout directions.

    Orthogonality makes the colours exactly separable and keeps an image's layout from ever
    looking like a colour.
    """
    q, _ = np.linalg.qr(rng.standard_normal((KEPT_DIMS, count)))
    return q.T


def _text_table(
    rng: np.random.Generator,
    vocab: dict[str, int],
    carriers: dict[str, int],
    concepts: np.ndarray,
    dim: int,
    *,
    clip: bool = False,
    prefix_pieces: frozenset[str] = frozenset(),
    prefix_direction: np.ndarray | None = None,
    layout: np.ndarray | None = None,
) -> np.ndarray:
    """Per-token rows: colour words near their concept, other words small and mostly outside
    (``clip``: other words inside the kept dims, the prefix's pieces along its direction)."""
    rest = dim - KEPT_DIMS
    filler_kept = CLIP_FILLER_KEPT_NORM if clip else FILLER_KEPT_NORM
    filler_rest = CLIP_FILLER_REST_NORM if clip else FILLER_REST_NORM
    table = np.zeros((len(vocab), dim))
    for token, row in vocab.items():
        if token in SPECIAL_TOKENS:
            continue
        if token in carriers:
            kept = concepts[carriers[token]] + _random_vectors(rng, 1, KEPT_DIMS, COLOUR_WORD_NOISE)
            rest_norm = COLOUR_WORD_NOISE
        else:
            small = clip and token in FUNCTION_WORDS
            kept = _random_vectors(rng, 1, KEPT_DIMS, CLIP_FUNCTION_NORM if small else filler_kept)
            rest_norm = filler_rest
            if token in prefix_pieces and prefix_direction is not None and not small:
                kept = kept + CLIP_PREFIX_PULL * prefix_direction
            if layout is not None and not small:
                # words share some directions with what pictures look like, so an unrelated
                # text-picture pair scatters around zero as in a real model
                mix = rng.standard_normal(layout.shape[0])
                kept = kept + CLIP_WORD_LAYOUT * (mix / np.linalg.norm(mix)) @ layout
        table[row, :KEPT_DIMS] = kept[0]
        if rest:
            table[row, KEPT_DIMS:] = _random_vectors(rng, 1, rest, rest_norm)[0]
    return table.astype(np.float32)


def _padded(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Kept-dims vectors widened to the full output size with zeros."""
    out = np.zeros((vectors.shape[0], dim), dtype=np.float32)
    out[:, : vectors.shape[1]] = vectors
    return out


def _rest_vector(rng: np.random.Generator, dim: int, norm: float) -> np.ndarray:
    """A fixed vector outside the kept dims (zeros when there are none)."""
    out = np.zeros(dim, dtype=np.float32)
    if dim > KEPT_DIMS:
        out[KEPT_DIMS:] = _random_vectors(rng, 1, dim - KEPT_DIMS, norm)[0]
    return out


# --- graphs --------------------------------------------------------------------------------------


def _init(
    name: str, value: np.ndarray | Sequence[float] | Sequence[int] | float, dtype: type
) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def _l2norm_nodes(source: str, target: str) -> list[onnx.NodeProto]:
    """`target` = `source` / its L2 norm over the last axis (guarded against a zero vector)."""
    return [
        helper.make_node("ReduceL2", [source], [f"{source}_norm"], axes=[1], keepdims=1),
        helper.make_node("Max", [f"{source}_norm", "norm_eps"], [f"{source}_safe_norm"]),
        helper.make_node("Div", [source, f"{source}_safe_norm"], [target]),
    ]


def _model(graph: onnx.GraphProto, doc: str) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="lanterna-toy",
        doc_string=doc,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _outputs(prefix: str, dim: int) -> list[onnx.ValueInfoProto]:
    return [
        helper.make_tensor_value_info(f"{prefix}_embeddings", TensorProto.FLOAT, ["batch", dim]),
        helper.make_tensor_value_info(
            f"l2norm_{prefix}_embeddings", TensorProto.FLOAT, ["batch", dim]
        ),
    ]


@dataclass(frozen=True)
class _Clip:
    """The parts of the text tower that give it a real CLIP model's geometry."""

    gap: np.ndarray  # (dim,) the text tower's offset
    prefix: np.ndarray  # (dim, 1) the prefix direction
    text_concepts: np.ndarray  # (dim, colours) text-side colour directions, as columns
    image_concepts: np.ndarray  # (colours, dim) the image-side concepts they map to


def _clip_text_nodes(source: str, target: str) -> list[onnx.NodeProto]:
    """``target`` = unit(source) + gap + (base + gain * prefix share) * bridge(unit(source))."""
    return [
        *_l2norm_nodes(source, "pooled_unit"),
        helper.make_node("MatMul", ["pooled_unit", "prefix_direction"], ["prefix_share"]),
        helper.make_node("Mul", ["prefix_share", "bridge_gain"], ["prefix_boost"]),
        helper.make_node("Add", ["prefix_boost", "bridge_base"], ["bridge_weight"]),
        helper.make_node("MatMul", ["pooled_unit", "text_concepts"], ["colour_share"]),
        helper.make_node("MatMul", ["colour_share", "image_concepts"], ["bridge"]),
        helper.make_node("Mul", ["bridge", "bridge_weight"], ["weighted_bridge"]),
        helper.make_node("Add", ["pooled_unit", "text_gap"], ["gapped"]),
        helper.make_node("Add", ["gapped", "weighted_bridge"], [target]),
    ]


def _clip_text_initializers(clip: _Clip) -> list[onnx.TensorProto]:
    return [
        _init("prefix_direction", clip.prefix, np.float32),
        _init("bridge_gain", BRIDGE_PREFIX_GAIN, np.float32),
        _init("bridge_base", BRIDGE_BASE, np.float32),
        _init("text_concepts", clip.text_concepts, np.float32),
        _init("image_concepts", clip.image_concepts, np.float32),
        _init("text_gap", clip.gap, np.float32),
    ]


def _text_graph(
    table: np.ndarray,
    bias: np.ndarray,
    attention_mask: bool,
    pad_id: int,
    clip: _Clip | None = None,
) -> onnx.ModelProto:
    """Masked mean of token rows, plus a tiny bias, then L2-normalised (``clip``: with the gap and
    the prefix-opened bridge to the image concepts before the last normalisation).

    Without an `attention_mask` input the mask is derived from `pad_id`, like the real tower; either
    way padding never reaches the mean, so a text's vector does not depend on its batch.
    """
    dim = table.shape[1]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    inputs = [ids]
    if attention_mask:
        mask = helper.make_tensor_value_info(
            "attention_mask", TensorProto.INT64, ["batch", "sequence"]
        )
        inputs.append(mask)
        mask_nodes = [helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT)]
    else:
        mask_nodes = [
            helper.make_node("Equal", ["input_ids", "pad_id"], ["is_pad"]),
            helper.make_node("Not", ["is_pad"], ["is_token"]),
            helper.make_node("Cast", ["is_token"], ["mask"], to=TensorProto.FLOAT),
        ]
    nodes = [
        helper.make_node("Gather", ["token_table", "input_ids"], ["token_vectors"], axis=0),
        *mask_nodes,
        helper.make_node("Unsqueeze", ["mask", "axis_2"], ["mask_3d"]),
        helper.make_node("Mul", ["token_vectors", "mask_3d"], ["masked_vectors"]),
        helper.make_node("ReduceSum", ["masked_vectors", "axis_1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask", "axis_1"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one"], ["safe_count"]),
        helper.make_node("Div", ["summed", "safe_count"], ["mean"]),
        helper.make_node("Add", ["mean", "text_bias"], ["pooled" if clip else "text_embeddings"]),
        *(_clip_text_nodes("pooled", "text_embeddings") if clip else []),
        *_l2norm_nodes("text_embeddings", "l2norm_text_embeddings"),
    ]
    initializers = [
        _init("token_table", table, np.float32),
        _init("text_bias", bias, np.float32),
        _init("pad_id", pad_id, np.int64),
        _init("axis_1", [1], np.int64),
        _init("axis_2", [2], np.int64),
        _init("one", 1.0, np.float32),
        _init("norm_eps", NORM_EPS, np.float32),
        *(_clip_text_initializers(clip) if clip else []),
    ]
    graph = helper.make_graph(nodes, "toy_text", inputs, _outputs("text", dim), initializers)
    return _model(graph, "Toy text tower: masked mean of token vectors.")


def _vision_graph(
    image_size: int,
    concepts: np.ndarray,
    layout: np.ndarray,
    rest: np.ndarray,
) -> onnx.ModelProto:
    """Colour meaning from the mean RGB, layout from a coarse grid, then L2-normalised.

    Inputs are normalised like CLIP; the graph undoes that so the colour prototypes can be plain
    RGB values in [0, 1].
    """
    dim = concepts.shape[1]
    cell = image_size // GRID
    pixels = helper.make_tensor_value_info(
        "pixel_values", TensorProto.FLOAT, ["batch", 3, image_size, image_size]
    )
    prototypes = np.array(list(COLOURS.values()), dtype=np.float32) / 255.0
    nodes = [
        helper.make_node("Mul", ["pixel_values", "clip_std"], ["scaled"]),
        helper.make_node("Add", ["scaled", "clip_mean"], ["rgb"]),
        helper.make_node("ReduceMean", ["rgb"], ["mean_rgb_4d"], axes=[2, 3], keepdims=1),
        helper.make_node(
            "AveragePool", ["rgb"], ["grid"], kernel_shape=[cell, cell], strides=[cell, cell]
        ),
        # Layout: the grid relative to the mean colour, so it says nothing about the colour.
        helper.make_node("Sub", ["grid", "mean_rgb_4d"], ["centred_grid"]),
        helper.make_node("Flatten", ["centred_grid"], ["grid_features"], axis=1),
        helper.make_node("MatMul", ["grid_features", "layout_projection"], ["layout"]),
        # Colour: softmax over prototypes of -(squared distance) / temperature.
        helper.make_node("Flatten", ["mean_rgb_4d"], ["mean_rgb"], axis=1),
        helper.make_node("Unsqueeze", ["mean_rgb", "axis_1"], ["mean_rgb_3d"]),
        helper.make_node("Sub", ["mean_rgb_3d", "prototypes"], ["difference"]),
        helper.make_node("Mul", ["difference", "difference"], ["squared"]),
        helper.make_node("ReduceSum", ["squared", "axis_2"], ["distance"], keepdims=0),
        helper.make_node("Mul", ["distance", "neg_inv_temperature"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["colour_weights"], axis=-1),
        helper.make_node("MatMul", ["colour_weights", "concepts"], ["meaning"]),
        helper.make_node("Add", ["meaning", "layout"], ["kept"]),
        helper.make_node("Add", ["kept", "image_rest"], ["image_embeddings"]),
        *_l2norm_nodes("image_embeddings", "l2norm_image_embeddings"),
    ]
    initializers = [
        _init("clip_mean", np.reshape(CLIP_MEAN, (1, 3, 1, 1)), np.float32),
        _init("clip_std", np.reshape(CLIP_STD, (1, 3, 1, 1)), np.float32),
        _init("prototypes", prototypes, np.float32),
        _init("neg_inv_temperature", -1.0 / TEMPERATURE, np.float32),
        _init("concepts", concepts, np.float32),
        _init("layout_projection", layout, np.float32),
        _init("image_rest", rest, np.float32),
        _init("axis_1", [1], np.int64),
        _init("axis_2", [2], np.int64),
        _init("norm_eps", NORM_EPS, np.float32),
    ]
    graph = helper.make_graph(nodes, "toy_vision", [pixels], _outputs("image", dim), initializers)
    return _model(graph, "Toy vision tower: mean colour and a coarse layout grid.")


# --- folder --------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(
    folder: Path,
    *,
    model_id: str,
    revision: str,
    dim: int,
    image_size: int,
    max_tokens: int,
    query_prefix: str,
) -> dict[str, object]:
    return {
        "format": 1,
        "id": model_id,
        "revision": revision,
        "licence": "CC0-1.0",
        "dim": dim,
        "matryoshka_dims": [d for d in MATRYOSHKA_DIMS if d <= dim],
        "text": {
            "file": TEXT_FILE,
            "tokenizer": TOKENIZER_FILE,
            "max_tokens": max_tokens,
            "pad_id": PAD_ID,
            "query_prefix": query_prefix,
            "output": "l2norm_text_embeddings",
        },
        "vision": {
            "file": VISION_FILE,
            "image_size": image_size,
            "resize": "shortest_edge_then_center_crop",
            "resample": "bicubic",
            "mean": list(CLIP_MEAN),
            "std": list(CLIP_STD),
            "output": "l2norm_image_embeddings",
        },
        "sha256": {
            name: _sha256(folder / name) for name in (TEXT_FILE, VISION_FILE, TOKENIZER_FILE)
        },
    }


def _check_arguments(dim: int, image_size: int, max_tokens: int) -> None:
    if dim < KEPT_DIMS:
        raise ValueError(f"dim must be at least {KEPT_DIMS} (the engine keeps {KEPT_DIMS} dims)")
    if image_size < GRID or image_size % GRID:
        raise ValueError(f"image_size must be a positive multiple of {GRID}")
    if max_tokens < 3:
        raise ValueError("max_tokens must leave room for <s>, a word and </s>")


def build_toy_model(
    out_dir: str | Path,
    *,
    dim: int = 1024,
    image_size: int = 512,
    max_tokens: int = 512,
    attention_mask: bool = False,
    model_id: str = "lanterna/toy-clip",
    revision: str = "toy-1",
    seed: int = 0,
    query_prefix: str = DEFAULT_QUERY_PREFIX,
    geometry: str = "clip",
) -> Path:
    """Write a toy model folder (manifest, two towers, tokenizer) to `out_dir` and return its path.

    `attention_mask=True` makes the text tower declare an `attention_mask` input, the other shape
    the contract allows. `geometry` is "clip" (a real CLIP model's modality gap, moving prefix and
    words; the default) or "clean" (the ideal toy). The same arguments always give byte-identical
    files.
    """
    _check_arguments(dim, image_size, max_tokens)
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {', '.join(GEOMETRIES)}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rng = _rng(model_id, seed)

    clip_like = geometry == "clip"
    extra = len(COLOURS) + 3 if clip_like else 0  # text concepts, two gaps, prefix direction
    directions = _kept_directions(rng, len(COLOURS) + GRID_FEATURES + extra)
    concepts = _padded(directions[: len(COLOURS)], dim)
    layout = GRID_GAIN * _padded(directions[len(COLOURS) : len(COLOURS) + GRID_FEATURES], dim)
    image_rest = _rest_vector(rng, dim, IMAGE_REST_NORM)
    vocab, carriers = _vocabulary(query_prefix)
    clip: _Clip | None = None
    if clip_like:
        more = directions[len(COLOURS) + GRID_FEATURES :]
        text_concepts = more[: len(COLOURS)]
        text_gap, image_gap, prefix_direction = more[len(COLOURS) :]
        image_rest += IMAGE_GAP * _padded(image_gap[None], dim)[0]
        table = _text_table(
            rng,
            vocab,
            carriers,
            text_concepts,
            dim,
            clip=True,
            prefix_pieces=frozenset(_pieces(query_prefix)),
            prefix_direction=prefix_direction[None],
            layout=directions[len(COLOURS) : len(COLOURS) + GRID_FEATURES],
        )
        clip = _Clip(
            gap=TEXT_GAP * _padded(text_gap[None], dim)[0],
            prefix=_padded(prefix_direction[None], dim).T,
            text_concepts=_padded(text_concepts, dim).T,
            image_concepts=concepts,
        )
    else:
        table = _text_table(rng, vocab, carriers, concepts[:, :KEPT_DIMS], dim)
    text_bias = _padded(_random_vectors(rng, 1, KEPT_DIMS, TEXT_BIAS_NORM), dim)[0]
    text_bias += _rest_vector(rng, dim, TEXT_BIAS_NORM)

    onnx.save(_text_graph(table, text_bias, attention_mask, PAD_ID, clip), folder / TEXT_FILE)
    onnx.save(_vision_graph(image_size, concepts, layout, image_rest), folder / VISION_FILE)
    (folder / TOKENIZER_FILE).write_text(_tokenizer(vocab).to_str(pretty=True), encoding="utf-8")
    manifest = _manifest(
        folder,
        model_id=model_id,
        revision=revision,
        dim=dim,
        image_size=image_size,
        max_tokens=max_tokens,
        query_prefix=query_prefix,
    )
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (folder / MANIFEST_FILE).write_text(text, encoding="utf-8")
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build a toy model folder, e.g. to try the app without the real model."""
    parser = argparse.ArgumentParser(
        prog="python -m onnx_models.toy",
        description="Build the toy model folder (it understands colours, in a dozen languages).",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write (created if missing)")
    parser.add_argument(
        "--attention-mask",
        action="store_true",
        help="give the text tower an attention_mask input",
    )
    parser.add_argument("--id", default="lanterna/toy-clip", help="model id for the manifest")
    parser.add_argument("--revision", default="toy-1", help="revision for the manifest")
    parser.add_argument("--seed", type=int, default=0, help="seed for the model's vectors")
    parser.add_argument(
        "--geometry",
        choices=GEOMETRIES,
        default="clip",
        help="clip: a real CLIP model's modality gap (default); clean: the ideal toy",
    )
    args = parser.parse_args(argv)
    folder = build_toy_model(
        args.out_dir,
        attention_mask=args.attention_mask,
        model_id=args.id,
        revision=args.revision,
        seed=args.seed,
        geometry=args.geometry,
    )
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
