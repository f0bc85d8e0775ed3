"""``inkwell selftest`` / ``inkwell-desktop --selftest``: prove an installation works, offline.

In a temporary data dir (never the user's), it goes through what a user does on
the first day, with the models and libraries this installation ships:

1. the network guard refuses a non-local connection;
2. the bundled default model is found and loaded by llama.cpp, and generates;
3. a folder of three small documents is indexed (Chroma + BM25, the ONNX embedder);
4. retrieval finds the right document (hybrid: BM25 and dense);
5. a RAG answer is generated from the retrieved document;
6. an adapter is trained for one step in the training child process (the same
   ``worker_command()`` the app uses, so a frozen build proves its
   ``--train-worker`` path) and applied; with ``adapter="apply"`` (or when the
   installation has no torch) a tiny random LoRA GGUF is written and applied
   instead, which still proves llama.cpp's adapter path.

Each step prints one line with its time; the exit status is 0 only if all pass.
Nothing here needs Qt; the desktop variant adds showing the main window.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from core.privacy import install_network_guard

ADAPTER_MODES = ("auto", "train", "apply", "none")

_IMPORTED_AT = time.monotonic()

# Three short documents on distinct topics, long enough (>= 96 words) for style-pair training
# examples; the query below must retrieve the sailing one.
DOCUMENTS = {
    "garden.md": (
        "Notes from the allotment",
        "The tomatoes on the south bed ripened early this year, and the courgettes kept "
        "coming long after the first frost warnings. I moved the compost heap behind the "
        "shed so the beans get the afternoon sun. Next spring I want to try growing "
        "asparagus, although everyone warns me that it takes three years before the first "
        "proper harvest. The soil here is heavy clay, so I dig in leaf mould every autumn "
        "and leave the worms to do the rest. Slugs remain the main enemy; beer traps work "
        "for a week and then the slugs seem to learn. My neighbour swears by copper tape "
        "around the raised beds, and I will try it on the lettuces before they bolt in the "
        "heat of July. The raspberries need new canes, the old ones are tired and woody.",
    ),
    "sailing.md": (
        "A weekend sailing log",
        "We left the harbour at dawn with a steady westerly breeze and a falling tide. The "
        "dinghy handled well once we reefed the mainsail, though the jib sheet kept "
        "fouling on the cleat. Off the headland the swell built up and we tacked twice "
        "to stay clear of the lobster pots. By noon the wind backed to the south and we "
        "ran home on a broad reach, the fastest point of sail for this little boat. I "
        "need to replace the tiller extension before the next trip; its joint is worn and "
        "it almost came apart during the gybe. The harbour master says the autumn regatta "
        "starts from the same mooring, so we will practise starts on Thursday evenings "
        "and check the buoyancy bags, the bailer and the spare paddle before then.",
    ),
    "baking.md": (
        "Sourdough, third attempt",
        "The starter finally doubled within six hours after a week of feeding it rye "
        "flour twice a day. This time I kept the dough at seventy-five percent hydration "
        "and did four sets of stretch and folds instead of kneading. The loaf rose in "
        "the fridge overnight and sprang up in the hot cast iron pot, with an ear along "
        "the score for the first time. The crumb was open but a little gummy in the "
        "middle, so next time I will bake it ten minutes longer with the lid off and "
        "let it cool completely before slicing, however hard that is. Salt at two "
        "percent was right. I wrote the timings on the fridge door so that the next "
        "bake does not depend on my memory of which fold came after which.",
    ),
}
QUERY = "tiller extension worn during the gybe on the dinghy"
EXPECTED = "sailing.md"


def process_age_s() -> float:
    """Seconds since this process started (on Linux from ``/proc``; else since import)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED_AT


def torch_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "peft", "transformers"))


