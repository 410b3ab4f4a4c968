"""Tests for bnns.kernels.optimizer: BNNSOptimizerStep for every optimizer function.

Three kinds of evidence:
* a reference step written here from the formulas (bnns.md 3.7 and PyTorch's documented
  updates), in float64 and functional style, compared over several steps for every
  optimizer x regularization x clipping x option combination;
* pinned numbers: computed once with PyTorch (torch 2.13.0, float64, pasted as constants) for
  the PyTorch-compatible forms, and by hand for the BNNS-only ones (SGD variants 0 and 2);
* one test per convention the module docstring states, per accumulator layout, per error input
  (each leaving every array bit-identical), and a convergence test per optimizer.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from typing import Any

import numpy as np
import pytest

from bnns.kernels import optimizer as opt
from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.params import OptimizerFields

F = OptimizerFields
SHAPES = [(3, 4), (5,)]          # two parameters of different shapes: exercises the blocked layout
STEPS = 3

# ----------------------------------------------------------------------------------------------
# Independent reference (float64, new arrays, direct formulas)
# ----------------------------------------------------------------------------------------------

FAMILY = {1: "sgd", 2: "adam", 3: "rms", 4: "adamw", 5: "adam_ams", 6: "adamw_ams"}


def reference_step(function, f, params, grads, accs):
    """One optimizer step; returns (new_params, new_accs) without touching the inputs."""
    base, clipping_form = (function - 1) % 6 + 1, function > 6
    family = FAMILY[base]
    n = len(params)
    params = [np.asarray(p, np.float64) for p in params]
    accs = [np.asarray(a, np.float64) for a in accs]

    # gradient: scale, then clip, then add the regularization term (not for AdamW)
    g = [f.gradient_scale * np.asarray(d, np.float64) for d in grads]
    mode = f.clipping_func if clipping_form else (1 if f.clip_gradients else 0)
    if mode == 1:
        g = [np.minimum(np.maximum(x, f.clip_gradients_min), f.clip_gradients_max) for x in g]
    elif mode == 2:
        g = [x * min(1.0, f.clip_gradients_max_norm / np.sqrt(np.sum(x ** 2))) for x in g]
    elif mode == 3:
        total = f.clip_gradients_use_norm or np.sqrt(sum(np.sum(x ** 2) for x in g))
        g = [x * min(1.0, f.clip_gradients_max_norm / total) for x in g]
    if family not in ("adamw", "adamw_ams"):
        if f.regularization_func == 1:
            g = [x + f.regularization_scale * np.sign(w) for x, w in zip(g, params)]
        elif f.regularization_func == 2:
            g = [x + f.regularization_scale * w for x, w in zip(g, params)]

    lr = f.learning_rate
    new_p: list = []
    blocks: list[list] = [[] for _ in range(len(accs) // n)]
    for i, (w, gi) in enumerate(zip(params, g)):
        a = [accs[j * n + i] for j in range(len(blocks))]
        if family == "sgd":
            mu = f.momentum
            if mu == 0:
                w, a = w - lr * gi, []
            else:
                (V,) = a
                if f.sgd_momentum_variant == 0:
                    Vn = mu * V - lr * gi
                    w = w + Vn + mu * (Vn - V) if f.nesterov else w + Vn
                elif f.sgd_momentum_variant == 1:
                    Vn = mu * V + gi
                    w = w - lr * (mu * Vn + gi) if f.nesterov else w - lr * Vn
                elif f.nesterov:                      # variant 2, Nesterov (bnns.md)
                    Vn = mu * V + gi
                    w = w - lr * (gi + mu * Vn)
                else:                                 # variant 2
                    Vn = mu * V + lr * gi
                    w = w - Vn
                a = [Vn]
        elif family.startswith("adam"):
            if family.startswith("adamw"):
                w = w - lr * f.regularization_scale * w
            m = f.beta1 * a[0] + (1 - f.beta1) * gi
            v = f.beta2 * a[1] + (1 - f.beta2) * gi ** 2
            m_hat = m / (1 - f.beta1 ** f.time_step)
            if family.endswith("ams"):
                vmax = np.maximum(a[2], v)
                v_hat = vmax / (1 - f.beta2 ** f.time_step)
                a = [m, v, vmax]
            else:
                v_hat = v / (1 - f.beta2 ** f.time_step)
                a = [m, v]
            w = w - lr * m_hat / (np.sqrt(v_hat) + f.epsilon)
        else:  # RMSProp, torch form
            k = 0
            sq = f.alpha * a[k] + (1 - f.alpha) * gi ** 2
            out = [sq]
            if f.centered:
                k += 1
                gbar = f.alpha * a[k] + (1 - f.alpha) * gi
                out.append(gbar)
                denom = np.sqrt(sq - gbar ** 2) + f.epsilon
            else:
                denom = np.sqrt(sq) + f.epsilon
            if f.momentum > 0:
                k += 1
                buf = f.momentum * a[k] + gi / denom
                out.append(buf)
                w = w - lr * buf
            else:
                w = w - lr * gi / denom
            a = out
        new_p.append(w)
        for j, x in enumerate(a):
            blocks[j].append(x)
    return new_p, [x for block in blocks for x in block]


# ----------------------------------------------------------------------------------------------
# The case table: optimizer x regularization x clipping x options
# ----------------------------------------------------------------------------------------------

OPTIONS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "sgd": [("plain", dict(momentum=0.0))] + [
        (f"v{v}{'_nesterov' if n else ''}", dict(momentum=0.9, sgd_momentum_variant=v, nesterov=n))
        for v in (0, 1, 2) for n in (False, True)],
    # beta2 = 0.5 lets v fall between steps, so AMSGrad's running max matters.
    "adam": [("b2_0.5", dict(beta1=0.9, beta2=0.5))],
    "rms": [(f"{'centered' if c else 'plain'}_mom{m}", dict(alpha=0.9, centered=c, momentum=m))
            for c in (False, True) for m in (0.0, 0.5)],
}
OPTIONS_OF = {1: "sgd", 2: "adam", 3: "rms", 4: "adam", 5: "adam", 6: "adam"}
LEARNING_RATE = {1: 0.1, 2: 0.05, 3: 0.01, 4: 0.05, 5: 0.05, 6: 0.05}
REGULARIZATIONS: list[tuple[str, dict[str, Any]]] = [("none", dict()),
                   ("L1", dict(regularization_func=opt.REGULARIZATION_L1, regularization_scale=0.05)),
                   ("L2", dict(regularization_func=opt.REGULARIZATION_L2, regularization_scale=0.05))]
DECAYS: list[tuple[str, dict[str, Any]]] = [("no_decay", dict()), ("decay", dict(regularization_scale=0.1))]      # AdamW
CLIPPINGS_PLAIN: list[tuple[str, dict[str, Any]]] = [("noclip", dict()),
                   ("value", dict(clip_gradients=True, clip_gradients_min=-0.3, clip_gradients_max=0.4))]
CLIPPINGS_WITH: list[tuple[str, dict[str, Any]]] = [
    ("none", dict()),
    ("value", dict(clipping_func=opt.CLIPPING_BY_VALUE, clip_gradients_min=-0.3, clip_gradients_max=0.4)),
    ("norm", dict(clipping_func=opt.CLIPPING_BY_NORM, clip_gradients_max_norm=0.5)),
    ("global", dict(clipping_func=opt.CLIPPING_BY_GLOBAL_NORM, clip_gradients_max_norm=0.8)),
    ("global_use_norm", dict(clipping_func=opt.CLIPPING_BY_GLOBAL_NORM, clip_gradients_max_norm=0.8,
                             clip_gradients_use_norm=2.5)),
]
FUNCTION_NAMES = {getattr(opt, name): name for name in (
    "SGD_MOMENTUM", "ADAM", "RMS_PROP", "ADAM_W", "ADAM_AMS_GRAD", "ADAM_W_AMS_GRAD",
    "SGD_MOMENTUM_WITH_CLIPPING", "ADAM_WITH_CLIPPING", "RMS_PROP_WITH_CLIPPING", "ADAM_W_WITH_CLIPPING",
    "ADAM_AMS_GRAD_WITH_CLIPPING", "ADAM_W_AMS_GRAD_WITH_CLIPPING")}

def _cases():
    cases = []
    for function in range(1, 13):
        base = (function - 1) % 6 + 1
        regs = DECAYS if base in (4, 6) else REGULARIZATIONS
        clips = CLIPPINGS_WITH if function > 6 else CLIPPINGS_PLAIN
        for (oname, o), (rname, r), (cname, c) in itertools.product(OPTIONS[OPTIONS_OF[base]], regs, clips):
            # gradient_scale 1.5 everywhere: the scale-then-clip order shows whenever clipping is on
            fields = F(learning_rate=LEARNING_RATE[base], gradient_scale=1.5, **o, **r, **c)
            cases.append(pytest.param(function, fields,
                                      id=f"{FUNCTION_NAMES[function]}-{oname}-{rname}-{cname}"))
    return cases


CASES = _cases()

# dtype -> (rtol, atol, reason)
TOLERANCES = {
    np.float64: (1e-10, 1e-12, "same formulas grouped differently: rounding only"),
    np.float32: (2e-5, 2e-6, "float32 rounding through ~20 operations per step over 3 steps"),
}


def _at_time_step(function, fields, t):
    """The client owns Adam's time_step: 1 at the first step, incremented after each."""
    is_adam = OPTIONS_OF[(function - 1) % 6 + 1] == "adam"
    return dataclasses.replace(fields, time_step=float(t)) if is_adam else fields


