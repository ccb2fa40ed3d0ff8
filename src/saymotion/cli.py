"""The `saymotion` command. Each subcommand lives in `saymotion.commands.<name>` as a thin entry
point with a `register(subparsers)` function (found automatically); heavy imports happen only when
a command runs."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from saymotion import __version__
from saymotion.errors import SaymotionError



def command_modules() -> list[str]:
    import saymotion.commands

    return sorted(info.name for info in pkgutil.iter_modules(saymotion.commands.__path__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saymotion", description="Generate 3D human motion from spoken instructions."
    )
    parser.add_argument("--version", action="version", version=f"saymotion {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        importlib.import_module(f"saymotion.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except SaymotionError as error:
        print(f"saymotion: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("saymotion: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
