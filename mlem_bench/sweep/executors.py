"""Executors: where the sweep's tasks run. In this process (default), or on a Dask
distributed cluster (a local one of worker processes, or an existing scheduler)."""
import contextlib
import logging
import signal

from ..errors import SpecError


class InProcess:
    """Runs tasks one after another in this process (kernels still use every core)."""

    name = "in-process"

    def map(self, fn, tasks):
        """Yield (key, fn(*args)) for tasks [(key, args)], in order."""
        for key, args in tasks:
            yield key, fn(*args)

    def close(self):
        pass


class DaskExecutor:
    """Runs tasks on a Dask distributed cluster: a local one with `workers` processes,
    or an existing one at `scheduler` (whose workers must have mlem_bench installed)."""

    def __init__(self, workers=None, scheduler=None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SpecError("--workers/--scheduler need Dask: pip install 'dask[distributed]'") from None
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise SpecError(f"--scheduler {scheduler}: cannot connect ({e}); check the address") from None
            self.name = f"dask scheduler {scheduler}"
        else:
            # One thread per worker process: the processes are the parallelism. The workers
            # start with SIGINT ignored (inherited), so Ctrl-C stops the driver, which saves
            # what has finished and shuts them down, instead of each printing a traceback.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self.cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                            dashboard_address=":0", silence_logs=logging.ERROR,
                                            env={"NUMBA_NUM_THREADS": "1"})
                self.client = Client(self.cluster)
            finally:
                signal.signal(signal.SIGINT, previous)
            self.name = f"dask local cluster, {workers} workers"

    def map(self, fn, tasks):
        """Yield (key, result) as tasks finish (any order)."""
        from distributed import as_completed
        futures = {self.client.submit(fn, *args, key=f"mlem-{key}", pure=False, retries=1): key
                   for key, args in tasks}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            # after an interruption distributed may fail while tearing down; results are saved
            with contextlib.suppress(Exception):
                self.client.cancel(list(futures))

    def close(self):
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


def make_executor(workers=None, scheduler=None):
    """In-process by default; Dask when `workers` or `scheduler` is given."""
    if workers is None and scheduler is None:
        return InProcess()
    return DaskExecutor(workers, scheduler)
