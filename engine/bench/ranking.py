"""The figures behind the ranking's defaults: how far related and unrelated items stand above
the calibration background, on the toy model with its modality gap on ("clip") and off ("clean").

    python -m engine.bench.ranking [--json]

It builds both toy models, indexes generated photos (one per colour, named by number) and
generated notes (a few about a colour, the rest about nothing the toy knows), runs colour queries
in several languages, and reports, per geometry, the strengths (background spreads) of the right
items and the strongest unrelated ones, and where the cut-off falls between them.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from PIL import Image

NOTES_ABOUT = {  # colour -> a note that talks about it
    "red": "Les tomates du jardin sont enfin rouges et mûres.",
    "blue": "Le ciel est bleu au-dessus de la mer.",
    "yellow": "Das Auto ist gelb und schnell.",
    "green": "El bosque verde despierta.",
}
UNRELATED = [
    "Call the plumber about the kitchen sink on Tuesday.",
    "Zanzibar trip: book the ferry and the hotel.",
    "Meeting notes: budget approved, next review in March.",
    "Recipe: flour, eggs, milk, a pinch of salt.",
    "Remember to renew the passport before the summer.",
    "The train leaves at 8:15 from platform four.",
    "La réunion est reportée à jeudi prochain.",
    "Bitte die Rechnung bis Ende des Monats bezahlen.",
    "Не забудь купить хлеб и молоко.",
    "明天下午三点开会。",
]
QUERIES = [
    ("red", "rouge"),
    ("green", "grün"),
    ("blue", "azul"),
    ("yellow", "giallo"),
    ("black", "чёрный"),
    ("white", "白"),
    ("orange", "橙色"),
    ("purple", "보라색"),
]


def measure(geometry: str, root: Path) -> dict[str, object]:
    from engine import search as search_module
    from engine.library import Library
    from engine.search import Query
    from onnx_models.toy import COLOURS, build_toy_model

    model = build_toy_model(root / f"model-{geometry}", geometry=geometry)
    photos = root / f"photos-{geometry}"
    notes = root / f"notes-{geometry}"
    photos.mkdir()
    notes.mkdir()
    photo_of = {}
    for i, (colour, rgb) in enumerate(COLOURS.items()):
        path = photos / f"IMG_{i:04d}.jpg"
        Image.new("RGB", (320, 240), rgb).save(path)
        photo_of[colour] = str(path)
    note_of = {}
    for colour, text in NOTES_ABOUT.items():
        path = notes / f"about-{colour}.txt"
        path.write_text(text, encoding="utf-8")
        note_of[colour] = str(path)
    unrelated = set()
    for i, text in enumerate(UNRELATED):
        path = notes / f"note-{i:02d}.txt"
        path.write_text(text, encoding="utf-8")
        unrelated.add(str(path))

    lib = Library(root / f"data-{geometry}", model, device="cpu")
    lib.add_folders([photos, notes])
    lib.index()
    rows: list[dict[str, float | str | None]] = []
    original = search_module.match_of
    try:
        # undo the logistic's saturation to read the strengths themselves
        def unsaturated(spreads: float) -> float:
            return 1 / (1 + math.exp(-max(min(spreads, 700.0), -700.0) / 100))

        search_module.match_of = unsaturated
        for colour, text in QUERIES:
            results = lib.search(Query(text=text, k=100, show_all=True, meaning_only=True))
            strength: dict[str, float] = {}
            for r in results:
                m = min(max(r.match, 1e-300), 1 - 1e-16)
                strength.setdefault(r.path, 100 * math.log(m / (1 - m)))
            photo = strength.get(photo_of[colour], math.nan)
            note = strength.get(note_of.get(colour, ""), math.nan)
            others = [v for p, v in strength.items() if p in unrelated]
            others += [
                v for c, p in photo_of.items() if c != colour for v in [strength.get(p)] if v
            ]
            rows.append(
                {
                    "query": text,
                    "photo": round(photo, 2),
                    "note_about_it": None if math.isnan(note) else round(note, 2),
                    "strongest_unrelated": round(max(others), 2),
                }
            )
    finally:
        search_module.match_of = original
        lib.close()
    related = [float(r["photo"] or 0) for r in rows]
    related += [float(r["note_about_it"] or 0) for r in rows if r["note_about_it"] is not None]
    return {
        "geometry": geometry,
        "rows": rows,
        "weakest_related": min(related),
        "strongest_unrelated": max(float(r["strongest_unrelated"] or 0) for r in rows),
        "cutoff": search_module.CUTOFF_SPREADS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.bench.ranking")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = [measure(g, Path(tmp)) for g in ("clip", "clean")]
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    for block in out:
        print(f"toy geometry {block['geometry']}: cut-off {block['cutoff']} spreads")
        print(f"  {'query':10} {'photo':>8} {'note':>8} {'unrelated':>10}")
        for r in block["rows"]:  # type: ignore[attr-defined]
            note = "" if r["note_about_it"] is None else f"{r['note_about_it']:8.2f}"
            print(f"  {r['query']:10} {r['photo']:8.2f} {note:>8} {r['strongest_unrelated']:10.2f}")
        print(
            f"  weakest related {block['weakest_related']:.2f}, "
            f"strongest unrelated {block['strongest_unrelated']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
