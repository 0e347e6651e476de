import os
import stat

import numpy as np
import pytest
import torch

from skface.utils import (atomic_write_bytes, atomic_write_text, check_image_array, check_seed,
                          native_bfloat16, resolve_device, resolve_precision, torch_seeded)
from skface.utils._io import temp_dir_beside


def test_layouts_are_normalised_to_nchw():
    x = np.zeros((2, 8, 6, 3), np.uint8)
    assert check_image_array(x).shape == (2, 3, 8, 6)
    assert check_image_array(np.zeros((2, 3, 8, 6), np.uint8)).shape == (2, 3, 8, 6)
    assert check_image_array(np.zeros((2, 8, 6))).shape == (2, 1, 8, 6)
    assert check_image_array(np.zeros((2, 5))).shape == (2, 1, 1, 5)
    assert check_image_array(np.zeros((2, 48)), image_shape=(3, 4, 4)).shape == (2, 3, 4, 4)
    assert check_image_array(np.zeros((2, 16)), image_shape=(4, 4)).shape == (2, 1, 4, 4)


def test_dtypes_integers_as_uint8_others_float32():
    assert check_image_array(np.zeros((1, 3, 2, 2), np.uint8)).dtype == np.uint8
    assert check_image_array(np.zeros((1, 3, 2, 2))).dtype == np.float32
    assert check_image_array(np.zeros((1, 3, 2, 2), bool)).dtype == np.float32
    # other integers are 8-bit pixels too, scaled downstream like uint8
    x = np.arange(48).reshape(1, 3, 4, 4) * 5
    for X in (x, x.astype(np.int32), x.astype(np.uint16), x.tolist()):
        out = check_image_array(X)
        assert out.dtype == np.uint8 and np.array_equal(out, x)


@pytest.mark.parametrize("value", [-1, 256, 65535])
def test_integers_outside_8_bit_are_refused(value):
    X = np.zeros((1, 3, 2, 2), np.int64)
    X[0, 0, 0, 0] = value
    with pytest.raises(ValueError, match="holds integers from .* to .*; integer images must"):
        check_image_array(X)
    with pytest.raises(ValueError, match="0-255"):
        check_image_array(X.tolist(), name="images")


@pytest.mark.parametrize(
    "X, match",
    [
        (np.full((2, 3), np.nan), "NaN"),
        (np.full((2, 3), np.inf), "infinity"),
        (np.zeros((0, 3)), "0 sample"),
        (np.zeros((1, 1, 1, 1, 1)), "5-D"),
    ],
)
def test_bad_arrays(X, match):
    with pytest.raises(ValueError, match=match):
        check_image_array(X)


def test_shape_mismatch_messages():
    with pytest.raises(ValueError, match="cannot be reshaped"):
        check_image_array(np.zeros((2, 10)), image_shape=(3, 4, 4))
    with pytest.raises(ValueError, match="was fitted on"):
        check_image_array(np.zeros((2, 3, 4, 4)), reset_shape=(3, 8, 8))


def test_seeding_leaves_global_state_alone():
    before = torch.get_rng_state()
    with torch_seeded(3):
        a = torch.rand(3)
    with torch_seeded(3):
        b = torch.rand(3)
    assert torch.equal(a, b)
    assert torch.equal(before, torch.get_rng_state())
    assert check_seed(5) == 5
    assert check_seed(np.random.RandomState(0)) == check_seed(np.random.RandomState(0))


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_resolve_device_names_a_missing_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda") == "cuda" and resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match=r"'cuda:3' was requested but this machine has 1 CUDA "
                                         r"device \(cuda:0 to cuda:0\)"):
        resolve_device("cuda:3")


def test_resolve_precision(monkeypatch):
    # CUDA: bfloat16 is native (cuDNN convolutions) from compute capability 8.0 (Ampere) on
    capability = {0: (9, 0), 1: (7, 0)}
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=None: capability[i])
    assert native_bfloat16("cuda") and native_bfloat16("cuda:0")
    assert not native_bfloat16("cuda:1")  # a V100: emulated, slower than float32
    assert resolve_precision("auto", "cuda") == "bfloat16"
    assert resolve_precision("auto", "cuda:1") == "float32"
    assert not native_bfloat16("mps")
    assert resolve_precision("float32", "cuda") == "float32"
    assert resolve_precision("bfloat16", "cpu") == "bfloat16"
    # "auto" on a CPU follows whether it has AMX tiles or AVX-512 BF16 instructions
    for has_amx in (True, False):
        for has_avx512_bf16 in (True, False):
            monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: has_amx,
                                raising=False)
            monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported",
                                lambda: has_avx512_bf16, raising=False)
            native = has_amx or has_avx512_bf16
            assert native_bfloat16("cpu") is native
            assert native_bfloat16("cpu:0") is native  # the same CPU ("auto" gave float32)
            assert resolve_precision("auto", "cpu") == ("bfloat16" if native else "float32")
    # a query that fails counts as "no", and the other one is still asked

    def broken():
        raise RuntimeError("cpuinfo failed")

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", broken)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    assert not native_bfloat16("cpu")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert native_bfloat16("cpu")
    # torch 2.2 has neither query: float32, not an error
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert not native_bfloat16("cpu") and resolve_precision("auto", "cpu") == "float32"
    with pytest.raises(ValueError, match="precision must be 'auto', 'float32' or 'bfloat16', "
                                         "got 'half'"):
        resolve_precision("half", "cpu")


