"""The ``skface`` command line: the whole protocol from the shell.

``skface demo`` runs everything on the offline demo set; ``fetch``, ``audit``, ``build``,
``train``, ``evaluate``, ``predict`` and ``ablate`` run the protocol step by step on your own
folders. Each subcommand lives in its own small module and only calls the public library.
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
