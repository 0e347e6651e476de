"""The one home for seeding in skface.

Every estimator turns its ``random_state`` into an integer with :func:`check_seed`, seeds torch
inside :func:`torch_seeded` (which restores the global torch RNG afterwards), and draws its data
order from a private :func:`make_torch_generator`. Nothing here touches ``np.random``'s
global state.
"""

import threading
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state

_MAX_SEED = 2**31 - 1


def check_seed(random_state):
    """Turn a scikit-learn ``random_state`` into a plain integer seed.

    Parameters
    ----------
    random_state : None, int or numpy.random.RandomState
        ``None`` draws a fresh seed from numpy's global generator (so repeated fits differ, as in
        scikit-learn); an int in ``[0, 2**32 - 1]`` (what scikit-learn accepts) is returned as
        is below ``2**31 - 1`` and taken modulo ``2**31 - 1`` above; a ``RandomState`` instance
        is advanced by one draw.

    Returns
    -------
    seed : int
        A seed in ``[0, 2**31 - 1)``.

    Raises
    ------
    ValueError
        For a negative int or one above ``2**32 - 1``, as scikit-learn's ``random_state``.
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) <= 2**32 - 1:
            raise ValueError(f"random_state must be an int in [0, 2**32 - 1], None or a "
                             f"numpy RandomState; got {int(random_state)}.")
        return int(random_state) % _MAX_SEED
    return int(check_random_state(random_state).randint(_MAX_SEED))


def make_torch_generator(seed):
    """Return a CPU ``torch.Generator`` seeded with ``seed``, private to the caller.

    ``seed`` is an int (as :func:`check_seed` gives); 1.7, None or NaN are refused rather than
    cut to another seed or failing in ``int()``.

    Parameters
    ----------
    seed : int
        A seed >= 0.

    Returns
    -------
    generator : torch.Generator
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0 (see check_seed); got {seed!r}.")
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator


#: Held while a block seeds or forks torch's global generator. That generator is one per
#: process: two threads seeding it at once (joblib's threading backend, a thread pool) would
#: draw from each other's sequence, and one block's restore would undo the other's seed.
_GLOBAL_RNG_LOCK = threading.RLock()


@contextmanager
def torch_rng_preserved(devices=()):
    """Run a block with torch's global RNG state restored afterwards, one thread at a time.

    Parameters
    ----------
    devices : sequence of int, default=()
        CUDA devices whose RNG state is forked too (none by default).
    """
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=list(devices)):
        yield


@contextmanager
def torch_seeded(seed, devices=None):
    """Seed torch (CPU and CUDA) inside a block and restore the global RNG state afterwards.

    Blocks in different threads run one at a time (one lock guards the global generator), so
    a seed repeats a result in a thread as it does alone.

    Parameters
    ----------
    seed : int
        The seed for ``torch.manual_seed``.
    devices : list of int, optional
        CUDA devices whose RNG state is forked; by default all visible devices.
    """
    if devices is None:
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch_rng_preserved(devices):
        torch.manual_seed(int(seed))
        yield