def _random_call(rng, function, fields, dtype=np.float64):
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    accs = [np.zeros(s, dtype) for _ in range(opt.accumulator_count(function, 1, fields)) for s in SHAPES]
    return params, accs


def _gradients(rng, dtype):
    return [(0.5 * rng.standard_normal(s)).astype(dtype) for s in SHAPES]


def test_case_table_covers_every_function_regularization_and_clipping():
    ids = [c.id for c in CASES]
    assert sorted(FUNCTION_NAMES) == list(range(1, 13))
    assert {i.split("-")[0] for i in ids} == set(FUNCTION_NAMES.values())
    assert len(ids) == len(set(ids)) == 301


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("function, fields", CASES)
def test_steps_match_reference(function, fields, dtype):
    rng = np.random.default_rng(1234)
    rtol, atol, _ = TOLERANCES[dtype]
    params, accs = _random_call(rng, function, fields, dtype)
    ref_p, ref_a = [p.astype(np.float64) for p in params], [a.astype(np.float64) for a in accs]
    for step in range(1, STEPS + 1):
        f = _at_time_step(function, fields, step)
        grads = _gradients(rng, dtype)
        ref_p, ref_a = reference_step(function, f, ref_p, grads, ref_a)
        opt.optimizer_step(function, f, params, grads, accs)
        for got, want in zip(params + accs, ref_p + ref_a):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# Pinned numbers
# ----------------------------------------------------------------------------------------------

W0 = [0.5, -1.0, 2.0]
G_SEQUENCE = [[0.1, -0.2, 0.3], [-0.4, 0.5, 0.05], [0.2, 0.2, -0.6]]
L2: dict[str, Any] = dict(regularization_func=opt.REGULARIZATION_L2)

