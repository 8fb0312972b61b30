import json

import pytest
import torch

from interprobust import losses
from interprobust.losses import adversarial, aga, limeref, sep


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 8 * 8, 3))


def test_sensitivity_term_is_zero_for_empty_F_and_matches_autograd():
    m, x, y = _model(), torch.rand(5, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1])
    empty = torch.zeros(8, 8, dtype=torch.bool)
    assert limeref.sensitivity_penalty(m, x, y, empty).item() == 0.0
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:4, 5:7] = True
    got = limeref.sensitivity_penalty(m, x, y, mask)
    ref = []
    for i in range(5):  # per-sample reference: squared gradient of the true logit, summed over channels
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(xi)[0, y[i]], xi)
        ref.append(g[0].pow(2).sum(0)[mask].mean())
    assert got.item() == pytest.approx(torch.stack(ref).mean().item(), rel=1e-5)
    got.backward()  # differentiable w.r.t. the parameters (double backprop)
    assert m[0].weight.grad is not None and m[0].weight.grad.abs().sum() > 0


def test_masking_really_zeroes_F():
    x = torch.rand(2, 3, 8, 8) + 0.1
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:4, :4] = True
    out = limeref.mask_features(x, mask)
    assert (out[:, :, :4, :4] == 0).all() and torch.equal(out[:, :, 4:, :], x[:, :, 4:, :])


def test_per_image_mask_and_masking_prob(tmp_path):
    x = torch.rand(4, 3, 8, 8) + 0.1
    per_image = torch.zeros(4, 8, 8, dtype=torch.bool)
    per_image[1, :4, :4] = True
    out = limeref.mask_features(x, per_image)
    assert (out[1, :, :4, :4] == 0).all() and torch.equal(out[[0, 2, 3]], x[[0, 2, 3]])
    # masking_prob = 0 is no masking; the draw comes from torch's global generator (seeded by fit)
    m, y = _model(), torch.tensor([0, 1, 2, 0])
    spec = {"patch": 4, "image_size": [8, 8], "sets": {"global": [1, 0, 0, 0], "per_class": [[1, 0, 0, 0]] * 3}}
    path = tmp_path / "spurious.json"
    path.write_text(json.dumps(spec))
    loss = losses.get_loss("limeref")
    plain, _ = losses.get_loss("ce")(m, x, y, {})
    none, _ = loss(m, x, y, {"spurious": str(path), "masking_prob": 0.0})
    assert none.item() == pytest.approx(plain.item())
    torch.manual_seed(3)
    half_a, _ = loss(m, x, y, {"spurious": str(path), "masking_prob": 0.5})
    torch.manual_seed(3)
    half_b, _ = loss(m, x, y, {"spurious": str(path), "masking_prob": 0.5})
    assert half_a.item() == half_b.item()


def test_restricted_fgsm_moves_only_F():
    m, x, y = _model(), torch.rand(4, 3, 8, 8) * 0.8 + 0.1, torch.tensor([0, 1, 2, 0])
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[4:, 4:] = True
    adv = adversarial.fgsm_examples(m, x, y, 0.05, mask)
    delta = adv - x
    assert (delta[:, :, ~mask] == 0).all()
    assert torch.allclose(delta[:, :, mask].abs(), torch.full_like(delta[:, :, mask], 0.05), atol=1e-6)


def test_limeref_loss_terms(tmp_path):
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    spec = {"patch": 4, "image_size": [8, 8], "sets": {"global": [1, 0, 0, 0], "per_class": [[1, 0, 0, 0]] * 3}}
    path = tmp_path / "spurious.json"
    path.write_text(json.dumps(spec))
    plain, _ = losses.get_loss("ce")(m, x, y, {})
    # no masking, no adversarial term, no regulariser = plain cross-entropy
    same, _ = losses.get_loss("limeref")(m, x, y, {"spurious": str(path), "masking": False})
    assert same.item() == pytest.approx(plain.item())
    masked, _ = losses.get_loss("limeref")(m, x, y, {"spurious": str(path), "masking": True})
    ref, _ = losses.get_loss("ce")(m, limeref.mask_features(x, limeref.load_spurious_pixels(str(path))), y, {})
    assert masked.item() == pytest.approx(ref.item())
    full, _ = losses.get_loss("limeref")(m, x, y, {"spurious": str(path), "alpha": 1.0, "lam": 10.0})
    assert full.item() > masked.item()  # the adversarial and sensitivity terms add positive amounts


