"""Entry point of the ``skface`` command: parse arguments, run a subcommand, report errors."""

import argparse
import importlib
import os
import sys
import warnings

from ._common import CLIError, HelpFormatter, one_line

# (subcommand, module); each module defines HELP, DESCRIPTION, EXAMPLES, add_arguments, run.
SUBCOMMANDS = (
    ("demo", "._demo"),
    ("fetch", "._fetch"),
    ("audit", "._audit"),
    ("build", "._build"),
    ("train", "._train"),
    ("evaluate", "._evaluate"),
    ("predict", "._predict"),
    ("ablate", "._ablate"),
)

_DESCRIPTION = """\
Tell real face photographs from AI-generated faces.

A newcomer runs `skface demo` (offline, a few minutes on a laptop CPU). The full protocol on
real data: fetch -> audit -> build -> train -> evaluate -> predict (and ablate).
"""

_EPILOG = """\
examples:
  skface demo --out demo-report
  skface build --real data/real/ffhq --fake data/fake/tpdne --out manifest.csv
  skface train --manifest manifest.csv --out model
  skface evaluate --model model --manifest manifest.csv --out results
  skface predict --model model photos/ --out preds.csv

Run `skface COMMAND --help` for the options of one command."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see `{self.prog} --help`)\n")


def _module(dotted):
    return importlib.import_module(dotted, package=__package__)


def build_parser():
    """Build the ``skface`` argument parser with every subcommand.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    from .. import __version__

    parser = _Parser(
        prog="skface",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skface {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, dotted in SUBCOMMANDS:
        mod = _module(dotted)
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=mod.DESCRIPTION,
            epilog="examples:\n" + "\n".join(f"  {e}" for e in mod.EXAMPLES),
            formatter_class=HelpFormatter,
        )
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback when the command fails")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    if category.__name__ == "SkippedFilesWarning":
        # the commands that scan name every skipped file themselves (report_skipped, and a
        # skipped.csv); the library's warning points at a Python field the shell has not got
        return
    stream = sys.stderr if file is None else file
    stream.write(f"skface: warning: {one_line(message)}\n")


def main(argv=None):
    """Run the ``skface`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``skface``; ``sys.argv[1:]`` by default.

    Returns
    -------
    status : int
        0 on success; non-zero after an error, which is printed as one line on stderr.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    prog = f"skface {args.command}"
    old_showwarning = warnings.showwarning
    warnings.showwarning = _one_line_warnings
    try:
        status = args._run(args)
        return 0 if status is None else int(status)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except BrokenPipeError:
        # the reader went away (`skface predict ... | head`): stop quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout without a file descriptor (captured)
            pass
        return 141
    except CLIError as exc:
        if getattr(args, "debug", False):
            raise
        sys.stderr.write(f"{prog}: error: {one_line(exc)}\n")
        return exc.status
    except (ValueError, OSError, RuntimeError, KeyError, ImportError) as exc:
        if getattr(args, "debug", False):
            raise
        msg = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError):
            msg = f"missing entry {msg}"
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
            msg = f"{msg}: {exc.filename}"
        sys.stderr.write(f"{prog}: error: {one_line(msg)}\n")
        return 1
    except Exception as exc:  # a bug: still one line, with the way to see more
        if getattr(args, "debug", False):
            raise
        sys.stderr.write(
            f"{prog}: error: unexpected {type(exc).__name__}: {one_line(exc)} "
            "(rerun with --debug for the traceback)\n"
        )
        return 1
    finally:
        warnings.showwarning = old_showwarning
