"""The toy model folder: it follows the model contract and behaves like a small real model.

These tests drive the towers with onnxruntime, `tokenizers` and Pillow directly (not through the
engine), so a failure here points at the toy model and not at the code that uses it.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image
from tokenizers import Tokenizer

from onnx_models.toy import COLOUR_WORDS, COLOURS, build_toy_model, main
from tests.images import picture

KEPT = 256
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# A sentence per language, "{}" standing for a colour form (only languages written with spaces
# put one around the colour word).
SENTENCES = {
    "en": "a photo of a {} car",
    "fr": "une photo de voiture {}",
    "de": "ein Foto {} Blumen",
    "es": "una foto de flores {}",
    "it": "il gatto {}",
    "pt": "um carro {}",
    "ru": "фото {} машина",
    "el": "φωτογραφία {} γάτα",
    "ar": "صورة سيارة {}",
    "hi": "{} फूल",
    "ja": "{}猫の写真",
    "zh": "{}的花",
    "ko": "{} 고양이 사진",
}


class Towers:
    """A toy model folder, run the way the contract says the engine runs it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text("utf-8"))
        text, vision = self.manifest["text"], self.manifest["vision"]
        self.tokenizer = Tokenizer.from_file(str(folder / text["tokenizer"]))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        self.text = ort.InferenceSession(str(folder / text["file"]), options, providers=providers)
        self.vision = ort.InferenceSession(
            str(folder / vision["file"]), options, providers=providers
        )
        self.has_mask = "attention_mask" in {i.name for i in self.text.get_inputs()}

    def ids(self, texts: list[str], query: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Token ids right-padded with pad_id, and the matching attention mask."""
        spec = self.manifest["text"]
        prefix = spec["query_prefix"] if query else ""
        encoded = [self.tokenizer.encode(prefix + t).ids[: spec["max_tokens"]] for t in texts]
        width = max(len(e) for e in encoded)
        ids = np.full((len(texts), width), spec["pad_id"], dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = e
            mask[row, : len(e)] = 1
        return ids, mask

    def run_text(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids}
        if self.has_mask:
            feed["attention_mask"] = mask
        vectors: np.ndarray = self.text.run([self.manifest["text"]["output"]], feed)[0]
        return vectors

    def embed_texts(self, texts: list[str], query: bool = True) -> np.ndarray:
        return self.run_text(*self.ids(texts, query))

    def pixels(self, image: Image.Image) -> np.ndarray:
        """A plain resize to the model's size, scaled to [0, 1] and normalised per channel."""
        spec = self.manifest["vision"]
        size = spec["image_size"]
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        x = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
        mean, std = np.array(spec["mean"], np.float32), np.array(spec["std"], np.float32)
        return ((x - mean) / std).transpose(2, 0, 1)

    def run_vision(self, pixels: np.ndarray) -> np.ndarray:
        output = self.manifest["vision"]["output"]
        vectors: np.ndarray = self.vision.run([output], {"pixel_values": pixels})[0]
        return vectors

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        return self.run_vision(np.stack([self.pixels(im) for im in images]))


def kept(vectors: np.ndarray) -> np.ndarray:
    """What the engine stores: the first 256 values, renormalised."""
    head = vectors[..., :KEPT]
    unit: np.ndarray = head / np.linalg.norm(head, axis=-1, keepdims=True)
    return unit


def solid(colour: str, size: tuple[int, int] = (320, 240)) -> Image.Image:
    return Image.new("RGB", size, COLOURS[colour])


def noisy(colour: str, seed: int) -> Image.Image:
    """A shaded picture with per-pixel noise on top, like a real photo's grain."""
    base = np.asarray(picture(colour, seed), dtype=np.float32)
    grain = np.random.default_rng(seed).normal(0, 12, base.shape)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8), "RGB")


def recompressed(image: Image.Image, size: tuple[int, int], quality: int = 70) -> Image.Image:
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Towers:
    return Towers(build_toy_model(tmp_path_factory.mktemp("toy") / "model"))


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> Towers:
    folder = build_toy_model(tmp_path_factory.mktemp("masked") / "model", attention_mask=True)
    return Towers(folder)


@pytest.fixture(scope="module", params=["derived-mask", "attention-mask"])
def either(request: pytest.FixtureRequest, toy: Towers, masked: Towers) -> Towers:
    return toy if request.param == "derived-mask" else masked


