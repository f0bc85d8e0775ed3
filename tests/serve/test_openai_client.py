"""The official ``openai`` client against ``inkwell serve`` (real llama.cpp, SmolLM2)."""

from __future__ import annotations

import openai
import pytest

MODEL = "smollm2-135m-instruct"
PROMPT = "A short note about the gulls at the harbour"
METHODS = {"": "none", "+rag": "rag", "+adapter": "peft", "+rag+adapter": "rag+peft"}


def test_models_lists_each_method_of_each_installed_model(client) -> None:
    ids = {m.id for m in client.models.list()}
    assert {MODEL + suffix for suffix in METHODS} <= ids
    # The active adapter was trained on SmolLM2: Gemma is offered without it.
    assert {"gemma3-270m", "gemma3-270m+rag"} <= ids
    assert "gemma3-270m+adapter" not in ids
    assert client.models.retrieve(MODEL + "+rag").id == MODEL + "+rag"


@pytest.mark.parametrize("suffix", list(METHODS))
def test_chat_completion_with_each_method(client, suffix: str) -> None:
    reply = client.chat.completions.create(
        model=MODEL + suffix, messages=[{"role": "user", "content": PROMPT}], max_tokens=8
    )
    assert reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert 0 < reply.usage.completion_tokens <= 8
    ext = reply.model_extra["inkwell"]
    assert ext["method"] == METHODS[suffix]
    assert (ext["adapter"] == "served-00000000") == ("adapter" in suffix)
    titles = {s["title"] for s in ext["sources"]}
    if "rag" in suffix:  # the user's own note about gulls is what RAG put into the prompt
        assert "Harbour walk" in titles
    else:
        assert not titles


@pytest.mark.parametrize("suffix", list(METHODS))
def test_streamed_chat_completion_with_each_method(client, suffix: str) -> None:
    stream = client.chat.completions.create(
        model=MODEL + suffix, messages=[{"role": "user", "content": PROMPT}], max_tokens=8,
        stream=True,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    ext = chunks[0].model_extra["inkwell"]
    assert ext["method"] == METHODS[suffix]
    assert bool(ext["sources"]) == ("rag" in suffix)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_streamed_and_whole_answers_agree(client) -> None:
    """Same request, same seed: the stream carries the answer the JSON body holds."""
    kwargs = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}],
              "max_tokens": 12, "seed": 3}
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or ""
                       for c in client.chat.completions.create(**kwargs, stream=True))
    assert streamed.strip() == whole


def test_text_completion_streamed_and_not(client) -> None:
    reply = client.completions.create(model=MODEL + "+rag", prompt=PROMPT, max_tokens=8)
    assert reply.choices[0].text.strip()
    assert reply.model_extra["inkwell"]["sources"]
    pieces = list(client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8,
                                            stream=True))
    assert "".join(p.choices[0].text for p in pieces).strip()


def test_task_and_method_in_the_extension_field(client) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Fix the off-by-one in the pager: "
                                "the last page was never shown."}],
        max_tokens=16, extra_body={"inkwell": {"task": "commit_subject", "method": "rag"}},
    )
    ext = reply.model_extra["inkwell"]
    assert (ext["task"], ext["method"]) == ("commit_subject", "rag")
    assert "\n" not in reply.choices[0].message.content  # a subject is one line


def test_n_suggestions_are_distinct_and_ranked(client) -> None:
    ask = {"model": MODEL + "+rag", "max_tokens": 16, "n": 3,
           "messages": [{"role": "user", "content": "I counted the gulls on the breakwater "
                         "this Sunday; there were more than last year."}],
           "extra_body": {"inkwell": {"task": "title"}}}
    reply = client.chat.completions.create(**ask)
    texts = [c.message.content for c in reply.choices]
    assert 2 <= len(texts) <= 3 and len({t.lower() for t in texts}) == len(texts)
    assert all(t.strip() and "\n" not in t for t in texts)
    scores = reply.model_extra["inkwell"]["scores"]
    assert len(scores) == len(texts) and scores == sorted(scores, reverse=True)
    chunks = list(client.chat.completions.create(**ask, stream=True))
    streamed: dict[int, str] = {}
    for chunk in chunks:
        choice = chunk.choices[0]
        streamed[choice.index] = streamed.get(choice.index, "") + (choice.delta.content or "")
    assert [streamed[i] for i in sorted(streamed)] == texts  # same seed: same suggestions


def test_n_suggestions_of_a_draft_is_a_clear_400(client) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=8, n=2)
    assert "one-line tasks" in err.value.body["message"]


def test_wrong_or_missing_token_gets_401(server) -> None:
    from openai import OpenAI

    for key in ("inkwell-wrong", server.token[:-1]):
        wrong = OpenAI(base_url=server.urls[0], api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            wrong.models.list()
        assert err.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model=MODEL, messages=[{"role": "user",
                                                                  "content": "hi"}])


def test_unknown_model_gets_404_naming_it_and_the_known_ones(client) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
    message = err.value.body["message"]
    assert "'gpt-4o'" in message and MODEL in message
