"""From a model's raw output to the answer a person sees: one pipeline, streamed.

Every surface (``inkwell write``, its ``--json``, the Write panel, the
evaluation) reads a model's output through ``AnswerStream``, so the rules are
the same for chat and base models and what streams is exactly what stays:

- a one-line task (titles, subjects) ends at the end of its first non-empty
  line; a line that is only a label (``Subject:``) does not count;
- leading labels are removed: the task's own (``Subject line:``), the prompt's
  input label echoed back (``Commit message body:``) and the usual ones
  (``Title:``, ``Subject:``), also in Markdown bold;
- quotes or Markdown marks that wrap the whole answer are removed;
- streaming holds back only what the final answer may still drop (a possible
  label, a wrapped answer until it closes, trailing blanks), so text shown is
  never taken back.

The module also holds the word-level measures of answers that the
benchmarks and the decoding rule share (repeated n-grams, copying the input).
"""

from __future__ import annotations

import itertools
import re
import string

from core.prompts import PromptSpec

# Labels a small model puts before its answer whatever the task.
COMMON_LABELS = ("title", "subject line", "subject", "headline", "answer", "summary")
# Pairs that wrap a whole answer: quoted, or set in Markdown bold/italic/code.
WRAPPERS = (("**", "**"), ('"', '"'), ("“", "”"), ("`", "`"), ("*", "*"), ("_", "_"))
_MARKS = "#*_> \t"  # Markdown a label may sit in: "## Title:", "**Subject:**", "> Title:"


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
        """The answer as far as it is certain: all of it when ``final``."""
        if not self.spec.single_line:
            return self._draft(final)
        rest = self._raw
        while True:
            raw_line, newline, rest = rest.lstrip().partition("\n")
            done = final or bool(newline)
            unlabelled = self._strip_labels(raw_line, done)
            if unlabelled is None:
                return ""  # could still turn out to be a label: wait
            line = unlabelled
            if line.strip() or not newline:
                break
            # A line that was empty or only a label: the answer is on a later line.
        if newline and line.strip():
            self.complete = True
        return _unwrap(line.strip()) if done else _held(line)

    def _strip_labels(self, line: str, done: bool) -> str | None:
        while True:
            match = self._label.match(line)
            if match is None:
                break
            line = line[match.end() :]
        if not done and self._could_be_label(line):
            return None
        return line

    def _could_be_label(self, line: str) -> bool:
        head = line.lstrip(_MARKS).lower()
        if not head:
            return True
        for label in self._labels:
            if (label + ":").startswith(head.rstrip(" *_")):
                return True
            if head.startswith(label) and not head[len(label) :].strip(" *_"):
                return True
        return False

    def _draft(self, final: bool) -> str:
        text = self._raw.lstrip()
        label = self.spec.answer_label.lower() + ":" if self.spec.answer_label else ""
        if label and text.lower().startswith(label):
            text = text[len(label) :].lstrip()
        elif label and not final and label.startswith(text.lower()):
            return ""  # could still be the echoed label: wait
        return text.strip() if final else text.rstrip()


def _held(line: str) -> str:
    """What of an unfinished line can be shown: not a possibly wrapped answer, no trailing blank."""
    if any(line.startswith(opening) for opening, _ in WRAPPERS):
        return ""  # shown once the line ends and it is known whether the marks wrap it all
    return line.rstrip()


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

_PUNCT = string.punctuation + "“”\u2018\u2019«»…"


def words(text: str) -> list[str]:
    """Words for comparing answers: case-folded, surrounding punctuation removed."""
    out = (w.strip(_PUNCT) for w in text.casefold().split())
    return [w for w in out if w]


def repeats_ngram(text: str, n: int = 3) -> bool:
    """Whether some word n-gram occurs twice, or a word follows itself (a loop)."""
    ws = words(text)
    if any(a == b for a, b in itertools.pairwise(ws)):
        return True
    grams = [tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)]
    return len(grams) != len(set(grams))


def copied_prefix(answer: str, source: str, min_words: int = 3) -> bool:
    """Whether the answer is the source's opening words (at least ``min_words`` of them)."""
    a, s = words(answer), words(source)
    return len(a) >= min(min_words, len(s)) > 0 and s[: len(a)] == a
