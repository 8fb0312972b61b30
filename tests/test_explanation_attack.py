"""The targeted explanation attack (Dombrowski et al. 2019, as used by SEP and AGA): it moves the
explanation towards the target while the prediction holds, stays in the ε-ball and [0, 1], gives the
same result batched as pair by pair, is deterministic, and leaves the model as it found it.

A tiny Softplus ConvNet trained for a few seconds on seeded, learnable random data (the class is the
bright quadrant) is the victim model; the explanation is a local input x gradient."""

import copy

import pytest
import torch
from torch import nn

from interprobust import attacks as A
from interprobust.explain import manipulation as EM
from interprobust.explain import maps
from interprobust.nn import relu_softplus_surrogate
from toy_models import train_briefly
from interprobust.models import build_model

EPS = 8 / 255


def ixg(model, x, target, create_graph=False):
    """Input x gradient of the target logit (the attack's ``explain`` interface)."""
    (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x, create_graph=create_graph)
    return g * x


def grad_only(model, x, target, create_graph=False):
    (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x, create_graph=create_graph)
    return g


def _data(n, generator):
    y = torch.randint(0, 4, (n,), generator=generator)
    x = torch.rand(n, 3, 8, 8, generator=generator) * 0.6
    for c in range(4):
        r, q = divmod(c, 2)
        x[y == c, :, 4 * r:4 * r + 4, 4 * q:4 * q + 4] += 0.4
    return x.clamp_(0, 1), y


def _model(activation):
    torch.manual_seed(0)
    model = build_model("convnet", num_classes=4, in_channels=3, image_size=8, mean=[0.5] * 3,
                        std=[0.25] * 3, width=0.125, activation=activation)
    g = torch.Generator().manual_seed(0)
    x, y = _data(1024, g)
    train_briefly(model, x, y, epochs=3, batch=64, lr=1e-2, generator=g)
    xt, yt = _data(64, torch.Generator().manual_seed(1))
    assert A.clean_accuracy(model, xt, yt) > 80.0
    return model, xt


@pytest.fixture(scope="module")
def softplus_net():
    return _model("softplus")


def _pairs(model, x, n=12):
    """Victims x[:n] and the (sum-normalised) explanation maps of other images as targets."""
    victims = x[:n].clone()
    targets = EM.explanation_maps(model, x[n:2 * n], ixg)
    return victims, targets


def _pred(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


# ------------------------------------------------------------------------------------- the loss

def test_explanation_map_and_loss_definitions():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 2, 4, 5, generator=g)
    t = torch.randn(3, 2, 4, 5, generator=g)
    m = h.abs().sum(1)
    ms = m / m.sum((1, 2), keepdim=True)
    mx = m / m.amax((1, 2), keepdim=True)
    torch.testing.assert_close(maps.explanation_map(h, "sum"), ms)
    torch.testing.assert_close(maps.explanation_map(h, "max"), mx)
    torch.testing.assert_close(maps.explanation_map(h, None), m)
    ts = t.abs().sum(1) / t.abs().sum(1).sum((1, 2), keepdim=True)
    torch.testing.assert_close(maps.explanation_loss(h, t), ((ms - ts) ** 2).mean((1, 2)))
    torch.testing.assert_close(maps.explanation_loss(h, t, reduction="sum"), ((ms - ts) ** 2).sum((1, 2)))
    # per sample: a sample's loss does not depend on the others (normalisation is per sample)
    torch.testing.assert_close(maps.explanation_loss(h[1:2], t[1:2]), maps.explanation_loss(h, t)[1:2])
    # a (H, W) target broadcasts; an already normalised map is a fixed point of the normalisation
    frame = torch.ones(4, 5)
    frame[1:3, 1:4] = 0
    assert maps.explanation_loss(h, frame, normalize="max").shape == (3,)
    torch.testing.assert_close(maps.explanation_map(ms, "sum"), ms)
    assert torch.equal(maps.explanation_map(torch.zeros(2, 3, 4, 4)), torch.zeros(2, 4, 4))


