"""Lanterna beside Recoll on one corpus of public test documents: files read per format, exact
words found in the top 1 and top 5, indexing time and peak memory (whole process trees).

Opt-in, run by hand (needs Debian's ``recollcmd`` and ``poppler-utils``):

    python -m tests.benchmarks.recoll_compare CORPUS_DIR WORK_DIR

Query words are chosen without either tool: from a plain dump of each file (pdftotext for
PDFs, every XML text node for ZIP-based formats, the bytes with markup stripped for the rest),
one word per file that appears in that file only. The right answer is that file.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import psutil

STOP = {"therefore", "however", "because", "between", "without", "another", "through"}


def fmt(path: Path) -> str:
    name = path.name.lower()
    for ext in (".tar.gz", ".txt.gz", ".html.gz", ".md.gz"):
        if name.endswith(ext):
            return ext
    return path.suffix.lower() or "(none)"


def dump(path: Path) -> str:
    """Plain text of a file, by neither tool."""
    ext = path.suffix.lower()
    try:
        if ext == ".pdf":
            out = subprocess.run(
                ["pdftotext", "-q", str(path), "-"], capture_output=True, timeout=30
            ).stdout
            return out.decode("utf-8", "replace")
        if ext == ".gz":
            return gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        if zipfile.is_zipfile(path):
            parts = []
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.filename.endswith((".xml", ".xhtml", ".html", ".htm")):
                        xml = zf.read(info).decode("utf-8", "replace")
                        parts.append(re.sub(r"<[^>]+>", " ", xml))
            return " ".join(parts)
        text = path.read_bytes().decode("utf-8", "replace")
        text = re.sub(r"<[^>]+>", " ", text)
        return re.sub(r"\\[a-z]+-?\d* ?", " ", text)
    except Exception:
        return ""


def choose_queries(files: list[Path], seed: int = 14) -> dict[str, Path]:
    words_of = {}
    df: collections.Counter[str] = collections.Counter()
    name_words = set()
    for path in files:
        words = {w.lower() for w in re.findall(r"\b[A-Za-z]{6,16}\b", dump(path))}
        words_of[path] = words
        df.update(words)
        name_words.update(w.lower() for w in re.findall(r"[A-Za-z]+", str(path)))
    rng = random.Random(seed)
    queries = {}
    for path in files:
        unique = sorted(w for w in words_of[path] if df[w] == 1 and w not in STOP)
        unique = [w for w in unique if w not in name_words]
        if unique:
            queries[rng.choice(unique)] = path
    return queries


_SPLITS = """
import sys, pypdfium2 as pdfium
doc = pdfium.PdfDocument(sys.argv[1])
for i in range(min(len(doc), 50)):
    sys.stdout.write(doc[i].get_textpage().get_text_range())
"""


def hyphen_queries(files: list[Path], limit: int = 10, seed: int = 14) -> dict[str, Path]:
    """Words that a PDF hyphenates at a line end ("propor-" / "tion"), joined, found in no
    other file. PDFium marks such hyphens (U+FFFE) in reading order; pdftotext joins them."""
    words: collections.Counter[str] = collections.Counter()
    for p in files:
        words.update({w.lower() for w in re.findall(r"[A-Za-z]+", dump(p))})
    found = {}
    for p in files:
        if p.suffix.lower() != ".pdf":
            continue
        try:
            text = subprocess.run(
                [sys.executable, "-c", _SPLITS, str(p)], capture_output=True, timeout=30
            ).stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            continue
        for a, b in re.findall(r"\b([A-Za-z]{2,})\ufffe\s*([a-z]{2,})\b", text):
            word = (a + b).lower()
            if len(word) >= 6 and words[word] <= 3:  # a rare word: the file is in the top 5
                found.setdefault(word, p)
    rng = random.Random(seed)
    chosen = sorted(found)
    rng.shuffle(chosen)
    return {w: found[w] for w in chosen[:limit]}


def query_table(queries: dict[str, Path], ranks: dict[str, dict[str, int | None]]) -> None:
    """Per format: how many query words had their file first, and in the top 5."""
    cells: dict[str, dict[str, list[int]]] = collections.defaultdict(
        lambda: collections.defaultdict(lambda: [0, 0, 0])
    )
    for word, path in queries.items():
        for tool in ranks:
            got = ranks[tool].get(word)
            for key in (fmt(path), "all"):
                cell = cells[key][tool]
                cell[0] += 1
                cell[1] += got == 1
                cell[2] += got is not None and got <= 5
    print("\n| format | queries | Lanterna top 1 / 5 | keyword path top 1 / 5 | Recoll top 1 / 5 |")
    print("| --- | --- | --- | --- | --- |")
    for key in sorted(cells, key=lambda k: (k == "all", -cells[k]["recoll"][0], k)):
        row = cells[key]
        print(
            f"| {key} | {row['recoll'][0]} | {row['lanterna'][1]} / {row['lanterna'][2]} | "
            f"{row['keyword'][1]} / {row['keyword'][2]} | {row['recoll'][1]} / {row['recoll'][2]} |"
        )


class Peak:
    """Peak resident memory of a process and all its children, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                total = root.memory_info().rss
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += child.memory_info().rss
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = Peak(proc.pid)
    proc.wait()
    return time.monotonic() - start, peak.stop()


