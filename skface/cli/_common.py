"""What every subcommand shares: one-line errors, atomic outputs, argument helpers."""

import argparse
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path


class CLIError(Exception):
    """An error the user can fix; printed as one line, exit status 2 (or ``status``)."""

    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


def one_line(message):
    """Squash a (possibly multi-line) message to one line."""
    return " ".join(str(message).split())


def add_example(parser, *examples):
    """Append an ``Examples`` block to a subcommand's ``--help``."""
    text = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    parser.epilog = text if not parser.epilog else parser.epilog + "\n\n" + text


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples' line breaks; show a default when there is a meaningful one."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        default = action.default
        if ("default" in help_text or default is None or default is False
                or default is argparse.SUPPRESS or action.option_strings == []
                or isinstance(action, argparse.BooleanOptionalAction)):
            return help_text
        if isinstance(default, (list, tuple)):
            default = " ".join(map(str, default))
        return f"{help_text} (default: {default})"


def shell_quote(path):
    """``path`` as a shell word, for the commands a command prints for the user to run next
    (a folder with a space in its name was printed bare)."""
    import shlex

    return shlex.quote(str(path))


def int_at_least(minimum, maximum=None, what=None):
    """An argparse type: a whole number in ``[minimum, maximum]``, its error naming the range
    (or ``what``)."""
    what = what or (f"a whole number >= {minimum}" if maximum is None
                    else f"a whole number in [{minimum}, {maximum}]")

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = "int"  # argparse names the type in some messages
    return parse


positive_int = int_at_least(1, what="a positive integer")
#: a seed for ``random_state``: NumPy's range
seed_arg = int_at_least(0, 2**32 - 1, what="a seed in [0, 4294967295]")


def probability_threshold(text):
    """A P(fake) threshold: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def existing_dirs(paths, role):
    """Check that every path in ``paths`` is an existing folder; return them as Paths."""
    out = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise CLIError(f"{role} folder does not exist: {p}")
        if not path.is_dir():
            raise CLIError(f"{role} path is not a folder: {p}")
        out.append(path)
    return out


def _split_source(item):
    """``NAME=DIR`` -> ``(NAME, DIR)``; anything else -> ``(None, item)``.

    The text before the first ``=`` is a name only when it holds no path separator, so a folder
    whose name holds ``=`` is given as ``./a=b`` (or with any folder before it).
    """
    name, sep, folder = str(item).partition("=")
    seps = {"/", os.sep, os.altsep} - {None}
    if not sep or any(c in name for c in seps):
        return None, str(item)
    return name, folder


def folder_sources(items, role):
    """Turn the ``DIR`` or ``NAME=DIR`` items of ``--real``/``--fake`` into ``{name: folder}``.

    A source is named ``NAME`` or, without one, after its folder. Each folder must exist and
    be given once, and two folders of one option may not share a name; each problem is a
    :class:`CLIError` that says how to fix it.
    """
    from skface.datasets._scan import _folder_name, given_twice

    sources, where = {}, {}
    for item in items:
        name, folder = _split_source(item)
        if name is not None and not name.strip():
            raise CLIError(f"{role} {item!r}: the source name before '=' is empty (NAME=DIR "
                           f"names a source; a folder whose name holds '=' is written ./{item})")
        if name is not None and not folder:
            raise CLIError(f"{role} {item!r}: no folder after '=' (NAME=DIR)")
        if name is not None and not Path(folder).exists():
            raise CLIError(f"{role} folder does not exist: {folder} (from {item!r}; a folder "
                           f"whose name holds '=' is written ./{item})")
        (path,) = existing_dirs([folder], role)
        twice = given_twice(path, where, role)
        if twice:
            raise CLIError(twice)
        name = _folder_name(path) if name is None else name
        if name in sources:
            other = sources[name]
            raise CLIError(f"{role}: the folders {other} and {folder} are both named {name!r}, "
                           f"and each source needs its own name; name them with NAME=DIR, e.g. "
                           f"{role} {name}-1={other} {name}-2={folder}")
        sources[name] = path
    return sources


def real_and_fake_sources(args):
    """``folder_sources`` of ``--real`` and of ``--fake``; a source name that both take from
    their folders' names (``ffhq/images`` and ``tpdne/images``) is refused, since it would
    merge a real and a fake folder into one source. Names given as NAME=DIR on both sides are
    the user's choice and kept."""
    from skface.datasets._scan import check_no_overlap

    real = folder_sources(args.real, "--real")
    fake = folder_sources(args.fake, "--fake")
    try:  # before the names: NAME=DIR, which that error advises, cannot help
        check_no_overlap(real.values(), fake.values())
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    named = {_split_source(item)[0] for item in [*args.real, *args.fake]} - {None}
    for name in sorted(set(real) & set(fake) - named):
        raise CLIError(f"the --real folder {real[name]} and the --fake folder {fake[name]} are "
                       f"both named {name!r}, which would make them one source with both "
                       f"labels; name them with NAME=DIR, e.g. --real {name}-real={real[name]} "
                       f"--fake {name}-fake={fake[name]}")
    return real, fake


