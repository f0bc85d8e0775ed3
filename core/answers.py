"""From a model's raw output to the answer a person sees: one pipeline, streamed.

Every surface (``inkwell write``, its ``--json``, the Write panel, the
evaluation) reads a model's output through ``AnswerStream``, so the rules are
the same for chat and base models and what streams is exactly what stays:

- a one-line task (titles, subjects) ends at the end of its first non-empty
  line, or of its first sentence (without its full stop); a line that is only
  a label (``Subject:``) does not count, and generation stops there;
- leading labels are removed: the task's own (``Subject line:``), the prompt's
  input label echoed back (``Commit message body:``) and the usual ones
  (``Title:``, ``Subject:``), also in Markdown bold, and a preamble that names
  one (``The subject line of the commit message is:``);
- quotes or Markdown marks that wrap the whole answer are removed;
- a one-line answer is shown whole once it is certain; a draft streams, holding
  back only an echoed label and trailing blanks: text shown is never taken back.

The module also holds the word-level measures of answers that the
benchmarks and the decoding rule share (repeated n-grams, copying the input).
"""

from __future__ import annotations

import itertools
import re

from core.prompts import PromptSpec

# Labels a small model puts before its answer whatever the task.
COMMON_LABELS = ("title", "subject line", "subject", "headline", "answer", "summary")
# Pairs that wrap a whole answer: quoted, or set in Markdown bold/italic/code.
WRAPPERS = (("**", "**"), ('"', '"'), ("“", "”"), ("`", "`"), ("*", "*"), ("_", "_"))
_MARKS = "#*_> \t"  # Markdown a label may sit in: "## Title:", "**Subject:**", "> Title:"
# "The subject line of the commit message is:", "Here is a title for the text:"
_PREAMBLE = re.compile(r"([^:\n]{1,100}?):\s*")
_ANNOUNCES = re.compile(r"\b(?:is|are|be|was|follows?)$")
# A one-line answer ends with its first sentence ("Fix pkgconfig. This means …").
_SENTENCE_END = re.compile(r"[.!?](?=\s+\S)")


def _labels(spec: PromptSpec) -> tuple[str, ...]:
    own = (spec.output_label, spec.input_label, spec.answer_label)
    # Longest first, so "Subject line:" is removed whole rather than as "Subject".
    found = {label.lower() for label in (*own, *COMMON_LABELS) if label}
    return tuple(sorted(found, key=len, reverse=True))


def _label_re(labels: tuple[str, ...]) -> re.Pattern[str]:
    names = "|".join(re.escape(label) for label in labels)
    return re.compile(rf"[{re.escape(_MARKS)}]*(?:{names})[ \t*_]*:[ \t*_]*", re.IGNORECASE)