# ------------------------------------------------------------------------------------------------ AGA
class _Quadratic(torch.nn.Module):
    """logit_k = 0.5 * sum_i a_k,i x_i^2: input Hessian of class k is diag(a_k)."""

    def __init__(self, a):
        super().__init__()
        self.a = torch.nn.Parameter(a)

    def forward(self, x):
        return 0.5 * (x.flatten(1).pow(2)[:, None, :] * self.a[None]).sum(-1)


def test_gradient_alignment_terms_match_a_direct_computation():
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(7)
    l2, cosd = aga.gradient_alignment_terms(m, x, y, eps=0.05)
    torch.manual_seed(7)
    delta = torch.empty_like(x).uniform_(-0.05, 0.05)
    def grad_at(z):
        z = z.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(z).gather(1, y[:, None]).sum(), z)
        return g.flatten(1)
    g0, g1 = grad_at(x), grad_at(x + delta)
    assert l2.item() == pytest.approx((g1 - g0).pow(2).sum(1).mean().item(), rel=1e-5)
    cos = (g0 * g1).sum(1) / (g0.norm(dim=1) * g1.norm(dim=1))
    assert cosd.item() == pytest.approx(((1 - cos) / 2).mean().item(), rel=1e-4, abs=1e-7)
    # the regulariser trains the model (double backprop through grad g_y(x + delta) only)
    (l2 + cosd).backward()
    assert m[0].weight.grad is not None and m[0].weight.grad.abs().sum() > 0


def test_gradient_alignment_is_zero_for_a_linear_model_and_ce_without_weights():
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    l2, cosd = aga.gradient_alignment_terms(lin, x, y, eps=0.1)
    assert l2.item() == pytest.approx(0.0, abs=1e-10) and cosd.item() == pytest.approx(0.0, abs=1e-6)
    m = _model()
    plain, _ = losses.get_loss("ce")(m, x, y, {})
    same, _ = losses.get_loss("gradient_alignment")(m, x, y, {"lam_l2": 0.0, "lam_cos": 0.0})
    assert same.item() == pytest.approx(plain.item())
    more, _ = losses.get_loss("gradient_alignment")(m, x, y, {"lam_l2": 100.0, "lam_cos": 1.0, "eps": 0.1})
    assert more.item() > plain.item()


def test_hessian_estimate_on_a_known_hessian():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]])
    m = _Quadratic(a)
    x, y = torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 0])
    torch.manual_seed(11)
    got = aga.hessian_norm_estimate(m, x, y)
    torch.manual_seed(11)
    v = torch.randn_like(x).flatten(1)
    expect = (a[y] * v).pow(2).sum(1).mean()    # H v = diag(a_y) v
    assert got.item() == pytest.approx(expect.item(), rel=1e-6)
    got.backward()
    assert m.a.grad is not None and m.a.grad.abs().sum() > 0
    plain, _ = losses.get_loss("ce")(m, x, y, {})
    same, _ = losses.get_loss("hessian")(m, x, y, {"lam": 0.0})
    assert same.item() == pytest.approx(plain.item())


def test_hessian_loss_trains_a_batchnorm_model():
    from interprobust.models import build_model
    torch.manual_seed(0)
    m = build_model("resnet18", num_classes=3, in_channels=3, image_size=8, mean=[0.5] * 3, std=[0.25] * 3,
                    width=0.125, activation="softplus").train()
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    loss, _ = losses.get_loss("hessian")(m, x, y, {"lam": 1.0})
    loss.backward()  # third-order derivatives: BatchNorm must run on its running statistics here
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    assert m.training


def test_differentiable_batchnorm_equals_the_fused_layer():
    from interprobust.models import build_model
    torch.manual_seed(0)
    m = build_model("resnet18", num_classes=3, in_channels=3, image_size=8, mean=[0.5] * 3, std=[0.25] * 3,
                    width=0.125, activation="softplus").train()
    x = torch.rand(6, 3, 8, 8)
    stats = {k: v.clone() for k, v in m.state_dict().items() if "running" in k}
    with aga._differentiable_batchnorm(m):
        ours = m(x)
    after = {k: v.clone() for k, v in m.state_dict().items() if "running" in k}
    fused = m(x)  # the fused layer (this call updates the running statistics)
    assert torch.allclose(ours, fused, atol=1e-5)
    assert all(torch.equal(stats[k], after[k]) for k in stats)  # our pass left them alone
    assert all("_fused_forward" not in vars(mod) and "forward" not in vars(mod) for mod in m.modules())


