"""Datasets: one registry (``registry``), one on-disk format (``store``), real downloads (``real``,
``download``), embedded offline sets (``embedded``) and CIFAR-10-C-style corruptions (``corruptions``)."""

from .registry import CORRUPTIONS, DATASETS, SEVERITIES, DatasetSpec, RemoteFile, get
from .store import Prepared, load_prepared, write_prepared

__all__ = ["CORRUPTIONS", "DATASETS", "SEVERITIES", "DatasetSpec", "RemoteFile", "get",
           "Prepared", "load_prepared", "write_prepared"]