@pytest.fixture(scope="module")
def gallery(toy: Towers) -> tuple[list[str], np.ndarray]:
    """Kept vectors of a solid and a grainy shaded picture of every colour."""
    labels, images = [], []
    for i, colour in enumerate(COLOURS):
        labels += [colour, colour]
        images += [solid(colour), noisy(colour, seed=i)]
    return labels, kept(toy.embed_images(images))


# --- the folder --------------------------------------------------------------------------------


def test_manifest_follows_the_contract(toy: Towers) -> None:
    m = toy.manifest
    assert m["format"] == 1
    assert (m["id"], m["revision"], m["licence"]) == ("lanterna/toy-clip", "toy-1", "CC0-1.0")
    assert m["dim"] == 1024
    assert m["matryoshka_dims"] == [32, 64, 128, 256, 512, 768, 1024]
    assert m["text"] == {
        "file": "text.onnx",
        "tokenizer": "tokenizer.json",
        "max_tokens": 512,
        "pad_id": 1,
        "query_prefix": "Represent the query for retrieving evidence documents: ",
        "output": "l2norm_text_embeddings",
    }
    assert m["vision"] == {
        "file": "vision.onnx",
        "image_size": 512,
        "resize": "shortest_edge_then_center_crop",
        "resample": "bicubic",
        "mean": CLIP_MEAN,
        "std": CLIP_STD,
        "output": "l2norm_image_embeddings",
    }
    assert set(m["sha256"]) == {"text.onnx", "vision.onnx", "tokenizer.json"}
    for name, digest in m["sha256"].items():
        assert sha256(toy.folder / name) == digest, name
    assert sorted(p.name for p in toy.folder.iterdir()) == [
        "manifest.json",
        "text.onnx",
        "tokenizer.json",
        "vision.onnx",
    ]


def test_options_reach_the_manifest_and_graphs(tmp_path: Path) -> None:
    folder = build_toy_model(
        tmp_path / "small", dim=512, image_size=64, max_tokens=16, query_prefix=""
    )
    towers = Towers(folder)
    m = towers.manifest
    assert m["dim"] == 512
    assert m["matryoshka_dims"] == [32, 64, 128, 256, 512]
    assert (m["text"]["max_tokens"], m["text"]["query_prefix"]) == (16, "")
    assert m["vision"]["image_size"] == 64
    assert towers.vision.get_inputs()[0].shape == ["batch", 3, 64, 64]
    assert towers.embed_images([solid("red")]).shape == (1, 512)
    assert towers.embed_texts(["red"]).shape == (1, 512)