def test_differentiable_batchnorm_can_update_running_statistics_as_the_fused_layer():
    """The Hessian loss runs its one forward through the differentiable BatchNorm: the running
    statistics it leaves must be the fused layer's, and its loss CE + lam * the separate estimate."""
    import copy
    from interprobust.models import build_model
    torch.manual_seed(0)
    m = build_model("resnet18", num_classes=3, in_channels=3, image_size=8, mean=[0.5] * 3, std=[0.25] * 3,
                    width=0.125, activation="softplus").train()
    fused = copy.deepcopy(m)
    x, y = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    for _ in range(2):
        with aga._differentiable_batchnorm(m, update_running_stats=True):
            m(x)
        fused(x)
    ours, theirs = m.state_dict(), fused.state_dict()
    keys = [k for k in theirs if "running" in k or "num_batches" in k]
    assert keys and all(torch.allclose(ours[k].float(), theirs[k].float(), atol=1e-6) for k in keys)
    torch.manual_seed(5)
    loss, _ = losses.get_loss("hessian")(fused, x, y, {"lam": 0.5})
    torch.manual_seed(5)
    expect = losses.get_loss("ce")(fused, x, y, {})[0] + 0.5 * aga.hessian_norm_estimate(fused, x, y)
    assert loss.item() == pytest.approx(expect.item(), rel=1e-5)


# ------------------------------------------------------------------------------ Madry AT and TRADES
def test_trades_with_beta_zero_is_ce_and_madry_with_eps_zero_is_ce():
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    plain, _ = losses.get_loss("ce")(m, x, y, {})
    trades0, _ = losses.get_loss("trades")(m, x, y, {"beta": 0.0})
    madry0, _ = losses.get_loss("madry")(m, x, y, {"eps": 0.0})
    assert trades0.item() == pytest.approx(plain.item()) and madry0.item() == pytest.approx(plain.item())
    torch.manual_seed(0)
    trades, _ = losses.get_loss("trades")(m, x, y, {"beta": 6.0, "eps": 0.1, "steps": 5, "step_size": 0.03})
    assert trades.item() > plain.item()  # the KL term is positive
    torch.manual_seed(0)
    madry, _ = losses.get_loss("madry")(m, x, y, {"eps": 0.1, "steps": 5, "step_size": 0.03})
    assert madry.item() > plain.item()   # CE at PGD examples exceeds clean CE


def test_kl_attack_increases_the_kl_and_stays_in_the_ball():
    from interprobust.attacks import PGD, kl_loss
    m, x = _model(), torch.rand(4, 3, 8, 8) * 0.8 + 0.1
    with torch.no_grad():
        p = torch.softmax(m(x), 1)
    adv = PGD(eps=0.05, steps=10, step_size=0.01, loss="kl")(m, x, p, init_delta=0.001 * torch.randn_like(x))
    assert (adv - x).abs().max() <= 0.05 + 1e-6
    with torch.no_grad():
        assert kl_loss(m(adv), p).mean() > kl_loss(m(x), p).mean() + 1e-6
    with pytest.raises(ValueError, match="restarts=1"):
        PGD(eps=0.05, loss="kl", restarts=2)


def test_gradient_alignment_loss_equals_ce_plus_its_terms():
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    params = {"lam_l2": 3.0, "lam_cos": 0.5, "eps": 0.05}
    torch.manual_seed(5)
    loss, _ = losses.get_loss("gradient_alignment")(m, x, y, params)
    torch.manual_seed(5)
    l2, cosd = aga.gradient_alignment_terms(m, x, y, eps=0.05)
    ce, _ = losses.get_loss("ce")(m, x, y, {})
    assert loss.item() == pytest.approx((ce + 3.0 * l2 + 0.5 * cosd).item(), rel=1e-5)


