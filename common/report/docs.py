"""Keep the result tables quoted in the README and in ``docs/`` identical to the files the scripts generated.

Each ``<!-- BEGIN figures/x.md -->`` ... ``<!-- END figures/x.md -->`` block holds that file without its title
(``make readme``); ``--check`` only reports blocks that differ, and :func:`unsourced` prose that states a number."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


BLOCK = re.compile(r"(<!-- BEGIN (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- END (?P=path) -->)", re.S)
# A result stated in prose: a number followed by %, "point(s)" or "pp", or after "±" (a spread)
RESULT = re.compile(r"(?<![\w.])[-+−]?\d[\d,]*(?:\.\d+)?\s?(?:%|points?\b|pp\b)|±\s?\d")
# What is not prose: generated blocks, code (fenced or inline), image links, HTML comments
NOT_PROSE = re.compile(
    r"<!-- BEGIN (\S+) -->.*?<!-- END \1 -->|```.*?```|`[^`\n]*`|!\[[^]]*\]\([^)]*\)|<!--.*?-->", re.S
)


def sync(readme: Path, root: Path = ROOT, check: bool = False) -> list[str]:
    """Rewrite (``check``: only compare) every block; returns the paths of the blocks that differed or are missing."""
    text = readme.read_text()
    stale = []

    def replace(m: re.Match) -> str:
        src = root / m["path"]
        if not src.is_file():
            stale.append(f"{m['path']} (missing)")
            return m.group(0)
        body = re.sub(r"\A(# .*\n)?(\s*\n)*", "", src.read_text()).rstrip() + "\n"  # title dropped
        if body != m["body"]:
            stale.append(m["path"])
        return m.group(1) + body + m.group(4)

    new = BLOCK.sub(replace, text)
    if not check and new != text:
        readme.write_text(new)
    return stale


def unsourced(page: Path) -> list[str]:
    """The lines of ``page`` that state a result outside a generated block: each belongs in a generated caption."""
    text = page.read_text()
    blanked = NOT_PROSE.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # the prose alone, at its line numbers
    lines = zip(text.splitlines(), blanked.splitlines())
    return [f"{page.name}:{n}: {line.strip()[:100]}" for n, (line, bare) in enumerate(lines, 1) if RESULT.search(bare)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only report blocks that differ from their files")
    a = p.parse_args(argv)
    stale = [f"{page.name}: {path}" for page in pages() for path in sync(page, check=a.check)]
    for item in stale:
        print(f"{'differs' if a.check else 'updated'}: {item}")
    if a.check and stale:
        print("run `make readme` to copy the generated tables into the README and docs/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
