"""Hostile and broken input, generated here from one table, fed to the real CLI.

``LIBRARY_KINDS`` are files that all go into one folder and through ONE
``inkwell library add`` (with good files and a library indexed before): each
bad file must get its reason in ``library status --json``, the run must
complete, the good files must be indexed and nothing indexed earlier harmed.
``OTHER_KINDS`` need another command (a GGUF given to ``models add``, a damaged
adapter given to ``adapter verify``/``write``, a full disk, a broken LaMP file
given to ``eval``/``adapter train``).  The number of kinds tried is written to
``benchmarks/results/hostile_input.json``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core.fsutil import atomic_write_json
from core.models import SMOLLM2
from tests.gguf_fixtures import write_tiny_model
from tests.library.conftest import (
    REPO,
    docx_bytes,
    encrypted_pdf_bytes,
    mbox_bytes,
    pdf_bytes,
    run_cli,
    zip_bomb_docx_bytes,
)

RESULTS = REPO / "benchmarks" / "results" / "hostile_input.json"
INDEXED = ""  # expectation: the file is read and indexed (hostile, but readable)
GONE = None  # expectation: no status row (the file vanished before it was read)


@dataclass(frozen=True)
class Kind:
    """One kind of bad input: the files it puts in the folder and what the status must say.

    ``expect`` maps each file name to a substring of its skip reason, ``INDEXED``, or ``GONE``;
    ``find`` is a word only that kind's file holds, searched for when it must be indexed.
    """

    name: str
    make: Callable[[Path], None]
    expect: dict[str, str | None]
    find: str = ""


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return make


def _sparse_2gb(folder: Path) -> None:
    with open(folder / "sparse.txt", "wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB of nothing: the scan must refuse it without reading it


def _unreadable(folder: Path) -> None:
    (folder / "secret.txt").write_bytes(b"private words nobody may read")
    os.chmod(folder / "secret.txt", 0)


def _symlink_loop(folder: Path) -> None:
    os.symlink(folder / "loop-b.txt", folder / "loop-a.txt")
    os.symlink(folder / "loop-a.txt", folder / "loop-b.txt")


def _folder_loop(folder: Path) -> None:
    os.symlink(folder, folder / "back")


def _dangling(folder: Path) -> None:
    os.symlink(folder / "missing.txt", folder / "dangling.txt")


def _fifo(folder: Path) -> None:
    os.mkfifo(folder / "pipe.txt")


def _nested_html() -> bytes:
    depth = 100_000
    return (b"<html><body>" + b"<div>" * depth + b"<p>nestedwordzulu survives</p>"
            + b"</div>" * depth + b"</body></html>")


def _broken_mbox() -> bytes:
    broken = (b"From x Tue Jan  2 10:00:00 2024\nContent-Type: multipart/mixed; boundary=\"zz\"\n"
              b"Subject: =?bogus?Q?x?=\n\n--zz\nContent-Type: text/plain; charset=nonsense-9\n"
              b"Content-Transfer-Encoding: base64\n\n!!!not base64\xff\xfe\n")
    return (mbox_bytes([("Mailwordyankee first", "fine body")]) + broken
            + mbox_bytes([("Second good message", "mailwordxray also fine")]))


def _lamp(questions: list[object]) -> bytes:
    return json.dumps(questions).encode()


_RNG = random.Random(1234)  # the generator is seeded: the same corpus on every run
_GOOD_PDF = pdf_bytes("fine text of a document")

LIBRARY_KINDS: list[Kind] = [
    Kind("truncated PDF", _write("truncated.pdf", _GOOD_PDF[: len(_GOOD_PDF) // 2]),
         {"truncated.pdf": "corrupt or unreadable PDF"}),
    Kind("encrypted PDF", _write("encrypted.pdf", encrypted_pdf_bytes("locked words")),
         {"encrypted.pdf": "encrypted PDF"}),
    Kind("malformed PDF", _write("malformed.pdf", b"%PDF-1.7\n" + _RNG.randbytes(3000)),
         {"malformed.pdf": "corrupt or unreadable PDF"}),
    Kind("zip bomb .docx", _write("bomb.docx", zip_bomb_docx_bytes()), {"bomb.docx": "zip bomb"}),
    Kind("non-zip .docx", _write("notzip.docx", b"this is not a zip"),
         {"notzip.docx": "not a zip archive"}),
    Kind("invalid UTF-8 text", _write("invalid.txt", b"na\x81ve \x8d\x8f\x90 bytes"),
         {"invalid.txt": "not UTF-8 text"}),
    Kind("UTF-16 text with BOM",
         _write("utf16-bom.txt", "Grüße, utf16wordalpha mit BOM".encode("utf-16")),
         {"utf16-bom.txt": INDEXED}, "utf16wordalpha"),
    Kind("UTF-16 text without BOM",
         _write("utf16-le.txt", "Notepad wrote utf16wordbravo without a BOM".encode("utf-16-le")),
         {"utf16-le.txt": INDEXED}, "utf16wordbravo"),
    Kind("0-byte file", _write("empty.md", b""), {"empty.md": "empty file"}),
    Kind("2 GB sparse file", _sparse_2gb, {"sparse.txt": "this file has 2,147,483,648 bytes"}),
    Kind("deeply nested HTML (100k divs)", _write("nested.html", _nested_html()),
         {"nested.html": INDEXED}, "nestedwordzulu"),
    Kind(".mbox with a broken message", _write("mixed.mbox", _broken_mbox()),
         {"mixed.mbox": INDEXED}, "mailwordxray"),
    Kind("LaMP file with missing fields",
         _write("missing_questions.json", _lamp([{"id": "q1", "input": "Generate a title"}])),
         {"missing_questions.json": "question 0: missing field 'profile'"}),
    Kind("LaMP file with wrong types",
         _write("types_questions.json",
                _lamp([{"id": "q1", "input": 3, "profile": [{"id": "p1", "text": "x"}]}])),
         {"types_questions.json": "'input' must be a string"}),
    Kind("symlink loop", _symlink_loop,
         {"loop-a.txt": "symlink loop", "loop-b.txt": "symlink loop"}),
    Kind("folder symlink back to an ancestor", _folder_loop, {"back": "symlink loop"}),
    Kind("broken symlink", _dangling, {"dangling.txt": "broken symlink"}),
    Kind("FIFO with a text extension", _fifo, {"pipe.txt": "not a regular file"}),
    Kind("unreadable permissions", _unreadable, {"secret.txt": "permission denied"}),
    Kind("file deleted mid-scan", _write("zz-vanishing.txt", b"here at the scan, gone at the read"),
         {"zz-vanishing.txt": GONE}),
    Kind("binary data with a .txt extension", _write("binary.txt", _RNG.randbytes(4096) + b"\0"),
         {"binary.txt": "binary data"}),
    Kind(".eml with a broken charset",
         _write("charset.eml", b"From: a@example.org\nSubject: Charset trouble\n"
                b"Content-Type: text/plain; charset=\"x-unknown-42\"\n\n"
                b"Body with emlwordcharlie and bad bytes \xe9\xff here\n"),
         {"charset.eml": INDEXED}, "emlwordcharlie"),
    Kind(".html with invalid encoding declarations",
         _write("encoding.html", "<html><head><meta charset='klingon'><meta http-equiv="
                "'Content-Type' content='text/html; charset=x-nope'></head><body>"
                "<p>Café crème htmlworddelta</p></body></html>".encode("cp1252")),
         {"encoding.html": INDEXED}, "htmlworddelta"),
    Kind(".html with an unknown <![keyword[ section",
         _write("marked.html", b"<html><body><![bogus[ hidden ]]><p>markedwordgolf</p>"
                b"<![if !supportLists]>- <![endif]>item</body></html>"),
         {"marked.html": INDEXED}, "markedwordgolf"),
    Kind(".md with NUL bytes", _write("nul.md", b"# Title\n\nSome text\x00 with a NUL byte.\n"),
         {"nul.md": "binary data"}),
    Kind("extremely long single line",
         _write("longline.txt", (" ".join(f"w{i % 997}" for i in range(15_000))
                                 + " linewordecho").encode()),
         {"longline.txt": INDEXED}, "linewordecho"),
    Kind("Windows-1252 text", _write("cp1252.txt", "Grüße, naïve café cpwordfoxtrot"
                                     .encode("cp1252")),
         {"cp1252.txt": INDEXED}, "cpwordfoxtrot"),
]

# Kinds that another command meets; each is a test below.
OTHER_KINDS = [
    "GGUF model that claims more tensors than it holds (models add)",
    "GGUF model whose tensor is larger than the file (models add)",
    "truncated adapter.gguf (adapter verify, write --adapter)",
    "full disk while indexing (a real tmpfs, filled up)",
    "LaMP questions with missing fields (eval --data)",
    "LaMP questions with wrong types (eval --data)",
    "LaMP profile items without the task's fields (adapter train --lamp)",
]


@pytest.fixture(scope="module", autouse=True)
def _record_kinds() -> Iterator[None]:
    """Write how many kinds this file tries (from the tables, so the figure is never stale)."""
    yield
    atomic_write_json(RESULTS, {
        "kinds": len(LIBRARY_KINDS) + len(OTHER_KINDS),
        "library_add_one_run": [k.name for k in LIBRARY_KINDS],
        "other_commands": OTHER_KINDS,
        "test": "tests/privacy/test_hostile_input.py",
    })


def _watch_and_delete(folder: Path, trigger: str, victim: str) -> Callable[[], bool]:
    """Delete ``victim`` as soon as any process opens ``trigger`` (inotify): the indexer has
    scanned the folder and started reading, and reads ``victim`` (sorted last) seconds later.
    Returns a function that stops watching and says whether the deletion happened."""
    from watchdog.events import FileOpenedEvent, FileSystemEventHandler
    from watchdog.observers.inotify import InotifyObserver

    done = threading.Event()

    class Handler(FileSystemEventHandler):
        def on_opened(self, event: FileOpenedEvent) -> None:
            if Path(str(event.src_path)).name == trigger and not done.is_set():
                (folder / victim).unlink()
                done.set()

    observer = InotifyObserver()
    observer.schedule(Handler(), str(folder), recursive=False)
    observer.start()

    def stop() -> bool:
        observer.stop()
        observer.join()
        return done.is_set()

    return stop


def test_one_add_over_every_kind_of_bad_file(tmp_path: Path, home) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "keep.md").write_text("# Keep\n\nThe lighthouse keeper logs every passing ship.\n")
    (good / "also.docx").write_bytes(docx_bytes("Also", ["Orchids need indirect light."]))
    run_cli(home.root, "library", "add", str(good))
    before = json.loads(run_cli(home.root, "library", "status", "--json").stdout)

    bad = tmp_path / "bad"
    bad.mkdir()
    for kind in LIBRARY_KINDS:
        kind.make(bad)
    (bad / "00-trigger.md").write_text("# A good file\n\nThe quarry opens at dawn.\n")
    names = [n for k in LIBRARY_KINDS for n in k.expect]
    assert len(names) == len(set(names)) and not set(os.listdir(bad)) - {*names, "00-trigger.md"}

    stop = _watch_and_delete(bad, "00-trigger.md", "zz-vanishing.txt")
    try:
        # Unreadable files are only unreadable without root's override: drop it when root.
        added = run_cli(home.root, "library", "add", str(good), str(bad), "--json",
                        drop_root_powers=True)
    finally:
        deleted = stop()
    assert deleted, "the indexer never opened the trigger file"
    assert "Traceback" not in added.stderr
    report = json.loads(added.stdout)
    assert report["unchanged"] == 2 and report["removed"] == 1  # the vanished file

    status = json.loads(run_cli(home.root, "library", "status", "--json").stdout)
    rows = {Path(f["path"]).name: f for f in status["files"]}
    for kind in LIBRARY_KINDS:
        for name, reason in kind.expect.items():
            if reason is GONE:
                assert name not in rows, (kind.name, rows.get(name))
            elif reason == INDEXED:
                assert rows[name]["status"] == "indexed", (kind.name, rows[name])
            else:
                row = rows[name]
                assert row["status"] == "skipped" and reason in row["reason"], (kind.name, row)
        if kind.find:
            hits = json.loads(run_cli(home.root, "library", "search", kind.find, "-k", "1",
                                      "--json").stdout)
            assert hits and Path(hits[0]["source"].split("#")[0]).name in kind.expect, kind.name
    assert rows["00-trigger.md"]["status"] == "indexed"

    # What was indexed before is untouched: same rows, same chunks, still found.
    for row in before["files"]:
        assert rows[Path(row["path"]).name] == row
    hits = json.loads(run_cli(home.root, "library", "search", "lighthouse ship", "--json").stdout)
    assert hits[0]["source"] == str(good / "keep.md")
    hits = json.loads(run_cli(home.root, "library", "search", "orchids light", "--retriever",
                              "dense", "-k", "1", "--json").stdout)
    assert hits[0]["source"] == str(good / "also.docx")


# -- other commands -----------------------------------------------------------------------------

def test_a_gguf_that_lies_about_its_tensors_is_refused(tmp_path: Path, home) -> None:
    data = write_tiny_model(tmp_path / "honest.gguf").read_bytes()
    # Header: magic, version (u32), tensor count (u64), metadata count (u64).
    (tmp_path / "more-tensors.gguf").write_bytes(data[:8] + struct.pack("<Q", 10**6) + data[16:])
    at = data.index(b"token_embd.weight") + len(b"token_embd.weight") + 4  # after n_dims
    (tmp_path / "bigger-tensor.gguf").write_bytes(data[:at] + struct.pack("<QQ", 8, 10**6)
                                                  + data[at + 16:])
    for name in ("more-tensors.gguf", "bigger-tensor.gguf"):
        result = run_cli(home.root, "models", "add", str(tmp_path / name), check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"{tmp_path / name}: damaged or truncated GGUF file" in result.stderr
    listed = json.loads(run_cli(home.root, "models", "--json").stdout)
    assert not [m for m in listed if m["source"] == "added"]


def _random_peft(model, folder: Path) -> Path:
    """A small random PEFT adapter for ``model``'s first two query projections."""
    import gguf

    from core.adapters.lora import LoraWeights, write_peft

    shapes = {t.name: [int(x) for x in t.shape] for t in gguf.GGUFReader(model.path).tensors}
    rng = np.random.default_rng(0)
    modules = {}
    for layer in range(2):
        n_in, n_out = shapes[f"blk.{layer}.attn_q.weight"]
        modules[f"model.layers.{layer}.self_attn.q_proj"] = (
            (rng.standard_normal((4, n_in)) * 0.01).astype(np.float32),
            (rng.standard_normal((n_out, 4)) * 0.01).astype(np.float32))
    write_peft(LoraWeights(4, 8.0, modules), folder, model.name)
    return folder


