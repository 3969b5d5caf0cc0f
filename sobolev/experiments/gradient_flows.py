"""Chapter 04: population gradient flows of one neuron, their rates, and tuned gradient descent.

The run integrates every flow of the chapter (three groups of starts, five losses, both
gradient conventions for the kinked ones), the dimension check, one obtuse start, and
gradient descent at each loss's best step. It stores per flow what the chapter reads
(:math:`V` on the common time grid, times to a level, fitted rates, how the flow ends, its
end point), not the trajectories. The analysis of those numbers (time ratios, matched
steps, the spurious minimum) is cheap and lives in the functions below, which the chapter
calls for the results of its own scale and of the paper scale alike.

Everything is deterministic given the seed, which draws the teacher and the starts
(``numpy.random.default_rng(seed)``).
"""

from __future__ import annotations

import numpy as np

from .. import theory
from ..flows import (
    BestSteps,
    best_steps,
    condition_number,
    fate,
    fitted_rate,
    hessian,
    integrate_flow,
    largest_curvature,
    predicted_rate,
    stationary_point,
)
from . import Experiment, register

COMMON = {
    "d": 10,  # dimension of the main figure
    "t_end": {"relu": 40.0, "relu2": 8.0},  # horizon of the flows per activation
    "longer": 5.0,  # horizon factor for the obtuse starts
    "n_eval": 300,  # samples of V per flow
    "level": 1e-6,  # V reached = converged
    "radius": {"inside": [0.2, 0.95], "outside": [1.2, 2.5]},  # ||w0 - w*|| of the starts
    "obtuse_degrees": 120.0,  # smallest starting angle of the obtuse group
    "lr_range": {"relu": [0.05, 5.0], "relu2": [0.005, 0.5]},  # log grid of GD steps
    "dimension_n_eval": 100,
    "single_start": {"degrees": 150.0, "t_end": 100.0, "n_eval": 100},
}
SETTINGS = {
    "smoke": {
        **COMMON,
        "seeds": [0],
        "n_starts": 2,
        "dims_checked": [2, 5],
        "n_lr": 6,
        "max_steps": 60,
        "gd_starts": 2,
    },
    "book": {
        **COMMON,
        "seeds": [0],
        "n_starts": 5,
        "dims_checked": [2, 10, 100],
        "n_lr": 16,
        "max_steps": 300,
        "gd_starts": 3,
    },
    "paper": {
        **COMMON,
        "seeds": [0],
        "n_starts": 20,
        "dims_checked": [2, 10, 100, 1000],
        "n_lr": 40,
        "max_steps": 2000,
        "gd_starts": 3,
    },
}

#: The losses, as ``name: (terms of sobolev.theory, activation)``, and their keys in a result.
LOSSES = {
    "L2 (ReLU)": (["relu_l2"], "relu"),
    "L2+H1 (ReLU)": (["relu_l2", "relu_h1"], "relu"),
    "I1 (ReLU²)": (["relu2_l2"], "relu2"),
    "I1+I2 (ReLU²)": (["relu2_l2", "relu2_h1"], "relu2"),
    "I1+I2+I3 (ReLU²)": (["relu2_l2", "relu2_h1", "relu2_h2"], "relu2"),
}
LOSS_KEYS = dict(zip(LOSSES, ("l2_relu", "h1_relu", "i1", "i12", "i123")))
#: The losses whose exact gradient has a kink at w* (both conventions are run for them).
KINKED = [n for n, (ts, _) in LOSSES.items() if "relu_h1" in ts or "relu2_h2" in ts]
#: (Sobolev loss, its base) compared in the chapter.
PAIRS = [
    ("L2+H1 (ReLU)", "L2 (ReLU)"),
    ("I1+I2 (ReLU²)", "I1 (ReLU²)"),
    ("I1+I2+I3 (ReLU²)", "I1 (ReLU²)"),
]
#: The groups of starts and their keys in a result.
GROUPS = {"inside": "inside", "outside": "outside", "outside, obtuse": "obtuse"}
ROUND_OFF = 1e-15  # where a panel of the figure may end


def conventions(name: str) -> tuple[bool, ...]:
    """The gradient conventions run for a loss: exact (True), and per-sample for a kinked one."""
    return (True, False) if name in KINKED else (True,)


def convention_key(moving: bool) -> str:
    return "exact" if moving else "per_sample"


def time_grid(t_end: float, n_eval: int) -> np.ndarray:
    """The times at which :func:`sobolev.flows.integrate_flow` samples a flow on ``[0, t_end]``."""
    return np.concatenate([[0.0], np.geomspace(t_end * 1e-4, t_end, n_eval - 1)])


