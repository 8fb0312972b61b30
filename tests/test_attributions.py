import pytest
import torch
import torch.nn.functional as F
from torch import nn

from interprobust.explain import attributions as A
from interprobust.explain import maps
from interprobust.models import BasicBlock, Normalize, build_model

MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: on a shared 2-core machine threads only add contention (100x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(arch="lenet", activation="relu", image_size=16, width=0.125, in_channels=3, seed=0, num_classes=5):
    torch.manual_seed(seed)
    m = build_model(arch, num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                    mean=MEAN[:in_channels], std=STD[:in_channels], width=width, activation=activation)
    for mod in m.modules():  # non-trivial BatchNorm statistics and affine parameters
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.1)
    return m.double().eval()


def _images(b=2, c=3, s=16, seed=1):
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


TARGET = torch.tensor([1, 3])


# ------------------------------------------------------------------------------------ vs captum
@pytest.mark.parametrize("arch,activation", [("lenet", "relu"), ("resnet18", "softplus")])
def test_gradient_and_input_x_gradient_match_captum(arch, activation):
    from captum.attr import InputXGradient, Saliency
    m, x = _model(arch, activation), _images()
    ours = A.attribute("gradient", m, x, TARGET)
    ref = Saliency(m).attribute(x.clone().requires_grad_(), target=TARGET, abs=False)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)
    ours = A.attribute("input_x_gradient", m, x, TARGET)
    ref = InputXGradient(m).attribute(x.clone().requires_grad_(), target=TARGET)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)
    # a baseline turns it into (x - b) * grad, e.g. x * grad in the model's normalised space times std
    mean = torch.tensor(MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    torch.testing.assert_close(A.attribute("input_x_gradient", m, x, TARGET, baseline=mean),
                               (x - mean) * A.attribute("gradient", m, x, TARGET))


@pytest.mark.parametrize("arch", ["lenet", "resnet18"])
def test_guided_backprop_matches_captum_on_relu_models(arch):
    from captum.attr import GuidedBackprop
    m, x = _model(arch, "relu"), _images()
    ours = A.attribute("guided_backprop", m, x, TARGET)
    ref = GuidedBackprop(m).attribute(x.clone().requires_grad_(), target=TARGET)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)
    assert not torch.allclose(ours, A.attribute("gradient", m, x, TARGET))


def test_guided_backprop_softplus_by_hand():
    beta = 3.0
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2), nn.Softplus(beta=beta), nn.Linear(2, 2)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 1.5]]))
        net[1].bias.copy_(torch.tensor([0.1, -0.2]))
        net[3].weight.copy_(torch.tensor([[2.0, -3.0], [1.0, 1.0]]))
    x = torch.tensor([0.3, 0.4], dtype=torch.float64).view(1, 1, 1, 2)
    z = net[1].weight @ x.flatten() + net[1].bias
    r = net[3].weight[0]                                     # the signal reaching the Softplus: (2, -3)
    expected = net[1].weight.T @ (torch.sigmoid(beta * z) * r.clamp(min=0))   # only the unit with R > 0
    got = A.attribute("guided_backprop", net, x, 0)
    torch.testing.assert_close(got.flatten(), expected.detach())
    plain = net[1].weight.T @ (torch.sigmoid(beta * z) * r)
    torch.testing.assert_close(A.attribute("gradient", net, x, 0).flatten(), plain.detach())


@pytest.mark.parametrize("method", ["riemann_right", "riemann_trapezoid", "riemann_middle"])
def test_integrated_gradients_match_captum(method):
    from captum.attr import IntegratedGradients
    m, x = _model("lenet", "softplus"), _images()
    ours = A.attribute("integrated_gradients", m, x, TARGET, steps=20, method=method)
    ref = IntegratedGradients(m).attribute(x, baselines=0.0, target=TARGET, n_steps=20, method=method)
    if method == "riemann_trapezoid":  # captum weighs its n points 1/n (ends 1/2n), not 1/(n-1): total (n-1)/n
        ref = ref * 20 / 19
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-10)   # captum's alphas are float32
    chunked = A.attribute("integrated_gradients", m, x, TARGET, steps=20, method=method, batch_size=7)
    torch.testing.assert_close(chunked, ours, rtol=1e-10, atol=1e-14)