def test_reuse_freed_memory_applies_once_and_restores(monkeypatch, recording_libc):
    from skface.utils import _memory

    libc = recording_libc
    restore = list(_memory._RESTORE) + [("trim", 0)]
    with _memory.reuse_freed_memory():
        assert libc.calls == [(-4, 0), (-1, 2**31 - 1)]  # no mmap, no trimming
        with _memory.reuse_freed_memory():  # nested: nothing more
            pass
        assert len(libc.calls) == 2
    assert libc.calls[2:] == restore
    assert (-3, 32 * 2**20) in restore and (-4, 65536) in restore

    libc.calls.clear()
    with pytest.raises(RuntimeError, match="boom"):
        with _memory.reuse_freed_memory():
            raise RuntimeError("boom")
    assert libc.calls[2:] == restore  # restored on errors too
    assert _memory._depth == 0

    libc.calls.clear()
    with _memory.reuse_freed_memory(enabled=False):
        pass
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    with _memory.reuse_freed_memory():
        pass
    assert libc.calls == []


@pytest.mark.parametrize("env, tuned", [
    ({}, False),
    ({"LD_PRELOAD": ""}, False),
    ({"MALLOC_MMAP_MAX_": "0"}, True),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}, True),
    ({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}, False),
    ({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, True),
    ({"LD_PRELOAD": "/usr/lib/libtcmalloc_minimal.so.4"}, True),
])
def test_a_tuned_or_replaced_allocator_is_left_alone(env, tuned):
    from skface.utils._memory import _user_tuned_allocator

    assert _user_tuned_allocator(env) is tuned


_PAGE_FAULTS = """
import resource, sys, torch
from skface.utils import _memory
if _memory._glibc() is None:
    print("skip"); sys.exit()
n = 48 * 2**20  # above glibc's largest mmap threshold (32 MiB)
def faults(rounds=6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        block = torch.empty(n, dtype=torch.uint8)  # torch asks for no huge pages
        block.fill_(1)
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
outside = faults()
with _memory.reuse_freed_memory():
    faults(2)  # the heap grows to hold the block
    inside = faults()
print(outside, inside)
"""


