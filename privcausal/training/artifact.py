"""Released-model artifacts: a folder with the weights and a JSON description, no pickle.

A released model is a folder holding two files::

    model/
      model.json     format name and version, the networks' architectures, how they combine,
                     the preprocessing (declared Domain and encoded feature names), the outcome
                     type and scaling, the privacy receipt, and the SHA-256 of weights.npz
      weights.npz    the parameters: one float32/float64 array per (network, parameter),
                     named "<network>/<parameter>"

Nothing is pickled: the weights are plain ``.npy`` arrays inside a zip (numpy's ``.npz``),
read back with ``allow_pickle=False`` after their headers were checked (dtype float32 or
float64, shapes equal to those the recorded architecture implies). The JSON is plain data;
how networks combine is one of a fixed set of names (:data:`COMBINES`) interpreted here, never
code. Loading a file a user received therefore never executes anything from the file.

:func:`load` raises :class:`~privcausal.exceptions.ModelFileError` for a missing or truncated
file, weights whose SHA-256 differs from the recorded one (tampering or corruption), arrays
whose names, dtypes or shapes do not match the architecture, an unknown format or version,
or missing pieces. The file's contents are never echoed in messages.

Evaluating a loaded model (:class:`ReleasedModel`) is post-processing of what was released:
the receipt in the artifact covers it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from privcausal.design import DesignEncoder
from privcausal.domain import Domain
from privcausal.exceptions import (
    DataTypeError,
    DataValidationError,
    DomainError,
    ModelFileError,
    PrivCausalError,
)
from privcausal.privacy import PrivacyEvent, Receipt
from privcausal.training.models import ACTIVATIONS, LOSSES, Architecture, build_model
from privcausal.validation import check_finite_array

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "COMBINES",
    "ReleasedModel",
    "save",
    "load",
    "receipt_from_dict",
]

FORMAT_NAME = "privcausal-model"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
JSON_NAME = "model.json"
WEIGHTS_NAME = "weights.npz"
MAX_JSON_BYTES = 16 * 2**20
MAX_WEIGHTS_BYTES = 2**31

#: How the networks of an artifact make predictions (``f`` is a network's output, ``out`` maps
#: it to the outcome scale: sigmoid for bce, ``center + half_width * f`` for a scaled mse):
#:
#: * ``single``: one network ``model`` on the encoded features; ``predict(x) = out(model(x))``.
#: * ``tlearner``: networks ``mu0`` and ``mu1`` on the encoded features;
#:   ``mu_a(x) = out(mu_a(x))``, effect ``mu_1(x) - mu_0(x)``.
#: * ``slearner``: network ``mu`` on ``[features, treatment]``; ``mu_a(x) = out(mu([x, a]))``.
#: * ``tarnet``: ``trunk`` on the encoded features read through ``activation``, then heads
#:   ``head0`` and ``head1``: ``mu_a(x) = out(head_a(act(trunk(x))))``.
COMBINES: dict[str, tuple[str, ...]] = {
    "single": ("model",),
    "tlearner": ("mu0", "mu1"),
    "slearner": ("mu",),
    "tarnet": ("trunk", "head0", "head1"),
}
_FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


# --------------------------------------------------------------------------- receipts
def _num(x: Any) -> float:
    if isinstance(x, str):
        if x in ("inf", "-inf"):
            return float(x)
        raise ModelFileError("a number in the receipt is malformed")
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ModelFileError("a number in the receipt is malformed")
    return float(x)


def _event_from_dict(d: Mapping[str, Any]) -> PrivacyEvent:
    if not isinstance(d, Mapping):
        raise ModelFileError("an event in the receipt is malformed")
    return PrivacyEvent(
        label=str(d.get("label", "")),
        mechanism=str(d.get("mechanism", "")),
        epsilon=_num(d.get("epsilon", math.inf)),
        delta=_num(d.get("delta", 0.0)),
        dp_event=None,
        sensitivity=None if d.get("sensitivity") is None else _num(d["sensitivity"]),
        scale=None if d.get("noise_scale") is None else _num(d["noise_scale"]),
        parts=tuple(_event_from_dict(p) for p in d.get("parts", ())),
    )


def receipt_from_dict(d: Mapping[str, Any]) -> Receipt:
    """Rebuild a :class:`Receipt` from its ``to_dict()``. The events carry no dp-accounting
    object (``dp_event=None``): a loaded receipt documents a release, it is not re-accounted."""
    if not isinstance(d, Mapping):
        raise ModelFileError("the privacy receipt is missing or malformed")
    try:
        opt = lambda k: None if d.get(k) is None else _num(d[k])  # noqa: E731
        return Receipt(
            release=str(d["release"]),
            mechanism=str(d["mechanism"]),
            epsilon=_num(d["epsilon"]),
            delta=_num(d["delta"]),
            accountant=str(d["accountant"]),
            neighbouring=str(d.get("neighbouring", "")),
            noise=str(d.get("noise", "")),
            epsilon_rdp=opt("epsilon_rdp"),
            epsilon_budget=opt("epsilon_budget"),
            delta_budget=opt("delta_budget"),
            events=tuple(_event_from_dict(e) for e in d.get("events", ())),
            notes=tuple(str(x) for x in d.get("notes", ())),
            clipped={str(k): int(v) for k, v in dict(d.get("clipped", {})).items()},
        )
    except KeyError as exc:
        raise ModelFileError(f"the privacy receipt lacks the field {exc.args[0]!r}") from None
    except (TypeError, ValueError):
        raise ModelFileError("the privacy receipt is malformed") from None


# --------------------------------------------------------------------------- the model
@dataclass
class ReleasedModel:
    """A released model: networks, their weights, and everything needed to use them.

    Attributes
    ----------
    combine : str
        One of :data:`COMBINES`: which networks there are and how they make predictions.
    architectures : dict name -> Architecture
    weights : dict name -> dict parameter name -> float array
    loss : "bce" (binary outcome; outputs are logits) or "mse"
    outcome : dict
        ``{"type": "binary" | "continuous", "scaling": "sigmoid" | "domain" | "none",
        "lower": ..., "upper": ...}``; ``domain`` scaling means the network was trained on
        ``(y - center) / half_width`` of the *declared* outcome bounds and predictions are
        mapped back with them.
    receipt : Receipt
        What training spent (the whole release: for a T-learner both models, composed).
    domain : Domain or None
        The declared domain used to encode covariates (None for models trained on arrays).
    feature_names : list of str
        Names of the encoded features the networks expect, in order.
    activation : str
        The trunk's output activation (``tarnet`` only).
    learner : dict
        Free-form JSON description of the learner (name, class, hyperparameters).
    """

    combine: str
    architectures: dict[str, Architecture]
    weights: dict[str, dict[str, np.ndarray]]
    loss: str
    outcome: dict[str, Any]
    receipt: Receipt
    domain: Domain | None = None
    feature_names: list[str] | None = None
    activation: str | None = None
    learner: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate_structure(self)
        self._nets: dict[str, torch.nn.Module] = {}

    # ----------------------------------------------------------------- networks
    def network(self, name: str) -> torch.nn.Module:
        """The torch network ``name`` (built once, eval mode, no gradients)."""
        if name not in self._nets:
            arch = self.architectures[name]
            w = self.weights[name]
            dtype = torch.float64 if next(iter(w.values())).dtype == np.float64 else torch.float32
            net = build_model(arch, dtype=dtype)
            net.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)) for k, v in w.items()})
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
            self._nets[name] = net
        return self._nets[name]

    @property
    def n_features(self) -> int:
        first = COMBINES[self.combine][0]
        d = self.architectures[first].input_dim
        return d - 1 if self.combine == "slearner" else d

    # ----------------------------------------------------------------- inputs
    def encode(self, covariates: Any) -> np.ndarray:
        """Encode a covariate frame exactly as in training: clip to the declared domain, then
        :class:`~privcausal.design.DesignEncoder` (a CausalData's covariates are used as is)."""
        from privcausal.data import CausalData

        if self.domain is None:
            raise DomainError("this model was trained on encoded arrays; pass an encoded matrix")
        if isinstance(covariates, CausalData):
            covariates = covariates.covariates
        if not isinstance(covariates, pd.DataFrame):
            raise DataTypeError("covariates must be a pandas DataFrame (or a CausalData)")
        cols = list(self.domain.columns)
        # extra columns (treatment, outcome, ids in a user's CSV) are dropped; absent declared
        # columns are reported by the domain check
        frame = covariates[cols] if set(cols) <= set(map(str, covariates.columns)) else covariates
        clipped, _ = self.domain.clip_covariates(frame)
        return DesignEncoder(self.domain).transform(clipped)

    def as_matrix(self, X: Any) -> np.ndarray:
        """An encoded (n, d) matrix from a matrix, a DataFrame of raw covariates or a CausalData."""
        from privcausal.data import CausalData

        if isinstance(X, (CausalData, pd.DataFrame)):
            X = self.encode(X)
        Xa = check_finite_array(X, name="X", ndim=2)
        if Xa.shape[1] != self.n_features:
            raise DataValidationError(
                f"X has {Xa.shape[1]} columns but the model expects {self.n_features} encoded features"
            )
        return Xa

    # ----------------------------------------------------------------- predictions
    def _out(self, f: torch.Tensor) -> np.ndarray:
        f = f.double()
        if self.loss == "bce":
            return torch.sigmoid(f).numpy()
        if self.outcome.get("scaling") == "domain":
            lo, hi = float(self.outcome["lower"]), float(self.outcome["upper"])
            return (0.5 * (lo + hi) + 0.5 * (hi - lo) * f).numpy()
        return f.numpy()

    def _raw(self, X: np.ndarray, arm: int) -> torch.Tensor:
        dtype = next(self.network(COMBINES[self.combine][0]).parameters()).dtype
        Xt = torch.as_tensor(X, dtype=dtype)
        with torch.no_grad():
            if self.combine == "single":
                return self.network("model")(Xt).squeeze(-1)
            if self.combine == "tlearner":
                return self.network(f"mu{arm}")(Xt).squeeze(-1)
            if self.combine == "slearner":
                col = torch.full((Xt.shape[0], 1), float(arm), dtype=dtype)
                return self.network("mu")(torch.cat([Xt, col], 1)).squeeze(-1)
            from privcausal.training._engine import _act

            phi = _act(self.activation or "identity", self.network("trunk")(Xt))
            return self.network(f"head{arm}")(phi).squeeze(-1)

    def mu(self, X: Any, arm: int) -> np.ndarray:
        """Predicted outcome under arm ``arm`` (probability for a binary outcome)."""
        if self.combine == "single":
            raise DataValidationError("a single-network model has no arms; use predict()")
        if arm not in (0, 1):
            raise DataValidationError("arm must be 0 or 1")
        return self._out(self._raw(self.as_matrix(X), arm))

    def effect(self, X: Any) -> np.ndarray:
        """Individual effects ``mu_1(x) - mu_0(x)`` (risk differences for a binary outcome)."""
        Xa = self.as_matrix(X)
        return self._out(self._raw(Xa, 1)) - self._out(self._raw(Xa, 0))

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of a single-network model (probabilities for bce)."""
        if self.combine != "single":
            raise DataValidationError("this model predicts per arm: use mu(X, arm) or effect(X)")
        return self._out(self._raw(self.as_matrix(X), 0))

    # ----------------------------------------------------------------- JSON
    def to_json_dict(self, weights_sha256: str) -> dict[str, Any]:
        arrays = {
            f"{net}/{k}": {"shape": list(v.shape), "dtype": str(v.dtype)}
            for net, w in self.weights.items() for k, v in w.items()
        }
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "combine": self.combine,
            "networks": {name: a.to_dict() for name, a in self.architectures.items()},
            "activation": self.activation,
            "loss": self.loss,
            "outcome": dict(self.outcome),
            "preprocessing": {
                "encoder": "privcausal.design.DesignEncoder",
                "domain": None if self.domain is None else self.domain.to_dict(),
                "feature_names": None if self.feature_names is None else list(self.feature_names),
            },
            "learner": dict(self.learner),
            "privacy": self.receipt.to_dict(),
            "weights": {"file": WEIGHTS_NAME, "sha256": weights_sha256, "arrays": arrays},
        }


def _validate_structure(m: ReleasedModel) -> None:
    """Check that the pieces of a model fit together (raises ModelFileError)."""
    if m.combine not in COMBINES:
        raise ModelFileError(f"unknown combine rule {m.combine!r}; known: {sorted(COMBINES)}")
    need = COMBINES[m.combine]
    if set(m.architectures) != set(need) or set(m.weights) != set(need):
        raise ModelFileError(f"a {m.combine!r} model needs the networks {list(need)}")
    if m.loss not in LOSSES:
        raise ModelFileError(f"unknown loss {m.loss!r}")
    for name in need:
        arch, w = m.architectures[name], m.weights[name]
        shapes = arch.parameter_shapes
        if set(w) != set(shapes):
            raise ModelFileError(f"the parameters of network {name!r} do not match its architecture")
        for k, shape in shapes.items():
            a = w[k]
            if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
                raise ModelFileError(f"parameter {name}/{k} is not a float32/float64 array")
            if tuple(a.shape) != shape:
                raise ModelFileError(f"parameter {name}/{k} has shape {tuple(a.shape)}, expected {shape}")
            if not np.all(np.isfinite(a)):
                raise ModelFileError(f"parameter {name}/{k} holds non-finite values")
    dtypes = {a.dtype for w in m.weights.values() for a in w.values()}
    if len(dtypes) != 1:
        raise ModelFileError("all parameters must share one dtype")
    for name in need:
        if m.architectures[name].output_dim != 1 and not (m.combine == "tarnet" and name == "trunk"):
            raise ModelFileError(f"network {name!r} must have one output")
    if m.combine == "tarnet":
        if m.activation not in ACTIVATIONS:
            raise ModelFileError("a tarnet model needs the trunk's activation")
        k = m.architectures["trunk"].output_dim
        for h in ("head0", "head1"):
            if m.architectures[h].input_dim != k:
                raise ModelFileError(f"{h} expects {m.architectures[h].input_dim} inputs, the trunk gives {k}")
    elif m.combine == "tlearner":
        if m.architectures["mu0"].input_dim != m.architectures["mu1"].input_dim:
            raise ModelFileError("mu0 and mu1 expect different numbers of features")
    if m.feature_names is not None and len(m.feature_names) != m.n_features:
        raise ModelFileError(
            f"{len(m.feature_names)} feature names recorded but the networks expect {m.n_features} features"
        )
    if m.domain is not None:
        names = DesignEncoder(m.domain).feature_names
        if m.feature_names is not None and list(m.feature_names) != names:
            raise ModelFileError("the recorded feature names do not match the recorded domain's encoding")
    ot = m.outcome.get("type")
    if ot not in ("binary", "continuous"):
        raise ModelFileError("the outcome type must be 'binary' or 'continuous'")
    if (ot == "binary") != (m.loss == "bce"):
        raise ModelFileError("the outcome type does not match the loss")
    if m.outcome.get("scaling") == "domain":
        try:
            lo, hi = float(m.outcome["lower"]), float(m.outcome["upper"])
        except (KeyError, TypeError, ValueError):
            raise ModelFileError("domain scaling needs numeric outcome bounds") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ModelFileError("the outcome bounds are malformed")
    elif m.outcome.get("scaling") not in ("sigmoid", "none"):
        raise ModelFileError("the outcome scaling must be 'sigmoid', 'domain' or 'none'")


# --------------------------------------------------------------------------- conversions
def _as_released(model: Any) -> ReleasedModel:
    if isinstance(model, ReleasedModel):
        return model
    if hasattr(model, "to_released_model"):
        return model.to_released_model()
    from privcausal.training.dpsgd import TrainingResult

    if isinstance(model, TrainingResult):
        w = {k: v.detach().cpu().numpy().copy() for k, v in model.model.state_dict().items()}
        return ReleasedModel(
            combine="single",
            architectures={"model": model.architecture},
            weights={"model": w},
            loss=model.loss,
            outcome={"type": "binary" if model.loss == "bce" else "continuous",
                     "scaling": "sigmoid" if model.loss == "bce" else "none"},
            receipt=model.receipt,
            learner={"name": "dp-sgd", "config": _jsonable(dict(model.config))},
        )
    raise DataTypeError(
        "save() takes a fitted CATE learner, a TrainingResult or a ReleasedModel, "
        f"got {type(model).__name__}"
    )


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else ("inf" if v > 0 else ("-inf" if v < 0 else "nan"))
    if isinstance(x, (np.integer,)):
        return int(x)
    if x is None or isinstance(x, (str, int, bool)):
        return x
    return str(x)


# --------------------------------------------------------------------------- save
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save(model: Any, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a released model to the folder ``path`` (``model.json`` and ``weights.npz``).

    Parameters
    ----------
    model : a fitted CATE learner (:mod:`privcausal.estimators.cate`), a
        :class:`~privcausal.training.TrainingResult`, or a :class:`ReleasedModel`
    path : folder to create (it may exist if empty, or with ``overwrite=True``)

    Returns the folder. Only what was released is written: parameters, architecture,
    declared domain, receipt; never training records or the training history.
    """
    rm = _as_released(model)
    folder = Path(path)
    if folder.exists():
        if not folder.is_dir():
            raise ModelFileError(f"{folder} exists and is not a folder")
        if any(folder.iterdir()) and not overwrite:
            raise ModelFileError(f"{folder} is not empty; pass overwrite=True to replace the model in it")
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"{net}/{k}": np.ascontiguousarray(v) for net, w in rm.weights.items() for k, v in w.items()}
    # write to temporary files, then move them into place
    fd, tmp_w = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        digest = _sha256_file(Path(tmp_w))
        doc = rm.to_json_dict(digest)
        text = json.dumps(_jsonable(doc), indent=2, allow_nan=False, sort_keys=False)
        fd2, tmp_j = tempfile.mkstemp(dir=folder, suffix=".json.tmp")
        with os.fdopen(fd2, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp_w, folder / WEIGHTS_NAME)
        os.replace(tmp_j, folder / JSON_NAME)
    finally:
        for tmp in (tmp_w, locals().get("tmp_j")):
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
    return folder


