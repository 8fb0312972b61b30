import numpy as np
import pytest
import torch

from interprobust import losses, train
from interprobust.data import batches, store


def _tiny_model(channels=3, classes=10):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(channels, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(64, classes))


@pytest.fixture
def small_data(embedded_dir, tmp_path):
    d = store.load_prepared(embedded_dir / "digits_rgb32")
    store.write_prepared(tmp_path / "small", name="small", train_x=np.asarray(d.train_x[:96]),
                         train_y=np.asarray(d.train_y[:96]), test_x=np.asarray(d.test_x[:40]),
                         test_y=np.asarray(d.test_y[:40]), classes=d.meta["classes"])
    return store.load_prepared(tmp_path / "small")


CFG = dict(epochs=3, batch_size=32, lr=0.05, crop_padding=2, flip=True)


def test_cpu_training_is_bitwise_deterministic(small_data):
    states = []
    for _ in range(2):
        m = _tiny_model()
        h = train.fit(m, small_data, config=train.TrainConfig(**CFG), seed=1, show_progress=False)
        states.append(m.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
    assert len(h) == 3 and {"epoch", "train_loss", "test_acc", "seconds"} <= set(h[0])
    m3 = _tiny_model()
    train.fit(m3, small_data, config=train.TrainConfig(**CFG), seed=2, show_progress=False)
    assert not torch.equal(m3.state_dict()["0.weight"], states[0]["0.weight"])


def _kill_after_two_epochs(monkeypatch):
    """Make the third evaluation raise KeyboardInterrupt (a kill after epoch 2's checkpoint); returns undo."""
    calls = {"n": 0}
    real_eval = train.evaluate_loss_accuracy

    def dying_eval(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_eval(*a, **k)

    monkeypatch.setattr(train, "evaluate_loss_accuracy", dying_eval)
    return lambda: monkeypatch.setattr(train, "evaluate_loss_accuracy", real_eval)


def test_killed_run_resumes_to_the_same_weights(small_data, tmp_path, monkeypatch):
    ref = _tiny_model()
    ref_hist = train.fit(ref, small_data, config=train.TrainConfig(**CFG), seed=0, show_progress=False)

    undo = _kill_after_two_epochs(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train.fit(_tiny_model(), small_data, config=train.TrainConfig(**CFG), seed=0,
                  checkpoint_dir=tmp_path / "ckpt", show_progress=False)
    undo()
    saved = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)
    assert saved["epoch"] == 2

    resumed = _tiny_model()
    hist = train.fit(resumed, small_data, config=train.TrainConfig(**CFG), seed=0,
                     checkpoint_dir=tmp_path / "ckpt", show_progress=False)
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    assert hist[-1]["test_acc"] == ref_hist[-1]["test_acc"]
    for k, v in ref.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_non_finite_loss_names_epoch_and_step(small_data):
    def nan_loss(model, x, y, params):
        logits = model(x)
        return logits.sum() * float("nan"), logits

    losses.TRAINING_LOSSES["_nan"] = nan_loss
    try:
        with pytest.raises(train.NonFiniteLossError, match="epoch 1, step 1"):
            train.fit(_tiny_model(), small_data, loss="_nan", config=train.TrainConfig(**CFG), show_progress=False)
    finally:
        del losses.TRAINING_LOSSES["_nan"]


def test_unknown_loss_and_option_list_valid_names():
    with pytest.raises(ValueError, match="valid losses: .*ce"):
        losses.get_loss("nope")
    with pytest.raises(ValueError, match="unknown training option"):
        train.TrainConfig.from_dict({"epochz": 3})


def test_training_learns(small_data):
    m = _tiny_model()
    h = train.fit(m, small_data, config=train.TrainConfig(epochs=6, batch_size=16, lr=0.05, crop_padding=0,
                                                          flip=False), show_progress=False)
    assert h[-1]["train_loss"] < h[0]["train_loss"]


def test_crop_flip_augmentation():
    x = torch.rand(6, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(batches.random_crop_flip(x, 0, False, g), x)
    out = batches.random_crop_flip(x, 2, False, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):  # each output is some 8x8 window of its own padded input
        windows = padded[i].unfold(1, 8, 1).unfold(2, 8, 1)  # (C, 5, 5, 8, 8)
        assert any(torch.equal(windows[:, r, c], out[i]) for r in range(5) for c in range(5))
    flipped = batches.random_crop_flip(x, 0, True, torch.Generator().manual_seed(1))
    is_flip = [torch.equal(flipped[i], x[i].flip(-1)) for i in range(6)]
    is_same = [torch.equal(flipped[i], x[i]) for i in range(6)]
    assert all(a or b for a, b in zip(is_flip, is_same)) and any(is_flip) and any(is_same)


def test_to_tensor_layout_and_errors():
    x = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    t = batches.to_tensor(x)
    assert t.shape == (2, 3, 3, 4) and t.dtype == torch.float32
    assert t[1, 2, 0, 3].item() == pytest.approx(x[1, 0, 3, 2] / 255)
    with pytest.raises(ValueError, match="uint8"):
        batches.to_tensor(x.astype(np.int32))


def test_step_cost_times_a_step_and_leaves_the_model_alone():
    import math

    from interprobust.train import step_cost
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 4, (8,))
    c = step_cost(model, "ce", {}, x, y, steps=2, warmup=1)
    assert c["seconds_per_step"] > 0 and math.isnan(c["peak_mib"])  # no CUDA: memory is not measured
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="ce"):
        step_cost(model, "no_such_method", {}, x, y)


def test_the_train_command_is_reproducible_across_processes(small_data, tmp_path):
    """Two separate `interprobust train` runs with the same seed give bitwise the same model
    (initial weights included: they come from the seed, not from whatever the process drew before)."""
    import json
    import subprocess
    import sys

    from interprobust.models.store import load_model
    settings = json.dumps({"loss": "ce", "loss_params": {}, "model": {"width": 0.125},
                           "training": {"epochs": 1, "batch_size": 32, "lr": 0.05, "crop_padding": 2}})
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        subprocess.run([sys.executable, "-m", "interprobust", "train", "--data", str(small_data.path),
                        "--arch", "convnet", "--recipe", "ce", "--seed", "3", "--settings", settings,
                        "--device", "cpu", "--threads", "1", "--model-out", str(out / "model.pt"),
                        "--history-out", str(out / "history.csv")], check=True, capture_output=True)
        outs.append(load_model(out / "model.pt", "cpu")[0].state_dict())
    assert all(torch.equal(outs[0][k], outs[1][k]) for k in outs[0])


# ------------------------------------------------------------------------ resume only the very same run
def _train_argv(data, out, ckpt, model_settings):
    import json
    settings = json.dumps({"loss": "ce", "loss_params": {}, "model": model_settings,
                           "training": {"epochs": 3, "batch_size": 32, "lr": 0.05, "crop_padding": 2}})
    return ["train", "--data", str(data.path), "--arch", "convnet", "--recipe", "ce", "--seed", "0",
            "--settings", settings, "--device", "cpu", "--checkpoint-dir", str(ckpt),
            "--model-out", str(out / "model.pt"), "--history-out", str(out / "history.csv")]


def test_a_changed_model_setting_starts_fresh_and_says_why(small_data, tmp_path, monkeypatch, capsys):
    """A forced rerun with another activation must not resume the ReLU checkpoint (same shapes: it would
    load silently); the fresh model equals one trained without any checkpoint, and last.pt is removed."""
    from interprobust.cli import main
    from interprobust.models.store import load_model
    undo = _kill_after_two_epochs(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        main(_train_argv(small_data, tmp_path / "relu", tmp_path / "ckpt", {"width": 0.125}))
    undo()
    assert (tmp_path / "ckpt" / "last.pt").exists()
    capsys.readouterr()
    softplus = {"width": 0.125, "activation": "softplus"}
    assert main(_train_argv(small_data, tmp_path / "softplus", tmp_path / "ckpt", softplus)) == 0
    out = capsys.readouterr().out
    assert f"ignoring the checkpoint {tmp_path / 'ckpt' / 'last.pt'}" in out and "model.activation" in out
    assert "resuming" not in out
    assert not (tmp_path / "ckpt" / "last.pt").exists()     # removed once model.pt is written
    assert main(_train_argv(small_data, tmp_path / "fresh", tmp_path / "ckpt2", softplus)) == 0
    got, meta = load_model(tmp_path / "softplus" / "model.pt")
    ref = load_model(tmp_path / "fresh" / "model.pt")[0]
    assert meta["signature"]["activation"] == "softplus"
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in got.state_dict().items())


def test_identity_decides_whether_a_checkpoint_resumes(small_data, tmp_path, monkeypatch, capsys):
    undo = _kill_after_two_epochs(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train.fit(_tiny_model(), small_data, config=train.TrainConfig(**CFG), checkpoint_dir=tmp_path,
                  show_progress=False, identity={"model": {"width": 1.0}, "init_from": None})
    undo()
    capsys.readouterr()
    train.fit(_tiny_model(), small_data, config=train.TrainConfig(**CFG), checkpoint_dir=tmp_path,
              show_progress=False, identity={"model": {"width": 0.5}, "init_from": None})
    out = capsys.readouterr().out
    assert "ignoring the checkpoint" in out and "model.width" in out and "resuming" not in out


def test_a_corrupt_checkpoint_warns_and_starts_fresh(small_data, tmp_path, capsys):
    ref = _tiny_model()
    train.fit(ref, small_data, config=train.TrainConfig(**CFG), show_progress=False)
    (tmp_path / "last.pt").write_bytes(b"PK\x03\x04 half a zip file")   # a checkpoint cut short
    m = _tiny_model()
    hist = train.fit(m, small_data, config=train.TrainConfig(**CFG), checkpoint_dir=tmp_path, show_progress=False)
    out = capsys.readouterr().out
    assert f"warning: cannot read the checkpoint {tmp_path / 'last.pt'}" in out and "from scratch" in out
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in ref.state_dict().items())


def test_a_changed_spurious_file_starts_fresh(small_data, tmp_path, monkeypatch, capsys):
    """The loss reads the spurious-feature file by path: its content, not its name, is part of the run."""
    spurious = tmp_path / "spurious.json"
    spurious.write_text('{"version": 1}')
    seen = []

    def recording_loss(model, x, y, params):  # a CE loss that takes a spurious file, like LIMEREF's
        seen.append(params["spurious"])
        logits = model(x)
        return torch.nn.functional.cross_entropy(logits, y), logits

    monkeypatch.setitem(losses.TRAINING_LOSSES, "_spurious", recording_loss)
    undo = _kill_after_two_epochs(monkeypatch)
    kwargs = dict(loss="_spurious", loss_params={"spurious": str(spurious)}, config=train.TrainConfig(**CFG),
                  checkpoint_dir=tmp_path / "ckpt", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train.fit(_tiny_model(), small_data, **kwargs)
    undo()
    spurious.write_text('{"version": 2}')   # same path, other features
    capsys.readouterr()
    hist = train.fit(_tiny_model(), small_data, **kwargs)
    out = capsys.readouterr().out
    assert "ignoring the checkpoint" in out and "param_files.spurious" in out
    assert [r["epoch"] for r in hist] == [1, 2, 3]


def test_train_checks_its_output_folders_before_training(small_data, tmp_path, capsys):
    from interprobust.cli import main
    blocker = tmp_path / "results"
    blocker.write_text("a file where the output folder should be")
    assert main(_train_argv(small_data, blocker / "models", tmp_path / "ckpt", {"width": 0.125})) == 2
    captured = capsys.readouterr()
    assert f"cannot write into {blocker / 'models'}" in captured.err and "before training" in captured.err
    assert "epoch" not in captured.out and "training convnet" not in captured.out


# ------------------------------------------------------------------ a loop that does not wait on the host
def _count_host_reads(monkeypatch):
    """Count every way a tensor's value can reach Python (each is a synchronisation on CUDA)."""
    calls = {"n": 0}
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "numpy", "cpu"):
        real = getattr(torch.Tensor, name)

        def counting(self, *a, _real=real, **k):
            calls["n"] += 1
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counting)
    return calls


