"""The local model runtime: llama.cpp through llama-cpp-python.

One ``ModelRuntime`` per model file is loaded once per process and cached.  It
streams tokens (with stop sequences, a token limit, temperature and seed),
stops early when a ``CancelToken`` is set from another thread, renders the
model's own chat template when it has one (SmolLM2) and sends plain completion
prompts otherwise (Gemma 3 270M base), and hot-swaps GGUF LoRA adapters per
request without reloading the model.

Adapters are applied through llama.cpp's low-level adapter API because the
high-level ``Llama(lora_path=...)`` fixes one adapter at load time.  Each loaded
adapter stays cached; switching resets the prompt cache, because cached key/
value entries were computed with the previous adapter.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BadModelFile, InkwellError
from core.jobs import CancelToken
from core.models import ModelInfo, read_gguf_header

DEFAULT_CONTEXT = 4096
# Sampling picks among this many best tokens (llama.cpp's default); decoding rules check as many.
TOP_K = 40
# LengthBudget: how much likelier ending gets with each word past the budget (a logit).
LENGTH_PER_WORD = 1.0


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 128
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    top_p: float = 0.95
    repeat_penalty: float = 1.0
    # Word n-grams an answer may not repeat (core.decoding.loops); 0: no rule.
    no_repeat_ngram: int = 0
    # A text whose opening words the answer may not copy past a few (copies_opening).
    no_copy_of: str = ""
    # Words after which ending becomes likelier (core.decoding.LengthBudget); 0: no budget.
    length_budget: int = 0


@dataclass(frozen=True)
class ActiveAdapter:
    path: Path
    scale: float = 1.0


def default_threads() -> int:
    """Threads for llama.cpp: one core fewer than the machine has (``$INKWELL_THREADS`` overrides).

    llama.cpp's worker threads spin-wait for each other; when another busy
    process (indexing, adapter training, the GUI) takes a core from them, every
    token waits on a descheduled thread (on 2 busy cores, ten times slower with
    both threads than with one: README, Speed).  Leaving a core free keeps
    writing responsive while Inkwell's own jobs run.
    """
    env = os.environ.get("INKWELL_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, _cores() - 1)


def default_batch_threads() -> int:
    """Threads for prompt processing (``$INKWELL_BATCH_THREADS`` overrides): as for decoding.

    All cores would evaluate a long (retrieval) prompt faster on an idle machine,
    but llama.cpp's threads meet once per layer and spin while they wait, so on a
    busy machine a descheduled thread stalls the whole prompt: measured on this
    project's shared 2-core machine, the RAG prompt's first token came later with
    2 batch threads than with 1 (``benchmarks/rag_ttft.py``, docs/LIBRARY.md).
    """
    env = os.environ.get("INKWELL_BATCH_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return default_threads()


def _cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


_backends_lock = threading.Lock()
_backends_ready = False


def ensure_llama_backends() -> None:
    """Make sure llama.cpp has its compute backends before a model is loaded.

    A llama.cpp built the usual way (pip's source build) links its CPU backend
    in.  The installers' build (``packaging/build-llama.sh``) instead has one CPU
    backend per instruction-set level (``libggml-cpu-haswell``, ``-skylakex``,
    ...) as separate libraries, so one bundle runs on any x86-64 (or ARM) CPU at
    the best speed that CPU allows; ggml picks the best one when asked to load
    them, which llama-cpp-python never does.  Without this a model fails to load
    with "no backends are loaded".
    """
    global _backends_ready
    with _backends_lock:
        if _backends_ready:
            return
        import llama_cpp
        from llama_cpp import llama_cpp as bindings

        # The ggml that libllama itself is linked to: the wheel holds copies, not symlinks, of
        # libggml.so / .so.0, and a backend registered in the copy llama_cpp._ggml loads by
        # name would stay invisible to libllama.  A library's handle also finds the symbols
        # of its dependencies (dlsym), except on Windows, where the DLL is the only copy.
        ggml: Any = bindings._lib
        if not all(hasattr(ggml, name) for name in ("ggml_backend_reg_count",
                                                     "ggml_backend_load_all_from_path")):
            from llama_cpp._ggml import libggml as ggml
        count, load = ggml.ggml_backend_reg_count, ggml.ggml_backend_load_all_from_path
        count.argtypes, count.restype = [], ctypes.c_size_t
        if count() == 0:
            lib_dir = Path(llama_cpp.__file__).resolve().parent / "lib"
            load.argtypes, load.restype = [ctypes.c_char_p], None
            load(os.fsencode(lib_dir))
            if count() == 0:
                raise InkwellError(
                    f"{lib_dir}: llama.cpp found no compute backend for this CPU there "
                    "(libggml-cpu-*); reinstall Inkwell"
                )
        _backends_ready = True


class ModelRuntime:
    """A loaded model.  Generation is serialised by a lock: llama.cpp contexts are not reentrant."""

    def __init__(
        self,
        model: ModelInfo,
        n_ctx: int = DEFAULT_CONTEXT,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        logits_all: bool = False,
    ) -> None:
        import llama_cpp

        ensure_llama_backends()
        self.model = model
        self.lock = threading.RLock()
        n_ctx = min(n_ctx, model.context_length) if model.context_length else n_ctx
        try:
            self.llama = llama_cpp.Llama(
                model_path=str(model.path),
                n_ctx=n_ctx,
                n_threads=n_threads or default_threads(),
                n_threads_batch=n_threads_batch or default_batch_threads(),
                logits_all=logits_all,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BadModelFile(
                f"{model.path}: llama.cpp could not load this model ({exc})"
            ) from exc
        template = (
            self.llama.metadata.get("tokenizer.chat_template") if model.chat_template else None
        )
        # Built once: compiling the Jinja template took longer than rendering with it, and
        # prompt fitting renders several times per request.
        self._formatter = self._chat_formatter(template) if template else None
        self._adapters: dict[tuple[str, float], Any] = {}
        self._active: ActiveAdapter | None = None
        self._passes: tuple[tuple[int, ...], ...] = ()  # what the KV cache holds: see _evaluate

    # -- adapters -----------------------------------------------------------------------------

    def _adapter_handle(self, path: Path) -> Any:
        import llama_cpp

        key = (str(path), path.stat().st_mtime)
        handle = self._adapters.get(key)
        if handle is None:
            if not path.is_file():
                raise InkwellError(f"{path}: adapter file not found")
            # A damaged file is named as such before llama.cpp sees it (its own error is
            # only a log line); a tensor past the end of the file is caught here too.
            header = read_gguf_header(path)
            if header.file_type != "adapter":
                raise InkwellError(f"{path}: not a LoRA adapter (a GGUF {header.file_type})")
            handle = llama_cpp.llama_adapter_lora_init(self.llama.model, str(path).encode())
            if not handle:
                raise InkwellError(
                    f"{path}: llama.cpp could not load this LoRA adapter (wrong base model, "
                    "or a damaged file)"
                )
            self._adapters[key] = handle
        return handle

    def use_adapter(self, adapter: ActiveAdapter | None) -> None:
        """Make ``adapter`` (or none) active for the next requests, without reloading the model."""
        import llama_cpp

        with self.lock:
            if adapter == self._active:
                return
            ctx = self.llama.ctx
            if adapter is None or adapter.scale == 0.0:
                rc = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
            else:
                handle = self._adapter_handle(adapter.path)
                handles = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
                scales = (ctypes.c_float * 1)(adapter.scale)
                rc = llama_cpp.llama_set_adapters_lora(ctx, handles, 1, scales)
            if rc != 0:
                raise InkwellError(f"llama.cpp refused to apply adapter {adapter} (code {rc})")
            # The cached prefix was computed with the previous adapter: forget it.
            self.llama.reset()
            self._passes = ()
            self._active = adapter

    @property
    def active_adapter(self) -> ActiveAdapter | None:
        return self._active

    # -- prompts ------------------------------------------------------------------------------

    def _chat_formatter(self, template: str) -> tuple[Any, str]:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def special(token: int) -> str:
            return self.llama.detokenize([token], special=True).decode("utf-8", "ignore")

        eos = special(self.llama.token_eos())
        formatter = Jinja2ChatFormatter(template, eos_token=eos,
                                        bos_token=special(self.llama.token_bos()))
        return formatter, eos

    @property
    def has_chat_template(self) -> bool:
        return self._formatter is not None

    def render(
        self, user: str, system: str | None = None, history: Sequence[tuple[str, str]] = ()
    ) -> tuple[str, tuple[str, ...]]:
        """The text to send for one user turn, and the stop strings the template implies.

        Instruction models get their own chat template; a base model gets the
        text as it is (the prompt builder writes completion-style prompts for it).
        """
        if self._formatter is None:
            return user, ()
        formatter, eos = self._formatter
        messages: list[Any] = [{"role": "system", "content": system}] if system else []
        for asked, answered in history:
            messages += [
                {"role": "user", "content": asked},
                {"role": "assistant", "content": answered},
            ]
        messages.append({"role": "user", "content": user})
        response = formatter(messages=messages)
        stop = (
            response.stop
            if isinstance(response.stop, list)
            else [response.stop]
            if response.stop
            else []
        )
        # The end-of-turn token ends generation anyway; as a stop string it also ends it when
        # the model spells it out as text.
        return response.prompt, tuple(dict.fromkeys(s for s in [*stop, eos] if s))

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    @property
    def context_length(self) -> int:
        return int(self.llama.n_ctx())

    # -- generation ---------------------------------------------------------------------------

    def stream(
        self,
        prompt: str,
        params: GenerationParams = GenerationParams(),
        adapter: ActiveAdapter | None = None,
        cancel: CancelToken | None = None,
        head: str = "",
    ) -> Generator[str, None, None]:
        """Yield text pieces as llama.cpp produces them; ``prompt`` is sent as it is.

        ``head``: the start of ``prompt`` that several requests share (see ``_evaluate``).
        """
        with self.lock:
            self.use_adapter(adapter)
            tokens = self._evaluate(prompt, head)
            # Given the tokens, llama.cpp finds all but the last in its cache and decodes that
            # one alone before sampling.
            pieces = self.llama.create_completion(
                tokens,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=TOP_K,
                repeat_penalty=params.repeat_penalty,
                seed=params.seed,
                stop=list(params.stop) or None,
                logits_processor=self._processors(params),
                stream=True,
            )
            try:
                for chunk in pieces:
                    if cancel is not None and cancel.cancelled:
                        break
                    text = chunk["choices"][0]["text"]  # type: ignore[index]
                    if text:
                        yield text
            finally:
                pieces.close()  # type: ignore[union-attr]

    def prefill(
        self,
        prompt: str,
        adapter: ActiveAdapter | None = None,
        cancel: CancelToken | None = None,
        head: str = "",
    ) -> None:
        """Evaluate ``prompt`` ahead of its request, so that asking for it starts at once.

        The Write panel calls this while the user types.  ``cancel`` is checked
        between passes: a pass once begun runs to its end (see ``_evaluate``).
        """
        with self.lock:
            self.use_adapter(adapter)
            self._evaluate(prompt, head, cancel)

    def _evaluate(self, prompt: str, head: str = "", cancel: CancelToken | None = None
                  ) -> list[int]:
        """The prompt's tokens, all but the last evaluated into the KV cache.

        Every answer and score is computed the same way: the prompt minus its last
        token in fixed passes (``_passes``), then the last token alone.  A pass
        evaluated once is reused only where the same pass comes at the same place:
        a prefix evaluated as part of a longer batch differs in the last bits, which
        can flip a greedy choice, so an answer stays a function of the request alone
        whether or not its passes were cached.  Regenerate and each further
        suggestion reuse every pass; a request whose ``head`` (the template, the
        instruction and the retrieved examples) was evaluated before — by
        ``prefill`` while the user typed, or by the previous request — evaluates
        only the rest.
        """
        tokens, passes = self._passes_of(prompt, head)
        kept = 0
        while kept < min(len(passes), len(self._passes)) and passes[kept] == self._passes[kept]:
            kept += 1
        self._passes = passes[:kept]
        if not kept:
            self.llama.reset()
        self.llama.n_tokens = sum(map(len, self._passes))
        for part in passes[kept:]:
            if cancel is not None and cancel.cancelled:
                break
            self.llama.eval(list(part))  # drops whatever the cache held past n_tokens first
            self._passes += (part,)
        return tokens

    def _passes_of(self, prompt: str, head: str) -> tuple[list[int], tuple[tuple[int, ...], ...]]:
        """The prompt's tokens, and the passes that evaluate all but the last of them.

        Two passes when ``head`` starts the prompt: its tokens but the last (which
        may merge with the text that follows it), then the rest; otherwise one.
        """
        tokens = self.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        body = tuple(tokens[:-1])
        if head and prompt.startswith(head):
            first = tuple(
                self.llama.tokenize(head.encode("utf-8"), add_bos=True, special=True)[:-1]
            )
            if 0 < len(first) < len(body) and body[: len(first)] == first:
                return tokens, (first, body[len(first) :])
        return tokens, (body,)

    def _processors(self, params: GenerationParams) -> Any:
        from llama_cpp import LogitsProcessorList

        from core.decoding import LengthBudget, WordRules, copies_opening, loops

        processors: list[Any] = []
        rules = []
        if params.no_repeat_ngram:
            rules.append(loops(params.no_repeat_ngram))
        if params.no_copy_of:
            rules.append(copies_opening(params.no_copy_of))
        if rules:
            keep = 1 if params.temperature == 0 else TOP_K
            processors.append(WordRules(rules=rules, detokenize=self._detokenize, keep=keep))
        if params.length_budget:
            processors.append(
                LengthBudget(
                    words=params.length_budget,
                    # Budgets are for one-line answers, which also end at a newline.
                    end_tokens=self._end_tokens((*params.stop, "\n")),
                    detokenize=self._detokenize,
                    per_word=LENGTH_PER_WORD,
                )
            )
        return LogitsProcessorList(processors) if processors else None

    def _end_tokens(self, stops: Sequence[str]) -> list[int]:
        """The end-of-text token and every stop sequence that is one token (end of turn, a
        newline)."""
        ends = {self.llama.token_eos()}
        for stop in stops:
            tokens = self.llama.tokenize(stop.encode("utf-8"), add_bos=False, special=True)
            if len(tokens) == 1:
                ends.add(tokens[0])
        return sorted(ends)

    def _detokenize(self, tokens: Sequence[int]) -> bytes:
        return self.llama.detokenize(list(tokens))

    def score(
        self,
        prompt: str,
        continuations: Sequence[str],
        adapter: ActiveAdapter | None = None,
        head: str = "",
    ) -> list[float]:
        """Mean log-probability per token of each continuation of ``prompt``.

        The prompt is evaluated once; each continuation is then read token by
        token from the prompt's cached state, with the adapter applied.
        """
        with self.lock:
            self.use_adapter(adapter)
            tokens = self._evaluate(prompt, head)
            self.llama.eval(tokens[-1:])
            first = self._last_logprobs()
            scores = []
            for text in continuations:
                whole = self.llama.tokenize(
                    (prompt + text).encode("utf-8"), add_bos=True, special=True
                )
                tail = (
                    whole[len(tokens) :]
                    if whole[: len(tokens)] == tokens
                    else self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
                )
                self.llama.n_tokens = len(tokens)  # back to the prompt: its cache is kept
                logprobs, total = first, 0.0
                for token in tail:
                    total += float(logprobs[token])
                    self.llama.eval([token])
                    logprobs = self._last_logprobs()
                scores.append(total / max(1, len(tail)))
            return scores

    def _last_logprobs(self) -> np.ndarray:
        import llama_cpp

        pointer = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(self.llama.n_vocab(),)).astype(np.float64)
        top = logits.max()
        return logits - top - np.log(np.exp(logits - top).sum())

    def next_token_logits(self, prompt: str, adapter: ActiveAdapter | None = None) -> np.ndarray:
        """Logits for the token after ``prompt`` (used by adapter parity checks and tests)."""
        with self.lock:
            self.use_adapter(adapter)
            tokens = self.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            self._passes = ()
            self.llama.reset()
            self.llama.eval(tokens)
            return np.array(self.llama.scores[self.llama.n_tokens - 1], dtype=np.float32)


_CACHE: dict[tuple[str, int, bool], ModelRuntime] = {}
_CACHE_LOCK = threading.Lock()


def get_runtime(
    model: ModelInfo, n_ctx: int = DEFAULT_CONTEXT, logits_all: bool = False
) -> ModelRuntime:
    """The process-wide runtime for ``model`` (loaded on first use)."""
    key = (str(model.path), n_ctx, logits_all)
    with _CACHE_LOCK:
        runtime = _CACHE.get(key)
        if runtime is None:
            runtime = ModelRuntime(model, n_ctx=n_ctx, logits_all=logits_all)
            _CACHE[key] = runtime
        return runtime


def unload_all() -> None:
    """Free every loaded model (also at exit: llama.cpp objects freed during interpreter
    shutdown, after their module globals are gone, raise noisy errors in ``__del__``)."""
    with _CACHE_LOCK:
        for runtime in _CACHE.values():
            runtime.llama.close()
        _CACHE.clear()


atexit.register(unload_all)

