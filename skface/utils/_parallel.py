"""Parallel work whose finished parts are kept as they finish (for Ctrl-C)."""

from joblib import Parallel, delayed


def _tagged(fn, tag, args):
    return tag, fn(*args)


def as_completed(fn, jobs, *, n_jobs=None, prefer=None):
    """Yield ``(k, fn(*jobs[k]))`` for every job, in the order the jobs finish.

    joblib's ordered generator held a finished job back until every earlier one was done, so
    that a Ctrl-C lost the work of the later ones that had already finished; here each result
    is handed over as soon as it exists, and the caller keeps it.

    Parameters
    ----------
    fn : callable
        A module-level function (worker processes import it).
    jobs : sequence of tuple
        The arguments of each call.
    n_jobs : int, optional
        joblib's ``n_jobs``.
    prefer : {"threads", "processes"}, optional
        joblib's ``prefer``.

    Returns
    -------
    results : generator of (int, object)
        Close it (``results.close()``) to stop the jobs not started.
    """
    return Parallel(n_jobs=n_jobs, prefer=prefer, return_as="generator_unordered")(
        delayed(_tagged)(fn, k, tuple(args)) for k, args in enumerate(jobs))
