"""The README's and docs/' quoted result tables are the generated files, byte for byte; their prose states no
result outside those tables, and says what "±" means wherever it shows one; no generated table lacks a number the
records should give; they speak of the project alone; the quick start prints what the README says."""

import re

from conftest import REPO

from common.report import docs as readme
from common.report.stats import MISSING, PM_KEY


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
def test_no_page_states_a_result_outside_a_generated_table():
    found = [line for page in readme.pages() for line in readme.unsourced(page)]
    assert not found, "results typed by hand (a generated caption, quoted, holds them):\n" + "\n".join(found)


def test_every_page_that_shows_a_spread_says_what_it_is():
    """A difference's "±" is its standard error, an accuracy's the std over the seeds: the key is on the page."""
    for page in readme.pages():
        text = page.read_text()
        if re.search(r"[+-]\d[\d.]* ± \d[\d.]* points", text):  # a difference and its standard error
            assert PM_KEY in text, f"{page.name} shows a difference ± its error without the key"
        said = "std" in text or "standard deviation" in text
        assert "±" not in text or said, f"{page.name} shows a spread and never says it is a std"


def test_no_generated_table_lacks_what_the_records_should_give():
    """A cell the records cannot give says so (stats.MISSING); the committed records give every one."""
    found = [str(p.relative_to(REPO)) for p in (REPO / "figures").rglob("*.md") if MISSING in p.read_text()]
    assert not found, f"cells the committed records should fill: {found}"


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
    block = "<!-- BEGIN t.md -->\n54.7%\n<!-- END t.md -->"
    page.write_text(f"{block}\n`code 3%`\nwe reach 54.7% here\nspread ± 1.4\n")
    assert [line.split(":")[1] for line in readme.unsourced(page)] == ["5", "6"]


# ---------------------------------------------------------------- the quick start, as written
FINAL_LINE = re.compile(r"^== (\S+) seed 0: finished, final train acc ([\d.]+)%, test acc ([\d.]+)%", re.M)


def test_the_quick_start_prints_what_the_readme_says(quickstart):
    """The README's quick-start command, run as written in a folder of its own (tests/conftest.py): its last line
    is the README's (the same run and numbers within a point: another CPU's kernels may round differently), and
    its figures are where the README says."""
    text = (REPO / "README.md").read_text()
    assert ".venv/bin/python cifar_v2.py --quick" in text
    want = FINAL_LINE.search(text)
    assert want, "the README's quick start shows no final line"
    folder, code, output = quickstart
    assert code == 0, output[-3000:]
    got = FINAL_LINE.search(output)
    assert got and got[1] == want[1], output[-2000:]
    assert abs(float(got[2]) - float(want[2])) <= 1.0 and abs(float(got[3]) - float(want[3])) <= 1.0, got[0]
    figures = re.search(r"Its figures land in `(runs/quickstart/figures/[^`]+)`", text)[1]
    assert (folder / figures / "curves.png").is_file()