def test_integrated_gradients_completeness():
    m, x = _model("resnet18", "softplus"), _images()
    attr = A.attribute("integrated_gradients", m, x, TARGET, steps=256, method="riemann_trapezoid")
    with torch.no_grad():
        gap = m(x).gather(1, TARGET[:, None])[:, 0] - m(torch.zeros_like(x)).gather(1, TARGET[:, None])[:, 0]
    torch.testing.assert_close(attr.flatten(1).sum(1), gap, rtol=1e-3, atol=1e-6)
    assert A.attribute("integrated_gradients", m, x, TARGET).shape == x.shape   # the default 50 steps


def test_smoothgrad_matches_captum_noise_tunnel_with_the_same_noise():
    from captum.attr import NoiseTunnel, Saliency
    m, x = _model("lenet", "softplus").float(), _images().float()
    ours = A.attribute("smoothgrad", m, x, TARGET, n=6, sigma=0.2, seed=5)
    torch.manual_seed(5)  # captum draws from the global RNG: the same stream as our seeded generator
    ref = NoiseTunnel(Saliency(m)).attribute(x, nt_type="smoothgrad", nt_samples=6, stdevs=0.2, target=TARGET,
                                             abs=False)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(A.attribute("smoothgrad", m, x, TARGET, n=6, sigma=0.2, seed=5, batch_size=5), ours,
                               rtol=1e-5, atol=1e-7)
    assert not torch.allclose(A.attribute("smoothgrad", m, x, TARGET, n=6, sigma=0.2, seed=6), ours)
    # a vanishing noise level gives the gradient
    torch.testing.assert_close(A.attribute("smoothgrad", m, x, TARGET, n=3, sigma=1e-7),
                               A.attribute("gradient", m, x, TARGET), rtol=1e-3, atol=1e-5)


# -------------------------------------------------------------------------------------------- LRP
def _stab(z, eps=1e-8):
    return z + ((z == 0).to(z) + z.sign()) * eps


def _vjp(fn, inp, grad_out):
    with torch.enable_grad():
        inp = inp.detach().requires_grad_(True)
        return torch.autograd.grad(fn(inp), inp, grad_out)[0]


def _layer_fn(m, w, b):
    if isinstance(m, nn.Conv2d):
        return lambda a: F.conv2d(a, w, b, m.stride, m.padding)
    return lambda a: F.linear(a, w, b)


def _leaf_rule(m, a, R, first, box):
    """The textbook rules written out per layer (independent of zennit's hooks)."""
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        w, b = m.weight, m.bias if m.bias is not None else torch.zeros(m.weight.shape[0], dtype=a.dtype)
        if m is first:   # z^B: (a w - l w+ - h w-) / sum(...) R
            lo, hi = (t.expand_as(a) for t in box)
            f, fp, fn = _layer_fn(m, w, b), _layer_fn(m, w.clamp(min=0), b.clamp(min=0)), \
                _layer_fn(m, w.clamp(max=0), b.clamp(max=0))
            s = R / _stab(f(a) - fp(lo) - fn(hi))
            return a * _vjp(f, a, s) - lo * _vjp(fp, lo, s) - hi * _vjp(fn, hi, s)
        ap, an = a.clamp(min=0), a.clamp(max=0)   # z+: a+ w+ (+ b+) and a- w-
        fp, fn = _layer_fn(m, w.clamp(min=0), b.clamp(min=0)), _layer_fn(m, w.clamp(max=0), None)
        s = R / _stab(fp(ap) + fn(an))
        return ap * _vjp(fp, ap, s) + an * _vjp(fn, an, s)
    if isinstance(m, nn.MaxPool2d):
        return _vjp(m, a, R)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return a * _vjp(m, a, R / _stab(m(a)))
    if isinstance(m, nn.Flatten):
        return R.view_as(a)
    assert isinstance(m, (Normalize, nn.BatchNorm2d, nn.ReLU, nn.Softplus, nn.Identity)), m
    return R


