import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sobolev.plotting import band, linestyle  # noqa: E402
from sobolev.report import Claim, claims_table, compare, round_sig  # noqa: E402


def test_compare_has_a_dead_zone():
    assert compare(3.0, 1.0) == "True"
    assert compare(0.5, 1.0) == "False"
    assert compare(1.05, 1.0) == "close"
    assert compare(0.5, 1.0, above=False) == "True"
    with pytest.raises(ValueError, match="margin"):
        compare(1, 1, margin=-1)


def test_round_sig_and_table():
    assert round_sig(0.000314) == "0.0003"
    assert round_sig(3.14e-7, 2) == "3.1e-7"
    assert round_sig(None) == "not reached"
    table = claims_table([Claim("H1 is faster", "3x", "True")])
    assert "claim (paper)" in table and "H1 is faster" in table and table.startswith("Claims")


def test_band_draws_median_and_dash_for_l2():
    fig, ax = plt.subplots()
    runs = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0], [2.0, 3.0, 4.0]])
    line = band(ax, [1, 2, 3], runs, loss="l2", label="l2")
    assert np.array_equal(line.get_ydata(), [2.0, 3.0, 4.0])
    assert line.get_linestyle() == "--"
    assert linestyle("h1_cheb") == "-"
    assert len(ax.collections) == 1  # the band
    with pytest.raises(ValueError, match="runs must have shape"):
        band(ax, [1, 2], runs)
    plt.close(fig)