@pytest.mark.parametrize("loss,params,exact", [("ce", {}, True),
                                               ("madry", {"eps": 0.03, "steps": 2, "step_size": 0.01}, False)])
def test_the_training_loop_reads_the_device_once_per_epoch_not_per_step(small_data, monkeypatch, loss, params,
                                                                       exact):
    """Host reads do not grow with the number of steps: 3 steps per epoch read as often as 12. The loop's
    own counter says the same: one read per epoch, none per step. (Madry's loss reads one seed per step
    from torch's CPU generator: a host-only read, no device synchronisation; only the counter is checked.)"""
    counts = []
    for batch_size in (32, 8):          # 96 images: 3 and 12 steps per epoch
        calls = _count_host_reads(monkeypatch)
        before = dict(train.host_syncs)
        train.fit(_tiny_model(), small_data, loss=loss, loss_params=params,
                  config=train.TrainConfig(**{**CFG, "batch_size": batch_size}), show_progress=False)
        monkeypatch.undo()
        counts.append(calls["n"])
        assert train.host_syncs["epoch"] - before["epoch"] == CFG["epochs"]
        assert train.host_syncs["step"] == before["step"]
    if exact:
        assert counts[0] == counts[1], counts


def test_part_means_still_reach_the_history(small_data, monkeypatch):
    def two_part_loss(model, x, y, params):
        logits = model(x)
        ce = torch.nn.functional.cross_entropy(logits, y)
        losses.report_part("task", ce)
        losses.report_part("twice", 2 * ce)
        return ce, logits

    monkeypatch.setitem(losses.TRAINING_LOSSES, "_parts", two_part_loss)
    h = train.fit(_tiny_model(), small_data, loss="_parts", config=train.TrainConfig(**CFG), show_progress=False)
    for row in h:
        assert row["train_task"] == pytest.approx(row["train_loss"], rel=1e-6)
        assert row["train_twice"] == pytest.approx(2 * row["train_loss"], rel=1e-6)


