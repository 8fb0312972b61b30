"""Attacks: agreement with torchattacks, the threat-model invariants, strength orderings, restarts,
determinism and side effects on the model. A tiny CNN trained on scikit-learn's digits (8x8 in [0, 1])
in a fixture gives the attacks something to attack (about a second on 2 CPUs)."""

import pytest
import torch
from torch import nn

from interprobust import attacks as A
from toy_models import train_briefly

torchattacks = pytest.importorskip("torchattacks")

EPS_SWEEP = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3]


@pytest.fixture(scope="module")
def trained():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0  # (1797, 1, 8, 8) in [0, 1]
    y = torch.tensor(d.target, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=g)
    x, y = x[perm], y[perm]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(32 * 16, 10))
    train_briefly(model, x[:1400], y[:1400], epochs=30, batch=100, lr=1e-2, generator=g)
    xt, yt = x[1400:1656].contiguous(), y[1400:1656].contiguous()
    assert A.clean_accuracy(model, xt, yt) > 85.0
    return model, xt, yt


def _fooled(model, x_adv, y):
    with torch.no_grad():
        return model(x_adv).argmax(1) != y


def _acc(model, x_adv, y):
    return 100.0 * (~_fooled(model, x_adv, y)).float().mean().item()


# ---------------------------------------------------------------- agreement with torchattacks


@pytest.mark.parametrize("eps", [0.03, 0.1, 0.3])
def test_fgsm_equals_torchattacks(trained, eps):
    model, x, y = trained
    ours = A.FGSM(eps)(model, x, y)
    theirs = torchattacks.FGSM(model, eps=eps)(x, y)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("eps,alpha,steps", [(0.05, 0.01, 10), (0.1, 0.02, 20)])
def test_pgd_equals_torchattacks_without_random_start(trained, eps, alpha, steps):
    model, x, y = trained
    ours = A.PGD(eps, steps=steps, step_size=alpha, random_start=False)(model, x, y)
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("eps,alpha,steps", [(0.05, 0.01, 10), (0.1, 0.025, 20)])
def test_pgd_equals_torchattacks_with_the_same_random_start(trained, eps, alpha, steps):
    model, x, y = trained
    # torchattacks draws x + U(-eps, eps) from the global RNG right after cloning the inputs:
    # reproduce that draw and hand it to ours as the initial delta
    torch.manual_seed(1234)
    delta = torch.empty_like(x).uniform_(-eps, eps)
    torch.manual_seed(1234)
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y)
    ours = A.PGD(eps, steps=steps, step_size=alpha, seed=999)(model, x, y, init_delta=delta)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    # with zero steps, our start is exactly torchattacks' start clamp(x + delta, 0, 1)
    start = A.PGD(eps, steps=0)(model, x, y, init_delta=delta)
    torch.testing.assert_close(start, (x + delta).clamp(0, 1), atol=0, rtol=0)


def test_dlr_loss_matches_torchattacks(trained):
    model, x, y = trained
    with torch.no_grad():
        logits = model(x)
    ref = torchattacks.APGD(model).dlr_loss(logits, y)
    torch.testing.assert_close(A.dlr_loss(logits, y), ref, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="3 classes"):
        A.dlr_loss(logits[:, :2], y.clamp(max=1))


def test_apgd_checkpoints_follow_the_paper():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (interval shrinks by 0.03 down to 0.06)
    assert A.apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert A.apgd_checkpoints(10) == [3, 5, 6, 7, 8, 9]
    assert A.apgd_checkpoints(1) == []


# ---------------------------------------------------------------- invariants


ALL_ATTACKS = [
    ("fgsm", {}),
    ("pgd", {"steps": 5, "step_size": 0.05}),
    ("pgd", {"steps": 5, "step_size": 0.05, "restarts": 3}),
    ("pgd", {"steps": 5, "step_size": 0.05, "restarts": 3, "restart_batch": 2, "loss": "dlr"}),
    ("pgd", {"steps": 5, "step_size": 0.05, "random_start": False}),
    ("apgd", {"steps": 10}),
    ("apgd", {"steps": 10, "loss": "dlr", "restarts": 2}),
    ("square", {"n_queries": 30}),
    ("square", {"n_queries": 30, "restarts": 2, "p_init": 0.3}),
]


