"""``interprobust sep pairs|evaluate``: the representative pairs; one model's explanation robustness."""

from __future__ import annotations

from ...commands.common import load_for_eval, model_job, subcommands
import numpy as np

from ...io import read_arrays as npz


def pairs(a):
    from ...io import write_arrays
    from .evaluate import sep_pairs
    model, _, data, device = load_for_eval(a)
    s = a.settings
    found = sep_pairs(model, data, clusters=s["clusters"], per_cluster=s["per_cluster"], seed=s.get("seed", 0),
                      device=device)
    write_arrays(a.out, found)
    n = len(found["victim"])
    print(f"{len(found['images'])} representative images -> {n} ordered pairs ({int(found['intra'].sum())} "
          f"intra-cluster); each evaluated model attacks {n} pairs x {s['attack']['steps']} steps")


def evaluate(a):
    """One model and test-time attribution: the attack row, and with --landscape-out / --saliency-out /
    --examples-out the explanation- and classification-loss landscape, the saliency maps and the attacked
    images of a few pairs (one model load for all). The attack's per-chunk results are kept in
    ``<out>.parts/`` until the row is written, so a killed job resumes where it stopped."""
    import shutil
    from pathlib import Path

    from ...io import write_arrays, write_dataframe
    from . import evaluate as E
    model, _, data, device = load_for_eval(a)
    s, p = a.settings, npz(a.pairs)
    parts = Path(str(a.out) + ".parts")
    n_examples = int(s.get("examples", 0)) if a.examples_out else 0
    out = E.sep_explanation_robustness(
        model, data, p, explain=a.attribution, attack_settings=s["attack"], pgd_settings=s["pgd"],
        adv_eps=s["adv_eps"], max_samples=s.get("max_samples"), batch_size=s.get("batch_size", 256),
        explain_options=s.get("explain_options"), device=device, parts_dir=parts, examples=n_examples)
    df, examples = out if n_examples else (out, None)
    if a.examples_out:
        write_arrays(a.examples_out, examples if examples is not None else {"pair": np.zeros(0, np.int64)})
    if a.landscape_out:
        write_dataframe(E.sep_landscape(model, data, p, explain=a.attribution, sigmas=s["landscape"]["sigmas"],
                                        draws=s["landscape"].get("draws", 4), seed=s.get("seed", 0),
                                        explain_options=s.get("explain_options"), device=device), a.landscape_out)
    if a.saliency_out:
        write_arrays(a.saliency_out, E.sep_saliency(model, data, p, explain=a.attribution,
                                                    n_images=s.get("saliency_images", 4), device=device))
    write_dataframe(df, a.out)
    shutil.rmtree(parts, ignore_errors=True)
    print(df.T.to_string())


def register(sub) -> None:
    group = subcommands(sub, "sep", "SEP: pairs, explanation attack, landscape, saliency maps")
    model_job(group.add_parser("pairs"), model_help="the normally trained feature model",
              settings_help="the config's sep section (JSON)").set_defaults(func=pairs)
    e = group.add_parser("evaluate")
    e.add_argument("--pairs", required=True)
    e.add_argument("--attribution", default="input_x_gradient", help="the test-time attribution")
    e.add_argument("--landscape-out", help="also the explanation-loss landscape (CSV)")
    e.add_argument("--saliency-out", help="also the saliency maps of the representative images (npz)")
    e.add_argument("--examples-out", help="also the attacked images and maps of sep.examples pairs (npz)")
    model_job(e, settings_help="the config's sep section (JSON)").set_defaults(func=evaluate)