# --------------------------------------------------------------------------- load
def _reject_constant(name: str) -> Any:
    raise ModelFileError(f"{JSON_NAME} holds the non-standard JSON constant {name}")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelFileError(f"missing {JSON_NAME}: {path} does not exist")
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise ModelFileError(f"{path} is {size} bytes, over the {MAX_JSON_BYTES}-byte limit")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ModelFileError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"{path} is not valid JSON (truncated or corrupted at character {exc.pos})"
        ) from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path} does not hold a JSON object")
    return doc


def _need(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str = JSON_NAME) -> Any:
    if key not in doc:
        raise ModelFileError(f"{where} lacks the field {key!r}")
    v = doc[key]
    if not isinstance(v, kind):
        raise ModelFileError(f"the field {key!r} in {where} is malformed")
    return v


def _read_array(zf: zipfile.ZipFile, member: str, shape: tuple[int, ...]) -> np.ndarray:
    info = zf.getinfo(member)
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                hshape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                hshape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ModelFileError(f"array {member} uses an unsupported .npy version")
            if dtype.hasobject or dtype.kind != "f" or dtype.itemsize not in (4, 8):
                raise ModelFileError(
                    f"array {member} has dtype {dtype.str!r}; only float32/float64 arrays are "
                    "accepted (object arrays would need pickle)"
                )
            if tuple(hshape) != shape:
                raise ModelFileError(
                    f"array {member} has shape {tuple(hshape)}, the architecture implies {shape}"
                )
            expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if info.file_size > expected + 65536:
                raise ModelFileError(f"array {member} is larger than its shape implies")
            data = fh.read(expected + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib_error()) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"array {member} cannot be read (truncated or corrupted file)") from None
    if len(data) != expected:
        raise ModelFileError(f"array {member} is truncated or has trailing bytes")
    arr = np.frombuffer(data, dtype=dtype)
    arr = arr.reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(arr).astype(dtype.newbyteorder("="), copy=True)


