"""Neutral probes: texts and pictures about nothing in particular, embedded once per model.

A query's cosines against these tell what an unrelated item of each type scores for *this*
query with *this* model: the background that engine.ranking measures a match against. Text
and image vectors sit in different regions of a CLIP-like space (the modality gap), so each
type has its own probes. They are stored in the index by the writer (``Store.set_probes``);
a reader finds them there, or embeds the text ones itself and leaves images to the library's
own photos.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from .embedder import Embedder
from .preprocess import to_tensor

# Everyday sentences in many languages and scripts that name no colour, place or thing a search
# is likely to be about; several per language so no single one weighs much.
TEXT_PROBES: tuple[str, ...] = (
    "The meeting was moved to next week because several people could not attend.",
    "Please remember to bring the signed form when you come back on Monday.",
    "We talked for a while and then everybody went home early.",
    "This section explains how the numbers in the table were calculated.",
    "Thank you for your message; I will answer as soon as I can.",
    "The results are summarised below and discussed in the next chapter.",
    "La réunion a été reportée à la semaine prochaine faute de participants.",
    "Merci de bien vouloir confirmer votre présence avant vendredi.",
    "Nous avons parlé un moment puis chacun est rentré chez soi.",
    "Die Besprechung wurde auf nächste Woche verschoben.",
    "Bitte bringen Sie das unterschriebene Formular am Montag mit.",
    "Wir haben uns eine Weile unterhalten und sind dann nach Hause gegangen.",
    "La reunión se aplazó hasta la semana que viene.",
    "Por favor, confirme su asistencia antes del viernes.",
    "La riunione è stata rinviata alla settimana prossima.",
    "Grazie per il messaggio, risponderò appena possibile.",
    "A reunião foi adiada para a próxima semana.",
    "Obrigado pela mensagem, responderei assim que puder.",
    "Встреча перенесена на следующую неделю.",
    "Спасибо за сообщение, я отвечу, как только смогу.",
    "Η συνάντηση μεταφέρθηκε για την επόμενη εβδομάδα.",
    "تم تأجيل الاجتماع إلى الأسبوع المقبل.",
    "बैठक को अगले सप्ताह के लिए टाल दिया गया है।",
    "会議は来週に延期されました。",
    "ご連絡ありがとうございます。後ほどお返事します。",
    "会议推迟到下周举行。",
    "谢谢你的消息，我会尽快回复。",
    "회의는 다음 주로 연기되었습니다.",
    "Het overleg is verplaatst naar volgende week.",
    "Spotkanie zostało przełożone na przyszły tydzień.",
    "Toplantı gelecek haftaya ertelendi.",
    "Cuộc họp đã được dời sang tuần sau.",
)

IMAGE_PROBE_COUNT = 16
_IMAGE_PROBE_SIZE = 96


def image_probes(count: int = IMAGE_PROBE_COUNT) -> list[Image.Image]:
    """Seeded pictures of nothing: soft textured fields, each with its own colour cast, the casts
    spread evenly round the colour wheel and over light and dark, so no hue dominates the set."""
    import colorsys

    digest = hashlib.sha256(b"lanterna image probes 1").digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    out = []
    size = _IMAGE_PROBE_SIZE
    for i in range(count):
        hue = i / count
        value = (0.35, 0.6, 0.85)[i % 3]
        cast = np.array(colorsys.hsv_to_rgb(hue, 0.55, value)) * 255
        cells = 4 + i % 4
        coarse = cast + rng.normal(0, 40, (cells, cells, 3))
        field = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8))
        field = field.resize((size, size), Image.Resampling.BICUBIC)
        noise = rng.normal(0, 12 + 4 * (i % 3), (size, size, 3))
        pixels = np.clip(np.asarray(field, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
        picture = Image.fromarray(pixels)
        if i % 2:
            picture = picture.filter(ImageFilter.GaussianBlur(1.5))
        out.append(picture)
    return out


def embed_text_probes(embedder: Embedder) -> npt.NDArray[np.float32]:
    """The text probes as passages (no query prefix), like the documents they stand in for."""
    return embedder.embed_texts(list(TEXT_PROBES), count=False)


def embed_image_probes(
    embedder: Embedder, each: Callable[[int, int], bool] | None = None
) -> npt.NDArray[np.float32] | None:
    """The picture probes, one at a time (seconds each for the real tower on a CPU); ``each``
    hears (done, total) after each and may return False to stop: then None."""
    spec = embedder.model.vision
    pictures = image_probes()
    out = []
    for i, picture in enumerate(pictures):
        out.append(embedder.embed_pixels(to_tensor(picture, spec)[None], count=False))
        if each is not None and not each(i + 1, len(pictures)):
            return None
    return np.concatenate(out)


def model_key(embedder: Embedder) -> str:
    """Which model the stored probes belong to."""
    model = embedder.model
    return f"{model.id}@{model.revision}#{model.manifest_hash}"
