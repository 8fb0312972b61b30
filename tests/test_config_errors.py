"""Every bad configuration fails at parse time, naming the key path, the bad value and the valid choices.

Each case is a small YAML overlay (YAML, so that `5e4` is the string PyYAML makes of it) deep-merged over
the real paper files and the embedded overlay, then validated and resolved as the Snakefile does.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from interprobust import config as C

ROOT = Path(__file__).resolve().parents[1]
FILES = [str(ROOT / f) for f in C.DEFAULT_FILES]
EMBEDDED = str(ROOT / "config/embedded.yaml")


def parse(files: list[str], overlay: dict | None = None) -> dict:
    """What common.smk does with Snakemake's merged config: validate, then resolve (which checks)."""
    cfg = C.merge(C.load(files), overlay or {})
    C.validate(cfg)
    return C.resolve(cfg)


AGA_MAIN = ("{name: main, dataset: digits_rgb32, arch: resnet18, attack_eps: 0.00784, "
            "recipes: {CE: nope, L2+Cosd: aga_resnet18_l2_cosd}}")

CASES = {
    # attacks: names, options, option values
    "attack name": ("evaluate: {attacks: {pgdd: {}}}",
                    r"at evaluate\.attacks\.pgdd: unknown attack 'pgdd'; valid attacks: apgd, fgsm, pgd, square$"),
    "attack option": ("evaluate: {attacks: {pgd: {stepz: 10}}}",
                      r"at evaluate\.attacks\.pgd\.stepz: unknown option of attack 'pgd': 'stepz'; "
                      r"valid keys: .*restarts, .*step_size, step_size_rel, steps"),
    "attack option value": ("evaluate: {attacks: {pgd: {loss: dlrr}}}",
                            r"at evaluate\.attacks\.pgd\.loss: unknown value 'dlrr'; valid values: ce, dlr, kl"),
    "step_size_rel without step_size": ("evaluate: {attacks: {fgsm: {step_size_rel: 0.1}}}",
                                        r"at evaluate\.attacks\.fgsm\.step_size_rel: unknown option of attack "
                                        r"'fgsm': 'step_size_rel'; valid keys: attack, loss$"),
    "strong attack name": ("evaluate: {strong_attacks: {apgd-ce: {attack: apgdd}}}",
                           r"at evaluate\.strong_attacks\.apgd-ce\.attack: 'apgdd' is not one of "
                           r"\['fgsm', 'pgd', 'apgd', 'square'\]"),
    "strong attack option": ("evaluate: {strong_attacks: {pgd100-restarts: {step_size_rell: 0.1}}}",
                             r"at evaluate\.strong_attacks\.pgd100-restarts\.step_size_rell: unknown option of "
                             r"attack 'pgd': 'step_size_rell'; valid keys: .*step_size_rel"),
    "attack option number as string": ("evaluate: {attacks: {pgd: {step_size: 1e-2}}}",
                                       r"at evaluate\.attacks\.pgd\.step_size: '1e-2' is not a number "
                                       r"\(YAML reads 1e-2 as a string: write 1\.0e-2\)"),
    # top-level keys and fixed sections
    "top-level typo": ("trainig: {epochs: 3}",
                       r"at \(top level\): .*'trainig' was unexpected.*; valid keys: .*, training, "),
    "unknown top-level key": ("colour: red",
                              r"at \(top level\): .*'colour' was unexpected.*; valid keys: aga, cost, data, "),
    "section typo": ("sep: {clustres: 3}", r"at sep: .*'clustres' was unexpected.*; valid keys: .*clusters"),
    "unknown key in a recipe": ("recipes: {ce: {trainng: {epochs: 2}}}",
                                r"at recipes\.ce: .*'trainng' was unexpected.*; valid keys: base, loss, model, "
                                r"params, params_by_dataset, training$"),
    # recipes: loss names, params, bases
    "loss param typo": ("recipes: {sep_pos_convnet: {params: {gama: 5e4}}}",
                        r"at recipes\.sep_pos_convnet\.params\.gama: unknown parameter of loss 'sep': 'gama'; "
                        r"valid keys: base, eps, explain, flat_normalize, flat_reduction, gamma, sigma, step_size, steps$"),
    "loss param number as string": ("recipes: {sep_pos_convnet: {params: {gamma: 5e4}}}",
                                    r"at recipes\.sep_pos_convnet\.params\.gamma: '5e4' is not a number "
                                    r"\(YAML reads 5e4 as a string: write 5\.0e\+4\)"),
    "SEP base's keys only": ("recipes: {sep_mat_convnet: {params: {beta: 1.0}}}",
                             r"at recipes\.sep_mat_convnet\.params\.beta: unknown parameter of loss 'sep'"),
    "SEP base value": ("recipes: {sep_mat_convnet: {params: {base: tradez}}}",
                       r"at recipes\.sep_mat_convnet\.params\.base: unknown value 'tradez'; valid values: "
                       r"madry, trades$"),
    "SEP explain value": ("recipes: {sep_pos_convnet: {params: {explain: saliency}}}",
                          r"at recipes\.sep_pos_convnet\.params\.explain: unknown value 'saliency'; valid values: "
                          r".*input_x_gradient"),
    "params_by_dataset param": ("recipes: {sep_mat_convnet: {params_by_dataset: {mnist: {epz: 0.3}}}}",
                                r"at recipes\.sep_mat_convnet\.params_by_dataset\.mnist\.epz: unknown parameter"),
    "params_by_dataset dataset": ("recipes: {sep_mat_convnet: {params_by_dataset: {mnistt: {eps: 0.3}}}}",
                                  r"at recipes\.sep_mat_convnet\.params_by_dataset: 'mnistt' is not one of "
                                  r"\['mnist'"),
    "DAG's param in a recipe": ("recipes: {limeref: {params: {spurious: x.json}}}",
                                r"at recipes\.limeref\.params\.spurious: 'spurious' is set by the pipeline"),
    "unknown loss": ("recipes: {ce: {loss: cee}}", r"at recipes\.ce\.loss: 'cee' is not one of \['ce'"),
    "unknown base": ("recipes: {ce2: {base: nope}}",
                     r"at recipes\.ce2\.base: recipe 'ce2' has base 'nope', which is not a recipe; "
                     r"valid recipes: .*aga_in100_ce, "),
    "aga grid param": ("aga: {grid: [{setting: main, row: L2+Cosd, reference: CE, params: {lam_coss: [0.1]}}]}",
                       r"at aga\.grid\.0\.params\.lam_coss: unknown parameter of loss 'gradient_alignment': "
                       r"'lam_coss'; valid keys: eps, lam_cos, lam_l2$"),
    "aga grid row": ("aga: {grid: [{setting: main, row: L3, reference: CE, params: {lam_cos: [0.1]}}]}",
                     r"at aga\.grid\.0\.row: 'L3' is not a row of setting 'main'; valid rows: ATEX, CE, Hessian, IGA, L2, "),
    "toy variant param": ("aga: {toy: {variant_params: {Softplus + MaxEnt: {lamb: 1.0}}}}",
                          r"at aga\.toy\.variant_params\.Softplus \+ MaxEnt\.lamb: unknown parameter of loss "
                          r"'maxent': 'lamb'; valid keys: lam$"),
    # numbers YAML reads as strings
    "number as string": ("sep: {attack: {lr: 2e-4}}",
                         r"at sep\.attack\.lr: '2e-4' is not of type 'number' \(YAML reads 2e-4 as a string: "
                         r"write 2\.0e-4\)"),
    "1e6 where an integer or null is expected": ("aga: {max_samples: 1e6}",
                                                 r"at aga\.max_samples: '1e6' is not of type 'integer', 'null' "
                                                 r"\(YAML reads 1e6 as a string: write 1000000\)"),
    "1e6 where a number is expected": ("cost: {speedup: 1e6}",
                                       r"at cost\.speedup: .*write 1\.0e\+6\)"),
    # G-LIME's segmentation
    "segmentation keyword": ("glime: {segmentation: {kernel_sise: 3}}",
                             r"at glime\.segmentation\.kernel_sise: unknown keyword of quickshift: 'kernel_sise'; "
                             r"valid keys: .*kernel_size, max_dist, "),
    # (an overlay merges into the paper's quickshift keywords, so slic is given quickshift's kernel_size)
    "segmentation keyword of slic": ("glime: {segmentation: {method: slic, n_segments: 30}}",
                                     r"at glime\.segmentation\.kernel_size: unknown keyword of slic: 'kernel_size'; "
                                     r"valid keys: .*n_segments"),
    "segmentation method": ("glime: {segmentation: {method: felzenszwalb}}",
                            r"at glime\.segmentation\.method: 'felzenszwalb' is not one of \['quickshift', 'slic'\]"),
    # datasets, architectures, attributions
    "dataset in models": ("models: [{dataset: cifar11, arch: resnet18, recipe: ce, seed: 0}]",
                          r"at models\.0\.dataset: 'cifar11' is not one of \[.*'cifar10'"),
    "arch in models": ("models: [{dataset: digits_rgb32, arch: resnet19, recipe: ce, seed: 0}]",
                       r"at models\.0\.arch: 'resnet19' is not one of \[.*'resnet18'"),
    "arch in matrix.models": ("matrix: {models: [{dataset: digits_rgb32, arch: resnet19, recipe: ce, seed: 0}]}",
                              r"at matrix\.models\.0\.arch: 'resnet19' is not one of \[.*'resnet18'"),
    "aga attribution": ("aga: {attributions: [gradient, saliency]}",
                        r"at aga\.attributions\.1: 'saliency' is not one of \['gradient'"),
    "glime baseline": ("glime: {baselines: [gradcamm]}", r"at glime\.baselines\.0: 'gradcamm' is not one of \["),
    "sep row attribution": ("sep: {tables: {table1: [{label: x, dataset: cifar10, arch: convnet, recipe: sep_e_normal, "
                            "attribution: saliency}]}}",
                            r"at sep\.tables\.table1\.0\.attribution: 'saliency' is not one of \["),
    "sep attribution": ("sep: {attribution: saliency}", r"at sep\.attribution: 'saliency' is not one of \["),
    "sep explain_options attribution": ("sep: {explain_options: {saliency: {}}}",
                                        r"at sep\.explain_options: 'saliency' is not one of \["),
    "sep explain_options keyword": ("sep: {explain_options: {integrated_gradients: {stepz: 8}}}",
                                    r"at sep\.explain_options\.integrated_gradients\.stepz: unknown option of "
                                    r"attribution 'integrated_gradients': 'stepz'; valid keys: baseline, batch_size, "
                                    r"method, steps$"),
    # recipes named by the sections
    "recipe in matrix.models": ("matrix: {models: [{dataset: digits_rgb32, arch: resnet18, recipe: nope, seed: 0}]}",
                                r"at matrix\.models\.0\.recipe: unknown recipe 'nope'; valid recipes: .*, ce, "),
    "recipe in models": ("models: [{dataset: digits_rgb32, arch: resnet18, recipe: cee, seed: 0}]",
                         r"at models\.0\.recipe: unknown recipe 'cee'; valid recipes: "),
    "recipe in glime.settings": ("glime: {settings: [{name: main, dataset: digits_rgb32, arch: resnet18, "
                                 "recipe: nope}]}",
                                 r"at glime\.settings\.0\.recipe: unknown recipe 'nope'; valid recipes: "),
    "recipe in aga.settings": (f"aga: {{settings: [{AGA_MAIN}], grid: []}}",
                               r"at aga\.settings\.0\.recipes\.CE: unknown recipe 'nope'; valid recipes: "),
    "recipe in limeref": ("limeref: {refined_recipe: limereff}",
                          r"at limeref\.refined_recipe: unknown recipe 'limereff'; valid recipes: .*limeref"),
    "recipe in sep.pair_model": ("sep: {pair_model: {arch: resnet18, recipe: cee}}",
                                 r"at sep\.pair_model\.recipe: unknown recipe 'cee'; valid recipes: "),
    "recipe in a sep row": ("sep: {tables: {table1: [{label: x, dataset: cifar10, arch: convnet, recipe: nope}]}}",
                            r"at sep\.tables\.table1\.row 'x'\.recipe: unknown recipe 'nope'; valid recipes: "),
    "sep figure table": ("sep: {figures: {fig3: {kind: landscape, table: table99}}}",
                         r"at sep\.figures\.fig3\.table: unknown table 'table99'; valid tables: table1, "),
}