# Computed once with torch 2.13.0 in float64: p = tensor(W0); for g in G_SEQUENCE: p.grad = g;
# opt.step(). The optimizer constructor is in each comment.
TORCH_PINNED = [
    pytest.param(  # torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01)
        opt.SGD_MOMENTUM, F(learning_rate=0.1, momentum=0.9, sgd_momentum_variant=1,
                            regularization_scale=0.01, **L2),
        [[0.4895, -0.979, 1.968], [0.5195605, -1.009121, 1.932232],
         [0.5260953895, -1.0552207789999999, 1.9581085679999999]], id="sgd_variant1"),
    pytest.param(  # torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
        opt.SGD_MOMENTUM, F(learning_rate=0.1, momentum=0.9, sgd_momentum_variant=1, nesterov=True,
                            regularization_scale=0.01, **L2),
        [[0.48005, -0.9601, 1.9392], [0.546632905, -1.03626581, 1.90009552],
         [0.5319509619805, -1.096710223961, 1.981536586512]], id="sgd_variant1_nesterov"),
    pytest.param(  # torch.optim.Adam(lr=0.1, weight_decay=0.01)
        opt.ADAM, F(learning_rate=0.1, regularization_scale=0.01, **L2),
        [[0.40000000952380865, -0.9000000047619046, 1.900000003125],
         [0.45476529206769234, -0.9420855555880705, 1.8188085688264248],
         [0.4640886399167676, -0.9942054373147512, 1.8437429739270441]], id="adam"),
    pytest.param(  # torch.optim.Adam(lr=0.1, betas=(0.9, 0.5), weight_decay=0.01, amsgrad=True)
        opt.ADAM_AMS_GRAD, F(learning_rate=0.1, beta2=0.5, regularization_scale=0.01, **L2),
        [[0.4000000095238086, -0.9000000047619046, 1.900000003125],
         [0.44823719324499134, -0.9379501072442614, 1.8280865323370565],
         [0.4563387457160238, -0.9819549822881662, 1.849088410180395]], id="adam_ams_grad"),
    pytest.param(  # torch.optim.AdamW(lr=0.1, weight_decay=0.1)
        opt.ADAM_W, F(learning_rate=0.1, regularization_scale=0.1),
        [[0.395000009999999, -0.8900000049999998, 1.8800000033333333],
         [0.4470003573851284, -0.925321530167233, 1.7828672721172727],
         [0.45354771979041636, -0.9703626127765196, 1.7946737403556878]], id="adam_w"),
    pytest.param(  # torch.optim.AdamW(lr=0.1, betas=(0.9, 0.5), weight_decay=0.1, amsgrad=True)
        opt.ADAM_W_AMS_GRAD, F(learning_rate=0.1, beta2=0.5, regularization_scale=0.1),
        [[0.395000009999999, -0.8900000049999998, 1.8800000033333333],
         [0.44024396463732796, -0.9207972268177825, 1.792442399292051],
         [0.445335210444696, -0.9574337990802549, 1.7991035363773527]], id="adam_w_ams_grad"),
    pytest.param(  # torch.optim.RMSprop(lr=0.01, alpha=0.9, weight_decay=0.01)
        opt.RMS_PROP, F(learning_rate=0.01, alpha=0.9, regularization_scale=0.01, **L2),
        [[0.46837723292212285, -0.9683772281602202, 1.968377226523316],
         [0.4990414916154307, -0.9976739942950431, 1.9613024893392492],
         [0.48423210095637526, -1.0088673581975454, 1.9894831453629784]], id="rms_prop"),
    pytest.param(  # torch.optim.RMSprop(lr=0.01, alpha=0.9, weight_decay=0.01, centered=True, momentum=0.5)
        opt.RMS_PROP, F(learning_rate=0.01, alpha=0.9, centered=True, momentum=0.5,
                        regularization_scale=0.01, **L2),
        [[0.4666666772486739, -0.9666666719576711, 1.9666666701388886],
         [0.4815348957204677, -0.9797836237565898, 1.9424087245996036],
         [0.4741531376233681, -0.9979824399913176, 1.9586872106732547]], id="rms_prop_centered_momentum"),
]


@pytest.mark.parametrize("with_clipping", [False, True], ids=["plain_form", "with_clipping_form"])
@pytest.mark.parametrize("function, fields, expected", TORCH_PINNED)
def test_matches_pinned_torch_numbers(function, fields, expected, with_clipping):
    # The WithClipping form with CLIPPING_NONE is the same optimizer.
    function = function + 6 if with_clipping else function
    w = np.array(W0)
    accs = [np.zeros(3) for _ in range(opt.accumulator_count(function, 1, fields))]
    for t, (g, want) in enumerate(zip(G_SEQUENCE, expected), start=1):
        f = _at_time_step(function, fields, t)
        opt.optimizer_step(function, f, [w], [np.array(g)], accs)
        np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-14)


# By hand: W0 = 1, g = 2 at both steps, momentum 0.5, learning rate 0.1 then 0.2 (the fields
# are read at each call). Variant 0: V = -0.2, W = 0.8; V = 0.5*-0.2 - 0.2*2 = -0.5, W = 0.3.
# Nesterov 0: W = 1 - 0.2 + 0.5*(-0.2 - 0) = 0.7; W = 0.7 - 0.5 + 0.5*(-0.5 + 0.2) = 0.05.
# Variant 1: V = 2, W = 0.8; V = 3, W = 0.8 - 0.2*3 = 0.2. Nesterov 1 (and 2, as bnns.md writes
# it): W = 1 - 0.1*(2 + 1) = 0.7; W = 0.7 - 0.2*(2 + 1.5) = 0. Variant 2: V = 0.2, W = 0.8;
# V = 0.1 + 0.4 = 0.5, W = 0.3. Momentum 0: W = 1 - 0.2 = 0.8; W = 0.8 - 0.4 = 0.4.
SGD_BY_HAND = [  # (variant, nesterov, momentum, W after each step, V after each step)
    pytest.param(0, False, 0.5, [0.8, 0.3], [-0.2, -0.5], id="variant0"),
    pytest.param(0, True, 0.5, [0.7, 0.05], [-0.2, -0.5], id="variant0_nesterov"),
    pytest.param(1, False, 0.5, [0.8, 0.2], [2.0, 3.0], id="variant1"),
    pytest.param(1, True, 0.5, [0.7, 0.0], [2.0, 3.0], id="variant1_nesterov"),
    pytest.param(2, False, 0.5, [0.8, 0.3], [0.2, 0.5], id="variant2"),
    pytest.param(2, True, 0.5, [0.7, 0.0], [2.0, 3.0], id="variant2_nesterov"),
    pytest.param(0, False, 0.0, [0.8, 0.4], None, id="momentum0_variant0"),
    pytest.param(2, False, 0.0, [0.8, 0.4], None, id="momentum0_variant2"),
]


