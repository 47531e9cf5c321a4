"""The README's quoted result tables are the generated files, byte for byte."""

from common import readme


def test_readme_blocks_match_generated_files():
    stale = readme.sync(readme.ROOT / "README.md", check=True)
    assert not stale, f"README blocks differ from their files: {stale}; run `make readme`"


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