def horizon(settings, group: str, activation: str) -> float:
    """The horizon of the flows of ``group`` (the obtuse starts run ``longer`` times longer)."""
    factor = settings["longer"] if "obtuse" in group else 1.0
    return settings["t_end"][activation] * factor


def draw_starts(rng, w_star, n, low, high, min_angle=0.0):
    """``n`` starts ``w* + r e``, e a random unit vector, r uniform in [low, high], angle ≥ min_angle."""
    starts = []
    while len(starts) < n:
        e = rng.normal(size=w_star.size)
        w0 = w_star + rng.uniform(low, high) * e / np.linalg.norm(e)
        if float(theory.angle(w0, w_star)) >= min_angle:
            starts.append(w0)
    return starts


def problem(settings, seed):
    """The teacher (‖w*‖ = 1), the starts of each group and the obtuse single start, from ``seed``."""
    d, n = settings["d"], settings["n_starts"]
    rng = np.random.default_rng(seed)
    w_star = rng.normal(size=d)
    w_star /= np.linalg.norm(w_star)
    inside, outside = settings["radius"]["inside"], settings["radius"]["outside"]
    groups = {
        "inside": draw_starts(rng, w_star, n, *inside),
        "outside": draw_starts(rng, w_star, n, *outside),
        "outside, obtuse": draw_starts(
            rng, w_star, n, *outside, np.radians(settings["obtuse_degrees"])
        ),
    }
    basis = np.linalg.qr(np.column_stack([w_star, rng.normal(size=d)]))[0]
    basis *= np.sign(basis[:, 0] @ w_star)
    degrees = np.radians(settings["single_start"]["degrees"])
    w_obtuse = np.cos(degrees) * basis[:, 0] + np.sin(degrees) * basis[:, 1]
    return w_star, groups, w_obtuse


def _on_grid(flow, w_star, t_end, n_eval):
    """V on the common time grid; a dead neuron (w = 0) stays at ‖w*‖²."""
    V = np.full(time_grid(t_end, n_eval).size, float(w_star @ w_star))
    V[: flow.V.size] = flow.V
    return np.maximum(V, 1e-30)


def _none_as(value, fill=np.nan):
    return fill if value is None else value


def _summarise_flows(flows, w_star, settings, t_end):
    """What the chapter reads of a list of flows (one per start), as arrays over the starts."""
    level = settings["level"]
    return {
        "V": np.array([_on_grid(f, w_star, t_end, settings["n_eval"]) for f in flows], np.float32),
        "time": np.array([_none_as(f.time_to_reach(level), np.inf) for f in flows]),
        "time_round_off": np.array([_none_as(f.time_to_reach(ROUND_OFF), np.inf) for f in flows]),
        "rate": np.array([_none_as(fitted_rate(f)) for f in flows]),
        "monotone": np.array([bool(np.all(np.diff(f.V) <= 1e-12 * f.V[0])) for f in flows]),
        "t_aligned": np.array([_none_as(f.t_aligned) for f in flows]),
        "fate": np.array([fate(f, w_star, level=level) for f in flows]),
        "w_end": np.array([f.w[-1] for f in flows]),
    }


