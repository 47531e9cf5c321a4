"""The figures' shared captions."""

from common.report.plots import seeds_note


def test_seeds_note_says_what_the_lines_and_bars_are():
    assert seeds_note([1]) == "1 seed"
    assert seeds_note([1, 1], single="; no error bar") == "1 seed; no error bar"
    assert seeds_note([3, 3, 3]) == "mean of 3 seeds, band: min-max"
    assert seeds_note([3, 2], "error bar: std") == "mean of 2/3 seeds, error bar: std"
    assert seeds_note([]) == "1 seed"
