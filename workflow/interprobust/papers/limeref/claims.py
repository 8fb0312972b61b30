"""LIMEREF's claims, checked on this run's figures' numbers."""

from __future__ import annotations

from ...results import Claim, Results, artifact_id, row


def _beats_baseline(attack: str, eps: float):
    def check(results: Results):
        df, _ = results.read(artifact_id("limeref", role="cifar10", attack=attack), role="cifar10")
        df = df[(df.attack == attack) & ((df.eps - eps).abs() < 1e-9)]
        acc = {m: float(row(df, "model", m).accuracy) for m in ("baseline", "refined")}
        return acc["refined"] > acc["baseline"], f"refined {acc['refined']:.1f} % vs baseline {acc['baseline']:.1f} %"
    return check


CLAIMS = [
    Claim("LIMEREF", "the refined model beats the baseline under PGD at ε = 0.03 (CIFAR-10)", _beats_baseline("pgd", 0.03)),
    Claim("LIMEREF", "the refined model beats the baseline under FGSM at ε = 0.03 (CIFAR-10)",
          _beats_baseline("fgsm", 0.03)),
]
