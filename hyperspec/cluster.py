"""Where the work runs: threads on this machine, an existing Dask cluster, batch jobs or GPU workers.

Threads are the default; an existing Dask cluster, SLURM/PBS jobs (dask-jobqueue) and one worker
per GPU (dask-cuda) are the others. ``executor(compute)`` returns an object with
``submit(fn, *args)`` → future and ``as_completed(futures)``, and ``close()``.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from typing import Any

from hyperspec._errors import HyperspecError

__all__ = ["executor", "job_script", "ClusterError"]


class ClusterError(HyperspecError, RuntimeError):
    """The scheduler cannot be reached or the cluster cannot start.

    Examples
    --------
    >>> issubclass(ClusterError, RuntimeError)
    True
    """


class _Threads:
    name = "threads"

    def __init__(self, workers: int):
        self.pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hyperspec")
        self.description = f"{workers} threads on this machine"

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def as_completed(self, futures):
        return cf.as_completed(futures)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    name = "dask"

    def __init__(self, client, description: str, cluster=None):
        self.client, self.cluster, self.description = client, cluster, description

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False, retries=3)

    def as_completed(self, futures):
        from distributed import as_completed  # noqa: PLC0415

        return as_completed(futures)

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _jobqueue_class(cfg: dict[str, Any]):
    """The dask-jobqueue cluster class of ``cfg["system"]`` and the cluster arguments (defaults filled in)."""
    try:
        import dask_jobqueue  # noqa: PLC0415
    except ImportError:
        raise ClusterError("SLURM/PBS needs dask-jobqueue: pip install 'hyperspec-maps[cluster]'.") from None
    cfg = dict(cfg)
    system = cfg.pop("system", "slurm").lower()
    cfg.pop("jobs", None)
    classes = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
    if system not in classes:
        raise ClusterError(f"unknown job system {system!r}; use one of {', '.join(classes)}.")
    cfg.setdefault("cores", 4)
    cfg.setdefault("memory", "8GB")
    return getattr(dask_jobqueue, classes[system]), cfg


def _jobqueue_cluster(cfg: dict[str, Any]):
    cls, cfg = _jobqueue_class(cfg)
    return cls(**cfg)


#: The scheduler address a job script shows when no scheduler runs (``job_script``; dask-jobqueue's own placeholder).
PLACEHOLDER_ADDRESS = "tcp://<insert-scheduler-address-here>:8786"


def job_script(compute: dict[str, Any]) -> str:
    """Return the batch script dask-jobqueue would submit for ``[compute.jobqueue]``; nothing is submitted or started.

    The script is built from dask-jobqueue's job class alone: no scheduler is started (so nothing
    listens on any interface); the worker command shows :data:`PLACEHOLDER_ADDRESS` where a real
    run puts its scheduler's address.

    Parameters
    ----------
    compute : dict
        The recipe's ``[compute]`` table. Its ``jobqueue`` table holds ``system`` (``"slurm"``,
        ``"pbs"``, ``"sge"`` or ``"lsf"``; default ``"slurm"``) and the dask-jobqueue cluster
        arguments (``cores`` per job, default 4; ``memory`` per job, default ``"8GB"``; ``queue``,
        ``walltime`` …); ``jobs`` is ignored here.

    Returns
    -------
    str
        The job script.

    Raises
    ------
    ClusterError
        If dask-jobqueue is not installed or the job system is unknown.

    Examples
    --------
    >>> print(job_script({"jobqueue": {"system": "slurm", "cores": 8, "memory": "16GB"}}))  # doctest: +SKIP
    #!/usr/bin/env bash
    <BLANKLINE>
    #SBATCH -J dask-worker
    ...
    """
    cls, cfg = _jobqueue_class(compute.get("jobqueue", {}))
    try:
        job = cls.job_cls(PLACEHOLDER_ADDRESS, name="dummy-name", **cfg)
    except TypeError as exc:  # an argument the job class does not take
        raise ClusterError(f"[compute.jobqueue]: {exc}") from None
    return job.job_script()


def executor(compute: dict[str, Any], backend: str = "numpy"):
    """Return an executor for the recipe's ``[compute]`` table.

    Parameters
    ----------
    compute : dict
        ``scheduler``: ``"threads"`` (default; also ``"local"`` or ``""``), ``"tcp://host:port"`` (also
        ``tls://``, ``ws://``, ``inproc://``: an existing Dask scheduler, 5 s to connect),
        ``"slurm"``/``"pbs"``/``"sge"``/``"lsf"`` (jobs from ``[compute.jobqueue]``, see ``job_script``;
        ``jobs`` of them, default 1) or ``"cuda"`` (dask-cuda, one worker per GPU). ``workers``: the
        number of threads; default 1 on the GPU, else the number of CPUs.
    backend : str or Backend, optional
        The compute backend (``"auto"``, ``"numpy"``, ``"cupy"`` or a resolved ``Backend``), which
        sets the default number of threads. Default is ``"numpy"``.

    Returns
    -------
    object
        With ``name`` (``"threads"`` or ``"dask"``), ``description``, ``submit(fn, *args)`` → future,
        ``as_completed(futures)`` and ``close()``. Dask tasks are impure and retried up to 3 times.

    Raises
    ------
    ClusterError
        If the scheduler is unknown or cannot be reached, or dask.distributed, dask-jobqueue or
        dask-cuda is needed and not installed.
    BackendError
        If ``backend`` is unknown or unusable.

    Examples
    --------
    >>> ex = executor({"workers": 2})
    >>> ex.description
    '2 threads on this machine'
    >>> [f.result() for f in ex.as_completed([ex.submit(sum, [1, 2])])]
    [3]
    >>> ex.close()
    """
    scheduler = str(compute.get("scheduler", "threads"))
    from hyperspec._backend import resolve_backend  # noqa: PLC0415

    workers = int(compute.get("workers", 0)) or (1 if resolve_backend(backend).on_gpu else max(1, os.cpu_count() or 1))
    if scheduler in ("threads", "local", ""):
        return _Threads(workers)
    try:
        from distributed import Client  # noqa: PLC0415
    except ImportError:
        raise ClusterError(f"scheduler {scheduler!r} needs dask.distributed: pip install 'hyperspec-maps[cluster]'.") from None
    if scheduler.startswith(("tcp://", "tls://", "ws://", "inproc://")):
        try:
            client = Client(scheduler, timeout="5s")
        except OSError as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}. Is `dask scheduler` running there?") from None
        n = len(client.scheduler_info().get("workers", {}))
        return _Dask(client, f"Dask cluster at {scheduler} ({n} workers)")
    if scheduler in ("slurm", "pbs", "sge", "lsf"):
        cfg = dict(compute.get("jobqueue", {}), system=scheduler)
        cluster = _jobqueue_cluster(cfg)
        cluster.scale(jobs=int(compute.get("jobqueue", {}).get("jobs", 1)))
        return _Dask(Client(cluster), f"{scheduler.upper()} jobs via dask-jobqueue", cluster)
    if scheduler == "cuda":
        try:
            from dask_cuda import LocalCUDACluster  # noqa: PLC0415
        except ImportError:
            raise ClusterError("scheduler 'cuda' needs dask-cuda (one worker per GPU): pip install dask-cuda.") from None
        cluster = LocalCUDACluster()
        return _Dask(Client(cluster), "one worker per GPU (dask-cuda)", cluster)
    raise ClusterError(f"unknown scheduler {scheduler!r}; use 'threads', 'tcp://host:port', 'slurm', 'pbs' or 'cuda'.")