@pytest.mark.parametrize("variant, nesterov, momentum, w_expected, v_expected", SGD_BY_HAND)
def test_sgd_momentum_variants_match_hand_computed(variant, nesterov, momentum, w_expected, v_expected):
    w = np.array([1.0])
    accs = [np.zeros(1)] if momentum else None
    for lr, w_want, step in zip((0.1, 0.2), w_expected, range(2)):
        fields = F(learning_rate=lr, momentum=momentum, sgd_momentum_variant=variant, nesterov=nesterov)
        opt.optimizer_step(opt.SGD_MOMENTUM, fields, [w], [np.array([2.0])], accs)
        assert w[0] == pytest.approx(w_want, abs=1e-12)
        if v_expected is not None:
            assert accs is not None and accs[0][0] == pytest.approx(v_expected[step], abs=1e-12)


# ----------------------------------------------------------------------------------------------
# Conventions (module docstring Notes), one test each
# ----------------------------------------------------------------------------------------------

def _sgd(w, dw, function=opt.SGD_MOMENTUM, **kw):
    """One plain-SGD step with lr 1 (W -= g), so W's change is exactly the processed gradient."""
    ws = [np.array(x, dtype=np.float64) for x in w]
    opt.optimizer_step(function, F(learning_rate=1.0, **kw), ws, [np.array(x, dtype=np.float64) for x in dw], None)
    return ws


def test_gradient_is_scaled_before_clipping():
    # 2 * 0.75 = 1.5, clipped to 1 (clip-then-scale would give 1.5)
    (w,) = _sgd([[0.0]], [[0.75]], gradient_scale=2.0, clip_gradients=True, clip_gradients_min=-1.0,
                clip_gradients_max=1.0)
    assert w[0] == -1.0


def test_regularization_term_is_added_after_clipping():
    # g = clip(0) + 0.5 * 10 = 5, not clipped to 1
    (w,) = _sgd([[10.0]], [[0.0]], regularization_func=opt.REGULARIZATION_L2, regularization_scale=0.5,
                clip_gradients=True, clip_gradients_min=-1.0, clip_gradients_max=1.0)
    assert w[0] == 5.0


def test_l1_regularization_adds_scale_times_sign_of_w():
    (w,) = _sgd([[-2.0, 0.0, 3.0]], [[0.0, 0.0, 0.0]], regularization_func=opt.REGULARIZATION_L1,
                regularization_scale=0.5)
    np.testing.assert_array_equal(w, [-1.5, 0.0, 2.5])


def test_l2_regularization_adds_scale_times_w():
    # PyTorch's weight_decay form: scale * W, not 2 * scale * W
    (w,) = _sgd([[-2.0, 4.0]], [[0.0, 0.0]], regularization_func=opt.REGULARIZATION_L2, regularization_scale=0.5)
    np.testing.assert_array_equal(w, [-1.0, 2.0])


def test_clip_by_norm_scales_each_parameter_separately():
    w0, w1 = _sgd([[0.0, 0.0], [0.0, 0.0]], [[3.0, 4.0], [0.3, 0.4]], function=opt.SGD_MOMENTUM_WITH_CLIPPING,
                  clipping_func=opt.CLIPPING_BY_NORM, clip_gradients_max_norm=1.0)
    np.testing.assert_allclose(w0, [-0.6, -0.8], rtol=1e-15)      # norm 5 -> 1
    np.testing.assert_allclose(w1, [-0.3, -0.4], rtol=1e-15)      # norm 0.5 <= 1: unchanged


def test_clip_by_global_norm_scales_all_parameters_together():
    w0, w1 = _sgd([[0.0, 0.0], [0.0, 0.0]], [[3.0, 4.0], [0.3, 0.4]], function=opt.SGD_MOMENTUM_WITH_CLIPPING,
                  clipping_func=opt.CLIPPING_BY_GLOBAL_NORM, clip_gradients_max_norm=1.0)
    factor = 1.0 / math.sqrt(25.25)
    np.testing.assert_allclose(w0, [-3.0 * factor, -4.0 * factor], rtol=1e-14)
    np.testing.assert_allclose(w1, [-0.3 * factor, -0.4 * factor], rtol=1e-14)


def test_clip_by_global_norm_uses_the_given_norm():
    w0, w1 = _sgd([[0.0, 0.0], [0.0, 0.0]], [[3.0, 4.0], [0.3, 0.4]], function=opt.SGD_MOMENTUM_WITH_CLIPPING,
                  clipping_func=opt.CLIPPING_BY_GLOBAL_NORM, clip_gradients_max_norm=1.0,
                  clip_gradients_use_norm=10.0)
    np.testing.assert_allclose(w0, [-0.3, -0.4], rtol=1e-15)
    np.testing.assert_allclose(w1, [-0.03, -0.04], rtol=1e-15)


def test_clip_by_global_norm_below_threshold_leaves_gradients_unchanged():
    w0, w1 = _sgd([[0.0, 0.0], [0.0, 0.0]], [[0.3, 0.4], [0.0, 0.1]], function=opt.SGD_MOMENTUM_WITH_CLIPPING,
                  clipping_func=opt.CLIPPING_BY_GLOBAL_NORM, clip_gradients_max_norm=1.0)
    np.testing.assert_array_equal(w0, [-0.3, -0.4])
    np.testing.assert_array_equal(w1, [0.0, -0.1])


def test_clip_by_value_in_clipping_form_clamps_to_bounds():
    (w,) = _sgd([[0.0, 0.0, 0.0]], [[-5.0, 0.1, 5.0]], function=opt.SGD_MOMENTUM_WITH_CLIPPING,
                clipping_func=opt.CLIPPING_BY_VALUE, clip_gradients_min=-0.5, clip_gradients_max=0.25)
    np.testing.assert_array_equal(w, [0.5, -0.1, -0.25])