def test_cosine_criterion_is_invariant_to_scaling_the_last_layer_and_l2_is_not():
    """AGA's Lemma 3 on a real model: scaling the logits by c scales every input gradient by c, so the
    cosine criterion (CRC) is unchanged while the l2 criterion grows by c^2."""
    from interprobust.models import build_model
    torch.manual_seed(0)
    m = build_model("resnet18", num_classes=3, in_channels=3, image_size=8, mean=[0.5] * 3, std=[0.25] * 3,
                    width=0.125, activation="softplus").eval()
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(1)
    l2, cosd = aga.gradient_alignment_terms(m, x, y, eps=0.05)
    with torch.no_grad():
        m.classifier.weight.mul_(3.0)
        m.classifier.bias.mul_(3.0)
    torch.manual_seed(1)
    l2_scaled, cosd_scaled = aga.gradient_alignment_terms(m, x, y, eps=0.05)
    assert cosd_scaled.item() == pytest.approx(cosd.item(), rel=1e-4)
    assert l2_scaled.item() == pytest.approx(9.0 * l2.item(), rel=1e-4)
    assert cosd.item() > 0


def test_maxent_is_ce_minus_lam_times_the_mean_entropy():
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    loss, logits = losses.get_loss("maxent")(m, x, y, {"lam": 0.7})
    p = torch.softmax(logits, 1)
    entropy = -(p * p.log()).sum(1).mean()
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert loss.item() == pytest.approx((ce - 0.7 * entropy).item(), rel=1e-6)
    uniform = torch.zeros(2, 5)   # an all-equal prediction has the maximum entropy, log(5)
    lu = -(torch.softmax(uniform, 1) * torch.log_softmax(uniform, 1)).sum(1).mean()
    assert lu.item() == pytest.approx(torch.log(torch.tensor(5.0)).item())


def test_sep_with_gamma_zero_equals_madry_and_trades():
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    p = {"eps": 0.03, "steps": 3, "step_size": 0.01}
    for base, other in (("madry", "madry"), ("trades", "trades")):
        torch.manual_seed(5)
        sep, _ = losses.get_loss("sep")(m, x, y, {**p, "base": base, "gamma": 0.0, "beta": 1.0})
        torch.manual_seed(5)
        ref, _ = losses.get_loss(other)(m, x, y, {**p, "beta": 1.0})
        assert sep.item() == pytest.approx(ref.item(), rel=1e-6)


def test_flatness_is_zero_for_a_linear_model_with_gradient_attribution_and_trains_otherwise():
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    assert sep.explanation_flatness(lin, x, y, sigma=0.1, explain="gradient").item() == 0.0
    # with input x gradient the map moves with x: positive, and its gradient reaches the weights
    m = _model()
    torch.manual_seed(0)
    flat = sep.explanation_flatness(m, x, y, sigma=0.1)
    assert flat.item() > 0
    flat.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
    torch.manual_seed(1)
    pos, _ = losses.get_loss("sep")(m, x, y, {"eps": 0.0, "gamma": 1e4, "sigma": 0.1})
    torch.manual_seed(1)
    base, _ = losses.get_loss("madry")(m, x, y, {"eps": 0.0})
    assert pos.item() > base.item()


def test_reported_loss_parts_are_recorded_only_inside_a_recorder():
    import torch
    from interprobust.losses import recording_parts, report_part
    report_part("task", torch.tensor(1.0))            # no recorder: nothing happens
    with recording_parts() as parts:
        report_part("task", torch.tensor(2.0, requires_grad=True) * 1)
        report_part("reg", torch.tensor(0.5))
    assert set(parts) == {"task", "reg"} and float(parts["task"]) == 2.0
    assert not parts["task"].requires_grad


# ------------------------------------------------------------------------------ LIMEREF: loss parts
def _spurious(tmp_path, cells=(1, 0, 0, 0)):
    spec = {"patch": 4, "image_size": [8, 8], "sets": {"global": list(cells), "per_class": [list(cells)] * 3}}
    path = tmp_path / f"spurious_{''.join(map(str, cells))}.json"     # one file per F (the loader caches by path)
    path.write_text(json.dumps(spec))
    return str(path)


def test_limeref_reports_its_parts_and_the_total_is_their_weighted_sum(tmp_path):
    from interprobust.losses import recording_parts
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    params = {"spurious": _spurious(tmp_path), "masking": False, "alpha": 0.5, "lam": 2.0}
    with recording_parts() as parts:
        total, _ = losses.get_loss("limeref")(m, x, y, params)
    assert set(parts) == {"task", "adv", "reg"}
    assert total.item() == pytest.approx(float(parts["task"] + 0.5 * parts["adv"] + 2.0 * parts["reg"]), rel=1e-5)