def scan_folders(args):
    """Scan the ``--real`` and ``--fake`` folders (:func:`skface.datasets.load_faces`).

    Ctrl-C during the scan stops the command (``KeyboardInterrupt``, exit status 130) instead of
    going on with part of the folders, so nothing that looks finished is written from them;
    with ``--cache`` (:func:`add_cache_argument`) the next run reads only what was not done.
    """
    from skface.datasets import load_faces

    real, fake = real_and_fake_sources(args)
    check_cache_outside(getattr(args, "cache", None), [*real.values(), *fake.values()])
    data = load_faces({k: str(v) for k, v in real.items()},
                      {k: str(v) for k, v in fake.items()}, progress=not args.quiet,
                      cache=getattr(args, "cache", None))
    if data.skipped.interrupted:
        raise KeyboardInterrupt
    return data


def existing_file(path, what):
    path = Path(path)
    if not path.exists():
        raise CLIError(f"{what} does not exist: {path}")
    if not path.is_file():
        raise CLIError(f"{what} is not a file: {path}")
    return path


def read_manifest_arg(manifest):
    """Read the manifest a command was given; a missing file, or one :func:`read_manifest`
    refuses (empty, a bad label, a short row...), is a :class:`CLIError` (exit status 2)."""
    from skface.datasets import read_manifest

    path = existing_file(manifest, "manifest")
    try:
        return read_manifest(path)
    except ValueError as exc:  # bad input the command checks, as the exit-status table says
        raise CLIError(str(exc)) from None


def _tmp_sibling(path, kind):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent / f".{path.name}.{kind}-{uuid.uuid4().hex[:8]}.part"


