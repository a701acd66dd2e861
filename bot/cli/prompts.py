"""``briefbot prompts``: list the prompt library and check its files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.common import print_json
from bot.core.prompts import check_prompts, default_prompts_dir, load_prompts

EXIT_PROBLEMS = 1


def register(commands: Any) -> None:
    """Add the ``prompts`` command tree."""
    prompts = commands.add_parser(
        "prompts",
        help="list and check the prompt files",
        description="The prompts the LLM layer sends: one file per prompt and version in prompts/, "
        "with TOML front matter declaring its variables and output schema.",
    )
    sub = prompts.add_subparsers(dest="prompts_command", metavar="SUBCOMMAND", required=True)

    check = sub.add_parser(
        "check",
        help="check every prompt file; exit 1 with one line per problem",
        description="Check the prompt files: front matter, file names, duplicates, output schemas, "
        "variables declared but unused or used but undeclared, and the untrusted-data and "
        "no-links rules. Prints 'N prompts OK', or each problem on its own line and exits 1.",
    )
    check.add_argument("--json", action="store_true", help='print {"ok", "prompts", "problems"}')
    _directory_option(check)
    check.set_defaults(handler=_check)

    listing = sub.add_parser(
        "list",
        help="the prompts: name, version, output schema, variables",
        description="List every prompt with its version, output schema and declared variables.",
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    _directory_option(listing)
    listing.set_defaults(handler=_list)


def _directory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="the prompts directory to use instead of the shipped one",
    )


def _check(args: argparse.Namespace) -> int:
    directory = args.dir or default_prompts_dir()
    problems = check_prompts(directory)
    count = len([p for p in directory.glob("*.md") if p.name != "README.md"])
    if args.json:
        print_json({"ok": not problems, "prompts": count, "problems": problems})
    elif problems:
        for problem in problems:
            print(problem)
    else:
        print(f"{count} prompt{'s' if count != 1 else ''} OK")
    return EXIT_PROBLEMS if problems else 0


def _list(args: argparse.Namespace) -> int:
    prompts = sorted(load_prompts(args.dir).values(), key=lambda p: (p.name, p.version))
    if args.json:
        print_json(
            [
                {
                    "name": p.name,
                    "version": p.version,
                    "schema": p.schema,
                    "variables": list(p.variables),
                    "description": p.description,
                    "path": str(p.path),
                }
                for p in prompts
            ]
        )
        return 0
    rows = [("NAME", "VERSION", "SCHEMA", "VARIABLES")]
    rows += [(p.name, f"v{p.version}", p.schema, ", ".join(p.variables)) for p in prompts]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]))
    return 0
