"""What a benchmark run measures: the sections, the quick and full plans, the sizes."""

from __future__ import annotations

from dataclasses import dataclass

SECTIONS = ("decode", "pipeline", "query", "memory", "gui", "ocr")
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