def zlib_error() -> type[BaseException]:
    import zlib

    return zlib.error


def load(path: str | os.PathLike) -> ReleasedModel:
    """Read a released model written by :func:`save` (the folder, or its ``model.json``).

    Raises
    ------
    ModelFileError
        Missing pieces, truncated or corrupted files, a weights file whose SHA-256 differs
        from the recorded one, arrays that do not match the architecture (names, dtype,
        shapes), non-float arrays (object arrays are refused without unpickling), or an
        unknown format or version.
    """
    p = Path(path)
    folder = p.parent if p.name == JSON_NAME else p
    if not folder.is_dir():
        raise ModelFileError(f"no released model at {folder}: the folder does not exist")
    doc = _read_json(folder / JSON_NAME)
    fmt = doc.get("format")
    if fmt != FORMAT_NAME:
        raise ModelFileError(f"{JSON_NAME} is not a privcausal model (format field missing or different)")
    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_VERSIONS:
        raise ModelFileError(
            f"unknown model format version {version!r}; this privcausal reads version(s) "
            f"{list(SUPPORTED_VERSIONS)} (upgrade privcausal to read newer files)"
        )
    combine = _need(doc, "combine", str)
    if combine not in COMBINES:
        raise ModelFileError(f"unknown combine rule {combine!r}")
    nets_doc = _need(doc, "networks", dict)
    archs: dict[str, Architecture] = {}
    for name in COMBINES[combine]:
        if name not in nets_doc:
            raise ModelFileError(f"{JSON_NAME} lacks the architecture of network {name!r}")
        try:
            archs[name] = Architecture.from_dict(nets_doc[name])
        except PrivCausalError:
            raise ModelFileError(f"the architecture of network {name!r} is malformed") from None
    if set(nets_doc) != set(archs):
        raise ModelFileError(f"{JSON_NAME} lists unexpected networks for a {combine!r} model")
    loss = _need(doc, "loss", str)
    outcome = _need(doc, "outcome", dict)
    pre = _need(doc, "preprocessing", dict)
    domain = None
    if pre.get("domain") is not None:
        try:
            domain = Domain.from_dict(pre["domain"])
        except (PrivCausalError, TypeError, AttributeError):
            raise ModelFileError("the recorded domain is malformed") from None
    names = pre.get("feature_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(s, str) for s in names)):
        raise ModelFileError("the recorded feature names are malformed")
    receipt = receipt_from_dict(_need(doc, "privacy", dict))
    wdoc = _need(doc, "weights", dict)
    sha = _need(wdoc, "sha256", str, "the weights section")
    if _need(wdoc, "file", str, "the weights section") != WEIGHTS_NAME:
        raise ModelFileError(f"the weights file must be {WEIGHTS_NAME}")
    wpath = folder / WEIGHTS_NAME
    if not wpath.is_file():
        raise ModelFileError(f"missing {WEIGHTS_NAME} in {folder}")
    if wpath.stat().st_size > MAX_WEIGHTS_BYTES:
        raise ModelFileError(f"{WEIGHTS_NAME} is larger than {MAX_WEIGHTS_BYTES} bytes")
    if _sha256_file(wpath) != sha.lower():
        raise ModelFileError(
            f"{WEIGHTS_NAME} does not match the SHA-256 recorded in {JSON_NAME}: the weights were "
            "modified, corrupted or truncated after release; do not use this model"
        )
    if sum(a.n_parameters for a in archs.values()) * 8 > MAX_WEIGHTS_BYTES:
        raise ModelFileError("the recorded architectures are implausibly large")
    expected = {f"{n}/{k}": (n, k, s) for n, a in archs.items() for k, s in a.parameter_shapes.items()}
    weights: dict[str, dict[str, np.ndarray]] = {n: {} for n in archs}
    try:
        with zipfile.ZipFile(wpath) as zf:
            members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
            if len(members) != len(zf.namelist()):
                raise ModelFileError(f"{WEIGHTS_NAME} holds entries that are not .npy arrays")
            missing = sorted(set(expected) - set(members))
            extra = sorted(set(members) - set(expected))
            if missing or extra:
                raise ModelFileError(
                    f"{WEIGHTS_NAME} does not match the architecture: missing {missing[:5]}, "
                    f"unexpected {extra[:5]}"
                )
            for key, (n, k, shape) in expected.items():
                weights[n][k] = _read_array(zf, members[key], shape)
    except zipfile.BadZipFile:
        raise ModelFileError(f"{WEIGHTS_NAME} is not a valid npz (zip) file: truncated or corrupted") from None
    try:
        return ReleasedModel(
            combine=combine, architectures=archs, weights=weights, loss=loss,
            outcome=dict(outcome), receipt=receipt, domain=domain,
            feature_names=None if names is None else list(names),
            activation=doc.get("activation"), learner=dict(doc.get("learner") or {}),
        )
    except ModelFileError:
        raise
    except (PrivCausalError, TypeError, ValueError, KeyError):
        raise ModelFileError("the model description is inconsistent") from None
