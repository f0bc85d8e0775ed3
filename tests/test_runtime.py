"""The llama.cpp runtime: streaming generation, cancel, chat vs completion, adapter hot-swap."""

from __future__ import annotations

import numpy as np
import pytest

from core.jobs import CancelToken
from core.runtime import ActiveAdapter, GenerationParams, get_runtime


def _complete(rt, prompt: str, params: GenerationParams) -> str:
    """The whole answer, as the writer collects it from the stream."""
    return "".join(rt.stream(prompt, params))


def _count_evaluated(rt) -> list[int]:
    """The number of tokens of each pass llama.cpp decodes from now on (decoding unchanged)."""
    evaluated: list[int] = []
    llama_eval = rt.llama.eval

    def counting_eval(tokens):
        evaluated.append(len(tokens))
        return llama_eval(tokens)

    rt.llama.eval = counting_eval
    return evaluated


@pytest.mark.parametrize("model_fixture", ["smollm2", "gemma"])
def test_generates_text_with_each_bundled_model(model_fixture, request) -> None:
    model = request.getfixturevalue(model_fixture)
    rt = get_runtime(model)
    prompt, stops = rt.render("Write one sentence about the sea.")
    pieces = list(rt.stream(prompt, GenerationParams(max_tokens=12, stop=stops)))
    assert len(pieces) >= 3
    text = "".join(pieces)
    assert text.strip()
    # Greedy decoding is deterministic: the same request gives the same text.
    assert _complete(rt, prompt, GenerationParams(max_tokens=12, stop=stops)) == text


def test_chat_template_only_for_instruction_model(smollm2, gemma) -> None:
    smol_prompt, smol_stops = get_runtime(smollm2).render("Hi")
    assert "<|im_start|>user" in smol_prompt and smol_prompt.rstrip().endswith("assistant")
    assert "<|im_end|>" in smol_stops
    assert get_runtime(gemma).render("Hi") == ("Hi", ())


def test_cancel_stops_the_stream(smollm2) -> None:
    rt = get_runtime(smollm2)
    cancel = CancelToken()
    pieces = []
    for piece in rt.stream("Once upon a time", GenerationParams(max_tokens=200), cancel=cancel):
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.cancel()
    assert len(pieces) == 3


@pytest.mark.parametrize("model_fixture", ["smollm2", "gemma"])
def test_adapter_hot_swap_changes_and_restores_logits(model_fixture, request, tmp_path) -> None:
    from tests.gguf_fixtures import write_random_lora

    model = request.getfixturevalue(model_fixture)
    rt = get_runtime(model, logits_all=True)
    adapter = ActiveAdapter(write_random_lora(model, tmp_path / "lora.gguf"))
    prompt = "The title of my next essay is"
    base = rt.next_token_logits(prompt)
    adapted = rt.next_token_logits(prompt, adapter)
    assert np.abs(adapted - base).max() > 1e-2
    half = rt.next_token_logits(prompt, ActiveAdapter(adapter.path, scale=0.5))
    assert not np.allclose(half, adapted) and not np.allclose(half, base)
    # Switching back to no adapter restores the base logits exactly, without a reload.
    llama_before = rt.llama
    assert np.array_equal(rt.next_token_logits(prompt), base)
    assert rt.llama is llama_before
    # And the adapter again reproduces its own logits (the handle is cached).
    assert np.array_equal(rt.next_token_logits(prompt, adapter), adapted)


def test_a_repeated_prompt_is_not_evaluated_again_and_answers_the_same(smollm2) -> None:
    """Regenerate and further suggestions reuse the prompt's cached evaluation (only its last
    token is decoded again), and the answer is the one a fresh runtime gives."""
    from core.runtime import ModelRuntime

    rt = ModelRuntime(smollm2, n_ctx=1024)
    evaluated = _count_evaluated(rt)
    prompt, stops = rt.render("Write a title for an essay about night trains in Europe.")
    other, _ = rt.render("Write one sentence about the sea.")
    params = GenerationParams(max_tokens=10, stop=stops)
    n_prompt = rt.count_tokens(prompt)
    try:
        first = _complete(rt, prompt, params)
        assert evaluated[0] == n_prompt - 1  # the prompt but its last token, in one pass
        evaluated.clear()
        assert _complete(rt, prompt, params) == first
        assert evaluated and max(evaluated) == 1  # then one token at a time: nothing re-read
        _complete(rt, other, params)
        sampled = GenerationParams(max_tokens=10, stop=stops, temperature=0.8, seed=7)
        assert _complete(rt, prompt, params) == first  # another prompt between: same answer
        again = _complete(rt, prompt, sampled)
        _complete(rt, other, params)
        assert _complete(rt, prompt, sampled) == again
        fresh = ModelRuntime(smollm2, n_ctx=1024)
        assert _complete(fresh, prompt, params) == first
        assert _complete(fresh, prompt, sampled) == again
        fresh.llama.close()
    finally:
        rt.llama.close()


def test_a_head_evaluated_while_typing_is_reused_and_the_answer_is_unchanged(smollm2) -> None:
    """The Write panel prefills while the user types: a request whose head (template,
    instruction, retrieved examples) was evaluated then evaluates only the user's text, and
    answers and scores exactly as a runtime that had cached nothing."""
    from core.runtime import ModelRuntime

    shots = (("Title for: a walk along the harbour breakwater at dawn", "Harbour at Dawn"),
             ("Title for: what the tomatoes taught me after the storm", "Split Tomatoes"))

    def request(rt, text: str) -> tuple[str, str, tuple[str, ...]]:
        prompt, stops = rt.render(f"Title for: {text}", history=shots)
        return prompt, prompt[: prompt.rfind(text)], stops

    def answer(rt, prompt: str, head: str, params: GenerationParams) -> str:
        return "".join(rt.stream(prompt, params, head=head))

    rt = ModelRuntime(smollm2, n_ctx=1024)
    fresh = ModelRuntime(smollm2, n_ctx=1024)
    evaluated = _count_evaluated(rt)
    full, head, stops = request(rt, "night trains across Europe in the winter of 1990")
    typed, typed_head, _ = request(rt, "night trains across")
    assert typed_head == head
    params = GenerationParams(max_tokens=10, stop=stops)
    try:
        expected = answer(fresh, full, head, params)
        expected_score = fresh.score(full, [" Night Trains<|im_end|>"], head=head)
        stopped = CancelToken()
        stopped.cancel()
        rt.prefill(typed, cancel=stopped, head=head)
        assert not evaluated, "a prefill cancelled before it began evaluates nothing"
        rt.prefill(typed, head=head)
        assert len(evaluated) == 2, "the head, then the text typed so far"
        evaluated.clear()
        assert answer(rt, full, head, params) == expected
        n_full, n_head = rt.count_tokens(full), rt.count_tokens(head)
        assert evaluated[0] == n_full - n_head, "only the text after the head is read"
        assert rt.score(full, [" Night Trains<|im_end|>"], head=head) == expected_score
        # Written without a head, the same prompt is one pass: nothing of the above is reused.
        evaluated.clear()
        answer(rt, full, "", params)
        assert evaluated[0] == n_full - 1
    finally:
        rt.llama.close()
        fresh.llama.close()