def test_reg_fraction_sets_lambda_once_so_lambda_reg_is_that_share_of_the_task_loss(tmp_path):
    from interprobust.losses import recording_parts
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    params = {"spurious": _spurious(tmp_path), "masking": False, "alpha": 0.0, "reg_fraction": 0.25, "lam": 1e-9}
    with pytest.raises(ValueError, match="calibrate"):
        losses.get_loss("limeref")(m, x, y, params)          # an uncalibrated fraction is an error, not a guess
    cal = limeref.calibrate_lambda(m, x, y, params)
    assert cal["lam"] != 1e-9 and params["lam"] == 1e-9      # a new dict
    with recording_parts() as parts:
        total, _ = losses.get_loss("limeref")(m, x, y, cal)
    assert float(parts["reg"]) > 0
    assert total.item() == pytest.approx(1.25 * float(parts["task"]), rel=1e-5)   # at the start: 0.25 of L_task
    assert cal["lam_calibrated"]["reg"] == pytest.approx(float(parts["reg"]), rel=1e-5)
    assert limeref.calibrate_lambda(m, x, y, params)["lam"] == cal["lam"]        # deterministic (resume-safe)
    empty = limeref.calibrate_lambda(m, x, y, {**params, "spurious": _spurious(tmp_path, (0, 0, 0, 0))})
    assert empty["lam"] == 0.0


def test_reg_per_patch_is_the_pixel_mean_times_patch_squared(tmp_path):
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    mask = limeref.load_spurious_pixels(_spurious(tmp_path, (1, 0, 0, 1)))
    pixels = limeref.sensitivity_penalty(m, x, y, mask)
    patches = limeref.sensitivity_penalty(m, x, y, mask, pixels_per_feature=16)
    assert patches.item() == pytest.approx(16 * pixels.item(), rel=1e-5)
    with pytest.raises(ValueError, match="reg_normalise"):
        losses.get_loss("limeref")(m, x, y, {"spurious": _spurious(tmp_path), "lam": 1.0, "reg_normalise": "x"})


def test_limeref_loss_parts_reach_the_training_history(embedded_dir, tmp_path):
    import numpy as np

    from interprobust import train
    from interprobust.data import store
    d = store.load_prepared(embedded_dir / "digits_rgb32")
    store.write_prepared(tmp_path / "small", name="small", train_x=np.asarray(d.train_x[:64]),
                         train_y=np.asarray(d.train_y[:64]), test_x=np.asarray(d.test_x[:16]),
                         test_y=np.asarray(d.test_y[:16]), classes=d.meta["classes"])
    data = store.load_prepared(tmp_path / "small")
    spec = {"patch": 8, "image_size": [32, 32], "sets": {"global": [1] + [0] * 15, "per_class": [[1] + [0] * 15] * 10}}
    (tmp_path / "sp.json").write_text(json.dumps(spec))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(),
                                torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(64, 10))
    params = limeref.calibration_batch(model, data, {"spurious": str(tmp_path / "sp.json"), "alpha": 1.0,
                                                     "reg_fraction": 0.1, "reg_normalise": "patches"}, 32, 0, "cpu")
    history = train.fit(model, data, loss="limeref", config=train.TrainConfig(epochs=2, batch_size=32, lr=0.01),
                        loss_params=params, show_progress=False)
    assert len(history) == 2
    for part in ("train_task", "train_adv", "train_reg"):
        assert all(np.isfinite(h[part]) and h[part] > 0 for h in history), (part, history)


# ------------------------------------------------- AGA: penalties in the normalised space of RobustAGA
_MEAN, _STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


def _normalised_model(std=_STD):
    from interprobust.models import Normalize
    torch.manual_seed(0)
    rest = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(beta=3.0),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))
    return torch.nn.Sequential(Normalize(_MEAN, std), rest).double(), rest.double()


def _grad_z(rest, z, y, create_graph=False):
    z = z.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(rest(z).gather(1, y[:, None]).sum(), z, create_graph=create_graph)
    return g