def run_seed(settings, seed, context):
    """Integrate every flow of the chapter and run gradient descent; summaries per flow."""
    w_star, groups, w_obtuse = problem(settings, seed)
    n_eval = settings["n_eval"]
    result = {
        "w_star": w_star,
        "starts": {GROUPS[g]: np.array(s) for g, s in groups.items()},
        "flows": {},
    }
    for group, starts in groups.items():
        by_loss = {}
        for name, (terms, act) in LOSSES.items():
            t_end = horizon(settings, group, act)
            # per-sample flows of the kinked losses only from the inside starts
            moves = conventions(name) if group == "inside" else (True,)
            by_loss[LOSS_KEYS[name]] = {
                convention_key(moving): _summarise_flows(
                    [
                        integrate_flow(
                            terms, w0, w_star, t_end, n_eval=n_eval, moving_boundary=moving
                        )
                        for w0 in starts
                    ],
                    w_star,
                    settings,
                    t_end,
                )
                for moving in moves
            }
        result["flows"][GROUPS[group]] = by_loss
    context.log("gradient-flows: flows integrated")

    # one obtuse start, every loss and convention
    single = settings["single_start"]
    result["single_start"] = {"w0": w_obtuse}
    for name, (terms, _) in LOSSES.items():
        entry = {}
        for moving in conventions(name):
            f = integrate_flow(
                terms,
                w_obtuse,
                w_star,
                single["t_end"],
                n_eval=single["n_eval"],
                moving_boundary=moving,
            )
            end = f.w[-1]
            alive = np.linalg.norm(end) > 0
            entry[convention_key(moving)] = {
                "fate": fate(f, w_star, level=settings["level"]),
                "norm": float(np.linalg.norm(end)),
                "degrees": np.degrees(float(theory.angle(end, w_star))) if alive else np.nan,
                "t_opposed": _none_as(f.t_opposed),
                "t_dead": _none_as(f.t_dead),
            }
        result["single_start"][LOSS_KEYS[name]] = entry

    # the same (||w0||, theta0) in random planes of R^d
    base_w0 = groups["inside"][0]
    norm0, theta0 = np.linalg.norm(base_w0), float(theory.angle(base_w0, w_star))
    result["dimensions"] = {}
    for name, (terms, act) in LOSSES.items():
        curves = []
        for dim in settings["dims_checked"]:
            q, _ = np.linalg.qr(np.random.default_rng(dim).normal(size=(dim, 2)))
            w0 = norm0 * (np.cos(theta0) * q[:, 0] + np.sin(theta0) * q[:, 1])
            curves.append(
                integrate_flow(
                    terms, w0, q[:, 0], settings["t_end"][act], n_eval=settings["dimension_n_eval"]
                ).V
            )
        result["dimensions"][LOSS_KEYS[name]] = np.array(curves)
    context.log("gradient-flows: dimensions checked")

    # gradient descent at each loss's best step
    gd_starts = groups["inside"][: settings["gd_starts"]]
    result["gradient_descent"] = {}
    for name, (terms, act) in LOSSES.items():
        entry = {}
        for moving in conventions(name):
            r = best_steps(
                terms,
                gd_starts,
                w_star,
                lr_grid(settings, act),
                settings["max_steps"],
                level=settings["level"],
                moving_boundary=moving,
            )
            entry[convention_key(moving)] = r.as_result()
        result["gradient_descent"][LOSS_KEYS[name]] = entry
    context.log("gradient-flows: gradient descent done")
    return result


def lr_grid(settings, activation: str) -> np.ndarray:
    """The learning rates tried by gradient descent for one activation."""
    low, high = settings["lr_range"][activation]
    return np.geomspace(low, high, settings["n_lr"])


# ----------------------------------------------------------------------------- analysis
def flows_of(result, group: str, name: str, moving: bool = True) -> dict:
    """The stored summaries of the flows of one group, loss and convention."""
    return result["flows"][GROUPS[group]][LOSS_KEYS[name]][convention_key(moving)]


def times_to(result, group, name, moving=True) -> np.ndarray:
    """Time of each flow to V < level (inf where it never got there)."""
    return np.asarray(flows_of(result, group, name, moving)["time"], float)


def median_rate(result, group, name, moving=True) -> float | None:
    """Median fitted asymptotic rate of log V over the flows that reach the fitted range."""
    rates = np.asarray(flows_of(result, group, name, moving)["rate"], float)
    rates = rates[~np.isnan(rates)]
    return float(np.median(rates)) if rates.size else None


def fates_of(result, group, name, moving=True) -> list[str]:
    return [str(x) for x in np.atleast_1d(flows_of(result, group, name, moving)["fate"])]


def gradient_descent(result, name, moving=True) -> BestSteps:
    return BestSteps.from_result(
        result["gradient_descent"][LOSS_KEYS[name]][convention_key(moving)]
    )


def comparison(result) -> dict:
    """T_base / T_Sobolev over the inside starts, raw, with matched initial decrease ρ and in
    units of λmax at w*, for every pair (and the per-sample convention of the kinked losses)."""
    w_star, inside = result["w_star"], result["starts"]["inside"]
    out = {}
    for sob, base in PAIRS + [(n + ", per-sample", b) for n, b in PAIRS if n in KINKED]:
        name = sob.removesuffix(", per-sample")
        moving = name == sob
        t_sob, t_base = times_to(result, "inside", name, moving), times_to(result, "inside", base)
        rho = np.array(
            [
                float(theory.dV_dt(LOSSES[name][0], w0, w_star, moving))
                / float(theory.dV_dt(LOSSES[base][0], w0, w_star))
                for w0 in inside
            ]
        )
        lam = {k: largest_curvature(LOSSES[k][0], w_star) for k in (name, base)}
        out[sob] = {
            "base": base,
            "raw": float(np.median(t_base / t_sob)),
            "rho": rho,
            "matched": float(np.median(t_base / rho / t_sob)),
            "curvature": float(np.median(t_base * lam[base] / (t_sob * lam[name]))),
            "lambda": (lam[name], lam[base]),
        }
    return out