@pytest.mark.parametrize(
    "options",
    [{"dim": 128}, {"image_size": 30}, {"image_size": 0}, {"max_tokens": 2}],
)
def test_impossible_options_are_refused(tmp_path: Path, options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        build_toy_model(tmp_path / "bad", **options)  # type: ignore[arg-type]


def test_build_is_deterministic(tmp_path: Path) -> None:
    one = build_toy_model(tmp_path / "one")
    two = build_toy_model(tmp_path / "two")
    for name in ("manifest.json", "text.onnx", "vision.onnx", "tokenizer.json"):
        assert sha256(one / name) == sha256(two / name), name


@pytest.mark.parametrize("attention_mask", [False, True])
def test_graphs_have_the_contract_signatures(tmp_path: Path, attention_mask: bool) -> None:
    folder = build_toy_model(tmp_path / "m", attention_mask=attention_mask)

    def signature(values: Any) -> list[tuple[str, int, list[int | str]]]:
        return [
            (
                v.name,
                v.type.tensor_type.elem_type,
                [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
            )
            for v in values
        ]

    text = onnx.load(folder / "text.onnx")
    vision = onnx.load(folder / "vision.onnx")
    for model in (text, vision):
        onnx.checker.check_model(model, full_check=True)
        assert model.ir_version <= 9
        assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    ids = ("input_ids", onnx.TensorProto.INT64, ["batch", "sequence"])
    mask = ("attention_mask", onnx.TensorProto.INT64, ["batch", "sequence"])
    assert signature(text.graph.input) == ([ids, mask] if attention_mask else [ids])
    floats = onnx.TensorProto.FLOAT
    assert signature(text.graph.output) == [
        ("text_embeddings", floats, ["batch", 1024]),
        ("l2norm_text_embeddings", floats, ["batch", 1024]),
    ]
    assert signature(vision.graph.input) == [("pixel_values", floats, ["batch", 3, 512, 512])]
    assert signature(vision.graph.output) == [
        ("image_embeddings", floats, ["batch", 1024]),
        ("l2norm_image_embeddings", floats, ["batch", 1024]),
    ]


def test_outputs_are_unit_float32_and_the_raw_outputs_agree(either: Towers) -> None:
    ids, mask = either.ids(["a red car", "赤い猫"])
    feed = {"input_ids": ids, **({"attention_mask": mask} if either.has_mask else {})}
    raw, unit = either.text.run(["text_embeddings", "l2norm_text_embeddings"], feed)
    assert unit.dtype == np.float32 and unit.shape == (2, 1024)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    pixels = np.stack([either.pixels(solid("red")), either.pixels(picture("blue"))])
    raw, unit = either.vision.run(
        ["image_embeddings", "l2norm_image_embeddings"], {"pixel_values": pixels}
    )
    assert unit.dtype == np.float32 and unit.shape == (2, 1024)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


# --- the tokenizer -----------------------------------------------------------------------------


def test_tokenizer_mirrors_xlm_roberta_specials(toy: Towers) -> None:
    tok = toy.tokenizer
    assert [tok.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    encoding = tok.encode("Photo ROUGE")
    assert encoding.tokens == ["<s>", "photo", "rouge", "</s>"]
    assert tok.encode("qwxz").tokens == ["<s>", "<unk>", "</s>"]
    saved = json.loads((toy.folder / "tokenizer.json").read_text("utf-8"))
    assert saved["truncation"] is None and saved["padding"] is None
    assert len(tok.encode(" ".join(["red"] * 2000)).ids) == 2002


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("赤い猫", ["赤", "い", "猫"]),
        ("绿色的草地", ["绿", "色", "的", "草", "地"]),
        ("オレンジの猫", ["オレンジ", "の", "猫"]),
        ("빨간 고양이", ["빨간", "고양이"]),
        ("ＲＥＤ", ["red"]),
        ("ΚΌΚΚΙΝΟΣ", ["κόκκινοσ"]),
        ("grüne Wiese!", ["grüne", "wiese", "!"]),
        ("सफ़ेद बिल्ली", ["सफ़ेद", "बिल्ली"]),
    ],
)
def test_tokenizer_splits_every_script(toy: Towers, text: str, tokens: list[str]) -> None:
    encoding = toy.tokenizer.encode(text)
    assert encoding.tokens == ["<s>", *tokens, "</s>"]
    assert 3 not in encoding.ids


def test_colour_words_cover_languages_and_scripts() -> None:
    assert set(COLOUR_WORDS) == set(COLOURS)
    for colour, by_language in COLOUR_WORDS.items():
        assert len(by_language) >= 8, colour
        assert all(forms for forms in by_language.values()), colour
    scripts = {
        "latin": "en",
        "cyrillic": "ru",
        "greek": "el",
        "arabic": "ar",
        "devanagari": "hi",
        "han": "zh",
        "kana": "ja",
        "hangul": "ko",
    }
    assert all(language in COLOUR_WORDS["red"] for language in scripts.values())


def test_query_prefix_and_common_words_are_in_the_vocabulary(toy: Towers) -> None:
    prefix = toy.manifest["text"]["query_prefix"]
    texts = [prefix, "a photo of a cat", "une photo de chien", "ein Bild", "猫の写真"]
    for text in texts:
        assert 3 not in toy.tokenizer.encode(text).ids, text


# --- the text tower ----------------------------------------------------------------------------


def test_text_vector_does_not_depend_on_the_batch(either: Towers) -> None:
    texts = ["red", "a long sentence about a green meadow under a blue sky in summer", "赤", ""]
    together = either.embed_texts(texts)
    for i, text in enumerate(texts):
        alone = either.embed_texts([text])
        assert alone.shape[1] == together.shape[1]
        np.testing.assert_allclose(alone[0], together[i], atol=1e-5)
    np.testing.assert_allclose(
        either.embed_texts(["rouge"], query=False)[0],
        either.embed_texts(["rouge", "bleu " * 100], query=False)[0],
        atol=1e-5,
    )


def test_derived_mask_ignores_padding(toy: Towers) -> None:
    ids, mask = toy.ids(["photo rouge"])
    padded = np.concatenate([ids, np.full((1, 50), 1, dtype=np.int64)], axis=1)
    np.testing.assert_allclose(toy.run_text(padded, mask)[0], toy.run_text(ids, mask)[0], atol=1e-6)


def test_attention_mask_is_what_hides_padding(masked: Towers) -> None:
    ids, mask = masked.ids(["photo rouge"])
    blue = masked.tokenizer.token_to_id("blue")
    garbage = np.concatenate([ids, np.full((1, 20), blue, dtype=np.int64)], axis=1)
    hidden = np.concatenate([mask, np.zeros((1, 20), dtype=np.int64)], axis=1)
    np.testing.assert_allclose(
        masked.run_text(garbage, hidden)[0], masked.run_text(ids, mask)[0], atol=1e-6
    )
    shown = np.ones_like(hidden)
    assert not np.allclose(masked.run_text(garbage, shown)[0], masked.run_text(ids, mask)[0])


def test_meaningless_text_still_gives_a_finite_direction(toy: Towers) -> None:
    vectors = toy.embed_texts(["", "qwxz zzzy"], query=False)
    assert np.isfinite(vectors).all()
    assert np.isfinite(kept(vectors)).all()


# --- the vision tower --------------------------------------------------------------------------


def test_image_vector_does_not_depend_on_the_batch(toy: Towers) -> None:
    images = [solid("red"), picture("green", seed=3), noisy("purple", seed=4)]
    pixels = np.stack([toy.pixels(im) for im in images])
    together = toy.run_vision(pixels)
    for i in range(len(images)):
        np.testing.assert_allclose(toy.run_vision(pixels[i : i + 1])[0], together[i], atol=1e-5)


def test_truncation_to_256_dims_matters(toy: Towers) -> None:
    image = toy.embed_images([solid("red")])[0]
    text = toy.embed_texts(["red"])[0]
    assert np.linalg.norm(image[KEPT:]) > 0.3
    full = float(image @ text)
    truncated = float(kept(image) @ kept(text))
    assert truncated > full + 0.02


def test_solid_colour_matches_its_word(toy: Towers, gallery: tuple[list[str], np.ndarray]) -> None:
    labels, images = gallery
    for query in (False, True):
        texts = kept(toy.embed_texts(list(COLOURS), query=query))
        scores = texts @ images.T
        for row, colour in enumerate(COLOURS):
            solid_score = scores[row, labels.index(colour)]
            # the modality gap: a matching text-image pair scores about 0.3 (0.15 without the
            # query prefix, which opens the bridge), far below two unrelated texts
            assert (0.22 if query else 0.1) < solid_score < 0.4, colour
            assert labels[int(np.argmax(scores[row]))] == colour


def test_clip_geometry_has_a_modality_gap_and_a_prefix_that_matters(
    toy: Towers, gallery: tuple[list[str], np.ndarray]
) -> None:
    _, images = gallery
    notes = kept(
        toy.embed_texts(["my dog likes the beach", "un chat dort sur le livre"], query=False)
    )
    assert float(notes[0] @ notes[1]) > 0.5  # unrelated sentences
    assert float(images[0] @ images[-1]) > 0.5  # unrelated pictures
    with_prefix = kept(toy.embed_texts(["red"], query=True))[0]
    without = kept(toy.embed_texts(["red"], query=False))[0]
    assert float(with_prefix @ without) < 0.95  # the prefix moves a text vector
    sentence = kept(toy.embed_texts(["red", "a red car by the house"], query=False))
    assert float(sentence[0] @ sentence[1]) < 0.98  # and so do ordinary words


def test_clean_geometry_is_still_there_by_choice(tmp_path: Path) -> None:
    clean = Towers(build_toy_model(tmp_path / "clean", geometry="clean"))
    image = kept(clean.embed_images([solid("red")]))[0]
    text = kept(clean.embed_texts(["red"], query=True))[0]
    assert float(image @ text) > 0.6


def test_every_colour_word_in_every_language_finds_its_colour(
    toy: Towers, gallery: tuple[list[str], np.ndarray]
) -> None:
    labels, images = gallery
    queries: list[tuple[str, str]] = []
    for colour, by_language in COLOUR_WORDS.items():
        for language, forms in by_language.items():
            sentence = SENTENCES[language]
            for form in forms:
                queries += [(colour, form), (colour, sentence.format(form))]
    scores = kept(toy.embed_texts([text for _, text in queries])) @ images.T
    for (colour, text), row in zip(queries, scores, strict=True):
        best_two = {labels[i] for i in np.argsort(-row)[:2]}
        assert best_two == {colour}, text


def test_ordinary_queries_find_their_colour(
    toy: Towers, gallery: tuple[list[str], np.ndarray]
) -> None:
    labels, images = gallery
    queries = {
        "red": ["une voiture rouge", "ein rotes Auto", "赤い車", "красная машина", "红色的花"],
        "green": ["prairie verte", "grüne Wiese", "绿色的草地", "зелёный луг", "πράσινο"],
        "blue": ["ciel bleu", "blauer Himmel", "青い空", "cielo azul", "파란 하늘"],
        "yellow": ["fleurs jaunes", "gelbe Blumen", "黄色い花", "flores amarillas", "أصفر"],
        "black": ["chat noir", "schwarzer Hund", "黒い猫", "черная кошка", "काली बिल्ली"],
        "white": ["plage blanche", "WEISSES Haus", "白い犬", "белый дом", "흰 고양이"],
        "orange": ["an orange cat", "oranger Ball", "オレンジの花", "橙色", "naranja"],
        "purple": ["robe violette", "lila Kleid", "紫の花", "фиолетовый", "보라색 꽃"],
    }
    texts = [text for forms in queries.values() for text in forms]
    scores = kept(toy.embed_texts(texts)) @ images.T
    expected = [colour for colour, forms in queries.items() for _ in forms]
    for colour, text, row in zip(expected, texts, scores, strict=True):
        assert labels[int(np.argmax(row))] == colour, text


def test_a_resized_recompressed_copy_is_nearer_than_another_picture(toy: Towers) -> None:
    for colour, seed in [("blue", 1), ("red", 5), ("white", 9), ("black", 2)]:
        original = picture(colour, seed=seed, size=(800, 600))
        copy = recompressed(original, (400, 300))
        others = [picture(colour, seed=s, size=(800, 600)) for s in range(seed + 1, seed + 5)]
        vectors = kept(toy.embed_images([original, copy, *others]))
        similarity = vectors[1:] @ vectors[0]
        assert similarity[0] > 0.99, colour
        assert similarity[0] > similarity[1:].max() + 0.02, colour


def test_two_different_images_differ(toy: Towers) -> None:
    a, b = kept(toy.embed_images([picture("blue", seed=1), picture("blue", seed=2)]))
    assert float(a @ b) < 0.98


# --- identity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other", [{"seed": 7}, {"model_id": "lanterna/other-toy"}], ids=["seed", "id"]
)
def test_another_seed_or_id_is_another_model(
    toy: Towers, tmp_path: Path, other: dict[str, Any]
) -> None:
    second = Towers(build_toy_model(tmp_path / "other", **other))
    assert second.manifest["sha256"] != toy.manifest["sha256"]
    texts = ["red", "青い空"]
    images = [solid("red"), picture("blue")]
    for mine, theirs in [
        (kept(toy.embed_texts(texts)), kept(second.embed_texts(texts))),
        (kept(toy.embed_images(images)), kept(second.embed_images(images))),
    ]:
        assert (np.sum(mine * theirs, axis=1) < 0.5).all()
    # Each model still makes sense on its own.
    scores = kept(second.embed_texts(["rouge", "bleu"])) @ kept(second.embed_images(images)).T
    assert scores[0, 0] > scores[0, 1] and scores[1, 1] > scores[1, 0]


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    argv = [str(out), "--attention-mask", "--id", "me/toy", "--revision", "r2", "--seed", "3"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    towers = Towers(out)
    assert (towers.manifest["id"], towers.manifest["revision"]) == ("me/toy", "r2")
    assert towers.has_mask
    reference = Towers(build_toy_model(tmp_path / "api", model_id="me/toy", seed=3))
    np.testing.assert_allclose(
        towers.embed_images([solid("red")]), reference.embed_images([solid("red")]), atol=1e-6
    )
