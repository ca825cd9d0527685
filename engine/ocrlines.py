"""Lines of text read from pictures, as stored with OCR passages, and marking the search results
that matched them. Light on purpose (no numpy, Pillow or ONNX Runtime): every search that finds
text goes through :func:`annotate`, a search of exact words included."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .fts import words

if TYPE_CHECKING:
    from .search import Result
    from .store import Store

Box = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Line:
    """One line of recognised text; ``box`` is its four corners (clockwise from top left as
    the text reads) in the picture's pixels."""

    text: str
    confidence: float
    box: Box

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "conf": round(self.confidence, 4),
            "box": [[round(x, 1), round(y, 1)] for x, y in self.box],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Line:
        pts = data["box"]
        box: Box = (
            (float(pts[0][0]), float(pts[0][1])),
            (float(pts[1][0]), float(pts[1][1])),
            (float(pts[2][0]), float(pts[2][1])),
            (float(pts[3][0]), float(pts[3][1])),
        )
        return cls(str(data["text"]), float(data["conf"]), box)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) around the box."""
        xs = [p[0] for p in self.box]
        ys = [p[1] for p in self.box]
        return min(xs), min(ys), max(xs), max(ys)


def best_line(lines: Sequence[Line], words: Sequence[str]) -> Line | None:
    """The line that holds most of ``words`` (lower-case), else the most confident one."""
    if not lines:
        return None

    def hits(line: Line) -> int:
        low = line.text.lower()
        return sum(1 for w in words if w and w in low)

    return max(lines, key=lambda line: (hits(line), line.confidence))


def lines_of(boxes: str) -> tuple[tuple[int, int], list[Line]]:
    """The picture size and the lines stored with an OCR passage."""
    try:
        data = json.loads(boxes)
        size = (int(data["size"][0]), int(data["size"][1]))
        return size, [Line.from_json(x) for x in data["lines"]]
    except (ValueError, KeyError, TypeError, IndexError):
        return (0, 0), []


def annotate(store: Store, results: Sequence[Result], text: str) -> list[Result]:
    """Mark the results that matched text read from their picture: which line, and where.

    A text match on an image, or on a page whose passages came from OCR (only pages without
    a text layer are read), is a match of text in the picture.
    """
    query_words = words(text)
    out = []
    for r in results:
        if r.type != "text":
            out.append(r)
            continue
        items = store.ocr_items(r.file_id, r.item)
        if not items:
            out.append(r)
            continue
        size = (0, 0)
        lines: list[Line] = []
        chosen = [i for i in items if r.snippet and _plain(r.snippet) in i[2]] or items
        for _, _, _, boxes in chosen:
            size, found = lines_of(boxes)
            lines.extend(found)
        line = best_line(lines, query_words)
        if line is None or not size[0] or not size[1]:
            out.append(r)
            continue
        # mark the lines that hold as many of the words as the best one does (all of them
        # where the words are on several lines alike), else the line that matched by meaning
        most = _hits(line, query_words)
        marked = [ln for ln in lines if most and _hits(ln, query_words) == most] or [line]
        out.append(
            replace(
                r,
                source="ocr",
                line=line.text,
                boxes=tuple(_normalised(ln, size) for ln in marked),
            )
        )
    return out


def _hits(line: Line, query_words: Sequence[str]) -> int:
    low = line.text.lower()
    return sum(1 for w in query_words if w in low)


def _plain(snippet: str) -> str:
    """A stored passage's text as a vector hit gives it (keyword snippets are shortened)."""
    return snippet.strip()


def _normalised(line: Line, size: tuple[int, int]) -> tuple[float, float, float, float]:
    left, top, right, bottom = line.bounds
    w, h = size
    return (
        max(0.0, left / w),
        max(0.0, top / h),
        min(1.0, right / w),
        min(1.0, bottom / h),
    )
