"""The evaluation end to end on the real-data samples, and the per-user advice.

Real retrieval (a throw-away Chroma + BM25 library per query), a real few-step
adapter per user, real llama.cpp generation with the small bundled model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.cli import main
from core.lamp import load_outputs
from core.models import SMOLLM2

METHODS = ["none", "rag", "peft", "rag+peft"]


def _eval(home: Path, data: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "--home",
            str(home),
            "eval",
            "--data",
            str(data),
            "--model",
            SMOLLM2,
            "--steps",
            "2",
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.mark.parametrize("task,users", [("proposal_title", "5"), ("commit_subject", "2")])
def test_eval_end_to_end_and_resume(tmp_path, sample_data, capsys, task, users) -> None:
    out = tmp_path / "out"
    assert _eval(tmp_path / "home", sample_data / task, out, "--users", users, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == task
    assert set(summary["systems"]) == {*METHODS, "first-12-words", "nearest-title"}
    n_users = int(users)
    assert len(summary["users"]) == n_users
    assert summary["queries"] == 2 * n_users
    assert f"{users} of 5 users" in summary["sample"] or "all 5 users" in summary["sample"]
    for system, scores in summary["systems"].items():
        assert 0.0 <= scores["rouge-L"] <= scores["rouge-1"] + 1e-9 <= 1.0 + 1e-9, system
    assert summary["relative_gain_percent"]["none"] == pytest.approx(0.0)
    # Every gain over none has a users-resampled interval around it.
    for system in [*METHODS[1:], "first-12-words", "nearest-title"]:
        lo, hi = summary["relative_gain_ci95"][system]
        assert lo <= summary["relative_gain_percent"][system] <= hi, system
    assert "profile_size~gain(peft)" in summary["spearman"]
    assert summary["command"].startswith("inkwell ") and summary["wall_seconds"] > 0

    # Predictions in LaMP's format, one file per method, covering every query.
    for method in METHODS:
        name, golds = load_outputs(out / f"predictions_{method.replace('+', '_')}.json")
        assert name == task and len(golds) == 2 * n_users
    assert (out / "gain_vs_profile_size.png").read_bytes().startswith(b"\x89PNG")
    assert "| rag+peft |" in (out / "results.md").read_text()
    assert "95 % CI" in (out / "results.md").read_text()

    # Every user got a real adapter, trained on items older than all its queries.
    user_files = sorted((out / "users").glob("*.json"))
    assert len(user_files) == n_users
    for f in user_files:
        adapter = json.loads(f.read_text())["adapter"]
        assert Path(adapter["gguf_path"]).is_file() and adapter["steps"] == 2

    # A second run resumes: finished users are not recomputed.
    mtimes = {f: f.stat().st_mtime_ns for f in user_files}
    assert _eval(tmp_path / "home", sample_data / task, out, "--users", users, "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert {f: f.stat().st_mtime_ns for f in user_files} == mtimes
    assert again["systems"] == summary["systems"]

    # An interim report of a long run: the finished users only, nothing computed.
    user_files[0].unlink()
    assert (
        _eval(
            tmp_path / "home",
            sample_data / task,
            out,
            "--users",
            users,
            "--json",
            "--finished-only",
        )
        == 0
    )
    interim = json.loads(capsys.readouterr().out)
    assert len(interim["users"]) == n_users - 1 and not user_files[0].exists()
    assert f"interim: {n_users - 1} of {n_users} users finished" in interim["sample"]


def test_eval_refuses_data_without_gold(tmp_path, capsys) -> None:
    q = tmp_path / "questions.json"
    q.write_text(json.dumps([{"id": "1", "input": "x", "profile": [{"id": "2", "text": "a"}]}]))
    assert main(["--home", str(tmp_path / "h"), "eval", "--data", str(q), "--task", "LaMP-7"]) == 2
    assert "no outputs file" in capsys.readouterr().err


def test_advise_on_a_cold_start_library(tmp_path, sample_data, capsys) -> None:
    home = str(tmp_path / "home")
    # One user's commit messages, imported as LaMP profile items (body -> subject).
    questions = json.loads((sample_data / "commit_subject" / "sample_questions.json").read_text())
    one_user = [q for q in questions if q["user_id"] == questions[0]["user_id"]][-1:]
    mine = tmp_path / "my_commits.json"
    mine.write_text(json.dumps(one_user))
    assert main(["--home", home, "library", "add", str(mine)]) == 0
    capsys.readouterr()
    assert main(["--home", home, "advise", "--model", SMOLLM2, "--json"]) == 0
    advice = json.loads(capsys.readouterr().out)
    assert advice["cold_start"] is True
    assert set(advice["scores"]) == {"none", "rag"}
    assert advice["recommended"] in {"none", "rag"}
    assert advice["n_heldout"] > 0 and "cold-start" in advice["explanation"]
    settings = json.loads(
        (tmp_path / "home" / "profiles" / "default" / "settings.json").read_text()
    )
    assert settings["recommended_method"] == advice["recommended"]


def test_advise_with_too_little_writing_recommends_rag(tmp_path, capsys) -> None:
    home = tmp_path / "home"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text(
        "# Walking in Lisbon\n\nThe hills are steep and the light is soft.\n"
    )
    assert main(["--home", str(home), "library", "add", str(notes)]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "advise", "--model", SMOLLM2, "--json"]) == 0
    advice = json.loads(capsys.readouterr().out)
    assert advice["recommended"] == "rag" and advice["scores"] == {}
    assert "too few" in advice["explanation"] and advice["more_needed"] > 0
    assert os.path.exists(home / "profiles" / "default" / "eval" / "advice.json")
    # The GUI and `advise --last` show the saved advice without measuring again.
    assert main(["--home", str(home), "advise", "--last", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == advice


def test_advise_last_without_advice_says_what_to_run(tmp_path, capsys) -> None:
    assert main(["--home", str(tmp_path / "home"), "advise", "--last"]) == 2
    assert "run `inkwell advise`" in capsys.readouterr().err


def test_max_steps_caps_the_scaled_policy_only() -> None:
    from core.evaluation.runner import EvalConfig

    def planned(config: EvalConfig, n_train: int) -> int:
        return int(config.train_config().planned_steps(n_train))

    assert planned(EvalConfig(), 400) == 60  # the app's cap
    assert planned(EvalConfig(train_max_steps=12), 400) == 12
    assert planned(EvalConfig(train_max_steps=12), 8) == 8  # 4 epochs of 2 batches: under it
    assert planned(EvalConfig(train_steps=30, train_max_steps=12), 400) == 30  # exact steps win


@pytest.mark.slow
def test_eval_fractions_end_to_end(tmp_path, sample_data, capsys) -> None:
    """--fractions: one resumable run per fraction, the curve, the paired test and its plot."""
    out = tmp_path / "out"
    args = ["--users", "2", "--max-queries", "1", "--methods", "none,peft", "--epochs", "1"]
    code = main(
        [
            "--home",
            str(tmp_path / "home"),
            "eval",
            "--data",
            str(sample_data / "commit_subject"),
            "--model",
            SMOLLM2,
            "--out",
            str(out),
            "--fractions",
            "0.5,1",
            "--json",
            *args,
        ]
    )
    assert code == 0
    curve = json.loads(capsys.readouterr().out)
    assert curve["users"] == 2 and {p["fraction"] for p in curve["points"]} == {0.5, 1.0}
    items = {p["fraction"]: p["mean_train_items"] for p in curve["points"]}
    assert items[0.5] < items[1.0]  # the smaller fraction trained on fewer items
    half = json.loads(next((out / "fraction-0.5" / "users").glob("*.json")).read_text())
    assert set(half["queries"][0]["predictions"]) == {"peft", "first-12-words", "nearest-title"}
    assert (out / "gain_vs_data_fraction.png").read_bytes().startswith(b"\x89PNG")
    assert "Wilcoxon" in (out / "fractions.md").read_text()


@pytest.mark.slow
def test_eval_on_ray_matches_the_plain_run(tmp_path, sample_data, capsys, monkeypatch) -> None:
    """A local Ray run (one task per user, 2 workers) gives the plain run's predictions."""
    pytest.importorskip("ray", reason="Ray is the optional 'cluster' extra")
    monkeypatch.setenv("INKWELL_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = sample_data / "commit_subject"
    args = ["--users", "2", "--max-queries", "1", "--methods", "none,rag,peft", "--json"]
    assert _eval(tmp_path / "home", data, tmp_path / "plain", *args) == 0
    plain = json.loads(capsys.readouterr().out)
    ray_args = [*args, "--ray", "--ray-workers", "2"]
    assert _eval(tmp_path / "home", data, tmp_path / "ray", *ray_args) == 0
    on_ray = json.loads(capsys.readouterr().out)
    assert on_ray["systems"] == plain["systems"]
    for name in ("none", "rag", "peft"):
        predictions = f"predictions_{name}.json"
        assert load_outputs(tmp_path / "ray" / predictions) == load_outputs(
            tmp_path / "plain" / predictions
        )
    # Results are written by the driver exactly as a plain run writes them: a rerun resumes.
    assert len(list((tmp_path / "ray" / "users").glob("*.json"))) == 2


def test_ray_refuses_the_data_dir(tmp_path) -> None:
    from core.errors import InkwellError
    from core.evaluation.distributed import refuse_personal_data

    home = tmp_path / "home"
    with pytest.raises(InkwellError, match="benchmark data"):
        refuse_personal_data(home / "profiles" / "default" / "library", home)
    refuse_personal_data(tmp_path / "lamp", home)  # elsewhere: fine