def test_a_non_finite_loss_after_the_first_step_names_its_step(small_data, monkeypatch):
    calls = {"n": 0}

    def late_nan(model, x, y, params):
        calls["n"] += 1
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        return (loss * float("inf") if calls["n"] == 5 else loss), logits

    monkeypatch.setitem(losses.TRAINING_LOSSES, "_late", late_nan)
    with pytest.raises(train.NonFiniteLossError, match=r"\(inf\) at epoch 2, step 2"):
        train.fit(_tiny_model(), small_data, loss="_late", config=train.TrainConfig(**CFG), show_progress=False)


def test_bf16_and_channels_last_are_on_for_first_order_losses_on_cuda_only():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    auto = train.TrainConfig()
    assert auto.uses_bf16(cuda, "ce") and auto.uses_bf16(cuda, "madry") and auto.uses_bf16(cuda, "trades")
    assert not auto.uses_bf16(cuda, "sep") and not auto.uses_bf16(cuda, "gradient_alignment")
    assert not auto.uses_bf16(cpu, "ce") and not auto.uses_channels_last(cpu) and auto.uses_channels_last(cuda)
    off = train.TrainConfig(bf16=False, channels_last=False)    # a recipe's opt-out
    assert not off.uses_bf16(cuda, "ce") and not off.uses_channels_last(cuda)
    assert train.TrainConfig(bf16=True).uses_bf16(cuda, "sep")   # forced on