def dimension_spread(result) -> dict[str, float]:
    """Per loss, the largest |log10 V_d - log10 V_2| over the times where every V > 1e-14."""
    spread = {}
    for name in LOSSES:
        curves = np.asarray(result["dimensions"][LOSS_KEYS[name]])  # one row per d
        keep = np.all(curves > 1e-14, axis=0)
        logs = np.log10(curves[:, keep])
        spread[name] = float(np.max(np.abs(logs - logs[0])))
    return spread


def gd_gain(result, sob, base) -> float | None:
    """Steps of the base loss over the Sobolev loss's best convention (None: one never got there)."""
    base_steps = gradient_descent(result, base).median_steps
    options = [gradient_descent(result, sob, moving).median_steps for moving in conventions(sob)]
    options = [s for s in options if s is not None]
    if base_steps is None or not options:
        return None
    return base_steps / min(options)


def monotone_inside(result) -> bool:
    """Whether V decreased along every exact flow started inside the ball."""
    return all(
        bool(np.all(by_convention["exact"]["monotone"]))
        for by_convention in result["flows"]["inside"].values()
    )


def rate_error(result) -> float:
    """Largest relative error of the median fitted rate (inside, exact) against the prediction."""
    w_star = result["w_star"]
    return max(
        abs(median_rate(result, "inside", n) / predicted_rate(ts, w_star) - 1)
        for n, (ts, _) in LOSSES.items()
    )


def converged_share(result) -> dict[str, float]:
    """Share of the obtuse starts whose exact flow converged, per loss."""
    out = {}
    for name in LOSSES:
        fates = fates_of(result, "outside, obtuse", name)
        out[name] = fates.count("converged") / len(fates)
    return out


def kappa(result) -> dict[str, float]:
    """Condition number of the smooth part of each loss's Hessian at w*."""
    w_star = result["w_star"]
    return {n: condition_number(ts, w_star, moving_boundary=False) for n, (ts, _) in LOSSES.items()}


def spurious_minimum(result) -> dict | None:
    """The stationary point of I1+I2+I3 (exact gradient) where obtuse flows stop, or None.

    Returns the point, the Hessian's eigenvalues in the plane of it and w* and over all of
    R^d, the ends of the stopped flows, and how far they are from the point in the two
    coordinates the loss depends on, ‖w‖ and θ (the flows run in different planes through
    w*, so they stop at different points of one (d-2)-sphere of minima about w*).
    """
    name = "I1+I2+I3 (ReLU²)"
    terms, w_star = LOSSES[name][0], result["w_star"]
    entry = flows_of(result, "outside, obtuse", name)
    stuck = [
        w
        for w, x in zip(entry["w_end"], fates_of(result, "outside, obtuse", name))
        if x == "stationary point"
    ]
    if not stuck:
        return None
    point = stationary_point(terms, stuck[0], w_star)
    unit = w_star / np.linalg.norm(w_star)
    e2 = point - (point @ unit) * unit
    e2 /= np.linalg.norm(e2)
    plane = np.column_stack([unit, e2])
    hess = hessian(terms, point, w_star)
    angle = float(theory.angle(point, w_star))
    return {
        "w": point,
        "eig_plane": np.linalg.eigvalsh(plane.T @ hess @ plane),
        "eig_all": np.linalg.eigvalsh(hess),
        "spread_norm": max(abs(np.linalg.norm(w) - np.linalg.norm(point)) for w in stuck),
        "spread_angle": max(abs(float(theory.angle(w, w_star)) - angle) for w in stuck),
        "stuck": stuck,
    }


def measurements(result) -> dict:
    """The numbers behind the chapter's Claims, per pair of losses (and two global ones)."""
    comp, conv, k = comparison(result), converged_share(result), kappa(result)
    spurious = spurious_minimum(result)
    rows = {}
    for sob, base in PAIRS:
        rows[sob] = {
            "raw": comp[sob]["raw"],
            "matched": comp[sob]["matched"],
            "curvature": comp[sob]["curvature"],
            "curvature_per_sample": comp.get(sob + ", per-sample", {}).get("curvature"),
            "gd_gain": gd_gain(result, sob, base),
            "kappa_ratio": k[base] / k[sob],
            "converged": conv[sob],
            "converged_base": conv[base],
        }
    return {
        "pairs": rows,
        "rate_error": rate_error(result),
        "monotone_inside": monotone_inside(result),
        "spurious_degrees": None
        if spurious is None
        else float(np.degrees(float(theory.angle(spurious["w"], result["w_star"])))),
        "spurious_is_minimum": None
        if spurious is None
        else bool(np.all(spurious["eig_plane"] > 0)),
    }


EXPERIMENT = register(
    Experiment(
        name="gradient-flows",
        title="Population gradient flows of one neuron: rates, matched steps, tuned descent",
        chapter="04-gradient-flows",
        settings=SETTINGS,
        run_function=run_seed,
    )
)
