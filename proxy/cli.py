"""The ``chatwarden`` command. Each subcommand lives in ``proxy/commands/<name>.py`` and
exposes ``add_parser(subparsers)``; the parser it adds sets ``func`` to a callable that
takes the parsed namespace and returns an exit code."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from proxy.errors import ChatwardenError

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("init", "serve", "redact", "audit", "keys", "policy", "retention")


def build_parser(names: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatwarden", description="chatwarden: policy-aware chat logging and redaction proxy."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in names:
        importlib.import_module(f"proxy.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only the named subcommand's module is imported: `chatwarden redact` never pays for
    # the server's imports (aiohttp, cryptography). Anything else gets the full parser.
    names = (argv[0],) if argv and argv[0] in COMMANDS else COMMANDS
    args = build_parser(names).parse_args(argv)
    try:
        code: int = args.func(args)
    except ChatwardenError as exc:
        print(f"chatwarden: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
