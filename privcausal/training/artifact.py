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
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from privcausal.domain import Domain
from privcausal.exceptions import (
    DataTypeError,
    ModelFileError,
    PrivCausalError,
)
from privcausal.jsonnum import json_value
from privcausal.privacy import NEIGHBOURING_ADD_REMOVE, PrivacyEvent, Receipt
from privcausal.training.models import Architecture
from privcausal.training.released import (  # noqa: F401  (re-exported)
    COMBINES,
    FORMAT_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    ReleasedModel,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "COMBINES",
    "ReleasedModel",
    "save",
    "load",
    "receipt_from_dict",
]

SUPPORTED_VERSIONS = (1,)
JSON_NAME = "model.json"
MAX_JSON_BYTES = 16 * 2**20
MAX_WEIGHTS_BYTES = 2**31

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
            neighbouring=str(d.get("neighbouring", NEIGHBOURING_ADD_REMOVE.value)),  # the convention
            noise=str(d.get("noise", "")),
            epsilon_rdp=opt("epsilon_rdp"),
            epsilon_budget=opt("epsilon_budget"),
            delta_budget=opt("delta_budget"),
            events=tuple(_event_from_dict(e) for e in d.get("events", ())),
            notes=tuple(str(x) for x in d.get("notes", ())),
        )  # a "clipped" entry of files written before 0.2 is an exact count: not read back
    except KeyError as exc:
        raise ModelFileError(f"the privacy receipt lacks the field {exc.args[0]!r}") from None
    except (TypeError, ValueError):
        raise ModelFileError("the privacy receipt is malformed") from None


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
    v = json_value(x)
    return v if v is None or isinstance(v, (str, int, float, bool, list, dict)) else str(v)


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
