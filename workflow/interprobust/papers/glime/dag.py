"""G-LIME's part of the DAG: its settings (the main ones and Table 7's networks) and their files."""

from __future__ import annotations

from ...layout import Section, model_file, prepared, quoted_json

SECTION_ONLY = ("settings", "networks", "datasets")
SEGMENT_KEYS = ("segmentation", "seed", "reference_images", "test_images", "stability_images")


class GlimePlan(Section):
    def mains(self) -> list[dict]:
        return self.items("settings")

    def networks(self) -> list[dict]:
        return self.items("networks")

    def datasets(self) -> list[dict]:
        """Table 8's other datasets (each its own model, superpixels, clusters and priors)."""
        return self.items("datasets")

    def all_settings(self) -> list[dict]:
        return self.mains() + self.networks() + self.datasets()

    def setting(self, name: str) -> tuple[dict, bool]:
        """A setting (main or network) by name, with whether it is a main setting."""
        for s in self.mains():
            if s["name"] == name:
                return s, True
        for s in self.networks() + self.datasets():
            if s["name"] == name:
                return s, False
        raise ValueError(f"no glime setting named {name!r}; settings: {[s['name'] for s in self.all_settings()]}")

    def models(self) -> list[dict]:
        return [{k: s[k] for k in ("dataset", "arch", "recipe")} | {"seed": s.get("seed", 0)}
                for s in self.all_settings()]

    def model(self, name: str) -> str:
        s = self.setting(name)[0]
        return model_file({**s, "seed": s.get("seed", 0)})

    def data(self, name: str) -> str:
        return prepared(self.setting(name)[0]["dataset"])

    def segments(self, name: str) -> str:
        return f"results/glime/segments/{self.setting(name)[0]['dataset']}.npz"

    def clusters(self, name: str) -> str:
        """The setting's superpixel clusters: one clustering per dataset, shared by its settings."""
        return f"results/glime/clusters/{self.setting(name)[0]['dataset']}.npz"

    def cluster_setting(self, dataset: str) -> dict:
        """The setting whose model gives the features with ``cluster_stem: main``: the first on ``dataset``."""
        for s in self.all_settings():
            if s["dataset"] == dataset:
                return s
        raise ValueError(f"no glime setting uses dataset {dataset!r}")

    def cluster_inputs(self, w) -> dict[str, str]:
        inputs = {"data": prepared(w.dataset), "segments": f"results/glime/segments/{w.dataset}.npz"}
        if self.s.get("cluster_stem", "pretrained") == "main":
            s = self.cluster_setting(w.dataset)
            inputs["model"] = model_file({**s, "seed": s.get("seed", 0)})
        return inputs

    def cluster_model_arg(self, w) -> str:
        return f"--model {self.cluster_inputs(w)['model']}" if self.s.get("cluster_stem", "pretrained") == "main" else ""

    def cluster_settings(self) -> str:
        """What the clustering depends on: the subsets, the segmentation, K, the stem and the ImageNet folder."""
        keys = SEGMENT_KEYS + ("clusters", "cluster_stem", "cluster_images")
        return quoted_json({**{k: self.s.get(k) for k in keys},
                            "imagenet_dir": self.plan.config.get("data", {}).get("imagenet_dir")})

    def study_inputs(self, w, *needs: str) -> dict[str, str]:
        """A study job's inputs: the setting's model, data and superpixels, plus ``needs`` of its own folder
        (the clusters: its dataset's)."""
        inputs = {"model": self.model(w.name), "data": self.data(w.name), "segments": self.segments(w.name)}
        inputs.update({n: self.clusters(w.name) if n == "clusters" else f"results/glime/{w.name}/{n}.npz"
                       for n in needs})
        return inputs

    def study_args(self, w, needs, outs: dict[str, str]) -> str:
        """A study step's file arguments: --segments and its own intermediates, then its outputs."""
        inputs = self.study_inputs(w, *needs)
        args = [f"--{n} {inputs[n]}" for n in ("segments", *needs)]
        return " ".join(args + [f"--{k} {self.file(w.name, f)}" for k, f in outs.items()])

    def segment_settings(self) -> str:
        """What the superpixels and the image subsets depend on (nothing else reruns them)."""
        return quoted_json({k: self.s.get(k) for k in SEGMENT_KEYS})

    def settings(self, name: str) -> str:
        """The glime section as the CLI's --settings; a network or dataset setting runs only at table6_samples."""
        main = self.setting(name)[1]
        p = {k: v for k, v in self.s.items() if k not in SECTION_ONLY}
        n6 = self.s["table6_samples"]
        ablation = [int(n) for n in self.s.get("lam2_ablation_samples") or [n6]]
        p["run_samples"] = sorted(set(self.s["samples"]) | {n6} | set(ablation)) if main else [n6]
        p["ablation_samples"] = ablation if main else []
        p["detail_samples"] = n6
        if not main:
            p["repeats"] = 1
        return quoted_json(p)

    def main_instances(self) -> list[dict]:
        return [{"name": s["name"], "stands_for": s.get("stands_for", s["name"]), "n": self.s["table6_samples"]}
                for s in self.mains()]

    def file(self, name: str, filename: str) -> str:
        return f"results/glime/{name}/{filename}"
