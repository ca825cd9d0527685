"""The always-on indexer under churn: a real `lanterna watch` follows hundreds of random file
and folder operations while another process searches; afterwards the index equals the disk
(every file found by its content, nothing that is gone), the watch never died, and its open
files, threads and memory did not grow.

The short form runs in CI (a few hundred operations). The long form repeats rounds for
``LANTERNA_SOAK_MINUTES`` and prints the figures of each round. ``LANTERNA_CHURN_SEED`` replays
a run (the seed is printed).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from engine import db
from engine.library import Library
from engine.preprocess import prepare
from engine.search import Query
from tests import documents as make
from tests.images import write

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple"]
IMAGE_EXT = (".png", ".jpg")
SOAK_MINUTES = float(os.environ.get("LANTERNA_SOAK_MINUTES", "0") or 0)

SEARCHER = """
import json, os, random, sys, time
from pathlib import Path
from engine.library import Library
from engine.search import Query
data, model, stop, out = sys.argv[1:5]
rng = random.Random(1)
queries, errors = 0, []
with Library(data, model, device="cpu") as lib:
    while not os.path.exists(stop):
        text = rng.choice(["red", "a blue sky", "green", "quxv", "notes", "yellow flowers"])
        try:
            lib.search(Query(text=text, k=10))
            queries += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.02)