@pytest.mark.parametrize("name,kwargs", ALL_ATTACKS)
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3])
def test_threat_model_invariants(trained, name, kwargs, eps):
    model, x, y = trained
    x_before = x.clone()
    x_adv = A.make_attack(name, eps=eps, **kwargs)(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert (x_adv - x).abs().max().item() <= eps + 1e-6
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
    assert torch.equal(x, x_before)  # the input is never modified


def test_accuracy_orderings_and_monotone_in_eps(trained):
    model, x, y = trained
    clean = A.clean_accuracy(model, x, y)
    fgsm, pgd = [], []
    for eps in EPS_SWEEP:
        fgsm.append(A.robust_accuracy(model, x, y, A.FGSM(eps), batch_size=100))
        pgd.append(A.robust_accuracy(model, x, y, A.PGD(eps, steps=10, step_size=eps / 4), batch_size=100))
    one = 100.0 / len(y)
    assert fgsm[0] == pytest.approx(clean) and pgd[0] == pytest.approx(clean)
    for f, p in zip(fgsm, pgd):
        assert p <= f + one + 1e-9                          # PGD (10 steps) is at least as strong as FGSM
    # robust accuracy counts a sample when it is right both clean and attacked (reference: by hand)
    x_adv = A.FGSM(EPS_SWEEP[2])(model, x, y)
    with torch.no_grad():
        both = (model(x).argmax(1) == y) & (model(x_adv).argmax(1) == y)
    assert fgsm[2] == pytest.approx(100.0 * both.double().mean().item())
    adv_only = A.robust_accuracy(model, x, y, A.FGSM(EPS_SWEEP[2]), count_clean_errors=False)
    assert adv_only == pytest.approx(100.0 * (model(x_adv).argmax(1) == y).double().mean().item())
    for acc in (fgsm, pgd):
        assert all(b <= a + 1e-9 for a, b in zip(acc, acc[1:])), acc
    assert pgd[-1] < 10.0 < clean - 50.0  # the attack really bites at large eps


def test_pgd_restarts_are_at_least_as_strong_per_sample(trained):
    model, x, y = trained
    eps = 0.1
    one = A.PGD(eps, steps=10, step_size=eps / 4, restarts=1, seed=3)(model, x, y)
    three = A.PGD(eps, steps=10, step_size=eps / 4, restarts=3, seed=3)(model, x, y)
    chunked = A.PGD(eps, steps=10, step_size=eps / 4, restarts=3, seed=3, restart_batch=1)(model, x, y)
    f1, f3, fc = (_fooled(model, a, y) for a in (one, three, chunked))
    assert bool((f3 | ~f1).all()), "restarts=3 lost a success of restarts=1"
    assert f3.sum() >= f1.sum()
    # restart 0 starts where restarts=1 does, and the first fooling restart is kept
    torch.testing.assert_close(three[f1], one[f1], atol=1e-5, rtol=0)
    # running the restarts one at a time (skipping samples already fooled) picks the same ones
    assert torch.equal(f3, fc)
    torch.testing.assert_close(chunked[f3], three[f3], atol=1e-5, rtol=0)


# ---------------------------------------------------------------- determinism and side effects


@pytest.mark.parametrize("cls", [A.PGD, A.APGD])
def test_determinism_and_independence_from_the_global_rng(trained, cls):
    model, x, y = trained
    kw = {"steps": 0} if cls is A.PGD else {"steps": 1}
    torch.manual_seed(7)
    expected_next = torch.rand(3)
    torch.manual_seed(7)
    a = cls(0.1, seed=0, **kw)(model, x, y)
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG was not used
    b = cls(0.1, seed=0, **kw)(model, x, y)
    c = cls(0.1, seed=1, **kw)(model, x, y)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3
    full_a = cls(0.1, seed=0, steps=5)(model, x, y)
    full_b = cls(0.1, seed=0, steps=5)(model, x, y)
    assert torch.equal(full_a, full_b)


def test_pgd_random_start_is_uniform_in_the_ball(trained):
    model, x, y = trained
    xm = torch.full((64, 1, 8, 8), 0.5)
    start = A.PGD(0.2, steps=0, seed=0)(model, xm, torch.zeros(64, dtype=torch.long))
    d = (start - xm).flatten()
    assert d.abs().max() <= 0.2 + 1e-6
    assert abs(d.mean().item()) < 0.01 and d.std().item() == pytest.approx(0.2 / 3 ** 0.5, rel=0.05)


class _ModeSpy(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x):
        self.seen.append(self.training)
        return self.inner(x)


@pytest.mark.parametrize("name", sorted(A.ATTACKS))
def test_model_mode_and_parameter_grads_untouched(trained, name):
    model, x, y = trained
    spy = _ModeSpy(model)
    spy.train()
    model[0].eval()  # a mixed mode must come back as it was
    frozen = model[2].bias
    frozen.requires_grad_(False)
    marker = torch.full_like(model[0].weight, 0.5)
    model[0].weight.grad = marker.clone()
    try:
        kwargs = {"fgsm": {}, "square": {"n_queries": 3}}.get(name, {"steps": 3})
        A.make_attack(name, eps=0.1, **kwargs)(spy, x[:32], y[:32])
        assert spy.seen and not any(spy.seen), "the attack must run the model in eval mode"
        assert spy.training and model.training and not model[0].training and model[1].training
        assert [p.requires_grad for p in model.parameters()] == [True, True, True, False, True, True]
        assert torch.equal(model[0].weight.grad, marker)
        assert all(p.grad is None for n, p in model.named_parameters() if n != "0.weight")
    finally:
        frozen.requires_grad_(True)
        model[0].weight.grad = None
        model.eval()


def test_works_inside_no_grad_and_with_numpy_uint8_inputs(trained):
    model, x, y = trained
    ref = A.FGSM(0.1)(model, x, y)
    with torch.no_grad():
        inside = A.FGSM(0.1)(model, x, y)
    assert torch.equal(ref, inside)
    # prepared-format input: uint8 (N, H, W, C) numpy arrays, labels as numpy
    x8 = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    xq = torch.from_numpy(x8).permute(0, 3, 1, 2).float() / 255
    y_np = y.numpy()
    assert A.clean_accuracy(model, x8, y_np, batch_size=64) == A.clean_accuracy(model, xq, y)
    pgd = A.PGD(0.1, steps=5, step_size=0.025)
    assert A.robust_accuracy(model, x8, y_np, pgd, batch_size=64) == A.robust_accuracy(model, xq, y, pgd,
                                                                                       batch_size=64)
    fgsm = A.FGSM(0.1)  # deterministic: independent of the batch size
    assert A.robust_accuracy(model, x8, y_np, fgsm, batch_size=50) == A.robust_accuracy(model, x8, y_np, fgsm)
    with pytest.raises(TypeError):
        fgsm(model, x8, y)


def test_make_attack_and_errors():
    assert isinstance(A.make_attack("PGD", eps=0.1, steps=3), A.PGD)
    assert A.make_attack("apgd", eps=0.1, loss="dlr").loss == "dlr"
    with pytest.raises(ValueError) as err:
        A.make_attack("cw", eps=0.1)
    for name in ("fgsm", "pgd", "apgd"):
        assert name in str(err.value)
    with pytest.raises(ValueError, match="loss"):
        A.PGD(0.1, loss="hinge")
    with pytest.raises(ValueError, match="eps"):
        A.FGSM(8)  # eps is in [0, 1] pixel units, not 0-255
    with pytest.raises(ValueError, match="restarts"):
        A.PGD(0.1, restarts=2, random_start=False)


def test_init_delta_shapes(trained):
    model, x, y = trained
    x, y = x[:8], y[:8]
    d = torch.full((2, *x.shape), 0.01)
    out = A.PGD(0.05, steps=0, restarts=2)(model, x, y, init_delta=d)
    torch.testing.assert_close(out, (x + 0.01).clamp(max=1), atol=1e-7, rtol=0)
    with pytest.raises(ValueError, match="init_delta"):
        A.PGD(0.05, restarts=2)(model, x, y, init_delta=d[0])
    with pytest.raises(ValueError, match="init_delta"):
        A.FGSM(0.05)(model, x, y, init_delta=d[0])


# ---------------------------------------------------------------- APGD: the stronger attack


@pytest.mark.parametrize("eps", [0.1, 0.15])
def test_apgd_at_least_as_strong_as_pgd_and_comparable_to_torchattacks(trained, eps):
    model, x, y = trained
    steps = 20
    pgd = A.robust_accuracy(model, x, y, A.PGD(eps, steps=steps, step_size=eps / 4))
    apgd = A.robust_accuracy(model, x, y, A.APGD(eps, steps=steps, loss="ce"))
    theirs = _acc(model, torchattacks.APGD(model, eps=eps, steps=steps, loss="ce", seed=0)(x, y), y)
    assert apgd <= pgd + 1.0, (apgd, pgd)           # small tolerance: ~2 of 256 samples
    assert abs(apgd - theirs) <= 3.0, (apgd, theirs)
    dlr = A.robust_accuracy(model, x, y, A.APGD(eps, steps=steps, loss="dlr"))
    assert dlr <= A.clean_accuracy(model, x, y) - 20.0  # the DLR variant works too


# ---------------------------------------------------------------- APGD-DLR and Square: the strong set


@pytest.mark.parametrize("eps", [0.1, 0.15])
def test_apgd_dlr_comparable_to_torchattacks_dlr(trained, eps):
    model, x, y = trained
    steps = 20
    ours = A.robust_accuracy(model, x, y, A.make_attack("apgd", eps, loss="dlr", steps=steps))
    theirs = _acc(model, torchattacks.APGD(model, eps=eps, steps=steps, loss="dlr", seed=0)(x, y), y)
    assert abs(ours - theirs) <= 4.0, (ours, theirs)
    assert ours <= A.clean_accuracy(model, x, y) - 20.0


class _Counter(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls, self.rows = inner, 0, 0

    def forward(self, x):
        self.calls += 1
        self.rows += len(x)
        return self.inner(x)


def test_square_p_schedule_follows_the_reference():
    # the reference's p_selection at 10 000 queries, rescaled linearly to other budgets
    assert A.square_p(0.8, 0, 10000) == 0.8 and A.square_p(0.8, 10, 10000) == 0.8
    assert A.square_p(0.8, 11, 10000) == 0.4 and A.square_p(0.8, 600, 10000) == 0.8 / 16
    assert A.square_p(0.8, 9000, 10000) == 0.8 / 512
    assert A.square_p(0.8, 60, 1000) == A.square_p(0.8, 600, 10000)


def test_square_is_gradient_free_within_budget_and_in_the_ball(trained):
    model, x, y = trained
    spy = _Counter(model)
    eps, q = 0.15, 200
    x_adv = A.Square(eps, n_queries=q, check_every=q + 1)(spy, x, y)
    assert spy.calls == q and spy.rows == q * len(y)        # one batched query per step, start included
    assert (x_adv - x).abs().max().item() <= eps + 1e-6 and 0.0 <= x_adv.min() and x_adv.max() <= 1.0
    assert all(p.grad is None for p in model.parameters())
    # a sample is fooled only by points the search kept: the attack is not weaker than its own start
    acc = _acc(model, x_adv, y)
    assert acc <= A.clean_accuracy(model, x, y) - 20.0, acc


def test_square_agrees_with_torchattacks_square(trained):
    model, x, y = trained
    eps, q = 0.15, 300
    ours = A.robust_accuracy(model, x, y, A.Square(eps, n_queries=q, seed=0))
    ref = torchattacks.Square(model, norm="Linf", eps=eps, n_queries=q, n_restarts=1, p_init=0.8, loss="margin",
                              resc_schedule=True, seed=0)(x, y)
    assert (ref - x).abs().max().item() <= eps + 1e-6
    theirs = _acc(model, ref, y)
    # torchattacks 3.5.1 draws ONE square position and sign pattern for the whole batch per step; ours
    # (as the authors' code) draws them per image, so at the same budget ours is at least as strong
    assert ours <= theirs + 2.0, (ours, theirs)
    assert theirs - ours <= 15.0, (ours, theirs)
    assert theirs <= A.clean_accuracy(model, x, y) - 20.0


def test_square_early_stop_and_determinism(trained):
    model, x, y = trained
    a = A.Square(0.3, n_queries=500, check_every=10)
    spy = _Counter(model)
    out = a(spy, x[:16], y[:16])
    assert _acc(model, out, y[:16]) == 0.0 and spy.calls < 500          # stops once every sample is fooled
    assert torch.equal(out, a(model, x[:16], y[:16]))
    with pytest.raises(ValueError, match="init_delta"):
        a(model, x[:4], y[:4], init_delta=torch.zeros_like(x[:4]))


def test_worst_case_row_is_the_per_sample_and_over_attacks(trained):
    import numpy as np

    from interprobust.evaluation import robustness

    model, x, y = trained

    class Data:
        test_x = (x[:64] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        test_y = y[:64].numpy()
    settings = {"fgsm": {}, "square": {"n_queries": 50}}
    df = robustness(model, Data, eps=[0.1], attack_settings=settings, worst_case=True, show_progress=False,
                    reference={"pgd": {"steps": 0}})           # a reference (PGD with 0 steps: weak) stays out
    xq = torch.from_numpy(Data.test_x).permute(0, 3, 1, 2).float() / 255
    oks = [A.robust_correct(model, xq, y[:64], A.make_attack(n, 0.1, **o)) for n, o in settings.items()]
    worst = df[df.attack == "worst-case"].accuracy.item()
    assert worst == pytest.approx(100.0 * float((oks[0] & oks[1]).float().mean()))
    assert worst <= df[df.attack.isin(list(settings))].accuracy.min()
    assert np.isclose(df[df.attack == "fgsm"].accuracy.item(), 100.0 * float(oks[0].float().mean()))


def test_corrupted_strong_batches_every_corruption_and_scores_each(trained):
    """All (corruption, severity) images attacked together give, per group, the accuracy of attacking
    that group alone (FGSM: deterministic), and the worst case is the per-sample AND."""
    from types import SimpleNamespace

    import numpy as np

    from interprobust.evaluation.robustness import corrupted_strong
    model, x, y = trained
    x8 = (x[:60] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    noisy = np.clip(x8.astype(int) + 40, 0, 255).astype(np.uint8)
    test_x = np.stack([np.stack([x8, noisy]), np.stack([noisy, x8])])     # (corruption, severity, N, H, W, C)
    data = SimpleNamespace(meta={"corruptions": ["a", "b"], "severities": [1, 2]}, test_x=test_x,
                           test_y=y[:60].numpy())
    settings = {"fgsm": {}, "pgd": {"steps": 3, "step_size": 0.05}}
    df = corrupted_strong(model, data, eps=[0.1], attack_settings=settings, max_samples=50, severities=[2],
                          show_progress=False, reference={"fgsm-ref": {"attack": "fgsm"}})
    ref = df[df.attack == "fgsm-ref"].set_index("corruption").accuracy
    assert (ref == df[df.attack == "fgsm"].set_index("corruption").accuracy).all()   # same images, same attack
    assert set(zip(df.corruption, df.severity)) == {("a", 2), ("b", 2)} and (df.n == 50).all()
    from interprobust.data.subsets import stratified_indices
    idx = stratified_indices(y[:60].numpy(), 50, 0)          # the evaluation's seeded stratified subset
    xb, yb = torch.from_numpy(noisy[idx]).permute(0, 3, 1, 2).float() / 255, y[:60][idx]
    alone = A.robust_accuracy(model, xb, yb, A.FGSM(0.1))
    got = df[(df.corruption == "a") & (df.attack == "fgsm")].accuracy.item()
    assert got == pytest.approx(alone)
    oks = [A.robust_correct(model, xb, yb, A.make_attack(n, 0.1, **o)) for n, o in settings.items()]
    worst = df[(df.corruption == "a") & (df.attack == "worst-case")].accuracy.item()
    assert worst == pytest.approx(100.0 * float((oks[0] & oks[1]).float().mean()))


def test_corrupted_attack_sweep_is_batched_and_scored_per_corruption(trained):
    """LIMEREF Fig. 12-15's sweep attacks every corruption in one batched pass per (attack, eps): per
    corruption it equals attacking that corruption's subset alone (FGSM: deterministic)."""
    from types import SimpleNamespace

    import numpy as np

    from interprobust.data.subsets import stratified_indices
    from interprobust.evaluation import corruption_attack_accuracy
    model, x, y = trained
    x8 = (x[:40] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    dark = (x8 // 2).astype(np.uint8)
    data = SimpleNamespace(meta={"corruptions": ["a", "b"], "severities": [1]},
                           test_x=np.stack([np.stack([x8]), np.stack([dark])]), test_y=y[:40].numpy())
    df = corruption_attack_accuracy(model, data, attack_eps={"fgsm": [0.05, 0.1]}, attack_settings={"fgsm": {}},
                                    max_samples=30, batch_size=16, show_progress=False)
    assert len(df) == 4 and (df.n == 30).all() and set(df.corruption) == {"a", "b"}
    idx = stratified_indices(y[:40].numpy(), 30, 0)
    for name, arr in (("a", x8), ("b", dark)):
        xb = torch.from_numpy(arr[idx]).permute(0, 3, 1, 2).float() / 255
        for e in (0.05, 0.1):
            got = df[(df.corruption == name) & (df.eps == e)].accuracy.item()
            assert got == pytest.approx(A.robust_accuracy(model, xb, y[:40][idx], A.FGSM(e)))


def test_evaluation_subsets_are_stratified_not_the_first_n():
    import numpy as np

    from interprobust.evaluation.robustness import subset
    y = np.repeat(np.arange(10), 20)                      # a class-sorted split, as CUB's or ImageNet's
    x = np.arange(200)
    xs, ys = subset(x, y, 50)
    assert len(ys) == 50 and set(ys) == set(range(10)) and (np.bincount(ys) == 5).all()
    assert (y[xs] == ys).all()                            # images and labels stay paired
    assert (subset(x, y, 50)[0] == xs).all() and not (subset(x, y, 50, seed=1)[0] == xs).all()
    whole_x, whole_y = subset(x, y, None)
    assert whole_x is x and (whole_y == y).all()