def test_reuse_freed_memory_stops_page_faults(plain_allocator_env):
    """On glibc, large blocks freed inside the block are reused instead of being faulted in
    afresh (counted as minor page faults), measured in fresh interpreters as a script that
    trains would run. Not in every process: torch asks for 64-byte-aligned blocks
    (posix_memalign), and a freed block that does not merge into the top of the heap (a small
    chunk landed after it) is a few bytes too small for the next aligned request, so new
    blocks are faulted in until freed neighbours merge (glibc 2.36: about 1 process in 3,
    for several blocks). The test wants reuse in one of up to eight processes; a broken
    setting never reuses."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    seen = []
    for _ in range(8):
        out = subprocess.run([sys.executable, "-c", _PAGE_FAULTS], capture_output=True,
                             text=True, check=True, env=env).stdout.split()
        if out == ["skip"]:
            pytest.skip("glibc is not the allocator here")
        outside, inside = map(int, out)
        if outside < 6 * 48 // 2:
            pytest.skip(f"only {outside} page faults without reuse (huge pages?)")
        seen.append((inside, outside))
        if inside < outside / 3:
            return
    raise AssertionError(f"no reuse in 8 processes (faults inside, outside): {seen}")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_atomic_writes_and_temp_folders_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        new = atomic_write_bytes(tmp_path / "new.txt", b"x")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # as open() would make it
        kept = tmp_path / "kept.txt"
        kept.write_bytes(b"old")
        os.chmod(kept, 0o640)
        atomic_write_text(kept, "new")
        assert kept.read_text() == "new" and stat.S_IMODE(kept.stat().st_mode) == 0o640
        folder = temp_dir_beside(tmp_path / "report", "tmp")
        assert folder.parent == tmp_path and folder.name.startswith(".report.tmp-")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755  # mkdtemp alone gives 0700
        assert os.umask(0o022) == 0o022  # reading the mask left it as it was
    finally:
        os.umask(old)


def test_the_pixels_type_decides_not_the_container():
    u8 = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    for X in (list(u8), tuple(u8), torch.from_numpy(u8), u8.tolist()):
        out = check_image_array(X)
        assert out.dtype == np.uint8 and np.array_equal(out, u8.transpose(0, 3, 1, 2))
    assert check_image_array([np.zeros((4, 4), np.float32)] * 2).dtype == np.float32
    with pytest.raises(ValueError, match="setting an array element|inhomogeneous|sequence"):
        check_image_array([np.zeros((4, 4)), np.zeros((5, 5))])  # ragged: check_array says so


def test_check_seed_takes_what_scikit_learn_takes():
    assert check_seed(5) == 5 and check_seed(np.int64(7)) == 7
    assert check_seed(2**31 - 1) == 0 and check_seed(2**32 - 1) == 1  # modulo 2**31 - 1
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match=r"random_state must be an int in \[0, 2\*\*32 - 1\]"):
            check_seed(bad)
    assert 0 <= check_seed(np.random.RandomState(0)) < 2**31 - 1


def test_check_image_array_names_empty_axes_and_a_bad_image_shape():
    """Zero channels, height or width reached torch (or gave NaN features) instead of an
    error; a non-numeric image_shape failed in int()."""
    from skface.utils import check_image_array

    for shape, match in (((2, 0, 8, 8), "no channels"), ((2, 3, 0, 8), "no height"),
                         ((2, 8, 0), "no width")):
        with pytest.raises(ValueError, match=match):
            check_image_array(np.zeros(shape, np.uint8))
    for bad in (("a", 2, 2), 12):
        with pytest.raises(ValueError, match="image_shape must be"):
            check_image_array(np.zeros((2, 12)), image_shape=bad)


def test_resolve_device_takes_the_devices_skface_runs_on():
    """'meta' passed and failed deep in training ('Tensor.item() cannot be called on meta
    tensors')."""
    from skface.utils import resolve_device

    for device in ("meta", "xla"):
        with pytest.raises(ValueError, match="runs on 'cpu', 'cuda' or 'mps'"):
            resolve_device(device)
    assert resolve_device("cpu") == "cpu"


def test_small_helpers_name_bad_arguments(tmp_path):
    """make_torch_generator(1.7) seeded 1 and None failed in int(); atomic_write_text(path,
    None) failed with "'NoneType' object has no attribute 'encode'"."""
    from skface.utils import atomic_write_text, make_torch_generator

    for seed in (1.7, None, float("nan"), -1):
        with pytest.raises(ValueError, match="seed must be an int >= 0"):
            make_torch_generator(seed)
    with pytest.raises(TypeError, match="writes a str; got NoneType"):
        atomic_write_text(tmp_path / "x.txt", None)
    assert not (tmp_path / "x.txt").exists()


def test_interrupt_deferred_finishes_the_block_then_raises():
    import signal
    import threading

    from skface.utils._io import interrupt_deferred

    before = signal.getsignal(signal.SIGINT)
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("after the signal")
    assert done == ["after the signal"] and signal.getsignal(signal.SIGINT) is before
    with interrupt_deferred():  # no Ctrl-C: nothing raised
        done.append("quiet")
    assert done[-1] == "quiet" and signal.getsignal(signal.SIGINT) is before
    # outside the main thread (no signal handlers there) the block just runs
    errors = []

    def in_thread():
        try:
            with interrupt_deferred():
                done.append("thread")
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert not errors and done[-1] == "thread"


def test_atomic_write_errors_name_the_path_asked_for(tmp_path, monkeypatch):
    """A folder at the path, or a folder that cannot be written, gave errors that named a
    hidden temporary file ('.outdir.w6jxxtrr.tmp' -> 'outdir')."""
    import tempfile

    (tmp_path / "outdir").mkdir()
    with pytest.raises(IsADirectoryError, match=r"a folder is there; give a file name: '.*outdir'"):
        atomic_write_text(tmp_path / "outdir", "x")

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".m.csv.abc.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(PermissionError, match=r"cannot write in the folder .*: '.*m\.csv'") as info:
        atomic_write_bytes(tmp_path / "m.csv", b"x")
    assert ".tmp" not in str(info.value)
    assert list(tmp_path.iterdir()) == [tmp_path / "outdir"]