def index_both(corpus: Path, work: Path, model: Path, conf: Path) -> tuple[float, int, float, int]:
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(work / "lanterna"),
        "LANTERNA_MODEL_DIR": str(model),
    }
    lanterna = [sys.executable, "-m", "engine", "--device", "cpu"]
    subprocess.run([*lanterna, "folders", "add", str(corpus)], env=env, check=True)
    l_time, l_mem = timed([*lanterna, "index"], env)
    print(f"lanterna: {l_time:.1f} s, peak {l_mem / 2**20:.0f} MiB", flush=True)

    # Recoll, with its defaults and the same time limit per file as Lanterna's per request
    conf = work / "recoll"
    conf.mkdir(exist_ok=True)
    (conf / "recoll.conf").write_text(f"topdirs = {corpus}\nfiltermaxseconds = 60\n")
    r_time, r_mem = timed(["recollindex", "-c", str(conf), "-z"])
    print(f"recoll: {r_time:.1f} s, peak {r_mem / 2**20:.0f} MiB", flush=True)

    return l_time, l_mem, r_time, r_mem


def main(corpus: Path, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    queries_file = work / "queries.json"
    if queries_file.exists():
        queries = {w: Path(p) for w, p in json.loads(queries_file.read_text()).items()}
    else:
        queries = choose_queries(files)
        queries.update({w: p for w, p in hyphen_queries(files).items() if w not in queries})
        queries_file.write_text(json.dumps({w: str(p) for w, p in queries.items()}, indent=1))
    print(f"{len(files)} files, {len(queries)} query words", flush=True)

    # Lanterna, with the toy model (shape and cost of the real one are measured elsewhere)
    from onnx_models.toy import build_toy_model

    model = build_toy_model(work / "toy")
    timing_file = work / "timing.json"
    conf = work / "recoll"
    if timing_file.exists():  # indexed before: ask the same indexes again
        l_time, l_mem, r_time, r_mem = json.loads(timing_file.read_text())
    else:
        l_time, l_mem, r_time, r_mem = index_both(corpus, work, model, conf)
        timing_file.write_text(json.dumps([l_time, l_mem, r_time, r_mem]))

    # files read per format
    from engine import fts
    from engine.library import Library

    lib = Library(work / "lanterna", model, device="cpu")
    rows = lib.store._read(
        "SELECT f.path, f.status, f.error, (SELECT count(*) FROM items i WHERE i.file_id=f.id "
        "AND i.type='text') FROM files f"
    )
    read_l: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    errors = {}
    for raw_path, status, error, passages in rows:
        path = Path(os.fsdecode(raw_path))
        total[fmt(path)] += 1
        if status == "indexed" and passages:
            read_l[fmt(path)] += 1
        elif status == "error":
            errors[path.name] = error
    # Recoll: every document of the corpus with the size of the text it extracted
    out = subprocess.run(
        ["recollq", "-c", str(conf), "-F", "url ipath dbytes", "-n", "0-100000", f"dir:{corpus}"],
        capture_output=True,
        text=True,
    ).stdout
    read_r: collections.Counter[str] = collections.Counter()
    import base64

    for line in out.splitlines():
        try:
            fields = [base64.b64decode(f).decode("utf-8", "replace") for f in line.split(" ")]
        except ValueError:
            continue  # the query and count lines
        if len(fields) < 3 or not fields[0].startswith("file://") or fields[1]:
            continue  # a folder, or a document inside another
        if fields[2].isdigit() and int(fields[2]) > 0:
            read_r[fmt(Path(fields[0][7:]))] += 1

    # exact-word queries
    def lanterna_rank(word: str) -> int | None:
        from engine.search import Query

        results = lib.search(Query(text=word, k=5))
        names = [r.path for r in results]
        return names.index(str(queries[word])) + 1 if str(queries[word]) in names else None

    def keyword_rank(word: str) -> int | None:
        match = fts.term(word)
        hits = lib.store.keyword(match, 50, names=False) if match else []  # passages: 5 files
        paths: list[str] = []
        for h in hits:
            if h.path not in paths:
                paths.append(h.path)
        return paths.index(str(queries[word])) + 1 if str(queries[word]) in paths else None

    def recoll_rank(word: str) -> int | None:
        res = subprocess.run(
            ["recollq", "-c", str(conf), "-b", "-n", "0-5", word], capture_output=True, text=True
        ).stdout.split()
        urls = [u[7:] for u in res if u.startswith("file://")]
        return urls.index(str(queries[word])) + 1 if str(queries[word]) in urls else None

    ranks: dict[str, dict[str, int | None]] = {"lanterna": {}, "keyword": {}, "recoll": {}}
    for word in queries:
        ranks["lanterna"][word] = lanterna_rank(word)
        ranks["keyword"][word] = keyword_rank(word)
        ranks["recoll"][word] = recoll_rank(word)
    lib.close()

    print("\n| format | files | read: Lanterna | read: Recoll |")
    print("| --- | --- | --- | --- |")
    for f in sorted(total, key=lambda x: -total[x]):
        print(f"| {f} | {total[f]} | {read_l[f]} | {read_r[f]} |")
    print(f"| all | {sum(total.values())} | {sum(read_l.values())} | {sum(read_r.values())} |")
    query_table(queries, ranks)
    print(
        f"\nindexing time Lanterna / Recoll: {l_time:.1f} / {r_time:.1f} s = {l_time / r_time:.2f}"
    )
    print(
        f"peak memory Lanterna / Recoll: {l_mem / 2**20:.0f} / {r_mem / 2**20:.0f} MiB "
        f"= {l_mem / r_mem:.2f}"
    )
    (work / "ranks.json").write_text(json.dumps({t: ranks[t] for t in ranks}, indent=1))
    (work / "errors.json").write_text(json.dumps(errors, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