def test_a_truncated_adapter_gives_a_clear_error(tmp_path: Path, home, smollm2) -> None:
    run_cli(home.root, "adapter", "import", str(_random_peft(smollm2, tmp_path / "peft")),
            "--name", "cut", "--model", SMOLLM2)
    (record,) = json.loads(run_cli(home.root, "adapter", "list", "--json").stdout)
    gguf_path = Path(record["gguf_path"])
    gguf_path.write_bytes(gguf_path.read_bytes()[: gguf_path.stat().st_size // 2])
    for args in (("adapter", "verify", record["id"]),
                 ("write", "--adapter", record["id"], "--max-tokens", "4", "Hello")):
        result = run_cli(home.root, *args, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"{gguf_path}: damaged or truncated GGUF file" in result.stderr, result.stderr


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB file system (tmpfs), so writes fail the way a full disk fails them."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs",
                           str(mount)], capture_output=True, text=True, check=False, timeout=120)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=120)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up, then free ``leave`` bytes: the next big write runs out of space."""
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


def test_full_disk_while_indexing_says_so_and_harms_nothing(tmp_path: Path, tiny_disk) -> None:
    home = tiny_disk / "home"
    first = tmp_path / "first"
    first.mkdir()
    (first / "kept.md").write_text("# Kept\n\nThe ferryman counts every keptword passenger.\n")
    run_cli(home, "library", "add", str(first))
    docs = tmp_path / "docs"
    docs.mkdir()
    rng = random.Random(7)
    words = ["river", "stone", "lamp", "paper", "orbit", "cedar", "violet", "anchor"]
    for i in range(12):
        (docs / f"n{i:02d}.md").write_text(f"Note fullword{i}x.\n\n" + "\n\n".join(
            " ".join(rng.choices(words, k=150)) for _ in range(4)))
    filler = _fill(tiny_disk, leave=32 * 1024)  # 48 chunks need several times that
    full = run_cli(home, "library", "add", str(docs), check=False)
    assert full.returncode == 2, (full.stdout, full.stderr)
    assert "Traceback" not in full.stderr and "the disk is full" in full.stderr, full.stderr
    assert "run the same command again" in full.stderr
    hits = json.loads(run_cli(home, "library", "search", "keptword", "--json").stdout)
    assert hits[0]["source"] == str(first / "kept.md")  # what was there is still there
    # Space freed: the same command finishes, and the library is whole.
    filler.unlink()
    run_cli(home, "library", "add", str(docs))
    status = json.loads(run_cli(home, "library", "status", "--json").stdout)
    assert status["counts"] == {"indexed": 13}
    for i in (0, 11):
        hits = json.loads(run_cli(home, "library", "search", f"fullword{i}x", "-k", "1",
                                  "--json").stdout)
        assert hits[0]["source"] == str(docs / f"n{i:02d}.md")


def _broken_lamp_task(folder: Path, questions: list[object]) -> Path:
    folder.mkdir()
    (folder / "questions.json").write_text(json.dumps(questions))
    (folder / "outputs.json").write_text(json.dumps(
        {"task": "commit_subject", "golds": [{"id": "q1", "output": "Fix it"}]}))
    return folder


@pytest.mark.parametrize(("question", "reason"), [
    ({"id": "q1", "input": "Write the subject line: x"}, "question 0: missing field 'profile'"),
    ({"id": "q1", "input": ["not", "text"], "profile": []},
     "question 0: 'input' must be a string"),
], ids=["missing-fields", "wrong-types"])
def test_eval_names_the_broken_lamp_file(tmp_path: Path, home, question, reason) -> None:
    folder = _broken_lamp_task(tmp_path / "task", [question])
    result = run_cli(home.root, "eval", "--data", str(folder), "--methods", "none", "--out",
                     str(tmp_path / "out"), check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{folder / 'questions.json'}: {reason}" in result.stderr, result.stderr


def test_training_on_lamp_items_without_their_fields_names_the_file(tmp_path: Path,
                                                                    home) -> None:
    items = [{"id": f"p{i}", "text": f"body {i}", "date": f"2024-01-{i + 1:02d}"}
             for i in range(8)]  # commit_subject items need a title too
    folder = _broken_lamp_task(tmp_path / "task", [
        {"id": "q1", "input": "Write the subject line for this commit message body: x",
         "profile": items}])
    result = run_cli(home.root, "adapter", "train", "--lamp", str(folder / "questions.json"),
                     "--steps", "1", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{folder / 'questions.json'}: user 'q1': profile item 'p0' has no 'title'" in (
        result.stderr), result.stderr