def _ref_forward(mods, a, tape):
    for m in mods:
        if isinstance(m, BasicBlock):
            main, short = [], []
            out = _ref_forward([m.conv1, m.bn1, m.act1, m.conv2, m.bn2], a, main)
            sc = _ref_forward(list(m.shortcut) if isinstance(m.shortcut, nn.Sequential) else [], a, short)
            tape.append(("sum", main, short, out, sc))
            a = _ref_forward([m.act2], out + sc, tape)
        else:
            tape.append(("leaf", m, a))
            a = m(a)
    return a


def _ref_backward(tape, R, first, box):
    for entry in reversed(tape):
        if entry[0] == "sum":
            _, main, short, out, sc = entry
            d = _stab(out.clamp(min=0) + sc.clamp(min=0))
            R = _ref_backward(main, out.clamp(min=0) / d * R, first, box) + \
                _ref_backward(short, sc.clamp(min=0) / d * R, first, box)
        else:
            R = _leaf_rule(entry[1], entry[2], R, first, box)
    return R


def _reference_lrp(m, x, target):
    if hasattr(m, "stem"):
        mods = [m.normalize, *m.stem, *m.layer1, *m.layer2, *m.layer3, *m.layer4, m.pool, m.flatten, m.classifier]
    else:
        mods = [m.normalize, *m.body, m.classifier]
    first = next(mod for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear)))
    box = ((0 - m.normalize.mean) / m.normalize.std, (1 - m.normalize.mean) / m.normalize.std)
    with torch.no_grad():
        tape = []
        out = _ref_forward(mods, x, tape)
        R = torch.zeros_like(out).scatter_(1, target[:, None], 1.0) * out
        return _ref_backward(tape, R, first, box)


