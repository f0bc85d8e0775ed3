"""Time to re-index one changed file in a library of 10,000 files (target ≤ 2 s).

Writes 10,000 real paragraphs as one .txt file each, indexes the folder once
(timed too: the cold-start throughput of the whole pipeline), then changes
one file and times (a) ``Library.add_job([folder]).execute()`` in-process —
scan of all 10,000 files, read, chunk, embed and store of the changed one —
and (b) the full ``inkwell library add FOLDER`` command in a fresh process,
which adds interpreter start-up, imports and model loading.

    .venv/bin/python benchmarks/library_reindex.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.privacy import install_network_guard  # noqa: E402

install_network_guard()

from library_data import DEFAULT_DATA, load_paragraphs, synthetic_variants, write_result  # noqa: E402

from core.library import Library  # noqa: E402
from core.paths import Home  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "library_reindex.json")
    args = parser.parse_args()

    texts = synthetic_variants(load_paragraphs(args.data), args.files)
    with tempfile.TemporaryDirectory(prefix="inkwell-reindex-") as tmp:
        folder = Path(tmp) / "docs"
        for i, text in enumerate(texts):
            sub = folder / f"d{i // 500:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"note{i:05d}.txt").write_text(text + "\n", encoding="utf-8")
        home = Home.resolve(Path(tmp) / "home").ensure()
        lib = Library(home.profile().ensure())
        start = time.perf_counter()
        first = lib.add_job([folder]).execute()
        initial = time.perf_counter() - start
        print(f"initial index of {first.indexed} files ({first.chunks} chunks): {initial:.1f} s",
              flush=True)
        start = time.perf_counter()
        noop = lib.add_job([folder]).execute()
        unchanged_s = time.perf_counter() - start
        print(f"re-add with nothing changed: {unchanged_s:.2f} s ({noop.unchanged} unchanged)")

        in_process = []
        target = folder / "d03" / "note01500.txt"
        for r in range(args.repeats):
            target.write_text(f"Edit {r}: the meeting moved to Friday at noon.\n\n"
                              + texts[1500], encoding="utf-8")
            start = time.perf_counter()
            report = lib.add_job([folder]).execute()
            in_process.append(time.perf_counter() - start)
            assert report.indexed == 1 and report.unchanged == args.files - 1, report
            print(f"re-index one changed file (in-process): {in_process[-1]:.2f} s", flush=True)
        lib.close()

        cli = []
        for r in range(args.repeats):
            target.write_text(f"CLI edit {r}: lunch is at the harbour.\n", encoding="utf-8")
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "core", "--home", str(home.root), "library",
                            "add", str(folder)], check=True, cwd=REPO, capture_output=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
            cli.append(time.perf_counter() - start)
            print(f"re-index one changed file (inkwell library add, fresh process): "
                  f"{cli[-1]:.2f} s", flush=True)

    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "files": args.files, "initial_seconds": initial, "initial_chunks": first.chunks,
        "unchanged_readd_seconds": unchanged_s,
        "one_changed_in_process_seconds": in_process,
        "one_changed_cli_seconds": cli,
        "best_in_process": min(in_process), "best_cli": min(cli),
    }
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