Path(out).write_text(json.dumps({"queries": queries, "errors": errors[:20]}))
"""


def _word(n: int) -> str:
    """A word no other file holds: 'quxv' and letters."""
    letters = ""
    n += 26 * 26
    while n:
        n, r = divmod(n, 26)
        letters += "bcdfghjklmnpqrstvwxz"[r % 20]
    return "quxv" + letters


@dataclass
class Churn:
    """Random operations on a watched tree; what each file holds is on disk, nothing else."""

    root: Path
    outside: Path
    rng: random.Random
    counter: int = 0
    done: dict[str, int] = field(default_factory=dict)

    def _n(self) -> int:
        self.counter += 1
        return self.counter

    def folders(self) -> list[Path]:
        return [Path(d) for d, _s, _f in os.walk(self.root)]

    def files(self) -> list[Path]:
        return [Path(d) / f for d, _s, fs in os.walk(self.root) for f in fs]

    def _new_content(self, path: Path, kind: str | None = None) -> None:
        """Write new content to ``path``, of the kind its name (or ``kind``) says."""
        n = self._n()
        suffix = kind or path.suffix
        if suffix in IMAGE_EXT:
            side = self.rng.choice([24, 32, 40, 48])
            fmt = "PNG" if suffix == ".png" else "JPEG"
            write(path, self.rng.choice(COLOURS), seed=n, size=(side, side + 8), format=fmt)
        elif suffix == ".pdf":
            make.pdf(path, [f"report {_word(n)} page one", f"more about {_word(n)}"])
        else:
            path.write_text(f"notes on {_word(n)} and other things\n", encoding="utf-8")

    def _new_name(self, folder: Path) -> Path:
        ext = self.rng.choice([".png", ".png", ".jpg", ".txt", ".txt", ".pdf"])
        return folder / f"f{self._n():05}{ext}"

    def step(self) -> str:
        folders = self.folders()
        files = self.files()
        choice = self.rng.random()
        name: str
        if choice < 0.22 or not files:
            name = "new"
            self._new_content(self._new_name(self.rng.choice(folders)))
        elif choice < 0.32:
            name = "overwrite"
            self._new_content(self.rng.choice(files))
        elif choice < 0.40:
            name = "atomic save"
            target = self.rng.choice(files)
            tmp = target.with_name(f".{target.name}.tmp")
            self._new_content(tmp, kind=target.suffix)
            os.replace(tmp, target)
        elif choice < 0.48:
            name = "rename"
            src = self.rng.choice(files)
            src.rename(src.with_name(f"r{self._n():05}{src.suffix}"))
        elif choice < 0.57:
            name = "move across folders"
            src = self.rng.choice(files)
            src.rename(self.rng.choice(folders) / f"m{self._n():05}{src.suffix}")
        elif choice < 0.66:
            name = "delete"
            self.rng.choice(files).unlink()
        elif choice < 0.70:
            name = "copy"
            src = self.rng.choice(files)
            shutil.copy2(src, src.with_name(f"c{self._n():05}{src.suffix}"))
        elif choice < 0.73:
            name = "touch"
            os.utime(self.rng.choice(files))
        elif choice < 0.79:
            name = "new folder"
            folder = self.rng.choice(folders) / f"d{self._n():04}"
            folder.mkdir()
            for _ in range(self.rng.randint(0, 3)):
                self._new_content(self._new_name(folder))
        elif choice < 0.84:
            name = "folder rename"
            subs = [f for f in folders if f != self.root]
            if not subs:
                return self.step()
            src = self.rng.choice(subs)
            src.rename(src.with_name(f"d{self._n():04}"))
        elif choice < 0.88:
            name = "delete then folder rename"
            subs = [f for f in folders if f != self.root and any(p.is_file() for p in f.iterdir())]
            if not subs:
                return self.step()
            src = self.rng.choice(subs)
            self.rng.choice([p for p in src.iterdir() if p.is_file()]).unlink()
            src.rename(src.with_name(f"d{self._n():04}"))
        elif choice < 0.92:
            name = "folder removed"
            subs = [f for f in folders if f != self.root]
            if len(subs) < 3:
                return self.step()
            shutil.rmtree(self.rng.choice(subs))
        elif choice < 0.96:
            name = "folder moved in"
            staging = self.outside / f"in{self._n():04}"
            staging.mkdir(parents=True)
            for _ in range(self.rng.randint(1, 3)):
                self._new_content(self._new_name(staging))
            staging.rename(self.rng.choice(folders) / staging.name)
        else:
            name = "folder moved out"
            subs = [f for f in folders if f != self.root]
            if len(subs) < 3:
                return self.step()
            self.rng.choice(subs).rename(self.outside / f"out{self._n():04}")
        self.done[name] = self.done.get(name, 0) + 1
        return name


def _rows(index: Path) -> dict[str, tuple[str, int, int]]:
    conn = db.connect(index)
    try:
        return {
            os.fsdecode(path): (status, size, mtime)
            for path, status, size, mtime in conn.execute(
                "SELECT path, status, size, mtime_ns FROM files"
            ).fetchall()
        }
    finally:
        conn.close()


def _disk(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for d, _s, fs in os.walk(root):
        for f in fs:
            st = os.stat(os.path.join(d, f))
            out[os.path.join(d, f)] = (st.st_size, st.st_mtime_ns)
    return out


def _difference(index: Path, root: Path) -> list[str]:
    rows, disk = _rows(index), _disk(root)
    problems = [f"not indexed: {p}" for p in disk if p not in rows]
    problems += [f"ghost: {p}" for p in rows if p not in disk]
    for path, (status, size, mtime) in rows.items():
        if path in disk and (status != "indexed" or (size, mtime) != disk[path]):
            problems.append(f"{status} {path} {(size, mtime)} on disk {disk[path]}")
    return problems


def _settle(index: Path, root: Path, alive: Callable[[], bool], timeout: float) -> float:
    """Wait until the index equals the disk (twice, 1.5 s apart); returns the seconds it took."""
    start = time.monotonic()
    streak = 0
    problems: list[str] = []
    while time.monotonic() - start < timeout:
        assert alive(), "the watch died"
        problems = _difference(index, root)
        streak = streak + 1 if not problems else 0
        if streak == 2:
            return time.monotonic() - start
        time.sleep(1.5 if not problems else 0.5)
    raise AssertionError("the index never matched the disk:\n" + "\n".join(problems[:30]))


@dataclass
class Sample:
    fds: int
    threads: int
    rss_mb: float


def _sample(pid: int) -> Sample:
    """Open files, threads and RSS of a process, at rest: the least of three looks 0.3 s apart
    (a thread or file that comes and goes is no leak; one that stays is)."""
    looks = []
    for _ in range(3):
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        looks.append(
            Sample(
                fds=len(os.listdir(f"/proc/{pid}/fd")),
                threads=int(fields["Threads"].strip()),
                rss_mb=int(fields["VmRSS"].split()[0]) / 1024,
            )
        )
        time.sleep(0.3)
    return Sample(
        fds=min(s.fds for s in looks),
        threads=min(s.threads for s in looks),
        rss_mb=min(s.rss_mb for s in looks),
    )


def _found_by_content(lib: Library, root: Path) -> list[str]:
    """Files the index does not find by what they hold (an image by its pixels, a document by
    its word), and files it shows that are gone."""
    problems = []
    by_content: dict[bytes, set[str]] = {}
    for path in _disk(root):
        by_content.setdefault(Path(path).read_bytes(), set()).add(path)
    for path in _disk(root):
        same = by_content[Path(path).read_bytes()]
        if path.endswith(IMAGE_EXT):
            row = lib.file_info(path)
            assert row is not None, path
            stored = lib.store.item_vectors(row.id)
            pixels, _ = prepare(path, lib.embedder.model.vision)
            fresh = lib.embedder.embed_pixels(pixels[None], count=False)[0]
            if not stored or float(np.dot(stored[0], fresh)) < 0.999:
                problems.append(f"stale vector: {path}")
            hits = lib.search(Query(image=path, k=5, kind="image", show_all=True))
            best = hits[0].score if hits else 1.0
            if not any(h.path in same for h in hits if h.score >= best - 1e-3):
                problems.append(f"not found by its pixels: {path}")
        else:
            text = Path(path).read_bytes()
            word = next(w for w in text.decode("latin-1").split() if w.startswith("quxv"))
            word = word.strip("()")
            hits = {r.path for r in lib.search(Query(text=word, k=20))}
            if not hits & same:
                problems.append(f"not found by its word {word}: {path}")
    for text in ("red", "blue", "notes", "report"):
        for r in lib.search(Query(text=text, k=50, show_all=True)):
            if not os.path.exists(r.path):
                problems.append(f"result names a file that is gone: {r.path}")
    return problems


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="samples the watch in /proc")
@pytest.mark.timeout(300 + SOAK_MINUTES * 90)
def test_watch_follows_churn_with_searches_alongside(tmp_path: Path, toy_model: Path) -> None:
    seed = int(os.environ.get("LANTERNA_CHURN_SEED", str(random.randrange(1 << 30))))
    print(f"\nchurn seed {seed} (LANTERNA_CHURN_SEED={seed} replays it)")
    root = tmp_path / "photos"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    churn = Churn(root, outside, random.Random(seed))
    for name in ("home", "trips", "trips/2024", "work"):
        (root / name).mkdir(parents=True)
    for _ in range(20):
        churn._new_content(churn._new_name(churn.rng.choice(churn.folders())))
    data = tmp_path / "data"
    index = data / "index.db"
    env = {**os.environ, "LANTERNA_DATA_DIR": str(data), "LANTERNA_MODEL_DIR": str(toy_model)}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    engine = [sys.executable, "-m", "engine", "--device", "cpu"]
    subprocess.run([*engine, "folders", "add", str(root)], env=env, check=True)
    log = (tmp_path / "watch.log").open("w+")
    watch = subprocess.Popen([*engine, "watch"], env=env, stdout=log, stderr=log)
    stop_file, out_file = tmp_path / "stop-searching", tmp_path / "searches.json"
    searcher = None

    def alive() -> bool:
        return watch.poll() is None

    try:
        _settle(index, root, alive, 120)
        searcher = subprocess.Popen(
            [sys.executable, "-c", SEARCHER, *map(str, (data, toy_model, stop_file, out_file))],
            env=env,
        )
        rounds: list[dict[str, float]] = []

        def round_(ops: int) -> Sample:
            start = time.monotonic()
            for _ in range(ops):
                churn.step()
                if churn.rng.random() < 0.3:
                    time.sleep(churn.rng.uniform(0.0, 0.05))
            took = _settle(index, root, alive, 180)
            sample = _sample(watch.pid)
            rounds.append(
                {
                    "ops": ops,
                    "churn_s": round(time.monotonic() - start - took, 1),
                    "settle_s": round(took, 1),
                    "files": len(_disk(root)),
                    "fds": sample.fds,
                    "threads": sample.threads,
                    "rss_mb": round(sample.rss_mb, 1),
                }
            )
            print(f"round {len(rounds)}: {rounds[-1]}")
            return sample

        warm = round_(150)  # pools, readers, the PDF reader, the model's arenas are up after this
        cli = subprocess.run(
            [*engine, "search", "red", "--json"], env=env, capture_output=True, text=True
        )
        assert cli.returncode == 0, cli.stderr  # a search in a new process, meanwhile
        end = round_(300)
        deadline = time.monotonic() + SOAK_MINUTES * 60
        while time.monotonic() < deadline:
            end = round_(300)
        assert churn.done.get("delete then folder rename", 0) >= 1, churn.done
        assert alive(), "the watch died"
        stop_file.touch()
        assert searcher.wait(60) == 0
        searches = json.loads(out_file.read_text())
        print(f"operations: {churn.done}")
        print(f"searches alongside: {searches['queries']}, errors: {len(searches['errors'])}")
        print(f"watch after warm-up {warm}, at the end {end}")
        if len(rounds) > 2:
            later = rounds[1:]
            print(
                f"soak: {len(rounds)} rounds, {sum(r['ops'] for r in rounds)} operations; "
                f"after round 2: fds {min(r['fds'] for r in later)}-"
                f"{max(r['fds'] for r in later)}, threads {min(r['threads'] for r in later)}-"
                f"{max(r['threads'] for r in later)}, RSS {later[0]['rss_mb']} -> "
                f"{later[-1]['rss_mb']} MB (peak {max(r['rss_mb'] for r in later)})"
            )
        assert searches["errors"] == [] and searches["queries"] > 0
        with Library(data, toy_model, device="cpu") as lib:
            problems = _found_by_content(lib, root)
        assert problems == [], "\n".join(problems[:30])
        assert end.fds <= warm.fds + 2, (warm, end)
        assert end.threads <= warm.threads + 1, (warm, end)
        assert end.rss_mb <= warm.rss_mb * 1.15 + 20, (warm, end)
    finally:
        stop_file.touch()
        if searcher is not None and searcher.poll() is None:
            searcher.kill()
            searcher.wait()
        if watch.poll() is None:
            watch.send_signal(signal.SIGINT)
            try:
                watch.wait(60)
            except subprocess.TimeoutExpired:
                watch.kill()
                watch.wait()
        log.seek(0)
        output = log.read()
        log.close()
    assert watch.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "ERROR" not in output, output[-3000:]
    assert "inotify watch limit" not in output, output[-3000:]  # no false alarm