@pytest.mark.parametrize("arch,activation", [("lenet", "relu"), ("resnet18", "relu"), ("resnet18", "softplus")])
def test_lrp_matches_a_layerwise_reference(arch, activation):
    m, x = _model(arch, activation), _images()
    ours = A.attribute("lrp", m, x, TARGET)
    torch.testing.assert_close(ours, _reference_lrp(m, x, TARGET), rtol=1e-7, atol=1e-12)
    # R starts from the logit; start='one' (RobustAGA) is the same map divided by it
    one = A.attribute("lrp", m, x, TARGET, start="one")
    with torch.no_grad():
        logit = m(x).gather(1, TARGET[:, None])[:, 0]
    torch.testing.assert_close(one * logit.view(-1, 1, 1, 1), ours, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("arch,activation", [("lenet", "softplus"), ("resnet18", "relu")])
def test_lrp_conserves_relevance_without_biases(arch, activation):
    # (with Softplus a residual sum whose two branches are both negative still feeds a positive output:
    # the positive-part split then drops that relevance, so the ResNet check uses ReLU)
    m, x = _model(arch, activation), _images()
    for mod in m.modules():   # z+ puts positive biases in the denominator; z^B conserves with them
        if isinstance(mod, (nn.Conv2d, nn.Linear)) and mod.bias is not None:
            nn.init.zeros_(mod.bias)
    r = A.attribute("lrp", m, x, TARGET)
    with torch.no_grad():
        logit = m(x).gather(1, TARGET[:, None])[:, 0]
    torch.testing.assert_close(r.flatten(1).sum(1), logit, rtol=1e-6, atol=1e-10)


def test_lrp_refuses_unsupported_models():
    m = _model("wrn28", width=0.05, image_size=8)
    with pytest.raises(ValueError, match="LRP is implemented for"):
        A.attribute("lrp", m, _images(s=8), TARGET)


@pytest.mark.parametrize("arch", ["lenet", "resnet18"])
def test_lrp_is_differentiable_and_keeps_its_values(arch):
    """RobustAGA attacks LRP maps (create_graph=True): the differentiable LRP has the same values as the
    detached one (so still the layer-wise reference) and its derivative in x passes gradcheck."""
    m = _model(arch, "softplus", image_size=8, in_channels=1, num_classes=3)
    x, t = _images(b=1, c=1, s=8).requires_grad_(True), torch.tensor([2])
    r = A.attribute("lrp", m, x, t, create_graph=True)
    assert r.requires_grad
    torch.testing.assert_close(r.detach(), A.attribute("lrp", m, x, t), rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(lambda z: A.attribute("lrp", m, z, t, create_graph=True), (x,), fast_mode=True)
    # through a non-leaf input (the attack's x0 + delta) and to the parameters
    delta = torch.zeros_like(x, requires_grad=True)
    A.attribute("lrp", m, x.detach() + delta, t, create_graph=True).pow(2).sum().backward()
    assert delta.grad.abs().sum() > 0
    assert all(not d for d in _hook_dicts(m))          # zennit's hooks removed


def test_lrp_map_is_moved_by_the_adv_insertion_attack():
    """The frame-target attack of Adv-Insertion now attacks LRP: the attacked map is closer to the target."""
    from interprobust.explain.manipulation import ExplanationAttack
    from interprobust.papers.aga.evaluate import frame_map
    m = _model("lenet", "softplus", image_size=16)
    x, t = _images(), TARGET
    target = frame_map(16, 16).double()
    attack = ExplanationAttack.aga(8 / 255, explain="lrp", steps=20, seed=0)
    x_adv = attack(m, x, t, target_map=target)
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-9 and (x_adv - x).abs().max() > 0

    def dist(z):
        return (maps.heatmap(A.attribute("lrp", m, z, t)) - target).pow(2).flatten(1).sum(1)
    assert bool((dist(x_adv) < dist(x)).all())


# ------------------------------------------------------------------------------ differentiability
def _tiny(activation="softplus"):
    return _model("lenet", activation, image_size=8, in_channels=1, num_classes=3)


@pytest.mark.parametrize("method", ["gradient", "input_x_gradient", "guided_backprop"])
def test_attributions_are_differentiable_in_the_input(method):
    m = _tiny()
    x = _images(b=1, c=1, s=8).requires_grad_(True)
    t = torch.tensor([2])
    assert torch.autograd.gradcheck(lambda z: A.attribute(method, m, z, t, create_graph=True), (x,),
                                    fast_mode=True)
    # through a non-leaf input (an attack's x0 + delta)
    delta = torch.zeros_like(x, requires_grad=True)
    A.attribute(method, m, x.detach() + delta, t, create_graph=True).pow(2).sum().backward()
    assert delta.grad.abs().sum() > 0


@pytest.mark.parametrize("method,activation", [("gradient", "softplus"), ("input_x_gradient", "softplus"),
                                               ("guided_backprop", "softplus"), ("guided_backprop", "relu")])
def test_attribution_losses_reach_the_parameters(method, activation):
    m = _tiny(activation)
    x, t = _images(b=2, c=1, s=8), torch.tensor([0, 2])

    def loss():
        return A.attribute(method, m, x, t, create_graph=True).pow(2).sum()

    params = dict(m.named_parameters())
    grads = dict(zip(params, torch.autograd.grad(loss(), list(params.values()), allow_unused=True)))
    for name, p in params.items():
        if name.endswith("weight"):
            assert grads[name] is not None and grads[name].abs().sum() > 0, name
    assert all(p.grad is None for p in m.parameters())
    w = params["body.0.weight"]     # directional derivative vs central finite difference
    v = torch.randn(w.shape, generator=torch.Generator().manual_seed(3), dtype=w.dtype)
    h = 1e-6
    with torch.no_grad():
        w += h * v
        up = loss().item()
        w -= 2 * h * v
        down = loss().item()
        w += h * v
    assert (grads["body.0.weight"] * v).sum().item() == pytest.approx((up - down) / (2 * h), rel=1e-5)


def test_without_create_graph_results_are_detached_and_work_under_no_grad():
    m, x = _model(), _images()
    with torch.no_grad():
        for name in A.ATTRIBUTIONS:
            out = A.attribute(name, m, x, TARGET)
            assert out.shape == x.shape and not out.requires_grad
    for name in ("integrated_gradients", "smoothgrad"):   # these keep the graph too when asked
        out = A.attribute(name, m, x, TARGET, create_graph=True, **({"steps": 3} if name[0] == "i" else {"n": 3}))
        assert out.requires_grad


# ---------------------------------------------------------------------------- model left unchanged
def _hook_dicts(m):
    return [getattr(mod, d) for mod in m.modules() for d in
            ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")]


@pytest.mark.parametrize("arch", ["lenet", "resnet18"])
def test_model_is_left_unchanged(arch):
    m, x = _model(arch), _images()
    m.train()
    m.classifier.eval()   # mixed modes come back as they were
    modes = [mod.training for mod in m.modules()]
    names = [n for n, _ in m.named_modules()]
    state = {k: v.clone() for k, v in m.state_dict().items()}
    m.eval()
    with torch.no_grad():
        before = m(x)
    m.train()
    m.classifier.eval()
    for name in A.ATTRIBUTIONS:
        A.attribute(name, m, x, TARGET, **({"steps": 4} if name == "integrated_gradients" else {}),
                    **({"n": 3} if name == "smoothgrad" else {}))
    for bad in ("guided_backprop", "lrp"):   # an error inside the hooked forward
        with pytest.raises(ValueError, match="Normalize expects"):
            A.attribute(bad, m, _images(c=1), TARGET)
    assert all(not d for d in _hook_dicts(m))
    assert [mod.training for mod in m.modules()] == modes
    assert [n for n, _ in m.named_modules()] == names
    assert not any("forward" in vars(mod) for mod in m.modules())
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in m.parameters())
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x), before)


