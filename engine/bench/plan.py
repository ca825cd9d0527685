"""What a benchmark run measures: the sections, the quick and full plans, the sizes."""

from __future__ import annotations

from dataclasses import dataclass

SECTIONS = ("decode", "pipeline", "query", "memory", "gui", "ocr", "towers", "cli")
DIMS = 256
K = 10
MIB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """How much of everything a mode measures."""

    decode_reps: int
    pipeline_files: int
    write_probe: tuple[int, ...]  # index sizes at which a batch write is timed
    queries: int
    sqlite_sizes: tuple[int, ...]
    vector_sizes: tuple[int, ...]
    int8: bool
    memory_files: tuple[int, int]
    text_queries: int
    gui: bool
    tower_photos: int = 8  # real photos per vision run (also the agreement set)
    tower_batches: tuple[int, ...] = (1, 4)
    tower_images: int = 4  # images per batch size beyond batch 1
    pipeline_seconds: float = 30.0  # a tower slower than this allows gets fewer pipeline files
    cli_items: int = 100_000  # the index that `lanterna search` in a new process searches
    cli_reps: int = 5


QUICK = Plan(
    decode_reps=5,
    pipeline_files=24,
    write_probe=(1_000, 10_000),
    queries=20,
    sqlite_sizes=(10_000, 100_000),
    vector_sizes=(10_000, 100_000, 1_000_000),
    int8=False,
    memory_files=(200, 1_000),
    text_queries=30,
    gui=False,
)
FULL = Plan(
    decode_reps=9,
    pipeline_files=160,
    write_probe=(1_000, 10_000, 50_000),
    queries=50,
    sqlite_sizes=(10_000, 100_000, 1_000_000),
    vector_sizes=(10_000, 100_000, 1_000_000),
    int8=True,
    memory_files=(1_000, 10_000),
    text_queries=100,
    gui=True,
    tower_photos=16,
    tower_batches=(1, 2, 4, 8),
    tower_images=16,
    pipeline_seconds=120.0,
    cli_reps=15,
)

TEXT_QUERIES = (
    "a red car",
    "green leaves in the forest",
    "blue sky over the sea",
    "a yellow flower",
    "black and white photo",
    "orange sunset",
    "purple dress",
    "pink cake at a birthday",
    "brown dog on the grass",
    "grey rainy street",
    "white snow on the mountains",
    "kids playing in the park",
)