# ------------------------------------------------------------------------------------- the attack

def test_attack_moves_explanation_to_target_and_keeps_prediction(softplus_net):
    model, x = softplus_net
    victims, targets = _pairs(model, x)
    att = EM.ExplanationAttack(16 / 255, steps=40, explain=ixg)
    r = att.run(model, victims, target_map=targets)
    pred = _pred(model, victims)
    assert torch.equal(r.pred, pred) and torch.equal(r.y, pred)      # default: explain the prediction
    # it works: every pair ends lower, the mean by a clear margin
    assert bool((r.expl_end <= r.expl_start).all())
    assert r.expl_end.mean() < 0.8 * r.expl_start.mean(), (r.expl_start, r.expl_end)
    assert bool(r.pred_kept.all()) and torch.equal(_pred(model, r.x_adv), pred)
    assert bool((r.best_step > 0).all())
    # the record's losses are SEP's Definition 1, recomputed independently
    with torch.enable_grad():
        h_start = ixg(model, victims.clone().requires_grad_(True), pred)
        h_end = ixg(model, r.x_adv.clone().requires_grad_(True), pred)
    torch.testing.assert_close(r.expl_start, maps.explanation_loss(h_start, targets), rtol=1e-4, atol=1e-12)
    torch.testing.assert_close(r.expl_end, maps.explanation_loss(h_end, targets), rtol=1e-4, atol=1e-12)
    # __call__ returns the same x_adv
    assert torch.equal(att(model, victims, target_map=targets), r.x_adv)


def test_prediction_constraint_and_fallback_to_start(softplus_net):
    """With no weight on the output the attack is free to flip predictions; the best-iterate rule
    still only returns iterates with the clean prediction (or the start)."""
    model, x = softplus_net
    victims, targets = _pairs(model, x)
    pred = _pred(model, victims)
    att = EM.ExplanationAttack(0.5, steps=15, lr=0.1, explain=ixg, expl_weight=1e7, output_weight=0.0)
    r = att.run(model, victims, target_map=targets)
    kept = _pred(model, r.x_adv) == pred
    assert torch.equal(kept, r.pred_kept)
    assert bool(kept.all())      # the clean start always keeps its own prediction
    last = EM.ExplanationAttack(0.5, steps=15, lr=0.1, explain=ixg, expl_weight=1e7, output_weight=0.0,
                               select="last").run(model, victims, target_map=targets)
    assert bool((last.best_step == 15).all())
    assert not bool(last.pred_kept.all())        # unconstrained, the last iterates do flip some
    assert torch.equal(last.pred_kept, _pred(model, last.x_adv) == pred)
    # a start whose prediction differs already: nothing qualifies -> the start, flagged
    far = torch.where(victims > 0.5, 0.0, 1.0)     # far outside the ball: same as the init_delta start
    r2 = EM.ExplanationAttack(1.0, steps=3, explain=ixg, expl_weight=1e7, output_weight=0.0).run(
        model, victims, target_map=targets, init_delta=far - victims)
    start_kept = _pred(model, far) == pred
    assert torch.equal(r2.pred_kept | start_kept, r2.pred_kept)
    fallback = ~r2.pred_kept
    assert bool(fallback.any())
    assert torch.equal(r2.x_adv[fallback], far[fallback])
    assert bool((r2.best_step[fallback] == 0).all())
    torch.testing.assert_close(r2.expl_end[fallback], maps.explanation_loss(
        ixg(model, far[fallback].clone().requires_grad_(True), pred[fallback]), targets[fallback]),
        rtol=1e-4, atol=1e-12)


