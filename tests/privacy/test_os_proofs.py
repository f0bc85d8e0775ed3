"""An OS-level privacy proof the kernel forbids: skipped with how-to for a user, red in CI."""

from __future__ import annotations

import pytest

from tests.privacy.pipeline import need_os_proof

REASON = "unshare -rn is not permitted here ('...'). To run this proof, allow ..."


def test_skipped_with_the_reason_on_a_users_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="To run this proof"):
        need_os_proof(REASON)


def test_a_failure_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, so this privacy proof must run"):
        need_os_proof(REASON)


def test_nothing_happens_when_the_os_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    need_os_proof(None)