@pytest.fixture(scope="module")
def files():
    return FILES + [EMBEDDED]


@pytest.mark.parametrize("overlay, message", CASES.values(), ids=CASES.keys())
def test_a_bad_config_fails_naming_the_key_and_the_valid_choices(files, overlay, message):
    with pytest.raises(C.ConfigError, match="^config error " + message):
        parse(files, yaml.safe_load(overlay))


@pytest.mark.parametrize("scale", ["paper", "embedded"])
def test_the_shipped_configs_pass(scale):
    parse(FILES + ([EMBEDDED] if scale == "embedded" else []))


def test_a_dry_run_with_a_bad_overlay_fails_fast_with_the_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluate:\n  attacks:\n    pgdd: {}\n")
    snakemake = Path(sys.executable).parent / "snakemake"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    start = time.monotonic()
    run = subprocess.run([str(snakemake), "-n", "--cores", "1", "--snakefile", str(ROOT / "Snakefile"), "-d", str(ROOT),
                          "--configfile", EMBEDDED, str(bad)], capture_output=True, text=True, env=env, timeout=300,
                         cwd=ROOT)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "config error at evaluate.attacks.pgdd: unknown attack 'pgdd'; valid attacks: apgd, fgsm, pgd" in out
    assert time.monotonic() - start < 120