def test_eps_ball_and_unit_box(softplus_net):
    model, x = softplus_net
    victims, targets = _pairs(model, x)
    victims[0, :, :2] = 0.0          # pixels on both faces of the box
    victims[1, :, :2] = 1.0
    for eps in (0.0, 2 / 255, 0.1):
        att = EM.ExplanationAttack(eps, steps=6, lr=0.05, explain=ixg, random_start=True, seed=1,
                                  select="last")
        adv = att(model, victims, target_map=targets)
        assert adv.shape == victims.shape and adv.dtype == victims.dtype
        assert float((adv - victims).abs().max()) <= eps + 1e-6
        assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    assert torch.equal(EM.ExplanationAttack(0.0, steps=3, lr=0.1, explain=ixg)(model, victims, target_map=targets),
                       victims)


def test_batched_equals_pair_by_pair(softplus_net):
    model, x = softplus_net
    victims, targets = _pairs(model, x, n=6)
    att = EM.ExplanationAttack(EPS, steps=15, explain=ixg)
    r = att.run(model, victims, target_map=targets)
    for i in range(len(victims)):
        ri = att.run(model, victims[i:i + 1], target_map=targets[i:i + 1])
        torch.testing.assert_close(ri.x_adv[0], r.x_adv[i], atol=1e-5, rtol=0)
        torch.testing.assert_close(ri.expl_end[0], r.expl_end[i], rtol=1e-3, atol=1e-12)
        torch.testing.assert_close(ri.expl_start[0], r.expl_start[i], rtol=1e-4, atol=1e-12)
        assert bool(ri.pred_kept[0] == r.pred_kept[i])
    # chunking inside one call (memory bound) changes nothing either
    chunked = EM.ExplanationAttack(EPS, steps=15, explain=ixg, batch_size=4).run(model, victims, target_map=targets)
    torch.testing.assert_close(chunked.x_adv, r.x_adv, atol=1e-5, rtol=0)
    # one (H, W) target for every victim equals the target repeated per victim
    one = att(model, victims, target_map=targets[0])
    rep = att(model, victims, target_map=targets[:1].expand(len(victims), -1, -1))
    torch.testing.assert_close(one, rep, atol=1e-6, rtol=0)


def test_deterministic_for_a_seed(softplus_net):
    model, x = softplus_net
    victims, targets = _pairs(model, x, n=6)
    torch.manual_seed(123)
    a = EM.ExplanationAttack(EPS, steps=8, explain=ixg, random_start=True, seed=5).run(model, victims, target_map=targets)
    torch.manual_seed(999)        # the global RNG plays no part
    b = EM.ExplanationAttack(EPS, steps=8, explain=ixg, random_start=True, seed=5).run(model, victims, target_map=targets)
    c = EM.ExplanationAttack(EPS, steps=8, explain=ixg, random_start=True, seed=6).run(model, victims, target_map=targets)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.expl_end, b.expl_end)
    assert torch.equal(a.best_step, b.best_step)
    assert not torch.equal(a.x_adv, c.x_adv)


def test_model_mode_parameters_and_buffers_untouched(softplus_net):
    model, x = softplus_net
    victims, targets = _pairs(model, x, n=4)
    net = copy.deepcopy(model)
    net.train()
    net.body[1].eval()                               # a mixed mode must come back as it was
    modes = [m.training for m in net.modules()]
    frozen = net.classifier.bias
    frozen.requires_grad_(False)
    marker = torch.full_like(net.body[0].weight, 0.5)
    net.body[0].weight.grad = marker.clone()
    state = copy.deepcopy(net.state_dict())          # BN running statistics included
    flags = [p.requires_grad for p in net.parameters()]
    seen = []
    handle = net.register_forward_pre_hook(lambda mod, inp: seen.append(mod.training))
    try:
        EM.ExplanationAttack(EPS, steps=3, explain=ixg).run(net, victims, target_map=targets)
    finally:
        handle.remove()
    assert seen and not any(seen), "the attack must run the model in eval mode"
    assert [m.training for m in net.modules()] == modes
    assert [p.requires_grad for p in net.parameters()] == flags
    assert torch.equal(net.body[0].weight.grad, marker)
    assert all(p.grad is None for n, p in net.named_parameters() if n != "body.0.weight")
    after = net.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)