def test_alignment_terms_equal_robustagas_formula_in_normalised_space():
    """RobustAGA by hand: z = (x - mu) / sigma, delta = U(-1, 1) eps / sigma, gradients d g_y / dz."""
    m, rest = _normalised_model()
    x, y, eps = torch.rand(4, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 0]), 4 / 255
    mu, sigma = m[0].mean.double(), m[0].std.double()
    torch.manual_seed(7)
    l2, cosd = aga.gradient_alignment_terms(m, x, y, eps=eps)
    torch.manual_seed(7)
    z = (x - mu) / sigma
    z_r = z + torch.empty_like(x).uniform_(-1, 1) * eps / sigma
    g0, g1 = _grad_z(rest, z, y).flatten(1), _grad_z(rest, z_r, y).flatten(1)
    assert l2.item() == pytest.approx((g0 - g1).pow(2).sum(1).mean().item(), rel=1e-6)
    cos = (g0 * g1).sum(1) / (g0.norm(dim=1) * g1.norm(dim=1))
    assert cosd.item() == pytest.approx(((1 - cos) / 2).mean().item(), rel=1e-6, abs=1e-12)
    # the pixel-space criterion is ~1/sigma^2 larger: the defect this replaces
    torch.manual_seed(7)
    delta = torch.empty_like(x).uniform_(-eps, eps)
    p0 = _grad_z(m, x, y).flatten(1)
    p1 = _grad_z(m, x + delta, y).flatten(1)
    assert (p0 - p1).pow(2).sum(1).mean().item() > 10 * l2.item()
    # and the training loss uses the same terms
    torch.manual_seed(7)
    loss, _ = losses.get_loss("gradient_alignment")(m, x, y, {"lam_l2": 2.0, "lam_cos": 0.5, "eps": eps})
    ce, _ = losses.get_loss("ce")(m, x, y, {})
    assert loss.item() == pytest.approx((ce + 2.0 * l2 + 0.5 * cosd).item(), rel=1e-9)


def test_hessian_estimate_equals_robustagas_formula_in_normalised_space():
    m, rest = _normalised_model()
    x, y = torch.rand(4, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(3)
    got = aga.hessian_norm_estimate(m, x, y)
    torch.manual_seed(3)
    z = ((x - m[0].mean) / m[0].std).requires_grad_(True)
    (g,) = torch.autograd.grad(rest(z).gather(1, y[:, None]).sum(), z, create_graph=True)
    v = torch.randn_like(z)                                     # the probe, in normalised space
    (hv,) = torch.autograd.grad((g * v).sum(), z)
    assert got.item() == pytest.approx(hv.pow(2).flatten(1).sum(1).mean().item(), rel=1e-6)


def test_cosd_is_scale_free_and_l2_scales_with_sigma_squared():
    """With one sigma for every channel the normalised gradient is sigma * the pixel gradient: the
    cosine criterion does not change, the l2 criterion is sigma^2 times the pixel-space one."""
    x, y, eps = torch.rand(4, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 0]), 0.05
    out = {}
    for s in (1.0, 0.2):
        m, _ = _normalised_model(std=[s] * 3)
        m[0].mean.zero_()                                      # the same function of x up to the scale s
        with torch.no_grad():
            m[1][0].weight.mul_(s)                             # conv(x / s) with weights * s = conv(x)
        torch.manual_seed(9)
        out[s] = aga.gradient_alignment_terms(m, x, y, eps=eps)
    (l2_1, cos_1), (l2_s, cos_s) = out[1.0], out[0.2]
    assert cos_s.item() == pytest.approx(cos_1.item(), rel=1e-6) and cos_1.item() > 0
    assert l2_s.item() == pytest.approx(0.2 ** 2 * l2_1.item(), rel=1e-6)


# --------------------------------------------------------------------------------- AGA's ATEX and IGA rows
from interprobust.losses import atex, iga  # noqa: E402


class _Constant(torch.nn.Module):
    """Logits b whatever the input (and a weight so that SmoothGrad has a graph)."""

    def __init__(self, b):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.b = torch.nn.Parameter(b)

    def forward(self, x):
        return self.b.expand(x.shape[0], -1) + self.w * x.flatten(1).sum(1, keepdim=True)


