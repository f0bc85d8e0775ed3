"""Task-aware prompt construction for the four personalization methods.

One builder serves the writer, the CLI and the evaluation.  A prompt is the
task's instruction, optionally a few retrieved items of the user's own writing
(RAG), and the user's input.  It is fitted to the model's context by shortening
and then dropping retrieved items, never by cutting the user's input.

Formats (chosen per run; the defaults are the ones that won on the evaluation
data, see docs/RESULTS.md):

``fewshot``
    Completion-style blocks (``Abstract: …`` / ``Title: …``) for each example,
    then the query block left open.  Works for base models, which have no chat
    template, and for instruction models (sent as the user turn).
``lamp``
    The LaMP paper's construction: ``"<title>" is the title for "<text>", and
    … . Following the given patterns <input>``.
``style``
    Only the user's earlier *outputs* (their titles/subjects) as a list of
    examples of their style, then the query.  Short prompts, and the model sees
    the voice without the other texts' content to copy from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from core.errors import InkwellError
from core.lamp import TASKS, LampTask

FORMATS = ("fewshot", "lamp", "style")


@dataclass(frozen=True)
class Example:
    """A retrieved item of the user's writing, as the prompt shows it."""

    input: str  # the item's body (abstract, commit body, passage)
    output: str  # its natural target (title, subject); "" for plain passages
    doc_id: str = ""
    source: str = ""
    title: str = ""
    date: str | None = None


@dataclass(frozen=True)
class PromptSpec:
    """How one task reads: labels for the completion format, and its instruction."""

    name: str
    instruction: str
    input_label: str
    output_label: str
    lamp_noun: str = "title"  # LaMP: '"<out>" is the <noun> for "<in>"'
    single_line: bool = True  # titles and subjects are one line; drafts are not
    lamp_task: LampTask | None = None
    answer_label: str = ""  # opens a free-text answer in completion style ("Draft")
    # Greedy decoding of long free text loops on small models; titles need no penalty.
    repeat_penalty: float = 1.0

    @property
    def uses_pairs(self) -> bool:
        """Whether examples are (input, output) pairs rather than plain passages."""
        return bool(self.output_label)


def _lamp(name: str, instruction: str, inp: str, out: str, noun: str = "title") -> PromptSpec:
    return PromptSpec(name, instruction, inp, out, noun, True, TASKS[name])


SPECS: dict[str, PromptSpec] = {
    s.name: s
    for s in [
        # Writing tasks of the app.
        PromptSpec(
            "free",
            "Write what is asked, in the author's own voice.",
            "Request",
            "",
            single_line=False,
            answer_label="Draft",
            repeat_penalty=1.3,
        ),
        PromptSpec(
            "rewrite",
            "Rewrite the text in the author's own voice.",
            "Text",
            "",
            single_line=False,
            answer_label="Rewritten text",
            repeat_penalty=1.3,
        ),
        PromptSpec("title", "Write a title for the text.", "Text", "Title"),
        PromptSpec("email_subject", "Write the subject line of the e-mail.", "E-mail", "Subject"),
        PromptSpec(
            "headline", "Write a headline for the article.", "Article", "Headline", "headline"
        ),
        # LaMP tasks and the project's real-data analogues.
        _lamp("proposal_title", "Write the title of the proposal.", "Abstract", "Title"),
        _lamp(
            "commit_subject",
            "Write the subject line of the commit message.",
            "Commit message body",
            "Subject line",
            "subject",
        ),
        _lamp("LaMP-4", "Write the headline of the article.", "Article", "Headline"),
        _lamp("LaMP-5", "Write the title of the paper.", "Abstract", "Title"),
        _lamp("LaMP-6", "Write the subject of the e-mail.", "E-mail", "Subject"),
        _lamp("LaMP-7", "Paraphrase the tweet in the author's style.", "Tweet", "", "tweet"),
        _lamp(
            "LaMP-1", "Which reference is related? Answer with [1] or [2].", "Paper title", "Answer"
        ),
        _lamp(
            "LaMP-2",
            "Which tag fits the movie? Answer with the tag only.",
            "Description",
            "Tag",
            "tag",
        ),
        _lamp(
            "LaMP-2N",
            "Which category fits the article? Answer with the category only.",
            "Article",
            "Category",
            "category",
        ),
        _lamp(
            "LaMP-3",
            "Score the review from 1 to 5. Answer with the number only.",
            "Review",
            "Score",
            "score",
        ),
    ]
}
WRITING_TASKS = ("free", "rewrite", "title", "email_subject", "commit_subject", "headline")


def spec_for(task: str) -> PromptSpec:
    try:
        return SPECS[task]
    except KeyError:
        raise InkwellError(f"unknown task {task!r}; known: {', '.join(SPECS)}") from None


@dataclass(frozen=True)
class BuiltPrompt:
    """A prompt before the model's template is applied.

    ``text`` is the (last) user turn of a chat model, or the whole completion
    prompt of a base model.  ``shots`` are earlier (user, assistant) turns: on a
    chat model, few-shot examples are shown as a conversation in which the
    author already answered, which primes a short answer in their style far
    better than examples pasted into one message (a small model copies those).
    """

    text: str
    examples: tuple[Example, ...]  # the examples that fitted, in prompt order
    shots: tuple[tuple[str, str], ...] = ()


