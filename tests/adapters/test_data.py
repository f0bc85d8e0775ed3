"""Training examples, the validation split, the step policy and tokenization."""

from __future__ import annotations

import pytest

from core.adapters.backends import make_schedule
from core.adapters.config import TrainConfig
from core.adapters.data import (
    CONTINUE_PREFIX,
    TooFewExamples,
    examples_from_documents,
    examples_from_lamp_file,
    examples_from_lamp_profile,
    split_train_val,
)
from core.documents import Document
from core.errors import InkwellError
from core.lamp import TASKS, load_dataset, profile_item_document
from tests.adapters.conftest import DATA


def test_lamp_profile_items_become_task_pairs_prompted_like_queries():
    dataset = load_dataset(DATA / "proposal_title" / "sample_questions.json")
    question = dataset.questions[0]
    examples = examples_from_lamp_profile(question.profile, dataset.task)
    assert len(examples) == len(question.profile)
    first, item = examples[0], question.profile[0]
    assert first.target == item["title"].strip()
    assert first.content == item["abstract"].strip()
    # The prompt reads exactly like the task's queries: the same instruction prefix.
    assert question.input.startswith(first.prefix)
    assert first.doc_id == f"lamp:{item['id']}" and first.date == item["date"]


def test_lamp_file_takes_the_users_whole_history(commit_examples):
    dataset = load_dataset(DATA / "commit_subject" / "sample_questions.json")
    first_user = next(iter(dataset.users()))
    examples, user, task = examples_from_lamp_file(
        DATA / "commit_subject" / "sample_questions.json"
    )
    assert user == first_user and task.name == "commit_subject"
    assert len(examples) == max(len(q.profile) for q in dataset.users()[user])
    with pytest.raises(InkwellError, match="no user 'nobody'"):
        examples_from_lamp_file(DATA / "commit_subject" / "sample_questions.json", "nobody")


def test_lamp7_pairs_a_tweets_start_with_its_rest():
    (ex,) = examples_from_lamp_profile([{"id": "1", "text": "one two three four"}], TASKS["LaMP-7"])
    assert (ex.content, ex.target) == ("one two", "three four")


def test_documents_give_title_pairs_and_style_pairs():
    body = " ".join(f"w{i}" for i in range(200))
    email = Document("d1", "mail#1", "Lunch on Friday", "2024-01-02", body, "email")
    note = Document("d2", "note.md", "first line", "2024-01-03", body, "markdown")
    examples = examples_from_documents([email, note])
    email_pairs = [e for e in examples if e.doc_id == "d1"]
    assert email_pairs[0].target == "Lunch on Friday"
    assert email_pairs[0].prefix == TASKS["LaMP-6"].input_prefix
    # A derived first line is not a natural title: the note only gives style pairs.
    note_pairs = [e for e in examples if e.doc_id == "d2"]
    assert note_pairs and all(e.prefix == CONTINUE_PREFIX for e in note_pairs)
    assert note_pairs[0].content.split()[0] == "w0" and note_pairs[0].target.split()[0] == "w48"


def test_lamp_documents_from_the_library_give_their_task_pair():
    dataset = load_dataset(DATA / "commit_subject" / "sample_questions.json")
    item = dataset.questions[0].profile[0]
    doc = profile_item_document(item, dataset.task, "sample")
    (ex,) = examples_from_documents([doc])
    assert ex.target == item["title"] and ex.doc_id == doc.doc_id and ex.date == item["date"]


def test_newest_examples_are_held_out(commit_examples):
    train, val = split_train_val(commit_examples, 0.1, 16, 4)
    assert len(val) == 2 and len(train) == len(commit_examples) - 2
    assert max(e.date or "" for e in train) <= min(e.date or "" for e in val)


def test_too_few_examples_says_how_many_are_needed(commit_examples):
    with pytest.raises(
        TooFewExamples, match=r"only 3 training example\(s\).*at least 4 are needed"
    ):
        split_train_val(commit_examples[:3], 0.1, 16, 4)
    with pytest.raises(TooFewExamples, match="nothing to train on"):
        split_train_val([], 0.1, 16, 4)


def test_epochs_scale_with_the_amount_of_data():
    config = TrainConfig()
    assert config.planned_steps(20) == 20  # 4 epochs of 5 batches
    assert config.planned_steps(200) == 50  # one pass
    assert config.planned_steps(2000) == config.max_steps
    assert TrainConfig(steps=7).planned_steps(2000) == 7
    assert TrainConfig(epochs=2).planned_steps(10) == 6


def test_batches_group_similar_lengths_and_see_every_example_once_per_epoch():
    from core.adapters.tokens import Encoded

    lengths = [20 + (i * 37) % 140 for i in range(96)]  # 20..159 tokens, shuffled
    train = [Encoded(tuple(range(n)), n // 2) for n in lengths]
    schedule = make_schedule(train, steps=48, batch_size=4, seed=3)  # two epochs
    assert schedule == make_schedule(train, steps=48, batch_size=4, seed=3)  # resumable
    for epoch in (schedule[:24], schedule[24:]):
        assert sorted(i for batch in epoch for i in batch) == list(range(96))

    def padding(batches: list[list[int]]) -> float:
        real = sum(lengths[i] for b in batches for i in b)
        return 1 - real / sum(4 * max(lengths[i] for i in b) for b in batches)

    ungrouped = [list(range(96))[s * 4 : (s + 1) * 4] for s in range(24)]  # lengths at random
    assert padding(schedule) < 0.1 < padding(ungrouped)
    by_length = [[i for i in sorted(range(96), key=lengths.__getitem__)][s * 4 : (s + 1) * 4]
                 for s in range(24)]
    assert schedule[:24] != by_length  # still shuffled, not one fixed order


def test_config_refuses_what_llama_cpp_cannot_hold():
    with pytest.raises(InkwellError, match="lm_head"):
        TrainConfig(target_modules=("q_proj", "lm_head"))
    with pytest.raises(InkwellError, match="either epochs or steps"):
        TrainConfig(epochs=1, steps=2)
    with pytest.raises(InkwellError, match="unknown backend"):
        TrainConfig(backend="jax")


def test_encoding_masks_the_prompt_and_cuts_only_the_content(smollm2, commit_examples):
    from core.adapters.tokens import vocab_for

    vocab = vocab_for(smollm2)
    example = max(commit_examples, key=lambda e: len(e.content))
    encoded = vocab.encode(example, 64)
    assert len(encoded.input_ids) <= 64
    target = list(encoded.input_ids[encoded.n_prompt :])
    assert target[-1] == vocab.eos
    assert vocab.detokenize(target[:-1]) == example.target
    prompt = vocab.detokenize(list(encoded.input_ids[: encoded.n_prompt]), special=True)
    assert (
        example.prefix in prompt and "<|im_start|>assistant" in prompt
    )  # chat template kept whole
    assert example.content[:20] in prompt and example.content not in prompt  # content was cut


def test_prerendered_prompts_are_not_templated_twice(smollm2, commit_examples):
    from dataclasses import replace

    from core.adapters.tokens import vocab_for

    vocab = vocab_for(smollm2)
    plain = commit_examples[0]
    marker = "\x00"
    before, after = vocab.render(plain.prefix + marker + plain.suffix).split(marker)
    rendered = replace(plain, prefix=before, suffix=after, rendered=True)
    assert vocab.encode(rendered, 512) == vocab.encode(plain, 512)
