"""``inkwell eval --ray`` inside an empty network namespace, for the offline proof.

    python -m tests.privacy.ray_driver HOME OUT DATA

A namespace made by ``unshare -rn`` has only a loopback device, and it is down; a
local Ray needs it (its processes talk over loopback), so it is brought up first,
as an editor and ``inkwell serve`` need it too.  Then the real CLI entry point runs.
"""

from __future__ import annotations

import sys

from tests.privacy.serve_driver import loopback_up


def main() -> int:
    home, out, data = sys.argv[1:4]
    loopback_up()
    from core.cli import main as inkwell

    return inkwell(
        ["--home", home, "eval", "--data", data, "--model", "smollm2-135m-instruct",
         "--users", "2", "--max-queries", "1", "--methods", "none,rag", "--out", out,
         "--ray", "--ray-workers", "2", "--json"]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
