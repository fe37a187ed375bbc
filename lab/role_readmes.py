"""Regenerate the "## Role Variables" section of every roles/*/README.md.

Each role's variables are documented once, in `meta/argument_specs.yml` (Ansible validates
them against it at run time). The README lists them again for people reading the role on
GitHub; a list kept by hand drifts from the spec, so it is generated from the spec, and
`make lint` runs `--check` so a change to the spec without the README fails.

Only the body of that section is rewritten (from the line after its heading up to the next
`## ` heading); the rest of each README is prose written by hand and stays as it is.
`defaults/main.yml` is read too: it must hold the same defaults as the spec, otherwise the
README would document a value the role does not use, and no regeneration can fix that.

Usage: role_readmes.py [--check] [--roles-dir DIR]
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SECTION_HEADING = "## Role Variables"
INTRO = (
    "Generated from `meta/argument_specs.yml` (the one source; defaults in `defaults/main.yml`)."
)
DEFAULT_ROLES_DIR = Path(__file__).resolve().parent.parent / "roles"


class ReadmeError(Exception):
    """A role whose README or spec cannot be processed (not merely out of date)."""


@dataclass(frozen=True)
class RoleResult:
    readme: Path
    current: str
    generated: str
    # Disagreements between the spec and defaults/main.yml; regenerating cannot fix them.
    mismatches: tuple[str, ...]


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def render_value(value: Any) -> str:
    """One-line YAML, so a default reads exactly as it would be written in a playbook."""
    dumped: str = yaml.safe_dump(
        value, default_flow_style=True, width=sys.maxsize, allow_unicode=True, sort_keys=False
    )
    # A scalar dumps as a whole document, ending in the "..." end marker.
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def render_type(option: dict[str, Any]) -> str:
    # Ansible treats an option without a type as str.
    kind = str(option.get("type", "str"))
    elements = option.get("elements")
    return f"{kind} of {elements}" if elements else kind


def render_description(description: str | list[str] | None) -> str:
    # The spec allows a list of paragraphs and folded multi-line text; a bullet is one line.
    if description is None:
        return ""
    text = " ".join(description) if isinstance(description, list) else description
    return " ".join(text.split())


def render_option(name: str, option: dict[str, Any]) -> str:
    head = f"- `{name}` ({render_type(option)})"
    if "default" in option:
        head += f", default `{render_value(option['default'])}`"
    elif option.get("required"):
        head += ", required"
    return f"{head}: {render_description(option.get('description'))}"


def spec_options(role_dir: Path) -> dict[str, dict[str, Any]]:
    spec_path = role_dir / "meta" / "argument_specs.yml"
    if not spec_path.is_file():
        raise ReadmeError(f"{spec_path}: missing")
    specs = (load_yaml(spec_path) or {}).get("argument_specs") or {}
    # The README documents the role as it is normally used: the main entry point.
    if "main" not in specs:
        raise ReadmeError(f"{spec_path}: no 'main' entry point")
    return dict(specs["main"].get("options") or {})


def render_section_body(options: dict[str, dict[str, Any]]) -> list[str]:
    bullets = [render_option(name, opt) for name, opt in options.items()] or ["None."]
    return ["", INTRO, "", *bullets, ""]


def defaults_mismatches(role_dir: Path, options: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    defaults_path = role_dir / "defaults" / "main.yml"
    defaults = (load_yaml(defaults_path) or {}) if defaults_path.is_file() else {}
    problems = []
    for name in defaults.keys() - options.keys():
        problems.append(f"{defaults_path}: `{name}` is not in meta/argument_specs.yml")
    for name, option in options.items():
        if "default" not in option:
            continue
        if name not in defaults:
            problems.append(f"{defaults_path}: `{name}` missing (spec default given)")
        # Compared as rendered YAML: Python's `True == 1` would hide a bool/int swap.
        elif render_value(defaults[name]) != render_value(option["default"]):
            problems.append(
                f"{defaults_path}: `{name}` is {render_value(defaults[name])}, "
                f"meta/argument_specs.yml says {render_value(option['default'])}"
            )
    return tuple(sorted(problems))


def replace_section(readme: Path, text: str, body: list[str]) -> str:
    # keepends, so CRLF or a missing final newline elsewhere in the file survives untouched.
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == SECTION_HEADING]
    if len(starts) != 1:
        raise ReadmeError(
            f"{readme}: expected one '{SECTION_HEADING}' heading, found {len(starts)}"
        )
    start = starts[0] + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "".join([*lines[:start], *(line + "\n" for line in body), *lines[end:]])


def process_role(role_dir: Path) -> RoleResult:
    readme = role_dir / "README.md"
    options = spec_options(role_dir)
    # newline="" keeps the file's own line endings, so an in-sync file compares equal byte for byte.
    with readme.open(encoding="utf-8", newline="") as stream:
        current = stream.read()
    generated = replace_section(readme, current, render_section_body(options))
    return RoleResult(readme, current, generated, defaults_mismatches(role_dir, options))


def write_atomically(path: Path, text: str) -> None:
    # A reader (or a crash) never sees a half-written README; the temp file must be in the
    # same folder for os.replace to be a rename on one filesystem.
    mode = path.stat().st_mode & 0o7777
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates 0600; keep the README readable as before.
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def unified_diff(result: RoleResult, base: Path) -> str:
    rel = result.readme.relative_to(base)
    return "".join(
        difflib.unified_diff(
            result.current.splitlines(keepends=True),
            result.generated.splitlines(keepends=True),
            fromfile=f"a/{rel}",
            tofile=f"b/{rel}",
        )
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Regenerate the Role Variables section of every roles/*/README.md."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; print a diff for each out-of-date README and exit 1",
    )
    parser.add_argument(
        "--roles-dir",
        type=Path,
        default=DEFAULT_ROLES_DIR,
        help="folder holding the roles (default: the repository's roles/)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    roles_dir: Path = args.roles_dir.resolve()
    role_dirs = sorted(readme.parent for readme in roles_dir.glob("*/README.md"))
    if not role_dirs:
        print(f"no roles/*/README.md under {roles_dir}", file=sys.stderr)
        return 2
    try:
        results = [process_role(role_dir) for role_dir in role_dirs]
    except (ReadmeError, OSError, yaml.YAMLError) as error:
        print(error, file=sys.stderr)
        return 2

    stale = [result for result in results if result.generated != result.current]
    for result in stale:
        if args.check:
            sys.stdout.write(unified_diff(result, roles_dir.parent))
        else:
            write_atomically(result.readme, result.generated)
            print(f"rewrote {result.readme.relative_to(roles_dir.parent)}")
    if stale and args.check:
        print(
            "role READMEs out of date: run .venv-lab/bin/python lab/role_readmes.py",
            file=sys.stderr,
        )
    # Reported in both modes: the README cannot be right while its two sources disagree.
    mismatches = [problem for result in results for problem in result.mismatches]
    for problem in mismatches:
        print(problem, file=sys.stderr)
    return 1 if mismatches or (stale and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
