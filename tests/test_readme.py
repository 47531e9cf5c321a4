"""The README's and docs/' quoted result tables are the generated files, byte for byte; every result their prose
states is a fact computed from the records; they speak of the project alone; the quick start prints what the
README says."""

import json
import re
import sys

from conftest import REPO
from processes import finish, spawn

from common.report import docs as readme


def test_readme_and_docs_blocks_match_generated_files():
    stale = {page.name: readme.sync(page, check=True) for page in readme.pages()}
    assert not any(stale.values()), f"blocks differ from their files: {stale}; run `make readme`"


def test_sync_copies_and_detects(tmp_path):
    (tmp_path / "t.md").write_text("# Title\n\n| a |\n|---|\n| 1 |\n")
    doc = tmp_path / "README.md"
    doc.write_text(
        "intro\n<!-- BEGIN t.md -->\nold\n<!-- END t.md -->\nrest\n<!-- BEGIN gone.md -->\nx\n<!-- END gone.md -->\n"
    )
    assert readme.sync(doc, tmp_path, check=True) == ["t.md", "gone.md (missing)"]
    readme.sync(doc, tmp_path)
    assert "<!-- BEGIN t.md -->\n| a |\n|---|\n| 1 |\n<!-- END t.md -->\nrest" in doc.read_text()
    assert readme.sync(doc, tmp_path, check=True) == ["gone.md (missing)"]


# ---------------------------------------------------------------- the prose
def test_every_cited_fact_is_the_records_own():
    """Each `<!-- fact NAME -->value<!-- /fact -->` of the README and docs/ is the value that
    common/report/facts.py computes from the committed records now, not only the one in facts.json."""
    from common.report import facts

    computed = facts.compute(REPO / "figures")
    saved = json.loads((REPO / "figures" / "facts.json").read_text())
    assert saved == computed, "figures/facts.json is not what the records give; run `python -m common.report`"
    for page in readme.pages():
        unknown = [m["name"] for m in readme.FACT.finditer(page.read_text()) if m["name"] not in computed]
        assert not unknown, f"{page.name} cites facts nobody computes: {unknown}"


def test_no_page_states_a_result_outside_a_fact_or_a_generated_table():
    found = [line for page in readme.pages() for line in readme.unsourced(page)]
    assert not found, "results typed by hand (cite a fact or quote a generated file):\n" + "\n".join(found)


def test_the_pages_speak_of_the_project_alone():
    words = re.compile(r"\b(session|sessions|lent|issue's|this session|the last session)\b", re.I)
    found = [
        f"{p.name}:{n}: {line.strip()[:90]}"
        for p in readme.pages()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if words.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_unsourced_check_finds_a_typed_result(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("ok <!-- fact a -->54.7%<!-- /fact -->\n`code 3%`\nwe reach 54.7% here\nspread ± 1.4\n")
    assert [line.split(":")[1] for line in readme.unsourced(page)] == ["3", "4"]


# ---------------------------------------------------------------- the quick start, as written
FINAL_LINE = re.compile(r"^== (\S+) seed 0: finished, final train acc ([\d.]+)%, test acc ([\d.]+)%", re.M)


def test_the_quick_start_prints_what_the_readme_says(tmp_path, data_root):
    """The README's quick-start command, run as written in a folder of its own: its last line is the README's
    (the same run and numbers within a point: another CPU's kernels may round differently), and its figures
    are where the README says."""
    text = (REPO / "README.md").read_text()
    assert ".venv/bin/python cifar_v2.py --quick" in text
    want = FINAL_LINE.search(text)
    assert want, "the README's quick start shows no final line"
    proc = spawn(
        [sys.executable, str(REPO / "cifar_v2.py"), "--quick"],
        tmp_path / "quick.log",
        cwd=tmp_path,
        env={"DATA_DIR": str(data_root)},
    )
    assert finish(proc) == 0, proc.output()[-3000:]
    got = FINAL_LINE.search(proc.output())
    assert got and got[1] == want[1], proc.output()[-2000:]
    assert abs(float(got[2]) - float(want[2])) <= 1.0 and abs(float(got[3]) - float(want[3])) <= 1.0, got[0]
    folder = re.search(r"Its figures land in `(runs/quickstart/figures/[^`]+)`", text)[1]
    assert (tmp_path / folder / "curves.png").is_file()
