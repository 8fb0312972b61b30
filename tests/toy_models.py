"""Small models shared by the tests (importable: pytest puts this folder on sys.path)."""

import torch
from torch import nn


class LinearInFeatures(nn.Module):
    """A 'classifier' whose class-0 probability is exactly 0.1 + sum_j beta_j * (kept fraction of patch j)."""

    def __init__(self, beta, patch):
        super().__init__()
        self.beta, self.patch = beta, patch

    def forward(self, x):
        z = nn.functional.avg_pool2d(x.mean(1, keepdim=True), self.patch).flatten(1)
        p = 0.1 + z @ self.beta
        return torch.stack([p.log(), (1 - p).log()], 1)


def train_briefly(model, x, y, *, epochs: int, batch: int, lr: float, generator: torch.Generator):
    """A few epochs of Adam on (x, y), seeded; returns the model in eval mode with no .grad left."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model