def test_adam_first_step_moves_each_weight_by_learning_rate():
    # t = 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) ~ lr * sign(g)
    w = np.array([0.0, 0.0, 0.0])
    accs = [np.zeros(3), np.zeros(3)]
    opt.optimizer_step(opt.ADAM, F(learning_rate=0.01), [w], [np.array([3.0, -0.2, 1e-3])], accs)
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_adam_bias_correction_uses_client_time_step():
    # The step does not count steps itself: time_step = 3 on zero accumulators uses 1 - b^3.
    g = 0.5
    w = np.array([1.0])
    opt.optimizer_step(opt.ADAM, F(learning_rate=0.1, time_step=3.0), [w], [np.array([g])],
                       [np.zeros(1), np.zeros(1)])
    m_hat = 0.1 * g / (1 - 0.9 ** 3)
    v_hat = 0.001 * g * g / (1 - 0.999 ** 3)
    assert w[0] == pytest.approx(1.0 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8), rel=1e-13)


def test_adam_w_decay_is_decoupled_from_the_gradient():
    # zero gradient: Adam's step is 0/(0 + eps) = 0, so W *= 1 - lr*wd exactly and m, v stay 0
    w = np.array([2.0, -4.0])
    accs = [np.zeros(2), np.zeros(2)]
    opt.optimizer_step(opt.ADAM_W, F(learning_rate=0.5, regularization_scale=0.1), [w], [np.zeros(2)], accs)
    np.testing.assert_allclose(w, [1.9, -3.8], rtol=1e-15)
    assert not accs[0].any() and not accs[1].any()


def test_ams_grad_keeps_the_running_max_of_v():
    w = np.array([0.0])
    accs = [np.zeros(1) for _ in range(3)]
    fields = F(learning_rate=0.1, beta2=0.5)
    opt.optimizer_step(opt.ADAM_AMS_GRAD, fields, [w], [np.array([2.0])], accs)
    opt.optimizer_step(opt.ADAM_AMS_GRAD, dataclasses.replace(fields, time_step=2.0), [w], [np.array([0.0])], accs)
    assert accs[1][0] == pytest.approx(0.5 * 0.5 * 4.0)   # v fell: 0.5 * (0.5 * 2^2) + 0
    assert accs[2][0] == pytest.approx(0.5 * 4.0)         # vmax kept step 1's v


def test_rms_prop_momentum_buffer_is_not_scaled_by_learning_rate():
    # torch form: delta = g / (sqrt(n) + eps), W -= lr * delta
    w = np.array([0.0])
    accs = [np.zeros(1), np.zeros(1)]
    opt.optimizer_step(opt.RMS_PROP, F(learning_rate=0.01, alpha=0.75, momentum=0.5), [w], [np.array([2.0])], accs)
    expected_delta = 2.0 / (math.sqrt(0.25 * 4.0) + 1e-8)
    assert accs[1][0] == pytest.approx(expected_delta, rel=1e-14)
    assert w[0] == pytest.approx(-0.01 * expected_delta, rel=1e-14)


def test_centered_rms_prop_stays_finite_when_rounding_makes_n_below_g_bar_squared():
    # A constant gradient makes n - g_bar^2 = a^t (1 - a^t) g^2 vanish; in float32 these g drive it
    # below zero after ~7 steps. The clamp at 0 keeps sqrt(.) real and W finite.
    g = np.array([6.4059205, 2.7708886, 0.5056379], np.float32)
    w = np.zeros(3, np.float32)
    accs = [np.zeros(3, np.float32), np.zeros(3, np.float32)]
    for _ in range(10):
        opt.optimizer_step(opt.RMS_PROP, F(learning_rate=1e-3, alpha=0.1, centered=True), [w], [g], accs)
    n, g_bar = accs
    assert np.any(n - g_bar * g_bar < 0)       # the case the clamp exists for does occur
    assert np.all(np.isfinite(w))


