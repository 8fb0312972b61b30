"""``interprobust data download|prepare``: real datasets' archives, checksums, the uniform array format."""

from __future__ import annotations

from pathlib import Path

from .common import json_arg, subcommands


def download(a):
    from ..data import download, registry
    from ..io import write_json
    spec = registry.get(a.dataset)
    marker = Path(a.marker)
    checksums = download.download_dataset(spec, marker.parent, url_overrides=a.url_overrides,
                                          checksums=a.checksums)
    write_json(marker, {"dataset": spec.name, "files": checksums})


def miniature(a):
    from ..data.miniature import write_overlay
    from ..config import DEFAULT_FILES
    recipes_from = [f for f in (a.recipes_from if a.recipes_from is not None else DEFAULT_FILES) if Path(f).is_file()]
    path = write_overlay(a.out, a.datasets, seed=a.seed, recipes_from=recipes_from)
    print(f"miniature archives in {a.out}; use them with --configfile config/paper-shaped.yaml {path}")


def prepare(a):
    from ..data import registry
    spec = registry.get(a.dataset)
    out = Path(a.meta).parent
    if spec.kind == "embedded":
        from ..data.embedded import prepare_embedded
        meta = prepare_embedded(spec.name, out, source_dir=a.source, **a.options)
    else:
        from ..data.real import PREPARERS
        if spec.needs_download and a.raw is None:
            raise SystemExit(f"{spec.name} needs --raw: the folder its archives were downloaded to")
        meta = PREPARERS[spec.name](Path(a.raw) if a.raw else None, out, **a.options)
    print(f"prepared {spec.name}: {meta['n_train']} train / {meta['n_test']} test images in {out}")


def register(sub) -> None:
    data = subcommands(sub, "data", "download and prepare datasets")
    d = data.add_parser("download", help="download and checksum-verify a real dataset's archives")
    d.add_argument("--dataset", required=True)
    d.add_argument("--marker", required=True, help="verified.json written on success; archives go beside it")
    d.add_argument("--url-overrides", type=json_arg, default={}, help='JSON {"file name": "url or path"}')
    d.add_argument("--checksums", type=json_arg, default={},
                   help='JSON {"file name": "sha256:<hex>"}: replaces the published checksum (a private mirror)')
    d.set_defaults(func=download)
    d = data.add_parser("miniature", help="write miniature archives in each real dataset's layout (and overlay.yaml)")
    d.add_argument("--out", required=True, help="folder for the archives; overlay.yaml (data: ...) is written there")
    d.add_argument("--datasets", nargs="*", help="which (default: every real dataset)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--recipes-from", nargs="*", help="config files whose recipes get one epoch in overlay.yaml "
                   "(default: config.yaml and config/papers/*.yaml of the working folder)")
    d.set_defaults(func=miniature)
    d = data.add_parser("prepare", help="prepare a dataset into the uniform array format")
    d.add_argument("--dataset", required=True)
    d.add_argument("--meta", required=True, help="meta.json to write; arrays go beside it")
    d.add_argument("--raw", help="folder holding the downloaded archives")
    d.add_argument("--source", help="prepared folder of the dataset this one derives from")
    d.add_argument("--options", type=json_arg, default={})
    d.set_defaults(func=prepare)
