"""The command line: every subcommand documents itself, and user errors become one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from saymotion import cli
from saymotion.errors import SaymotionError


def subcommand_paths(parser) -> list[list[str]]:
    """All command paths (e.g. ["data", "prepare"]) reachable from the parser."""
    paths = []
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in action.choices.items():
            paths.append([name])
            paths.extend([name, *rest] for rest in subcommand_paths(sub))
    return paths


def test_building_the_command_line_imports_neither_torch_nor_numpy():
    # Registering every subcommand must stay light: `saymotion --help` and a bad argument answer at once.
    probe = ("import sys; from saymotion import cli; cli.build_parser(); "
             "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_subcommand_has_help(capsys):
    paths = subcommand_paths(cli.build_parser())
    assert ["data", "prepare"] in paths
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*path, "--help"])
        assert exit_info.value.code == 0, path
        assert "usage: saymotion" in capsys.readouterr().out


def test_user_error_is_one_line_and_exit_2(monkeypatch, capsys):
    def fail(_args):
        raise SaymotionError("the archive is missing")

    parser = cli.build_parser()
    args = parser.parse_args(["data", "prepare", "--out", "x"])
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(args, "func", fail)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    assert cli.main([]) == 2
    assert capsys.readouterr().err == "saymotion: error: the archive is missing\n"


def test_console_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "saymotion", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("saymotion ")