def test_atex_known_value_on_a_constant_model():
    b = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    m = _Constant(b).double()
    x, y = torch.rand(4, 1, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    loss, _ = losses.get_loss("atex")(m, x, y, {"lam": 0.5, "temperature": 2.0})
    ce = torch.nn.functional.cross_entropy(b.expand(4, -1), y)
    p, q = torch.softmax(b / 2.0, 0), torch.softmax(b, 0)
    kl = (p * (p.log() - q.log())).sum()                       # KL(softmax(b/T) || softmax(b)), each example
    assert loss.item() == pytest.approx((ce + 0.5 * kl).item(), rel=1e-9)
    same, _ = losses.get_loss("atex")(m, x, y, {"lam": 0.5, "temperature": 1.0})
    assert same.item() == pytest.approx(ce.item(), rel=1e-9)   # T = 1: the same prediction, KL 0


def test_atex_samples_lie_along_and_perpendicular_to_the_explanation():
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    params = {"mag": 0.05, "n_along": 5}
    torch.manual_seed(0)
    x_a, x_t, h = atex.atex_samples(m, x, y, params)
    assert not (x_a.requires_grad or x_t.requires_grad or h.requires_grad)
    step = (x_a - x).flatten(1).abs().amax(1)                  # |s| mag, s on ATEX's grid
    grid = atex.along_positions(5).abs().float() * 0.05
    assert all(torch.isclose(grid, v, atol=1e-6).any() for v in step)
    d = h / h.pow(2).sum((2, 3), keepdim=True).sqrt()
    assert (((x_t - x_a) * d).sum((2, 3))).abs().max() < 1e-5    # perpendicular per channel
    assert (x_t - x_a).abs().max() > 0
    assert torch.allclose(atex.along_positions(4), torch.tensor([-2, -1, 0, 1], dtype=torch.float64) / 3)


def test_atex_gradient_flows_only_through_the_two_predictions():
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    params = {"lam": 2.0, "mag": 0.05, "temperature": 1.5}
    torch.manual_seed(4)
    loss, _ = losses.get_loss("atex")(m, x, y, params)
    got = torch.autograd.grad(loss, list(m.parameters()))
    torch.manual_seed(4)
    x_a, x_t, _ = atex.atex_samples(m, x, y, params)          # the same draws
    soft = torch.softmax(m(x_a).detach() / 1.5, 1)
    by_hand = torch.nn.functional.cross_entropy(m(x), y) + 2.0 * torch.nn.functional.kl_div(
        torch.log_softmax(m(x_t), 1), soft, reduction="batchmean")
    want = torch.autograd.grad(by_hand, list(m.parameters()))
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-6)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-7)


def test_iga_known_value_on_a_linear_model():
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3)).double()
    x, y = torch.rand(4, 3, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    loss, _ = losses.get_loss("iga")(lin, x, y, {"lam": 0.7, "eps": 0.0})
    w = lin[1].weight[y]                                        # the input gradient of a linear model
    cos = torch.nn.functional.cosine_similarity(w, x.flatten(1), dim=1)
    ce = torch.nn.functional.cross_entropy(lin(x), y)
    assert loss.item() == pytest.approx((ce + 0.7 * (1 - cos).mean()).item(), rel=1e-9)
    # the alignment term's gradient reaches the weights (through the input gradient: double backprop)
    (gw,) = torch.autograd.grad(loss - ce, lin[1].weight)
    assert gw.abs().sum() > 0


def test_iga_worst_case_stays_in_the_ball_and_raises_the_objective_and_trains():
    m, x, y = _model(), torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    params = {"lam": 1.0, "eps": 0.03, "steps": 5, "step_size": 0.01}
    torch.manual_seed(2)
    x_t = iga.iga_worst_case(m, x, y, params)
    assert (x_t - x).abs().max() <= 0.03 + 1e-6 and x_t.min() >= 0 and x_t.max() <= 1
    assert not x_t.requires_grad
    assert iga.iga_objective(m, x_t, y, 1.0)[0] > iga.iga_objective(m, x, y, 1.0)[0]
    torch.manual_seed(2)
    loss, _ = losses.get_loss("iga")(m, x, y, params)
    z = x_t.clone().requires_grad_(True)
    want = torch.nn.functional.cross_entropy(m(z), y) + iga.misalignment(m, z, y).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    loss.backward()                                             # double backprop through grad g_y(x~)
    assert m[0].weight.grad is not None and m[0].weight.grad.abs().sum() > 0
