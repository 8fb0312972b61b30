"""``interprobust aga evaluate|toy``: one model's attribution robustness; Fig. 1's toy networks."""

from __future__ import annotations

from ...commands.common import json_arg, load_for_eval, model_job, set_threads, subcommands


def selected_model(selection: str, candidates: list[str], recipes: list[str]) -> str:
    """The candidate model of the recipe the grid table ``selection`` marks as selected."""
    import pandas as pd
    if len(candidates) != len(recipes):
        raise SystemExit(f"{len(candidates)} candidate models but {len(recipes)} candidate recipes")
    table = pd.read_csv(selection)
    chosen = table.loc[table["selected"].astype(bool), "recipe"].tolist()
    if len(chosen) != 1 or chosen[0] not in recipes:
        raise SystemExit(f"{selection}: selected recipe(s) {chosen} not exactly one of the candidates {recipes}")
    return candidates[recipes.index(chosen[0])]


def evaluate(a):
    if a.selection:
        a.model = selected_model(a.selection, a.candidates or [], a.candidate_recipes or [])
        print(f"selected model: {a.model}", flush=True)
    elif not a.model:
        raise SystemExit("aga evaluate needs --model, or --selection with --candidates and --candidate-recipes")
    from ...data.subsets import write_indices
    from ...io import write_arrays, write_dataframe
    from . import evaluate as E
    model, _, data, device = load_for_eval(a)
    s = a.settings
    scores, curves = E.explanation_robustness(
        model, data, methods=s["attributions"], rps_eps=s["rps_eps"], n_noise=s.get("n_noise", 10),
        attack_eps=s["attack_eps"], attack_steps=s.get("attack_steps", 100), max_samples=s.get("max_samples"),
        batch_size=s.get("batch_size", 64), seed=s.get("seed", 0), device=device,
        insertion_baseline=s.get("insertion_baseline", "mean"), insertion_points=s.get("insertion_points", 20))
    if a.indices_out:
        idx = E.evaluation_indices(data, s.get("max_samples"), s.get("seed", 0))   # the subset scored above
        write_indices(a.indices_out, idx, labels=data.test_y, seed=s.get("seed", 0), what="aga explanation metrics")
    write_dataframe(curves, a.curves_out)
    if a.maps_out:
        write_arrays(a.maps_out, E.attacked_maps(
            model, data, n_images=s.get("figure_images", 4), attack_eps=s["attack_eps"],
            attack_steps=s.get("attack_steps", 100), seed=s.get("seed", 0), device=device,
            insertion_baseline=s.get("insertion_baseline", "mean")))
    if a.bound_out:
        write_dataframe(E.crc_bound_curve(model, data, eps=s["bound_eps"], max_samples=s.get("bound_samples"),
                                          batch_size=s.get("batch_size", 64), seed=s.get("seed", 0), device=device,
                                          direction=s.get("bound_direction", "gaussian")),
                        a.bound_out)
    write_dataframe(scores, a.out)
    print(scores.to_string(index=False))


def toy(a):
    import pandas as pd

    from ...io import write_arrays, write_dataframe
    from .toy import toy_experiment
    set_threads(a.threads)
    d = toy_experiment(**a.settings)
    write_arrays(a.out, d)
    summary = pd.DataFrame({"variant": d["variants"], "l2": d["l2"], "cosine": d["cosine"]})
    write_dataframe(summary, a.csv)
    print(summary.to_string(index=False))


def register(sub) -> None:
    group = subcommands(sub, "aga", "AGA: attribution robustness of one model; Fig. 1's toy networks")
    e = group.add_parser("evaluate", help="RPS, Insertion and Adv-Insertion per attribution (Table 1)")
    e.add_argument("--curves-out", required=True, help="insertion / adv-insertion curves (CSV)")
    e.add_argument("--maps-out", help="Fig. 3(a): gradient maps before / after the attack (npz)")
    e.add_argument("--indices-out", help="the test indices of the explanation metrics (JSON)")
    e.add_argument("--bound-out", help="Fig. 3(b): Theorem 6's bound and the CRC per eps (CSV)")
    e.add_argument("--model", help="the model (or give --selection, --candidates and --candidate-recipes)")
    e.add_argument("--selection", help="a grid table (CSV): evaluate the candidate of its selected recipe")
    e.add_argument("--candidates", nargs="+", help="with --selection: the candidate models")
    e.add_argument("--candidate-recipes", nargs="+", help="with --selection: the candidates' recipes, in order")
    model_job(e, model=False, settings_help="the config's aga section (JSON)").set_defaults(func=evaluate)
    t = group.add_parser("toy", help="Fig. 1: two-layer nets on a 2-D toy set (npz + summary CSV)")
    t.add_argument("--settings", type=json_arg, default={}, help="JSON keyword arguments of toy.toy_experiment")
    t.add_argument("--threads", type=int)
    t.add_argument("--out", required=True)
    t.add_argument("--csv", required=True)
    t.set_defaults(func=toy)