def test_works_inside_no_grad_and_returns_on_input_device(softplus_net):
    model, x = softplus_net
    victims, targets = _pairs(model, x, n=3)
    att = EM.ExplanationAttack(EPS, steps=3, explain=ixg)
    ref = att(model, victims, target_map=targets)
    with torch.no_grad():
        inside = att(model, victims, target_map=targets)
    assert torch.equal(ref, inside) and not inside.requires_grad


def test_aga_variant_frame_target(softplus_net):
    """RobustAGA's form: gamma * sum-MSE to a max-normalised frame map + (1 - gamma) * logit MSE,
    explaining the true label; the same implementation, other options."""
    model, x = softplus_net
    victims = x[:8]
    y = _data(64, torch.Generator().manual_seed(1))[1][:8]
    frame = torch.ones(8, 8)
    frame[2:6, 2:6] = 0.0
    att = EM.ExplanationAttack.aga(EPS, explain=grad_only, steps=30)
    assert (att.expl_weight, att.output_weight, att.normalize, att.reduction, att.output) == \
        (0.5, 0.5, "max", "sum", "logits")
    assert att.lr == pytest.approx(4 * EPS / 30)
    r = att.run(model, victims, y, target_map=frame)
    assert torch.equal(r.y, y)
    assert r.expl_end.mean() < 0.9 * r.expl_start.mean()
    assert float((r.x_adv - victims).abs().max()) <= EPS + 1e-6


def test_softplus_beta_growth_for_relu_nets():
    model, x = _model("relu")
    victims, targets = _pairs(model, x, n=6)
    relus_before = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    # the surrogate context swaps every ReLU for a Softplus and puts the same modules back
    with relu_softplus_surrogate(model, beta=10.0) as sps:
        assert len(sps) == len(relus_before)
        assert not any(isinstance(m, nn.ReLU) for m in model.modules())
        assert all(isinstance(m, nn.Softplus) and m.beta == 10.0 for m in sps)
    after = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    assert [n for n, _ in after] == [n for n, _ in relus_before]
    assert all(a is b for (_, a), (_, b) in zip(after, relus_before))
    # the attack with beta growth: selection and losses with the real ReLU network
    r = EM.ExplanationAttack(EPS, steps=10, explain=ixg, beta_growth=True).run(model, victims, target_map=targets)
    assert bool((r.expl_end <= r.expl_start).all()) and bool(r.pred_kept.all())
    with torch.enable_grad():
        h_end = ixg(model, r.x_adv.clone().requires_grad_(True), r.pred)
    torch.testing.assert_close(r.expl_end, maps.explanation_loss(h_end, targets), rtol=1e-4, atol=1e-12)
    assert all(a is b for (_, a), (_, b) in zip(
        [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ReLU)], relus_before))
    with pytest.raises(ValueError, match="ReLU"):
        EM.ExplanationAttack(EPS, steps=2, explain=ixg, beta_growth=True).run(
            _model_softplus_tiny(), victims, target_map=targets)


def _model_softplus_tiny():
    torch.manual_seed(0)
    return build_model("convnet", num_classes=4, in_channels=3, image_size=8, mean=[0.5] * 3,
                       std=[0.25] * 3, width=0.125, activation="softplus").eval()