def write_random_lora(model: Any, out: Path, rank: int = 4, layers: int = 2) -> Path:
    """A small random LoRA GGUF on the first ``layers`` blocks' query/output projections."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(model.path)
    shapes = {t.name: [int(x) for x in t.shape] for t in reader.tensors}
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(out), model.architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 2.0 * rank)
    for layer in range(layers):
        for kind in ("attn_q", "attn_output"):
            name = f"blk.{layer}.{kind}.weight"
            n_in, n_out = shapes[name][0], shapes[name][1]
            writer.add_tensor(f"{name}.lora_a",
                              (rng.standard_normal((rank, n_in)) * 0.1).astype(np.float32))
            writer.add_tensor(f"{name}.lora_b",
                              (rng.standard_normal((n_out, rank)) * 0.1).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


class SelfTestFailed(Exception):
    pass


class _Steps:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()

    def run(self, name: str, step: Callable[[], str]) -> None:
        t0 = time.monotonic()
        try:
            detail = step()
        except Exception as exc:
            print(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {type(exc).__name__}: {exc}",
                  file=self.out, flush=True)
            traceback.print_exc(file=sys.stderr)
            raise SelfTestFailed(name) from exc
        print(f"ok   {name} ({time.monotonic() - t0:.1f} s): {detail}", file=self.out, flush=True)


def run_selftest(
    home_dir: str | os.PathLike[str] | None = None,
    adapter: str = "auto",
    keep: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """Run the checks in ``home_dir`` (default: a new temporary dir); 0 if all pass, else 1."""
    install_network_guard()  # first, before anything can open a connection
    if adapter not in ADAPTER_MODES:
        raise ValueError(f"adapter must be one of {ADAPTER_MODES}, not {adapter!r}")
    if adapter == "auto":
        adapter = "train" if torch_available() else "apply"
    root = Path(home_dir) if home_dir else Path(tempfile.mkdtemp(prefix="inkwell-selftest-"))
    try:
        return _run(root, adapter, out)
    finally:
        from core.runtime import unload_all

        unload_all()
        if home_dir is None and not keep:
            shutil.rmtree(root, ignore_errors=True)
        elif keep:
            print(f"data dir kept: {root}", file=out)


def _run(root: Path, adapter: str, out: TextIO) -> int:
    from core import __version__
    from core.paths import Home

    home = Home.resolve(root).ensure()
    install_network_guard(log_file=home.logs_dir / "network-guard.log")
    profile = home.profile("selftest").ensure()
    frozen = " (frozen)" if getattr(sys, "frozen", False) else ""
    print(f"inkwell {__version__} selftest{frozen}: data dir {home.root}, adapter mode {adapter}",
          file=out, flush=True)
    steps = _Steps(out)
    state: dict[str, Any] = {}

    def guard() -> str:
        import socket

        from core.errors import NetworkRefused
        from core.privacy import guard_installed

        if not guard_installed():
            raise SelfTestFailed("the network guard is not installed")
        try:
            socket.create_connection(("192.0.2.1", 9), timeout=1).close()  # TEST-NET-1
        except NetworkRefused:
            return "a connection to 192.0.2.1:9 was refused before it reached the OS"
        raise SelfTestFailed("a connection to 192.0.2.1 was not refused by the guard")

    def model() -> str:
        from core.models import DEFAULT_MODEL, ModelRegistry
        from core.runtime import GenerationParams, get_runtime

        info = ModelRegistry(home).get(DEFAULT_MODEL)
        runtime = get_runtime(info)
        text = "".join(runtime.stream(runtime.render("Say hello.")[0],
                                      GenerationParams(max_tokens=8)))
        if not text.strip():
            raise SelfTestFailed("the model generated nothing")
        state["model"] = info
        return f"{info.name} ({info.size / 1e6:.0f} MB, {info.source}) said {text.strip()!r}"

    def index() -> str:
        from core.library import Library

        folder = root / "documents"
        folder.mkdir(exist_ok=True)
        for name, (title, body) in DOCUMENTS.items():
            (folder / name).write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        library = Library(profile)
        state["library"] = library
        report = library.add_job([folder]).execute()
        if report.indexed != len(DOCUMENTS):
            raise SelfTestFailed(f"indexed {report.indexed} of {len(DOCUMENTS)} documents")
        return f"{report.indexed} documents, {report.chunks} chunks"

    def retrieve() -> str:
        hits = state["library"].search(QUERY, k=2, retriever="hybrid")
        if not hits or Path(hits[0].source).name != EXPECTED:
            found = [Path(h.source).name for h in hits]
            raise SelfTestFailed(f"expected {EXPECTED} first, got {found}")
        return f"top hit {EXPECTED} for {QUERY!r}"

    def rag() -> str:
        from core.runtime import GenerationParams
        from core.writer import Method, Writer, WriteRequest

        writer = Writer(home, profile, state["model"], library=state["library"])
        state["writer"] = writer
        prepared = writer.prepare(WriteRequest(
            "Write one sentence about fixing the boat.", method=Method.RAG,
            params=GenerationParams(max_tokens=24)))
        if not prepared.sources:
            raise SelfTestFailed("nothing was retrieved into the prompt")
        answer = writer.answer(prepared)
        if not answer.strip():
            raise SelfTestFailed("the RAG answer is empty")
        return f"{len(prepared.sources)} sources in the prompt; answer {answer.strip()[:60]!r}"

    def train() -> str:
        from core.adapters.config import TrainConfig
        from core.adapters.data import examples_from_documents
        from core.adapters.job import run_training_subprocess

        examples = examples_from_documents(state["library"].documents())
        config = TrainConfig(steps=1, batch_size=2, max_len=64, min_examples=2,
                             checkpoint_every=1)
        record = run_training_subprocess(profile, state["model"], examples, config, "selftest")
        state["adapter_path"] = record.gguf_path
        return (f"1 step in the training process on {record.n_train} examples "
                f"(loss {record.train_loss}), adapter {record.id}")

    def make_lora() -> str:
        path = write_random_lora(state["model"], root / "selftest-lora.gguf")
        state["adapter_path"] = path
        return f"wrote a random rank-4 LoRA GGUF ({path.stat().st_size} bytes)"

    def apply() -> str:
        from core.runtime import ActiveAdapter, GenerationParams
        from core.writer import Method, WriteRequest

        writer = state["writer"]
        request = WriteRequest("Write one sentence about bread.", method=Method.PEFT,
                               adapter=ActiveAdapter(state["adapter_path"]),
                               params=GenerationParams(max_tokens=16))
        answer = writer.answer(writer.prepare(request))
        base = writer.answer(writer.prepare(WriteRequest(
            request.text, method=Method.NONE, params=request.params)))
        changed = "changed" if answer != base else "did not change"
        return f"llama.cpp applied it; it {changed} the answer ({answer.strip()[:50]!r})"

    try:
        steps.run("network guard", guard)
        steps.run("bundled model loads and generates", model)
        steps.run("index a folder", index)
        steps.run("retrieve", retrieve)
        steps.run("generate with RAG", rag)
        if adapter == "train":
            steps.run("train an adapter (child process)", train)
        elif adapter == "apply":
            steps.run("make a LoRA adapter", make_lora)
        if adapter != "none":
            steps.run("apply the adapter", apply)
    except SelfTestFailed:
        print(f"selftest FAILED after {time.monotonic() - steps.started:.1f} s", file=out)
        return 1
    finally:
        if "library" in state:
            state["library"].close()
    print(f"selftest passed in {time.monotonic() - steps.started:.1f} s "
          f"({process_age_s():.1f} s since the process started)", file=out, flush=True)
    return 0
