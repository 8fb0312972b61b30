"""AGA Fig. 1: two-layer networks on a 2-D toy set, and the gradients of their logit at two nearby points.

Four variants, each trained with the training registry's own losses (one way to train a regulariser):
ReLU + CE, Softplus + CE, Softplus + MaxEnt and Softplus + ours (l2 + cosd, ``gradient_alignment``).
The binary "logit" is g_1 - g_0 of the two-logit network (the BCE logit of the paper's figure).
Plain data in, plain data out: ``toy_experiment`` returns arrays a figure draws.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ... import losses
from ...nn import make_activation

VARIANTS = {  # name -> (activation, training loss)
    "ReLU": ("relu", "ce"),
    "Softplus": ("softplus", "ce"),
    "Softplus + MaxEnt": ("softplus", "maxent"),
    "Softplus + ours": ("softplus", "gradient_alignment"),
}


class TwoLayerNet(nn.Module):
    """x in [0, 1]^2 -> hidden -> 2 logits."""

    def __init__(self, hidden: int = 64, activation: str = "relu", softplus_beta: float = 3.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), make_activation(activation, softplus_beta), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def toy_data(n: int, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's two moons, rescaled to [0, 1]^2 (every input lives in pixel units here too)."""
    from sklearn.datasets import make_moons
    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    x = (x - np.array([-1.5, -1.0])) / np.array([4.0, 2.5])
    return np.clip(x, 0.0, 1.0).astype(np.float32), y.astype(np.int64)


def train_toy(x: np.ndarray, y: np.ndarray, *, activation: str, loss: str, params: dict | None = None,
              hidden: int = 64, steps: int = 2000, lr: float = 0.01, seed: int = 0) -> TwoLayerNet:
    """Full-batch Adam on the registered training loss ``loss``; seeded, deterministic on the CPU."""
    torch.manual_seed(seed)
    net = TwoLayerNet(hidden, activation)
    loss_fn = losses.get_loss(loss)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(steps):
        torch.manual_seed(seed * 100003 + step)  # the regularisers' random draws, as train.fit seeds them
        value, _ = loss_fn(net, xt, yt, params or {})
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return net.eval()


def logit_and_gradient(net: nn.Module, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The binary logit g_1 - g_0 at each point and its input gradient."""
    p = torch.as_tensor(points, dtype=torch.float32).requires_grad_(True)
    out = net(p)
    logit = out[:, 1] - out[:, 0]
    (grad,) = torch.autograd.grad(logit.sum(), p)
    return logit.detach().numpy(), grad.numpy()


def toy_experiment(*, n: int = 300, noise: float = 0.1, hidden: int = 64, steps: int = 2000, lr: float = 0.01,
                   variant_params: dict | None = None, distance: float = 0.05, grid: int = 120,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Train the four variants on the same data; pick the two nearby points p and q = p + distance * u
    (p: the data point nearest every variant's decision boundary, mean |logit| over variants; u a
    seeded unit direction), and return the level-curve grids, both gradients, their l2 distance and
    cosine similarity per variant."""
    variant_params = variant_params or {}
    x, y = toy_data(n, noise, seed)
    nets = {name: train_toy(x, y, activation=act, loss=loss, params=variant_params.get(name, {}),
                            hidden=hidden, steps=steps, lr=lr, seed=seed)
            for name, (act, loss) in VARIANTS.items()}
    closeness = np.mean([np.abs(logit_and_gradient(net, x)[0]) for net in nets.values()], axis=0)
    p = x[int(np.argmin(closeness))]
    angle = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    q = np.clip(p + distance * np.array([np.cos(angle), np.sin(angle)], dtype=np.float32), 0, 1)
    pair = np.stack([p, q]).astype(np.float32)
    axis = np.linspace(0, 1, grid, dtype=np.float32)
    gx, gy = np.meshgrid(axis, axis)
    grid_points = np.stack([gx.ravel(), gy.ravel()], 1)
    out = {"x": x, "y": y, "pair": pair, "axis": axis, "variants": np.array(list(nets))}
    levels, grads, l2, cos = [], [], [], []
    for net in nets.values():
        levels.append(logit_and_gradient(net, grid_points)[0].reshape(grid, grid))
        g = logit_and_gradient(net, pair)[1]
        grads.append(g)
        l2.append(float(np.linalg.norm(g[0] - g[1])))
        cos.append(float(g[0] @ g[1] / max(np.linalg.norm(g[0]) * np.linalg.norm(g[1]), 1e-12)))
    out.update(levels=np.stack(levels), gradients=np.stack(grads), l2=np.array(l2), cosine=np.array(cos))
    return out