def test_default_weights_and_argument_errors(softplus_net):
    model, x = softplus_net
    att = EM.ExplanationAttack(EPS, steps=10, explain=ixg)
    a, b = att._weights(x[:1], 4)
    assert a == pytest.approx(1e11 * (64 / 224 ** 2) ** 2) and b == pytest.approx(1e6 * 4 / 1000)
    a_sum, _ = EM.ExplanationAttack(EPS, explain=ixg, reduction="sum")._weights(x[:1], 4)
    assert a_sum == pytest.approx(a / 64)
    assert EM.ExplanationAttack.dombrowski(EPS, explain=ixg).steps == 1500
    assert "explanation" not in A.ATTACKS           # it needs target maps: no drop-in evasion attack
    with pytest.raises(ValueError, match="target_map"):
        att(model, x[:2])
    with pytest.raises(ValueError):
        EM.ExplanationAttack(EPS, explain=ixg, gamma=0.5, expl_weight=1.0, output_weight=1.0)
    with pytest.raises(ValueError):
        EM.ExplanationAttack(EPS, explain=ixg, normalize="max")     # default weights need 'sum'
    with pytest.raises(ValueError):
        EM.ExplanationAttack(EPS, explain=ixg, optimizer="sgd")
    with pytest.raises(ValueError):
        att(model, x[:3], target_map=torch.zeros(2, 8, 8))


def test_with_the_pipeline_attributions(softplus_net):
    attributions = pytest.importorskip("interprobust.explain.attributions")
    model, x = softplus_net
    victims = x[:6]
    targets = EM.explanation_maps(model, x[6:12], "input_x_gradient")
    local = EM.explanation_maps(model, x[6:12], ixg)
    torch.testing.assert_close(targets, local, rtol=1e-4, atol=1e-9)
    r = EM.ExplanationAttack(EPS, steps=20, explain="input_x_gradient").run(model, victims, target_map=targets)
    assert r.expl_end.mean() < 0.9 * r.expl_start.mean() and bool(r.pred_kept.all())
    # the other differentiable methods SEP and AGA attack (a callable from the module works as well)
    for method in ("gradient", "guided_backprop"):
        tm = EM.explanation_maps(model, x[6:12], method)
        explain = (lambda m, z, t, create_graph=False, _m=method:
                   attributions.attribute(_m, m, z, t, create_graph=create_graph))
        r = EM.ExplanationAttack(16 / 255, steps=15, explain=explain).run(model, victims, target_map=tm)
        assert r.expl_end.mean() < 0.95 * r.expl_start.mean(), method
        assert bool(r.pred_kept.all())


# ------------------------------------------------------------------- memory planner (issue #17)

def test_planner_measures_a_known_per_item_footprint_and_the_planned_chunk_fits_the_budget():
    from interprobust import memory
    d = 1000
    w = torch.randn(d, requires_grad=True)

    def step(n):                                   # saves x (n*d floats) for mul, and x*w (n*d) for square
        x = torch.randn(n, d, requires_grad=True)
        ((x * w).square().sum()).backward()

    fp = memory.measure_footprint(step, "cpu", total=100)
    assert fp.per_item == 2 * d * 4 and fp.fixed == d * 4       # w is saved once, whatever n
    budget = 100_000
    n = memory.plan_chunk(fp, budget, total=100)
    assert fp.bytes(n) <= budget < fp.bytes(n + 1)
    assert memory.plan_chunk(fp, budget, total=5) == 5          # never more than there is
    assert memory.plan_chunk(fp, 10, total=5) == 1              # nothing fits: one at a time (then back-off)
    assert memory.saved_tensor_bytes(lambda: step(n)) <= budget


def test_attack_plan_fits_the_budget_measured_on_the_attack_step(softplus_net):
    from interprobust import memory
    model, x = softplus_net
    victims, targets = _pairs(model, x, n=12)
    attack = EM.ExplanationAttack(EPS, steps=3, explain=ixg)
    n, fp, budget = attack.plan_batch_size(model, victims, targets, memory_fraction=1.0)
    assert n == 12 and fp.per_item > 0                          # a tiny model: everything fits
    # a budget for 5 pairs: the plan is 5, and one real step on 5 pairs stays inside it
    small = fp.bytes(5)
    planned = memory.plan_chunk(fp, small, total=12)
    assert planned == 5
    one_step = EM.ExplanationAttack(EPS, steps=1, explain=ixg, select="last")
    used = memory.saved_tensor_bytes(lambda: one_step.run(model, victims[:planned], target_map=targets[:planned]))
    assert used <= small * 1.05


