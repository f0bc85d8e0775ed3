"""The four personalization methods behind one writer.

``none``      the model alone (the non-personalized baseline);
``rag``       the user's most relevant items retrieved from their library into the prompt;
``peft``      the user's LoRA adapter applied, no retrieval;
``rag+peft``  both.

The desktop's Write panel, ``inkwell write``, the local API and the evaluation
all go through ``Writer.prepare`` and then ``Writer.stream``, ``Writer.answer``
or ``Writer.suggest``, which read the model's output through one
``core.answers.AnswerStream``: what is measured is what the user gets.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from core.answers import AnswerStream, words
from core.documents import Document
from core.errors import InkwellError
from core.jobs import CancelToken
from core.models import ModelInfo, ModelRegistry
from core.paths import Home, ProfilePaths
from core.prompts import BuiltPrompt, Example, PromptSpec, build_prompt, spec_for, user_content
from core.runtime import ActiveAdapter, GenerationParams, ModelRuntime, get_runtime
from core.settings import AppSettings, ProfileSettings

if TYPE_CHECKING:
    from core.adapters.data import Example as TrainExample
    from core.library import Hit, Library


class Method(StrEnum):
    NONE = "none"
    RAG = "rag"
    PEFT = "peft"
    RAG_PEFT = "rag+peft"

    @property
    def retrieves(self) -> bool:
        return self in (Method.RAG, Method.RAG_PEFT)

    @property
    def adapts(self) -> bool:
        return self in (Method.PEFT, Method.RAG_PEFT)


METHODS = tuple(m.value for m in Method)
# One-line answers may not repeat a word pair (core.decoding): `PEP 602: PEP 602:` slips past a
# 3-gram rule; measured in docs/RESULTS.md.
NO_REPEAT_NGRAM = 2
# A title or subject is a line; a model still writing after this many tokens is running on.
ONE_LINE_MAX_TOKENS = 40
# Suggestions after the greedy one are sampled at this temperature (and a new seed each).
SUGGEST_TEMPERATURE = 0.8


@dataclass(frozen=True)
class WriteRequest:
    text: str
    task: str = "free"
    method: Method = Method.NONE
    # An adapter's GGUF file for ``peft`` methods; None: the profile's active adapter.
    adapter: ActiveAdapter | None = None
    retriever: str | None = None  # None: the profile's setting
    k: int | None = None
    prompt_format: str = "fewshot"
    params: GenerationParams = field(default_factory=GenerationParams)


@dataclass(frozen=True)
class PreparedWrite:
    request: WriteRequest
    spec: PromptSpec
    model: ModelInfo
    prompt: str  # exactly what is sent to llama.cpp
    params: GenerationParams
    adapter: ActiveAdapter | None
    sources: tuple[Example, ...]
    # How the model's turn ends (its end-of-turn text, or the line break of a base model's
    # one-line answer): part of what a suggestion's score measures.
    ending: str = ""
    # The prompt up to the user's own text: template, instruction and retrieved examples.
    # The runtime evaluates it as a pass of its own, which a later request reuses when its
    # head is the same (ModelRuntime._evaluate).
    head: str = ""


@dataclass(frozen=True)
class Suggestion:
    text: str
    # Mean log-probability per token of the answer and its ending under the model (and
    # adapter) that wrote it: how sure the personalized model is of it.
    score: float


class Writer:
    """Prepares and runs write requests for one profile with one model."""

    def __init__(
        self,
        home: Home,
        profile: ProfilePaths,
        model: ModelInfo | None = None,
        library: Library | None = None,
        runtime: ModelRuntime | None = None,
    ) -> None:
        self.home = home
        self.profile = profile
        self.model = model or ModelRegistry(home).get(AppSettings.load(home).model)
        self.runtime = runtime or get_runtime(self.model)
        self._library = library
        self._settings = ProfileSettings.load(profile)

    @property
    def library(self) -> Library:
        if self._library is None:
            from core.library import Library

            self._library = Library(self.profile)
        return self._library

    def retrieve(self, spec: PromptSpec, query: str, retriever: str, k: int) -> list[Example]:
        """The ``k`` best examples: passages, or for pair tasks ``k`` distinct whole items.

        A long item is several chunks, and two of them can both rank in the top
        ``k``; as whole items they would be one example shown twice, a slot of
        the prompt wasted (4-8 % of the dev data's queries: docs/RESULTS.md).
        """
        if k <= 0:
            return []
        if not spec.uses_pairs:
            return [self._example(spec, h)
                    for h in self.library.search(query, k=k, retriever=retriever)]
        depth = k
        while True:
            hits = self.library.search(query, k=depth, retriever=retriever)
            best: dict[str, Hit] = {}
            for hit in hits:
                best.setdefault(hit.doc_id, hit)
            if len(best) >= k or len(hits) < depth:
                return [self._example(spec, h) for h in list(best.values())[:k]]
            depth *= 4

    def _example(self, spec: PromptSpec, hit: Hit) -> Example:
        """A hit as a prompt example: the whole item for pair tasks, else the matched passage."""
        doc = self.library.get_document(hit.doc_id) if spec.uses_pairs else None
        if doc is not None:
            return self._document_example(spec, doc)
        return Example(input=hit.text, output=hit.title, doc_id=hit.doc_id, source=hit.source,
                       title=hit.title, date=hit.date)

    @staticmethod
    def _document_example(spec: PromptSpec, doc: Document) -> Example:
        """A LaMP item by its task's own fields; any other document as body -> title."""
        task = spec.lamp_task
        if doc.kind == "lamp" and task is not None:
            inp = doc.fields.get(task.input_field, doc.text)
            same = task.output_field == task.input_field
            out = "" if same else doc.fields.get(task.output_field, doc.title)
        else:
            inp, out = doc.text, doc.title
        return Example(input=inp, output=out, doc_id=doc.doc_id, source=doc.source,
                       title=doc.title, date=doc.date)

    def prepare(self, request: WriteRequest) -> PreparedWrite:
        spec = spec_for(request.task)
        method = Method(request.method)
        adapter = None
        if method.adapts:
            adapter = request.adapter or self._active_adapter()
        examples: list[Example] = []
        if method.retrieves:
            retriever = request.retriever or self._settings.retriever
            k = request.k if request.k is not None else self._settings.k
            query = spec.lamp_task.query_content(request.text) if spec.lamp_task else request.text
            examples = self.retrieve(spec, query, retriever, k)
            if spec.uses_pairs:
                examples = [e for e in examples if e.output.strip()]
        budget = self.runtime.context_length - request.params.max_tokens - 16
        chat = self.runtime.has_chat_template
        built = build_prompt(
            spec, request.text, examples, self._measure, budget, request.prompt_format, chat=chat
        )
        prompt, stops = self._for_model(built)
        ending = stops[0] if stops else "\n"
        if not self.runtime.has_chat_template and not spec.single_line:
            # A base model's draft ends at a run of blank lines, where it starts a new document.
            # One-line answers end at their line for every model: see ``AnswerStream``.
            stops = ("\n\n\n",)
        params = replace(
            request.params,
            stop=tuple(dict.fromkeys((*request.params.stop, *stops))),
            repeat_penalty=max(request.params.repeat_penalty, spec.repeat_penalty),
            no_repeat_ngram=NO_REPEAT_NGRAM if spec.single_line else 0,
        )
        if spec.single_line:
            params = replace(
                params,
                max_tokens=min(params.max_tokens, ONE_LINE_MAX_TOKENS),
                length_budget=max((len(words(e.output)) for e in built.examples), default=0),
            )
        content = user_content(spec, request.text)
        start = prompt.rfind(content) if content else -1
        return PreparedWrite(
            request, spec, self.model, prompt, params, adapter, built.examples, ending,
            head=prompt[:start] if start > 0 else "",
        )

    def prefill(self, request: WriteRequest, cancel: CancelToken | None = None) -> PreparedWrite:
        """Prepare ``request`` and evaluate its prompt now, before it is asked for.

        The Write panel calls this while the user types: when Write comes for
        the same text only the last token is left to evaluate, and when the text
        changed but its retrieved examples did not, only the user's text.  The
        answer is the same either way (``ModelRuntime._evaluate``).
        """
        prepared = self.prepare(request)
        self.runtime.prefill(prepared.prompt, prepared.adapter, cancel, head=prepared.head)
        return prepared

    def _measure(self, built: BuiltPrompt) -> int:
        return self.runtime.count_tokens(self._for_model(built)[0])

    def _for_model(self, built: BuiltPrompt) -> tuple[str, tuple[str, ...]]:
        """The string for llama.cpp: the chat template applied, or the completion as built."""
        if self.runtime.has_chat_template:
            return self.runtime.render(built.text, history=built.shots)
        return built.text, ()

    def _active_adapter(self) -> ActiveAdapter:
        adapter_id = self._settings.active_adapter
        if not adapter_id:
            raise InkwellError(
                "no adapter is active for this profile: train one ('inkwell adapter train') "
                "or choose the 'rag' or 'none' method"
            )
        return resolve_adapter(self.profile, adapter_id, self.model)

    def training_examples(self, task: str, documents: Sequence[Document]) -> list[TrainExample]:
        """Training pairs whose prompts are exactly this writer's ``none`` prompts for ``task``.

        An adapter learns the mapping it will be asked for: the same instruction,
        labels and chat template as at inference, with the document's body as the
        input and its natural target (title, subject) as the answer.
        """
        from core.adapters.data import Example as TrainExample

        spec = spec_for(task)
        marker = "\x00INPUT\x00"
        raw = (spec.lamp_task.input_prefix + marker) if spec.lamp_task else marker
        prepared = self.prepare(WriteRequest(raw, task, Method.NONE))
        prefix, suffix = prepared.prompt.split(marker)
        out = []
        for doc in documents:
            ex = self._document_example(spec, doc)
            if ex.input.strip() and ex.output.strip():
                out.append(
                    TrainExample(
                        prefix=prefix,
                        content=ex.input.strip(),
                        target=ex.output.strip(),
                        doc_id=doc.doc_id,
                        date=doc.date,
                        content_hash=doc.content_hash,
                        suffix=suffix,
                        rendered=True,  # prefix and suffix already hold the chat template
                    )
                )
        return out

    def stream(self, prepared: PreparedWrite, cancel: CancelToken | None = None) -> Iterator[str]:
        """The answer as it is written: only text that stays in the final answer."""
        answer = AnswerStream(prepared.spec)
        pieces: Generator[str, None, None] = self.runtime.stream(
            prepared.prompt, prepared.params, prepared.adapter, cancel, head=prepared.head
        )
        try:
            for piece in pieces:
                shown = answer.feed(piece)
                if shown:
                    yield shown
                if answer.complete:
                    break  # a one-line answer's line is done: stop the model here
        finally:
            pieces.close()
        rest = answer.finish()
        if rest:
            yield rest

    def answer(self, prepared: PreparedWrite, cancel: CancelToken | None = None) -> str:
        """The whole answer (one line for titles and subjects)."""
        return "".join(self.stream(prepared, cancel))

    def suggest(
        self, prepared: PreparedWrite, n: int, cancel: CancelToken | None = None
    ) -> list[Suggestion]:
        """Up to ``n`` distinct answers, best first: the greedy one and sampled ones.

        Answers that differ only in case or punctuation count as one.  They are
        ranked by ``Suggestion.score``; a few more samples than ``n`` are tried
        when some repeat, so fewer than ``n`` come back only for a request the
        model answers one way whatever it samples.
        """
        if n > 1 and not prepared.spec.single_line:
            raise InkwellError(
                f"suggestions are for one-line tasks (titles, subjects); {prepared.spec.name} "
                "writes one draft at a time"
            )
        texts: dict[tuple[str, ...], str] = {}
        for attempt in range(2 * n + 1 if n > 1 else 1):
            if len(texts) == n or (cancel is not None and cancel.cancelled):
                break
            params = prepared.params
            if attempt:
                temperature = max(params.temperature, SUGGEST_TEMPERATURE)
                params = replace(params, temperature=temperature, seed=params.seed + attempt)
            text = self.answer(replace(prepared, params=params), cancel)
            texts.setdefault(tuple(words(text)) or (text,), text)
        found = [t for t in texts.values() if t]
        # A base model's one-line prompt ends with its label ("Title:"); the answer starts after
        # a space there.
        lead = " " if prepared.prompt.endswith(":") else ""
        scores = self.runtime.score(
            prepared.prompt, [lead + t + prepared.ending for t in found], prepared.adapter,
            head=prepared.head,
        )
        ranked = sorted(zip(found, scores, strict=True), key=lambda pair: -pair[1])
        return [Suggestion(text, score) for text, score in ranked]


def resolve_adapter(profile: ProfilePaths, adapter_id: str, model: ModelInfo) -> ActiveAdapter:
    """An adapter id of the profile's store as a runtime adapter, checked against the model."""
    from core.adapters.store import AdapterStore

    record = AdapterStore(profile).get(adapter_id)
    if record.base_sha256 != model.sha256:
        raise InkwellError(
            f"adapter {adapter_id} was trained for another base model; "
            f"it cannot be used with {model.name}"
        )
    return ActiveAdapter(record.gguf_path)