def check_output_file(path):
    """Refuse an output file path that cannot be written: a folder, or a file under a path
    whose parent is missing or is a file. Called before the work, so that no work is lost."""
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"output {path} is a folder; give a file name")
    parent = path.parent
    if not parent.exists():
        raise CLIError(f"output {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise CLIError(f"output {path}: {parent} is a file, not a folder")
    return path


def check_replaceable(path, header, what):
    """Refuse to write over an existing file whose first CSV row does not start with
    ``header``: only an earlier output (``what``) of the command is replaced (``--out
    manifest.csv`` had replaced a manifest, or an image, without a word)."""
    import csv

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:  # an empty file holds nothing to lose
        return
    try:  # as written (non-UTF-8 names as their bytes) or saved by a spreadsheet (a BOM)
        with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            first = next(csv.reader(fh), None)
    except (OSError, csv.Error):
        first = None
    first = None if first is None else [cell.strip() for cell in first]
    if first is None or tuple(first[:len(header)]) != tuple(header):
        raise CLIError(f"{path} exists and is not {what} (its first line does not start with "
                       f"{','.join(header)}); choose another file, or delete it first")


def csv_bytes(header, rows):
    """A CSV as UTF-8 bytes; a file name that is not UTF-8 (a Latin-1 name on Linux) keeps its
    own bytes (strict UTF-8 failed after the work was done)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8", "surrogateescape")


def write_csv(path, header, rows):
    """Write a CSV (:func:`csv_bytes`) atomically; refuse a folder as target."""
    from skface.utils import atomic_write_bytes

    path = check_output_file(path)
    atomic_write_bytes(path, csv_bytes(header, rows))
    return path


def write_csv_to_stdout(header, rows):
    """Write a CSV (:func:`csv_bytes`) to standard output, as bytes where it takes them."""
    import sys

    data = csv_bytes(header, rows)
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream put in its place
        sys.stdout.write(data.decode("utf-8", "surrogateescape"))
        return
    sys.stdout.flush()
    out.write(data)
    out.flush()


def write_skipped(path, pairs):
    """Write every ``(path, reason)`` a scan skipped to the CSV ``path`` (``path,reason``)."""
    return write_csv(path, ("path", "reason"), pairs)


def report_skipped(pairs, what, listing=None, limit=10):
    """Name the files a scan passed over on stderr: the first ``limit``, and where all are.

    ``pairs`` are ``(path, reason)``; ``listing`` is the CSV (from :func:`write_skipped`) that
    holds every one, so that a shell user sees each skipped file, not only a count.
    """
    import sys

    pairs = list(pairs)
    if not pairs:
        return
    shown = "; ".join(f"{p} ({r})" for p, r in pairs[:limit])
    more = f"; and {len(pairs) - limit} more" if len(pairs) > limit else ""
    where = f"; every one, with its reason, in {listing}" if listing is not None else ""
    print(f"{what} {len(pairs)} file(s): {shown}{more}{where}", file=sys.stderr)


def add_cache_argument(p):
    """``--cache DIR``: keep what a folder scan learned, so that a re-run reads only new files."""
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="folder that keeps what the scan learned about each image; a re-run "
                   "(after Ctrl-C, or with more folders) reads only the files not seen, or "
                   "changed, since")


def check_cache_outside(cache, folders):
    """Refuse a ``--cache`` inside a folder it scans: its record files would be scanned (and
    listed as skipped files) on every later run."""
    if cache is not None:
        check_out_outside(cache, [("image", folder) for folder in folders], option="--cache",
                          why="its scan would read the cache's own files")


def add_quiet_argument(p, what="no progress bars"):
    """``--quiet``: the same flag on every subcommand that shows progress."""
    p.add_argument("--quiet", action="store_true", help=what)


def add_device_argument(p, what="where the network runs"):
    """``--device``: the same flag wherever a network trains or predicts."""
    p.add_argument("--device", default="auto",
                   help=f"{what}: auto (a GPU when there is one), cpu, cuda, cuda:1, ...")


def check_device(device):
    """The resolved ``--device``, checked before any work (a missing GPU is named at once,
    not after the images are decoded)."""
    from skface.utils import resolve_device

    try:
        return resolve_device(device)
    except ValueError as exc:
        raise CLIError(f"--device: {exc}") from None


def add_folder_arguments(p, required=True):
    """``--real [NAME=]DIR...`` and ``--fake [NAME=]DIR...``: one source per folder (read with
    :func:`folder_sources`)."""
    named = ("; one source each, named after the folder or, as NAME=DIR, NAME (two folders of "
             "one class need different names)")
    p.add_argument("--real", nargs="+", required=required, metavar="[NAME=]DIR",
                   help="folders of real faces" + named)
    p.add_argument("--fake", nargs="+", required=required, metavar="[NAME=]DIR",
                   help="folders of AI-generated faces" + named)


#: The file every output folder of a subcommand holds: which command wrote it, and its entries.
# image files decoded and scored at a time by `skface evaluate` and `skface predict`: memory
# stays flat (about 25 MiB of 128 px pixels) however many files are given
PATH_BATCH = 512

OUTPUT_MARKER = ".skface-output.json"


def _describe(names, limit=3):
    names = sorted(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def image_folders(files, sources, labels):
    """``(what, folder)`` pairs for :func:`check_out_outside` from a manifest's rows: the
    folder of each image, and the common folder of each named source's images of one label
    (the folder a scan read; a blank source, or one name under both labels, has none)."""
    by_source = {}
    for f, s, y in zip(files, sources, labels):
        by_source.setdefault((s, y), set()).add(os.path.dirname(os.path.abspath(f)))
    pairs = {}
    for (s, _), parents in by_source.items():
        root = os.path.commonpath(sorted(parents))
        if str(s).strip() and root != os.path.dirname(root):  # not the file system's root
            parents = parents | {root}
        for folder in parents:
            pairs.setdefault(folder, f"source {s!r}")
    return [(what, folder) for folder, what in pairs.items()]


def check_out_outside(out, folders, *, option="--out",
                      why="a later scan of that folder would read the report's figures as faces"):
    """Refuse an output (``option``, ``out``) inside one of the image ``folders`` (``(flag,
    folder)`` pairs), saying ``why``: by default, the next scan of that folder would take the
    report's figures for faces."""
    from skface.utils._io import path_within

    for flag, folder in folders:
        if path_within(out, folder):
            raise CLIError(f"{option} {out} lies inside the {flag} folder {folder}: {why}; give "
                           "a place outside the image folders")


def existing_parent(path, option):
    """The nearest folder above ``path`` that exists (the rest is made); a file on the way is a
    :class:`CLIError` naming ``option``."""
    parent = next(p for p in Path(path).parents if p.exists())
    if not parent.is_dir():
        raise CLIError(f"{option} {path}: {parent} is a file, not a folder")
    return parent


def output_path(path):
    """An output folder as the commands replace it: absolute ("." put the temporary folder
    inside itself), resolved as the system would ("link/.." is the link target's parent), and
    the folder a link points to (renaming the link away left it behind)."""
    return Path(os.path.realpath(path))


def _files_under(folder):
    """Every file and link under ``folder``, as POSIX paths relative to it (folders themselves
    are not listed: an empty folder holds nothing to lose)."""
    found = set()
    for here, dirs, files in os.walk(folder):  # links to folders are listed, not followed
        rel = Path(here).relative_to(folder)
        found.update((rel / name).as_posix() for name in files)
        found.update((rel / name).as_posix() for name in dirs if (Path(here) / name).is_symlink())
    return found


def check_output_dir(path, command):
    """Refuse ``path`` as the output folder of ``skface <command>`` unless replacing it is safe.

    An output folder is replaced as a whole, so ``path`` may be missing, an empty folder, or
    an earlier output of the same command that holds nothing it did not write (its
    :data:`OUTPUT_MARKER` lists every file it wrote, in its subfolders too). Anything else --
    images, a manifest, another command's output, files added by hand -- raises
    :class:`CLIError` naming what is there, before any work starts, so that no file is ever
    lost to an ``--out`` typo.
    """
    import json

    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise CLIError(f"output {path} exists and is not a folder")
    entries = {p.name for p in path.iterdir()}
    if not entries:
        return
    hint = "give a new or empty folder, or move those files out"
    if OUTPUT_MARKER not in entries:
        raise CLIError(f"output folder {path} already holds files that skface {command} did not "
                       f"write ({_describe(entries)}); it would replace them all: {hint}")
    try:
        marker = json.loads((path / OUTPUT_MARKER).read_text(encoding="utf-8"))
        owner, written = str(marker["command"]), set(marker["files"])
    except (OSError, ValueError, KeyError, TypeError):
        raise CLIError(f"output folder {path} has an unreadable {OUTPUT_MARKER}; {hint}") from None
    if owner != command:
        raise CLIError(f"output folder {path} holds the output of `skface {owner}`; "
                       f"`skface {command}` will not replace it: give another folder")
    # every file, in subfolders too: one added by hand under figures/ was deleted with them
    # (a marker of an earlier version lists top-level names only, so its subfolders' files
    # count as not written: such a folder is refused rather than emptied)
    extra = _files_under(path) - written - {OUTPUT_MARKER}
    if extra:
        raise CLIError(f"output folder {path} holds files that the earlier skface {command} did "
                       f"not write ({_describe(extra)}); it would replace them all: {hint}")


@contextmanager
def atomic_dir(path, command, *, marker=True):
    """Yield a fresh temporary folder next to ``path``; on success it replaces ``path``.

    A folder left by an interrupted or failed run never sits at ``path``: the output appears
    under its final name only once complete. An existing ``path`` is replaced only then, and
    only when :func:`check_output_dir` allows it (checked on entry and again before the
    replacement). When a file appeared in ``path`` during the run, the complete output is kept
    beside it under a new name, which the error gives. ``marker=False`` leaves
    :data:`OUTPUT_MARKER` out (for folders of images, which a scan reads whole); such a folder
    is then never replaced once it holds files.
    """
    import json

    path = output_path(path)
    check_output_dir(path, command)
    tmp = _tmp_sibling(path, "tmp")
    tmp.mkdir()
    old = None
    try:
        yield tmp
        if marker:
            files = sorted(_files_under(tmp))
            (tmp / OUTPUT_MARKER).write_text(json.dumps({"command": command, "files": files},
                                                        indent=1), encoding="utf-8")
        try:
            check_output_dir(path, command)
        except CLIError as exc:
            kept = path.parent / f"{path.name}.new-{uuid.uuid4().hex[:8]}"
            os.replace(tmp, kept)
            raise CLIError(f"{exc}; the complete output was written to {kept} instead") from None
        if path.exists():
            old = _tmp_sibling(path, "old")
            os.replace(path, old)
            os.replace(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if old is not None and old.exists():
            if path.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:  # stopped between the two renames (Ctrl-C): the earlier output goes back
                os.replace(old, path)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