def test_run_chunked_halves_a_chunk_that_runs_out_of_memory_and_covers_every_item():
    from interprobust import memory
    seen = []

    def fn(i, j):
        if j - i > 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        seen.append((i, j))
        return j - i

    out = list(memory.run_chunked(fn, 0, 10, 8))
    assert [(a, b) for a, b, _ in out] == seen and sum(r for *_, r in out) == 10
    assert all(b - a <= 3 for a, b in seen) and seen[0] == (0, 2)     # 8 -> 4 -> 2, kept afterwards
    with pytest.raises(RuntimeError, match="not memory"):              # other errors are not retried
        list(memory.run_chunked(lambda i, j: (_ for _ in ()).throw(RuntimeError("not memory")), 0, 4, 2))


# ------------------------------------------------------------ recorded steps and early stop

def test_recorded_losses_equal_shorter_attacks_and_the_end(softplus_net):
    model, x = softplus_net
    victims, targets = _pairs(model, x, n=6)
    full = EM.ExplanationAttack(EPS, steps=8, lr=0.01, explain=ixg, record_steps=(0, 3, 8, 20)).run(
        model, victims, target_map=targets)
    torch.testing.assert_close(full.expl_at[:, 0], full.expl_start)
    torch.testing.assert_close(full.expl_at[:, 2], full.expl_end)
    assert torch.isnan(full.expl_at[:, 3]).all()                        # beyond the attack's steps
    short = EM.ExplanationAttack(EPS, steps=3, lr=0.01, explain=ixg).run(model, victims, target_map=targets)
    torch.testing.assert_close(full.expl_at[:, 1], short.expl_end)      # as if it had stopped after 3 steps
    assert (full.steps_run == 8).all()


def test_early_stop_freezes_pairs_per_sample_and_does_not_depend_on_batching(softplus_net):
    model, x = softplus_net
    victims, targets = _pairs(model, x, n=6)
    kw = dict(steps=12, lr=0.01, explain=ixg, early_stop=(3, 0.5), record_steps=(12,))
    batched = EM.ExplanationAttack(EPS, **kw).run(model, victims, target_map=targets)
    assert (batched.steps_run < 12).any() and (batched.steps_run % 3 == 0).all()
    single = [EM.ExplanationAttack(EPS, **kw).run(model, victims[i:i + 1], target_map=targets[i:i + 1])
              for i in range(6)]
    assert torch.equal(batched.steps_run, torch.cat([s.steps_run for s in single]))
    torch.testing.assert_close(batched.expl_end, torch.cat([s.expl_end for s in single]), rtol=1e-4, atol=1e-12)
    torch.testing.assert_close(batched.expl_at[:, 0], batched.expl_end)
    free = EM.ExplanationAttack(EPS, steps=12, lr=0.01, explain=ixg).run(model, victims, target_map=targets)
    assert (batched.expl_end >= free.expl_end - 1e-12).all()           # stopping early never helps the attack


def test_integrated_gradients_with_path_chunks_follows_the_same_path(softplus_net):
    """Chunking IG's path points (memory) gives the attack the same gradient: the same iterates."""
    model, x = softplus_net
    victims, targets = _pairs(model, x, n=4)
    ig = EM.named_explainer("integrated_gradients", steps=6)
    kw = dict(steps=4, lr=0.01, explain=ig)
    whole = EM.ExplanationAttack(EPS, **kw).run(model, victims, target_map=targets)
    chunked = EM.ExplanationAttack(EPS, path_chunk=2, **kw).run(model, victims, target_map=targets)
    torch.testing.assert_close(chunked.x_adv, whole.x_adv, rtol=0, atol=1e-5)
    torch.testing.assert_close(chunked.expl_end, whole.expl_end, rtol=1e-4, atol=1e-12)
    assert (whole.expl_end < whole.expl_start).any()
    with pytest.raises(ValueError, match="integrated_gradients"):
        EM.ExplanationAttack(EPS, explain=ixg, path_chunk=2)