PromptMeasure = Callable[[BuiltPrompt], int]  # tokens of the prompt as the model will see it


def user_content(spec: PromptSpec, raw_input: str) -> str:
    """The user's own text inside a request (a LaMP query carries an instruction prefix)."""
    return spec.lamp_task.query_content(raw_input) if spec.lamp_task else raw_input.strip()


def build_prompt(
    spec: PromptSpec,
    raw_input: str,
    examples: Sequence[Example],
    measure: PromptMeasure,
    budget_tokens: int,
    fmt: str = "fewshot",
    chat: bool = False,
    example_chars: int = 600,
) -> BuiltPrompt:
    """Build the prompt; drop or shorten examples until it fits ``budget_tokens``.

    ``chat``: the text becomes the user turn of an instruction model, so it
    ends by asking for the answer; otherwise it ends by opening the answer
    (``Title:``) for a base model to complete.  The user's input is never
    shortened: if it alone does not fit, that is an error the user must see.
    """
    if fmt not in FORMATS:
        raise InkwellError(f"unknown prompt format {fmt!r}; known: {', '.join(FORMATS)}")
    content = user_content(spec, raw_input)
    query_only = _assemble(spec, raw_input, content, [], fmt, chat)
    if measure(query_only) > budget_tokens:
        raise InkwellError(
            f"the input is too long for the model's context ({budget_tokens} tokens available): "
            "shorten it or choose a model with a longer context"
        )
    kept = [_shorten(e, example_chars) for e in examples]
    while kept:
        built = _assemble(spec, raw_input, content, kept, fmt, chat)
        if measure(built) <= budget_tokens:
            return built
        longest = max(range(len(kept)), key=lambda i: len(kept[i].input))
        if len(kept[longest].input) > 200:
            kept[longest] = _shorten(kept[longest], len(kept[longest].input) // 2)
        else:
            kept.pop()  # the lowest-ranked example goes first
    return query_only


def _assemble(
    spec: PromptSpec,
    raw_input: str,
    content: str,
    examples: Sequence[Example],
    fmt: str,
    chat: bool,
) -> BuiltPrompt:
    closing = _closing(spec, chat)
    if chat and fmt == "fewshot" and spec.uses_pairs and examples:
        shots = tuple(
            (_render(spec, raw_input, _oneline(e.input), [], fmt) + closing, _oneline(e.output))
            for e in examples
        )
        return BuiltPrompt(
            _render(spec, raw_input, content, [], fmt) + closing, tuple(examples), shots
        )
    return BuiltPrompt(_render(spec, raw_input, content, examples, fmt) + closing, tuple(examples))


def _closing(spec: PromptSpec, chat: bool) -> str:
    if spec.uses_pairs:
        label = spec.output_label
        return f"\n\nReply with the {label.lower()} only." if chat else f"\n{label}:"
    return "" if chat else f"\n\n{spec.answer_label or 'Answer'}:\n"


def _shorten(example: Example, max_chars: int) -> Example:
    if len(example.input) <= max_chars:
        return example
    cut = example.input[:max_chars].rsplit(" ", 1)[0]
    return replace(example, input=cut + " …")


def _oneline(text: str) -> str:
    return " ".join(text.split())


def _render(
    spec: PromptSpec, raw_input: str, content: str, examples: Sequence[Example], fmt: str
) -> str:
    if not spec.uses_pairs:
        return _render_passages(spec, content, examples)
    if fmt == "lamp" and examples:
        shown = ", and ".join(
            f'"{_oneline(e.output)}" is the {spec.lamp_noun} for "{_oneline(e.input)}"'
            for e in examples
        )
        return f"{shown}. Following the given patterns {raw_input}"
    if fmt == "style" and examples:
        listed = "\n".join(f"- {_oneline(e.output)}" for e in examples)
        return (
            f"Examples of the author's earlier {spec.output_label.lower()}s:\n{listed}\n\n"
            f"{spec.instruction} Match the author's style.\n\n"
            f"{spec.input_label}: {content}"
        )
    blocks = [
        f"{spec.input_label}: {_oneline(e.input)}\n{spec.output_label}: {_oneline(e.output)}"
        for e in examples
    ]
    lead = spec.instruction + (" Follow the author's style in the examples." if examples else "")
    return "\n\n".join([lead, *blocks, f"{spec.input_label}: {content}"])


def _render_passages(spec: PromptSpec, content: str, examples: Sequence[Example]) -> str:
    if not examples:
        return f"{spec.instruction}\n\n{spec.input_label}: {content}"
    shown = "\n\n".join(f"[{i}] {e.input.strip()}" for i, e in enumerate(examples, 1))
    return (
        f"Passages the author wrote:\n\n{shown}\n\n{spec.instruction} "
        f"Match the voice of the passages.\n\n{spec.input_label}: {content}"
    )
