import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sobolev.plotting import band, linestyle  # noqa: E402
from sobolev.report import (  # noqa: E402
    CLOSE,
    NOT_REPRODUCED,
    NOT_TESTED,
    REPRODUCED,
    Claim,
    claims_table,
    compare,
    compare_seeds,
    ratio_text,
    round_sig,
    table,
    verdict,
)


def test_compare_has_a_dead_zone():
    assert compare(3.0, 1.0) == REPRODUCED
    assert compare(0.5, 1.0) == NOT_REPRODUCED
    assert compare(1.05, 1.0) == CLOSE
    assert compare(0.5, 1.0, above=False) == REPRODUCED
    assert compare(None, 1.0) == NOT_TESTED
    assert compare(float("nan"), 1.0) == NOT_TESTED
    with pytest.raises(ValueError, match="margin"):
        compare(1, 1, margin=-1)


def test_verdict_of_a_measurement():
    assert verdict(True) == REPRODUCED and verdict(False) == NOT_REPRODUCED
    assert verdict(np.bool_(True)) == REPRODUCED
    assert verdict(None) == NOT_TESTED
    with pytest.raises(TypeError, match="holds"):
        verdict("True")


def test_compare_seeds_needs_separated_seeds():
    rng = np.random.default_rng(0)
    same = [rng.normal(1, 0.1, 5) for _ in range(2)]
    assert compare_seeds(*same) == CLOSE  # the same method twice cannot be told apart
    assert compare_seeds([1, 1.1, 0.9, 1, 1], [3, 3.2, 2.9, 3, 3.1]) == REPRODUCED
    # a 3x gain is not the claimed 10x
    assert compare_seeds([1, 1.1, 0.9, 1, 1], [3, 3.2, 2.9, 3, 3.1], factor=10) == NOT_REPRODUCED
    # a 3x median gain whose seeds overlap is too close to call
    assert compare_seeds([1, 1, 1, 5, 5], [3, 3, 3, 3, 3]) == CLOSE
    assert compare_seeds([3, 3.2, 2.9], [1, 1.1, 0.9]) == NOT_REPRODUCED  # the other way round
    assert compare_seeds([1, 1, 1], [np.inf] * 3) == REPRODUCED  # the other never got there
    assert compare_seeds([np.inf] * 3, [np.inf] * 3) == NOT_TESTED
    assert compare_seeds([30, 31, 29], [10, 11, 9], lower_is_better=False) == REPRODUCED
    assert compare_seeds([1, 1], [2, 2]) == NOT_TESTED  # too few seeds
    with pytest.raises(ValueError, match="factor"):
        compare_seeds([1, 1, 1], [2, 2, 2], factor=0)


def test_round_sig_and_ratio_text():
    assert round_sig(0.000314) == "0.0003"
    assert round_sig(3.14e-7, 2) == "3.1e-7"
    assert round_sig(1234) == "1e3"
    assert round_sig(None) == "not reached"
    assert round_sig(float("inf")) == "diverged"
    assert ratio_text(2.34) == "≈ 2×"
    assert ratio_text(1.3) == "> 1×" and ratio_text(1.05) == "≈ 1×" and ratio_text(1.6) == "≈ 2×"
    # large ratios: a bound on the 1-2-5 series with 25 % to spare, the same for nearby values
    assert ratio_text(501) == ratio_text(377) == "> 200×" and ratio_text(12345) == "> 5,000×"
    assert ratio_text(9.6) == ratio_text(8.9) == "> 5×" and ratio_text(12.6) == "> 10×"
    assert ratio_text(2.6) == "> 2×" and ratio_text(6.2) == "> 2×"
    # small ratios: the mirror image
    assert ratio_text(0.1) == "< 0.2×" and ratio_text(0.01) == "< 0.02×"
    assert ratio_text(0.3) == "< 0.5×" and ratio_text(0.5) == "≈ 0.5×"
    for value in (2.5, 3.7, 6.25, 13, 49, 777, 2e5):  # every bound is true, with the margin
        bound = float(ratio_text(value)[2:-1].replace(",", ""))
        assert bound * 1.25 <= value * (1 + 1e-9) and value < bound * 1.25 * 2.5 + 1e-9
    with pytest.raises(ValueError, match="digits"):
        round_sig(1.0, 0)


def test_claims_table_renders_text_and_html():
    table = claims_table(
        [
            Claim("H1 is faster", "≈ 3×", compare(3.0, 1.0)),
            Claim("x < 1 & y", "<b>", verdict(False)),
        ]
    )
    text = str(table)
    assert text.startswith("Claims") and "claim (paper)" in text and "H1 is faster" in text
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and 'class="claims-verdict"' in html
    assert "✓ reproduced" in html and "✗ not reproduced" in html
    assert "&lt;b&gt;" in html and "x &lt; 1 &amp; y" in html  # cells are escaped
    assert table.counts()[REPRODUCED] == 1
    with pytest.raises(ValueError, match="verdict"):
        Claim("a", "b", "True")  # a typed verdict is refused
    with pytest.raises(ValueError, match="at least one"):
        claims_table([])


def test_results_table_formats_numbers():
    t = table(["n", "error", "ok"], [[1000, 1.234567e-5, True], [2, float("inf"), None]])
    assert "1,000" in str(t) and "1.23e-5" in str(t) and "diverged" in str(t)
    assert "<caption>" not in t._repr_html_() and "yes" in t._repr_html_()
    with pytest.raises(ValueError, match="cells"):
        table(["a"], [[1, 2]])


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


def test_stored_claims_read_back_what_the_table_wrote(tmp_path):
    import json

    from sobolev.report import stored_claims, verdict_counts

    claims = [Claim("x < y", "≈ 2×", compare(2.0, 1.0)), Claim("a & b", "none", verdict(None))]
    output = {
        "output_type": "execute_result",
        "data": {"text/html": claims_table(claims)._repr_html_()},
    }
    checked = {"cell_type": "code", "source": "# NBVAL_CHECK_OUTPUT\nt", "outputs": [output]}
    unchecked = {"cell_type": "code", "source": "t", "outputs": [output]}  # not counted
    nb = {"cells": [checked, unchecked, {"cell_type": "markdown"}]}
    path = tmp_path / "09-x.ipynb"
    path.write_text(json.dumps(nb))
    assert stored_claims(path) == claims
    text = str(verdict_counts([path]))
    assert "09-x" in text and "whole book" in text
    with pytest.raises(ValueError, match="not a readable notebook"):
        stored_claims(tmp_path / "missing.ipynb")


def test_order_text_has_half_a_decade_to_spare():
    from sobolev.report import order_text

    assert order_text(2.47e-10, bound="below") == order_text(2.19e-10, bound="below") == "< 1e-9"
    assert order_text(8e10, bound="above") == order_text(3.3e10, bound="above") == "> 1e10"
    assert order_text(1.03e6, bound="above") == "> 1e5"
    for value in (3e-12, 7.7e-5, 1.0, 42.0, 9.9e8):
        above = float(order_text(value, bound="above")[2:])
        below = float(order_text(value, bound="below")[2:])
        assert above * 10**0.5 <= value * (1 + 1e-12) and value * 10**0.5 <= below * (1 + 1e-12)
    with pytest.raises(ValueError):
        order_text(1.0, bound="about")