def test_double_backprop_losses_are_exactly_those_that_differentiate_a_gradient(monkeypatch):
    """The fp32 list equals the losses whose step calls autograd.grad(create_graph=True)."""
    real = torch.autograd.grad
    seen = []

    def recording(*a, **k):
        seen.append(bool(k.get("create_graph")))
        return real(*a, **k)

    monkeypatch.setattr(torch.autograd, "grad", recording)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 8 * 8, 3))
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    params = {"madry": {"steps": 1}, "trades": {"steps": 1}, "sep": {"steps": 1, "gamma": 1.0},
              "gradient_alignment": {"eps": 0.1, "lam_l2": 1.0}, "hessian": {"lam": 1.0}}
    assert train.DOUBLE_BACKPROP_LOSSES <= set(losses.TRAINING_LOSSES)
    for name in sorted(set(losses.TRAINING_LOSSES) - {"limeref"}):   # limeref needs a spurious-feature file
        if name.startswith("_"):
            continue
        seen.clear()
        value, _ = losses.get_loss(name)(model, x, y, params.get(name, {}))
        value.backward()
        assert any(seen) == (name in train.DOUBLE_BACKPROP_LOSSES), name


def test_the_training_set_goes_on_the_gpu_only_when_it_fits_its_budget():
    cifar = 50_000 * 32 * 32 * 3                      # 150 MB of uint8
    assert train.data_placement(cifar, 100 * 2 ** 30, 0.25) == "device"
    assert train.data_placement(cifar, 400 * 2 ** 20, 0.25) == "pinned"   # a quarter of 400 MiB: too small
    imagenet100 = 126_689 * 224 * 224 * 3            # 19 GB, on a 40 GB GPU
    assert train.data_placement(imagenet100, 40 * 2 ** 30, 0.25) == "pinned"
    assert train.data_placement(imagenet100, 40 * 2 ** 30, 0.5) == "device"
    assert train.data_placement(cifar, 100 * 2 ** 30, 0.0) == "pinned"    # 0: never on the GPU


def test_max_steps_per_epoch_cuts_each_epoch_to_its_first_batches(small_data, monkeypatch):
    """The paper-shaped run's count cut: each epoch stops after N batches (the history's train
    statistics are over those batches only); null trains on every batch."""
    calls = {"n": 0, "sizes": []}
    real = losses.TRAINING_LOSSES["ce"]

    def counting(model, x, y, params):
        calls["n"] += 1
        calls["sizes"].append(len(y))
        return real(model, x, y, params)

    monkeypatch.setitem(losses.TRAINING_LOSSES, "_counting", counting)
    cfg = {**CFG, "batch_size": 8, "epochs": 2}
    train.fit(_tiny_model(), small_data, loss="_counting", config=train.TrainConfig(**cfg, max_steps_per_epoch=3),
              show_progress=False)
    assert calls["n"] == 2 * 3 and set(calls["sizes"]) == {8}
    calls["n"] = 0
    train.fit(_tiny_model(), small_data, loss="_counting", config=train.TrainConfig(**cfg), show_progress=False)
    assert calls["n"] == 2 * -(-len(small_data.train_x) // 8)
