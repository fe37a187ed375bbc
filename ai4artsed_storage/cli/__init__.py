"""``ai4artsed-storage``: parse, dispatch, map errors to exit codes. Nothing else.

Each command lives in its own module with ``register(subparsers)``, which adds a parser
whose ``func`` takes the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ai4artsed_storage._errors import StorageError
from ai4artsed_storage.cli import doctor, fsck, migrate, serve, where

#: Expected failure (bad input, unusable root): a message, no traceback.
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

COMMANDS = (where, serve, migrate, doctor, fsck)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ai4artsed-storage",
        description="One absolute storage root for the ai4artsed webserver.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except StorageError as error:
        print(f"ai4artsed-storage: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code
