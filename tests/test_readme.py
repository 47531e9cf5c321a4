"""The README's and docs/' quoted result tables are the generated files, byte for byte."""

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