class AnswerStream:
    """Raw model text in, the answer out: ``feed`` returns only text that will stay.

    ``complete`` turns true when a one-line answer has ended (its line is
    finished): the caller stops generating there.  ``finish`` returns the rest
    once the model has stopped; ``text`` is the answer shown so far (after
    ``finish``, the whole answer).
    """

    def __init__(self, spec: PromptSpec) -> None:
        self.spec = spec
        self._labels = _labels(spec)
        self._label = _label_re(self._labels)
        self._raw = ""
        self.text = ""
        self.complete = False

    def feed(self, piece: str) -> str:
        if self.complete:
            return ""
        self._raw += piece
        return self._show(self._settle(final=False))

    def finish(self) -> str:
        self.complete = True
        return self._show(self._settle(final=True))

    def _show(self, settled: str) -> str:
        if not settled.startswith(self.text):  # a rule below would have to take text back
            raise AssertionError(f"answer {settled!r} does not extend {self.text!r}")
        new = settled[len(self.text) :]
        self.text = settled
        return new

    def _settle(self, final: bool) -> str:
        """The answer as far as it is certain: all of it when ``final``.

        A one-line answer is certain only once its line or first sentence has
        ended (a preamble or a label can be told from content only then), so
        it appears whole; a draft streams as it is written.
        """
        if not self.spec.single_line:
            return self._draft(final)
        rest = self._raw
        while True:
            raw_line, newline, rest = rest.lstrip().partition("\n")
            line = self._strip_labels(raw_line)
            end = _SENTENCE_END.search(line)
            if end is not None:
                line = line[: end.start() + 1]
            if not (final or newline or end):
                return ""  # shown once its line or sentence is done
            if line.strip() or not newline:
                break
            # A line that was empty or only a label: the answer is on a later line.
        if line.strip() and (newline or end):
            self.complete = True
        answer = _unwrap(line.strip())
        return answer[:-1] if answer.endswith(".") and not answer.endswith("..") else answer

    def _strip_labels(self, line: str) -> str:
        while True:
            match = self._label.match(line) or _PREAMBLE.match(line)
            if match is None:
                return line
            if match.re is _PREAMBLE:
                said = match.group(1).lower().strip()
                announces = said.startswith(("here", "sure")) or _ANNOUNCES.search(said)
                if not (announces and any(label in said for label in self._labels)):
                    return line
            line = line[match.end() :]

    def _draft(self, final: bool) -> str:
        text = self._raw.lstrip()
        label = self.spec.answer_label.lower() + ":" if self.spec.answer_label else ""
        if label and text.lower().startswith(label):
            text = text[len(label) :].lstrip()
        elif label and not final and label.startswith(text.lower()):
            return ""  # could still be the echoed label: wait
        return text.strip() if final else text.rstrip()


def _unwrap(line: str) -> str:
    """Remove quotes or marks around the whole answer (or an opening one never closed)."""
    changed = True
    while changed and line:
        changed = False
        for opening, closing in WRAPPERS:
            if not line.startswith(opening):
                continue
            inner = line[len(opening) :]
            if inner.endswith(closing) and len(inner) > len(closing):
                inner = inner[: -len(closing)]
                if closing in inner:  # '"a" and "b"' is not one wrapped answer
                    continue
            elif closing in inner:
                continue
            line, changed = inner.strip(), True
            break
    return line


def clean_answer(spec: PromptSpec, raw: str) -> str:
    """The answer in ``raw`` model output, exactly as ``AnswerStream`` shows it."""
    stream = AnswerStream(spec)
    stream.feed(raw)
    stream.finish()
    return stream.text


# -- measures of answers -------------------------------------------------------------------------

_WORD_SPLIT = re.compile(r"[\s/]+")
# What surrounds a word in a sentence; not ``#``, ``+`` or ``-``, which are part of ``C#``,
# ``C++`` or ``-O2`` (stripping them made ``C++/C#`` one word written twice).
_PUNCT = ".,;:!?\"'`()[]{}<>*_“”\u2018\u2019«»…"


def raw_words(text: str) -> list[str]:
    """Words as written: separated by blanks or a slash (``C++/C#/Java`` is three words)."""
    return _WORD_SPLIT.split(text.strip()) if text.strip() else []


def words(text: str) -> list[str]:
    """Words for comparing answers: case-folded, surrounding punctuation removed."""
    out = (w.strip(_PUNCT) for w in raw_words(text.casefold()))
    return [w for w in out if w]


def repeats_ngram(text: str, n: int = 3) -> bool:
    """Whether some word n-gram occurs twice, or a word follows itself (a loop), also inside
    a hyphenated word (``Pixel-Pixel-Pixel``)."""
    ws = words(text)
    if any(a == b for a, b in itertools.pairwise(ws)):
        return True
    if any(a == b for w in ws for a, b in itertools.pairwise(w.split("-")) if a):
        return True
    grams = [tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)]
    return len(grams) != len(set(grams))


def copied_prefix(answer: str, source: str, min_words: int = 3) -> bool:
    """Whether the answer is the source's opening words (at least ``min_words`` of them)."""
    a, s = words(answer), words(source)
    return len(a) >= min(min_words, len(s)) > 0 and s[: len(a)] == a
