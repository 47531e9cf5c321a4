"""Keep the README's result tables identical to the files the scripts generated.

The README quotes generated tables between markers::

    <!-- BEGIN figures/cifar/summary.md -->
    ...the file's content, put here by `make readme`...
    <!-- END figures/cifar/summary.md -->

`python -m common.readme` (``make readme``) copies each named file (its first heading dropped: the
README has its own) between its markers; ``--check`` only reports blocks that differ, and
``tests/test_readme.py`` runs that check, so a README whose numbers drifted from the saved results
does not land. No number in these blocks is typed by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- BEGIN (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- END (?P=path) -->)", re.S)


def quoted(path: Path) -> str:
    """The text the README shows for a generated file: its lines without a leading '# ' title."""
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return "\n".join(lines).rstrip() + "\n"


def sync(readme: Path, root: Path = ROOT, check: bool = False) -> list[str]:
    """Rewrite (or, with ``check``, only compare) every block; returns the paths of blocks that differed
    or whose file is missing."""
    text = readme.read_text()
    stale = []

    def replace(m: re.Match) -> str:
        src = root / m["path"]
        if not src.is_file():
            stale.append(f"{m['path']} (missing)")
            return m.group(0)
        body = quoted(src)
        if body != m["body"]:
            stale.append(m["path"])
        return m.group(1) + body + m.group(4)

    new = BLOCK.sub(replace, text)
    if not check and new != text:
        readme.write_text(new)
    return stale


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only report README blocks that differ from their files")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md", help="the README to update (default: README.md)")
    a = p.parse_args(argv)
    stale = sync(a.readme, check=a.check)
    for path in stale:
        print(f"{'differs' if a.check else 'updated'}: {path}")
    if a.check and stale:
        print("run `make readme` to copy the generated tables into the README", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