# ----------------------------------------------------------------------------- API and heatmaps
def test_unknown_method_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        A.attribute("deeplift", _model(), _images(), TARGET)
    for name in ("gradient", "input_x_gradient", "guided_backprop", "lrp", "integrated_gradients", "smoothgrad"):
        assert name in str(err.value)


def test_targets_default_to_the_prediction_and_accept_ints():
    m, x = _model(), _images()
    with torch.no_grad():
        pred = m(x).argmax(1)
    torch.testing.assert_close(A.attribute("gradient", m, x), A.attribute("gradient", m, x, pred))
    torch.testing.assert_close(A.attribute("gradient", m, x, 2), A.attribute("gradient", m, x, [2, 2]))


def test_heatmap_and_sum_normalised_map_are_per_sample():
    attr = torch.randn(3, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    h = maps.heatmap(attr)
    assert h.shape == (3, 5, 5)
    torch.testing.assert_close(h, attr.abs().sum(1) / attr.abs().sum(1).amax((1, 2), keepdim=True))
    torch.testing.assert_close(h.amax((1, 2)), torch.ones(3))
    scaled = attr.clone()
    scaled[0] *= 100
    torch.testing.assert_close(maps.heatmap(scaled), h)
    s = maps.explanation_map(attr, "sum")
    torch.testing.assert_close(s.sum((1, 2)), torch.ones(3))
    torch.testing.assert_close(maps.explanation_map(scaled, "sum"), s)
    assert torch.equal(maps.heatmap(torch.zeros(1, 3, 2, 2)), torch.zeros(1, 2, 2))


def _last_feature_module(m, arch):
    """The module whose output feeds the last pooling, named by hand per architecture (captum's layer)."""
    if arch == "resnet18":
        return m.layer4
    seq = next(mod for mod in reversed(list(m.modules()))
               if isinstance(mod, nn.Sequential) and any(isinstance(c, nn.MaxPool2d) for c in mod))
    children = list(seq)
    last_pool = max(i for i, c in enumerate(children) if isinstance(c, nn.MaxPool2d))
    return children[last_pool - 1]


@pytest.mark.parametrize("arch", ["resnet18", "convnet"])
def test_gradcam_matches_captum_layer_gradcam(arch):
    from captum.attr import LayerAttribution, LayerGradCam
    m, x = _model(arch, image_size=16), _images()
    ours = A.attribute("gradcam", m, x, TARGET)
    ref = LayerGradCam(m, _last_feature_module(m, arch)).attribute(x, target=TARGET, relu_attributions=True)
    ref = LayerAttribution.interpolate(ref, x.shape[-2:], interpolate_mode="bilinear")
    torch.testing.assert_close(ours, ref.expand_as(x), rtol=1e-6, atol=1e-10)
    assert (ours >= 0).all() and ours.shape == x.shape and ours.abs().sum() > 0


def test_gradcam_without_pooling_names_the_fix():
    flat = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(ValueError, match="pass gradcam\\(layer=...\\)"):
        A.attribute("gradcam", flat, torch.rand(1, 3, 2, 2), 0)
