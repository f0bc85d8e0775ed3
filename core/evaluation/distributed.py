"""``inkwell eval --ray``: one Ray task per user, for evaluations that outgrow one machine.

Evaluating thousands of LaMP users, each with their own adapter, is the one
workload in Inkwell that a laptop cannot finish; the users are independent, so
each becomes a Ray task.  The task runs exactly what the plain run does for a
user (:meth:`EvalJob.evaluate_user`); results come back to the driver, which
writes them as they arrive, so a Ray run resumes like any other and a rerun
skips finished users.

This is for benchmark data only: the command refuses anything inside Inkwell's
data dir, because a cluster's workers are other machines.  Ray is an optional
extra (``pip install 'inkwell[cluster]'``) and is imported only here.

Privacy: Ray's usage statistics are switched off and the dashboard is not
started; every worker installs the network guard before it runs a task (Ray's
``worker_process_setup_hook``).  Ray's own traffic between its processes (the
GCS, raylets, workers) is native gRPC that the Python guard cannot see; locally
it stays on loopback, and the test suite's strace run checks that.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InkwellError

if TYPE_CHECKING:
    from core.evaluation.cases import UserCase
    from core.evaluation.runner import EvalConfig, EvalJob, UserResult
    from core.models import ModelInfo

# Set before Ray starts: no usage report to Anyscale, quiet workers, and workers at the
# driver's priority (Ray starts them at nice 15, where a user's task starves behind any
# other process on the machine).
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_IMPORT_WARNING": "1",
    "RAY_worker_niceness": "0",
}
# What a worker must see as the driver does, so a user's result does not depend on where
# it ran (thread counts change floating-point sums in training).
# Ray's switch for a single-node Ray on loopback (meant for Windows and macOS, where Ray
# clusters are unsupported; on Linux it makes a local Ray bind 127.0.0.1 only).
_LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_FORWARDED = (
    _LOOPBACK_ONLY,
    "INKWELL_THREADS",
    "OMP_NUM_THREADS",
    "INKWELL_CACHE_DIR",
    "PYTHONPATH",
)


def setup_worker() -> None:
    """Ray's worker_process_setup_hook: the guard first, as in every Inkwell process."""
    from core.privacy import install_network_guard

    install_network_guard()


def refuse_personal_data(data: Path, home_root: Path) -> None:
    """Only benchmark files go to a cluster, never a profile's own library."""
    data, home_root = data.resolve(), home_root.resolve()
    if data == home_root or home_root in data.parents:
        raise InkwellError(
            f"{data} is inside Inkwell's data dir: --ray is for benchmark data (LaMP files) "
            "only; a person's own writing never goes to a cluster"
        )


def _evaluate_user(
    model: ModelInfo, config: EvalConfig, out_dir: Path, case: UserCase
) -> dict[str, Any]:
    from core.evaluation.runner import EvalJob

    return asdict(EvalJob([case], model, config, out_dir).evaluate_user(case))


class RayExecutor:
    """Runs an evaluation's users as Ray tasks (an ``Executor`` for :class:`EvalJob`).

    ``address`` None starts a local Ray on this machine with ``num_cpus`` slots;
    otherwise it joins that cluster.  Each task asks for one CPU and ``num_gpus``
    GPUs (default: one where the cluster has any, for the adapter's training).
    """

    def __init__(
        self, address: str | None = None, num_gpus: float | None = None, num_cpus: int | None = None
    ) -> None:
        self.address = address
        self.num_gpus = num_gpus
        self.num_cpus = num_cpus

    def __call__(self, job: EvalJob, cases: Sequence[UserCase]) -> Iterator[UserResult]:
        if not cases:
            return
        from core.evaluation.runner import UserResult

        ray = _import_ray()
        pending: dict[Any, UserCase] = {}
        self._start(ray)
        try:
            gpus = self.num_gpus
            if gpus is None:
                gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
            task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_evaluate_user)
            for case in cases:
                pending[task.remote(job.model, job.config, job.out_dir, case)] = case
            while pending:
                job.check_cancelled()
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    case = pending.pop(ref)
                    try:
                        yield UserResult(**ray.get(ref))
                    except ray.exceptions.RayTaskError as e:
                        raise InkwellError(f"user {case.user_id} failed on Ray: {e}") from e
        finally:
            for ref in pending:  # cancelled or failed: stop the rest
                ray.cancel(ref, force=True)
            ray.shutdown()

    def _start(self, ray: Any) -> None:
        """Start (or join) Ray with the guard widened for this run only, as little as it needs.

        A local Ray is a single node on loopback: Ray otherwise advertises the machine's
        network address and listens on every interface; with its cluster mode off it binds
        127.0.0.1 only.  The driver must start Ray's own programs (the GCS server, the
        raylet and Ray's Python services).  Joining a cluster lets the driver reach that
        cluster's head, and nothing else.
        """
        from core.privacy import install_network_guard

        package = Path(ray.__file__).parent / "core" / "src" / "ray"
        programs = [str(package / "gcs" / "gcs_server"), str(package / "raylet" / "raylet")]
        if self.address is None:
            os.environ[_LOOPBACK_ONLY] = "0"
            install_network_guard(allow_programs=[*programs, sys.executable])
        else:
            install_network_guard(
                allow_programs=[*programs, sys.executable], allow_hosts=[_host(self.address)]
            )
        env = {k: os.environ[k] for k in _FORWARDED if k in os.environ}
        ray.init(
            address=self.address,
            num_cpus=self.num_cpus if self.address is None else None,
            include_dashboard=False,
            configure_logging=False,
            log_to_driver=False,
            runtime_env={
                "worker_process_setup_hook": "core.evaluation.distributed.setup_worker",
                "env_vars": {**RAY_ENV, **env},
            },
        )


def _host(address: str) -> str:
    """The host of ``host:port`` or ``ray://host:port`` (IPv6 in brackets)."""
    rest = address.split("://", 1)[-1]
    host = rest.rsplit(":", 1)[0] if rest.count(":") == 1 or rest.startswith("[") else rest
    return host.strip("[]")


def _import_ray() -> Any:
    os.environ.update(RAY_ENV)
    try:
        import ray
    except ImportError as e:
        raise InkwellError(
            "--ray needs Ray, an optional extra: pip install 'inkwell[cluster]'"
        ) from e
    return ray
