"""The figures' shared captions."""

from common.report.plots import seeds_note


def test_seeds_note_says_what_the_lines_and_bars_are():
    assert seeds_note([1]) == "1 seed"
    assert seeds_note([1, 1], single="; no error bar") == "1 seed; no error bar"
    assert seeds_note([3, 3, 3]) == "mean of 3 seeds, band: ± 1 std over seeds"
    assert seeds_note([3, 2], "error bar: std") == "mean of 2/3 seeds, error bar: std"
    assert seeds_note([]) == "1 seed"


def test_the_band_is_the_mean_plus_minus_one_std():
    import numpy as np

    from common.report.plots import band, plt

    recs = [{"history": [{"iteration": i, "a": v + i} for i in (0, 1)]} for v in (1.0, 2.0, 6.0)]
    fig, ax = plt.subplots()
    band(ax, recs, "a", "a", "C0")
    assert np.allclose(ax.lines[0].get_ydata(), [3.0, 4.0])
    low, high = (
        ax.collections[0].get_paths()[0].vertices[:, 1].min(),
        ax.collections[0].get_paths()[0].vertices[:, 1].max(),
    )
    std = np.std([1.0, 2.0, 6.0], ddof=1)
    assert np.isclose(low, 3.0 - std) and np.isclose(high, 4.0 + std)
    plt.close(fig)