def test_non_finite_gradient_propagates_without_warnings():
    # inf gradient: m/sqrt(v) = inf/inf = NaN, an "invalid value" NumPy would warn about; BNNS
    # propagates it, and a warning turned into an error must not abort the call half-way.
    w = np.array([1.0, 1.0])
    accs = [np.zeros(2), np.zeros(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.optimizer_step(opt.ADAM, F(learning_rate=0.1), [w], [np.array([np.inf, 1.0])], accs)
    assert np.isnan(w[0]) and w[1] == pytest.approx(0.9)


# ----------------------------------------------------------------------------------------------
# Accumulators: count and blocked layout
# ----------------------------------------------------------------------------------------------

ACCUMULATOR_COUNTS = [  # (function, fields, accumulators per parameter)
    pytest.param(opt.SGD_MOMENTUM, F(learning_rate=0.1), 0, id="sgd_no_momentum"),
    pytest.param(opt.SGD_MOMENTUM_WITH_CLIPPING, F(learning_rate=0.1, momentum=0.9), 1, id="sgd_momentum"),
    pytest.param(opt.ADAM, F(learning_rate=0.1), 2, id="adam"),
    pytest.param(opt.ADAM_W_WITH_CLIPPING, F(learning_rate=0.1), 2, id="adam_w"),
    pytest.param(opt.ADAM_AMS_GRAD, F(learning_rate=0.1), 3, id="adam_ams_grad"),
    pytest.param(opt.ADAM_W_AMS_GRAD_WITH_CLIPPING, F(learning_rate=0.1), 3, id="adam_w_ams_grad"),
    pytest.param(opt.RMS_PROP, F(learning_rate=0.1), 1, id="rms_prop"),
    pytest.param(opt.RMS_PROP, F(learning_rate=0.1, centered=True), 2, id="rms_prop_centered"),
    pytest.param(opt.RMS_PROP_WITH_CLIPPING, F(learning_rate=0.1, momentum=0.5), 2, id="rms_prop_momentum"),
    pytest.param(opt.RMS_PROP, F(learning_rate=0.1, centered=True, momentum=0.5), 3, id="rms_prop_both"),
]


@pytest.mark.parametrize("function, fields, per_parameter", ACCUMULATOR_COUNTS)
def test_accumulator_count(function, fields, per_parameter):
    assert opt.accumulator_count(function, 5, fields) == 5 * per_parameter


def _one_step_two_params(function, fields, seed):
    rng = np.random.default_rng(seed)
    shapes = [(2, 3), (4,)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) for s in shapes]
    accs = [np.zeros(s) for _ in range(opt.accumulator_count(function, 1, fields)) for s in shapes]
    opt.optimizer_step(function, fields, params, grads, accs)
    return grads, accs


def test_adam_accumulators_are_blocked_all_m_then_all_v_then_all_vmax():
    g, accs = _one_step_two_params(opt.ADAM_AMS_GRAD, F(learning_rate=0.1), seed=7)
    want = [0.1 * g[0], 0.1 * g[1], 0.001 * g[0] ** 2, 0.001 * g[1] ** 2, 0.001 * g[0] ** 2, 0.001 * g[1] ** 2]
    for got, w in zip(accs, want, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-14)


def test_rms_prop_accumulators_are_blocked_n_then_g_bar_then_delta():
    a, eps = 0.9, 1e-8
    g, accs = _one_step_two_params(opt.RMS_PROP, F(learning_rate=0.1, alpha=a, centered=True, momentum=0.5,
                                                   epsilon=eps), seed=8)
    n = [(1 - a) * x ** 2 for x in g]
    g_bar = [(1 - a) * x for x in g]
    delta = [x / (np.sqrt(ni - gb ** 2) + eps) for x, ni, gb in zip(g, n, g_bar)]
    for got, w in zip(accs, n + g_bar + delta, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-13)


def test_sgd_momentum_accumulators_hold_one_velocity_per_parameter():
    g, accs = _one_step_two_params(opt.SGD_MOMENTUM, F(learning_rate=0.1, momentum=0.9), seed=9)
    for got, w in zip(accs, [-0.1 * g[0], -0.1 * g[1]], strict=True):   # variant 0: V = -lr g
        np.testing.assert_allclose(got, w, rtol=1e-15)


@pytest.mark.parametrize("accumulators", [None, []], ids=["none", "empty_list"])
def test_sgd_without_momentum_needs_no_accumulators(accumulators):
    w = np.array([1.0, 2.0])
    opt.optimizer_step(opt.SGD_MOMENTUM, F(learning_rate=0.5), [w], [np.array([2.0, -2.0])], accumulators)
    np.testing.assert_array_equal(w, [0.0, 3.0])


def test_step_updates_the_callers_arrays_in_place():
    rng = np.random.default_rng(11)
    buffer = rng.standard_normal(10).astype(np.float32)     # two parameters as views of one buffer
    before = buffer.copy()
    params = [buffer[:6].reshape(2, 3), buffer[6:]]
    accs = [np.zeros((2, 3), np.float32), np.zeros(4, np.float32), np.zeros((2, 3), np.float32),
            np.zeros(4, np.float32)]
    ids = [id(a) for a in params + accs]
    grads = [rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    result = opt.optimizer_step(opt.ADAM, F(learning_rate=0.1), params, grads, accs)  # type: ignore[func-returns-value]  # checked: nothing
    assert result is None
    assert [id(a) for a in params + accs] == ids
    assert np.all(buffer != before)
    assert all(a.any() for a in accs)


# ----------------------------------------------------------------------------------------------
# Failed calls: InvalidArgumentError, and every array bit-identical
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Call:
    function: int
    fields: object
    params: list
    grads: list
    accs: object


def _valid_call(rng):
    """Adam on two parameters, with nonzero accumulators so that any write would show."""
    shapes = [(2, 3), (4,)]
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    accs = [np.abs(rng.standard_normal(s)).astype(np.float32) for _ in range(2) for s in shapes]
    return Call(opt.ADAM, F(learning_rate=0.01), params, grads, accs)


def _fields(**kw):
    return lambda c: setattr(c, "fields", dataclasses.replace(c.fields, **kw))


def _function_and_fields(function: int, **kw):
    def edit(c):
        c.function = function
        _fields(**kw)(c)
    return edit


def _rms_prop_alpha_above_one(c):
    c.function, c.fields = opt.RMS_PROP, F(learning_rate=0.1, alpha=1.5)
    c.accs.pop()
    c.accs.pop()


def _sgd_fields(**kw):
    def edit(c):
        c.function, c.fields, c.accs = opt.SGD_MOMENTUM, F(learning_rate=0.1, **kw), []
    return edit


def _set(i, attr, make):
    def edit(c):
        getattr(c, attr)[i] = make(getattr(c, attr)[i])
    return edit


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _alias_accumulator(c):
    c.accs[3] = c.params[1]


def _overlapping_views(c):
    buf = np.zeros(12, np.float32)
    c.params[0], c.accs[0] = buf[:6].reshape(2, 3), buf[5:11].reshape(2, 3)


def _overlapping_foreign_memory(c):
    # Two arrays over one bytearray (memory no ndarray owns): the overlap check must still see them.
    raw = bytearray(12 * 4)
    c.params[0] = np.frombuffer(raw, np.float32, count=6).reshape(2, 3)
    c.accs[0] = np.frombuffer(raw, np.float32, count=6, offset=5 * 4).reshape(2, 3)


def _foreign_memory_aliases_owned(c):
    # An array over a memoryview of an owned array: its owner is foreign to NumPy's base chain.
    c.accs[0] = np.frombuffer(memoryview(c.params[0]).cast("B"), np.float32).reshape(c.params[0].shape)


ERROR_CASES = [  # (id, edit of a valid Adam call, text the message must contain)
    ("accumulator_count", lambda c: c.accs.pop(), "accumulators has 3 arrays"),
    ("accumulators_for_sgd_without_momentum",
     lambda c: (_sgd_fields()(c), c.accs.append(np.zeros(3, np.float32))), "accumulators has 1 arrays"),
    ("accumulator_shape", _set(3, "accs", lambda a: np.zeros(5, np.float32)), "accumulators[3].shape (5,)"),
    ("gradient_shape", _set(1, "grads", lambda a: np.zeros(5, np.float32)), "gradients[1].shape (5,)"),
    ("gradient_count", lambda c: c.grads.pop(), "gradients has 1 arrays"),
    ("no_parameters", lambda c: (c.params.clear(), c.grads.clear(), c.accs.clear()), "number_of_parameters is 0"),
    ("nan_learning_rate", _fields(learning_rate=float("nan")), "learning_rate nan"),
    ("negative_learning_rate", _fields(learning_rate=-0.1), "learning_rate -0.1"),
    ("inf_gradient_scale", _fields(gradient_scale=float("inf")), "gradient_scale inf"),
    ("string_learning_rate", _fields(learning_rate="0.1"), "learning_rate '0.1'"),
    ("unknown_function_0", lambda c: setattr(c, "function", 0), "function 0"),
    ("unknown_function_13", lambda c: setattr(c, "function", 13), "function 13"),
    ("bool_function", lambda c: setattr(c, "function", True), "function True"),
    ("time_step_below_1", _fields(time_step=0.5), "time_step 0.5"),
    ("time_step_0_with_clipping", _function_and_fields(opt.ADAM_WITH_CLIPPING, time_step=0.0), "time_step 0.0"),
    ("beta1_one", _fields(beta1=1.0), "beta1 1.0"),
    ("beta2_negative", _fields(beta2=-0.1), "beta2 -0.1"),
    ("epsilon_zero", _fields(epsilon=0.0), "epsilon 0.0"),
    ("nesterov_for_adam", _fields(nesterov=True), "nesterov True does not apply"),
    ("momentum_for_adam", _fields(momentum=0.9), "momentum 0.9 does not apply"),
    ("alpha_for_adam", _fields(alpha=0.5), "alpha 0.5 does not apply"),
    ("clipping_func_in_plain_form", _fields(clipping_func=opt.CLIPPING_BY_NORM), "clipping_func 2 does not apply"),
    ("clip_gradients_in_clipping_form", _function_and_fields(opt.ADAM_WITH_CLIPPING, clip_gradients=True), "clip_gradients True"),
    ("clip_bounds_without_clipping", _fields(clip_gradients_max=1.0), "clip_gradients_max 1.0 does not apply"),
    ("use_norm_with_clip_by_norm", _function_and_fields(
        opt.ADAM_WITH_CLIPPING, clipping_func=opt.CLIPPING_BY_NORM, clip_gradients_max_norm=1.0,
        clip_gradients_use_norm=2.0),
        "clip_gradients_use_norm 2.0 does not apply"),
    ("regularization_func_for_adam_w", _function_and_fields(
        opt.ADAM_W, regularization_func=opt.REGULARIZATION_L2, regularization_scale=0.1), "regularization_func 2"),
    ("regularization_scale_without_func", _fields(regularization_scale=0.1), "regularization_scale 0.1"),
    ("negative_regularization_scale", _fields(regularization_func=opt.REGULARIZATION_L1, regularization_scale=-1.0),
     "regularization_scale -1.0"),
    ("unknown_regularization_func", _fields(regularization_func=3), "regularization_func 3"),
    ("unknown_clipping_func", _function_and_fields(opt.ADAM_WITH_CLIPPING, clipping_func=4), "clipping_func 4"),
    ("clip_min_above_max", _fields(clip_gradients=True, clip_gradients_min=1.0, clip_gradients_max=-1.0),
     "clip_gradients_min 1.0"),
    ("max_norm_zero", _function_and_fields(opt.ADAM_WITH_CLIPPING, clipping_func=opt.CLIPPING_BY_GLOBAL_NORM), "clip_gradients_max_norm 0.0"),
    ("negative_use_norm", _function_and_fields(
        opt.ADAM_WITH_CLIPPING, clipping_func=opt.CLIPPING_BY_GLOBAL_NORM, clip_gradients_max_norm=1.0,
        clip_gradients_use_norm=-1.0),
        "clip_gradients_use_norm -1.0"),
    ("unknown_sgd_variant", _sgd_fields(sgd_momentum_variant=3), "sgd_momentum_variant 3"),
    ("nesterov_without_momentum", _sgd_fields(nesterov=True), "nesterov True needs fields.momentum > 0"),
    ("negative_momentum", _sgd_fields(momentum=-0.5), "momentum -0.5"),
    ("centered_for_sgd", _sgd_fields(centered=True), "centered True does not apply"),
    ("rms_prop_alpha_above_one", _rms_prop_alpha_above_one, "alpha 1.5"),
    ("fields_not_a_dataclass", lambda c: setattr(c, "fields", {"learning_rate": 0.1}), "fields must be"),
    ("mixed_dtype", _set(3, "accs", lambda a: a.astype(np.float64)), "accumulators[3].dtype float64"),
    ("integer_parameters", lambda c: (_set(0, "params", lambda a: a.astype(np.int32))(c)),
     "parameters[0].dtype int32"),
    ("non_contiguous_parameter", _set(1, "params", lambda a: np.zeros(8, np.float32)[::2]),
     "parameters[1] (shape (4,), strides (8,)) must be contiguous"),
    ("read_only_parameter", _set(1, "params", _read_only), "parameters[1] must be writeable"),
    ("read_only_accumulator", _set(3, "accs", _read_only), "accumulators[3] must be writeable"),
    ("parameter_aliases_accumulator", _alias_accumulator, "share memory"),
    ("overlapping_views", _overlapping_views, "share memory"),
    ("overlapping_foreign_memory", _overlapping_foreign_memory, "share memory"),
    ("foreign_memory_aliases_owned", _foreign_memory_aliases_owned, "share memory"),
    ("gradient_not_an_array", _set(1, "grads", lambda a: a.tolist()), "gradients[1] must be a NumPy array"),
    ("parameters_not_a_list", lambda c: setattr(c, "params", c.params[0]), "parameters must be a list"),
]


@pytest.mark.parametrize("edit, text", [pytest.param(e, t, id=i) for i, e, t in ERROR_CASES])
def test_invalid_call_raises_and_changes_nothing(edit, text):
    call = _valid_call(np.random.default_rng(5))
    edit(call)
    arrays = [a for group in (call.params, call.grads, call.accs or [])
              for a in (group if isinstance(group, list) else [group]) if isinstance(a, np.ndarray)]
    before = [a.tobytes() for a in arrays]
    with pytest.raises(InvalidArgumentError) as info:
        opt.optimizer_step(call.function, call.fields, call.params, call.grads, call.accs)
    assert text in str(info.value)
    assert [a.tobytes() for a in arrays] == before


def test_valid_baseline_of_error_cases_succeeds():
    # Guards the table above: without an edit, the call is valid and does write.
    call = _valid_call(np.random.default_rng(5))
    before = [a.copy() for a in call.params]
    opt.optimizer_step(call.function, call.fields, call.params, call.grads, call.accs)
    assert all(not np.array_equal(a, b) for a, b in zip(call.params, before))


def test_accumulator_count_rejects_unknown_function():
    with pytest.raises(InvalidArgumentError, match="function 99"):
        opt.accumulator_count(99, 2, F(learning_rate=0.1))


# ----------------------------------------------------------------------------------------------
# Convergence on a quadratic
# ----------------------------------------------------------------------------------------------

GLOBAL_CLIP: dict[str, Any] = dict(clipping_func=opt.CLIPPING_BY_GLOBAL_NORM, clip_gradients_max_norm=2.0)
CONVERGENCE = [  # (function, fields, steps); the loss must fall by at least MIN_LOSS_RATIO
    pytest.param(opt.SGD_MOMENTUM, F(learning_rate=0.2), 200, id="sgd"),
    pytest.param(opt.SGD_MOMENTUM, F(learning_rate=0.05, momentum=0.9, sgd_momentum_variant=1, nesterov=True),
                 200, id="sgd_nesterov"),
    pytest.param(opt.SGD_MOMENTUM_WITH_CLIPPING, F(learning_rate=0.05, momentum=0.9, **GLOBAL_CLIP), 200,
                 id="sgd_clipped"),
    pytest.param(opt.ADAM, F(learning_rate=0.05), 300, id="adam"),
    pytest.param(opt.ADAM_WITH_CLIPPING, F(learning_rate=0.05, **GLOBAL_CLIP), 300, id="adam_clipped"),
    pytest.param(opt.ADAM_W, F(learning_rate=0.05, regularization_scale=1e-3), 300, id="adam_w"),
    pytest.param(opt.ADAM_W_WITH_CLIPPING, F(learning_rate=0.05, regularization_scale=1e-3, **GLOBAL_CLIP), 300,
                 id="adam_w_clipped"),
    pytest.param(opt.ADAM_AMS_GRAD, F(learning_rate=0.05), 300, id="adam_ams_grad"),
    pytest.param(opt.ADAM_AMS_GRAD_WITH_CLIPPING, F(learning_rate=0.05, **GLOBAL_CLIP), 300, id="adam_ams_clipped"),
    pytest.param(opt.ADAM_W_AMS_GRAD, F(learning_rate=0.05, regularization_scale=1e-3), 300, id="adam_w_ams_grad"),
    pytest.param(opt.ADAM_W_AMS_GRAD_WITH_CLIPPING, F(learning_rate=0.05, regularization_scale=1e-3, **GLOBAL_CLIP),
                 300, id="adam_w_ams_clipped"),
    pytest.param(opt.RMS_PROP, F(learning_rate=0.01), 300, id="rms_prop"),
    pytest.param(opt.RMS_PROP_WITH_CLIPPING, F(learning_rate=0.01, centered=True, momentum=0.5, **GLOBAL_CLIP),
                 300, id="rms_prop_centered_momentum_clipped"),
]
MIN_LOSS_RATIO = 1e4     # from ~8 to < 1e-3; every optimizer here reaches a ratio > 1e6 in these steps


@pytest.mark.parametrize("function, fields, steps", CONVERGENCE)
def test_minimises_a_quadratic(function, fields, steps):
    rng = np.random.default_rng(21)
    shapes = [(4, 3), (6,)]
    curvature = [rng.uniform(0.5, 2.0, s).astype(np.float32) for s in shapes]
    target = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = [np.zeros(s, np.float32) for s in shapes]
    accs = [np.zeros(s, np.float32) for _ in range(opt.accumulator_count(function, 1, fields)) for s in shapes]

    def loss():
        return sum(float(np.sum(0.5 * a * (w - t) ** 2)) for a, w, t in zip(curvature, params, target))

    start = loss()
    for t in range(1, steps + 1):
        grads = [a * (w - tg) for a, w, tg in zip(curvature, params, target)]
        f = _at_time_step(function, fields, t)
        opt.optimizer_step(function, f, params, grads, accs)
    assert loss() < start / MIN_LOSS_RATIO


def _adam_as_written(w, g, m, v, fields):
    """adam_update's docstring formulas, term by term, as NumPy expressions with temporaries."""
    lr, b1, b2, t, eps = fields.learning_rate, fields.beta1, fields.beta2, fields.time_step, fields.epsilon
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * (g * g)
    w[...] = w - (lr / (1 - b1 ** t)) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_place_update_is_bit_identical_to_the_formulas(dtype):
    # The in-place form with scratch arrays keeps the formulas' order of operations.
    rng = np.random.default_rng(11)
    w, m, v = (rng.standard_normal((7, 5)).astype(dtype) for _ in range(3))
    v = np.abs(v)
    ref = [a.copy() for a in (w, m, v)]
    fields = F(learning_rate=0.01, time_step=4.0)
    for _ in range(3):
        g = rng.standard_normal((7, 5)).astype(dtype)
        opt.adam_update(w, g, m, v, None, fields)
        _adam_as_written(ref[0], g, ref[1], ref[2], fields)
    for ours, theirs in zip((w, m, v), ref):
        assert ours.dtype == dtype
        assert ours.tobytes() == theirs.tobytes()
