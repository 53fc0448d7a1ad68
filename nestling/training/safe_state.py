"""Resumable training state on disk without pickle: tensors in safetensors, everything else in JSON.

A pickle (``torch.load(weights_only=False)``) runs whatever code the file names, so a planted
``state.pt`` would run on ``--resume``. Here loading only parses JSON and safetensors: a file that is
not nestling's is refused, never executed.

The state is a tree of dicts, lists, tuples, numbers, strings, None, torch tensors and numpy arrays
(the RNG states). JSON cannot tell a tuple from a list nor hold a tensor or a non-string key, so
those are written as one-key markers (``{"$tuple": [...]}``, ``{"$tensor": "t3"}``, ``{"$items":
[[key, value], ...]}``); a dict whose own keys start with ``$`` is written as ``$items`` too, so a
marker is never ambiguous.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from nestling.errors import UserError

FORMAT = "nestling-state"
VERSION = 1
TREE_FILE = "state.json"
TENSOR_FILE = "tensors.safetensors"


class DamagedState(UserError):
    """A state folder whose files cannot be read (e.g. truncated by a kill or a full disk)."""


def _encode(obj, tensors: dict[str, torch.Tensor], seen: dict):
    if isinstance(obj, np.generic):  # first: np.float64 is also a float
        return {"$npscalar": {"dtype": obj.dtype.str, "value": obj.item()}}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor):
        return {"$tensor": _add_tensor(obj, tensors, seen)}
    if isinstance(obj, np.ndarray):
        return {"$ndarray": {"dtype": obj.dtype.str, "shape": list(obj.shape), "data": obj.ravel().tolist()}}
    if isinstance(obj, tuple):
        return {"$tuple": [_encode(v, tensors, seen) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors, seen) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: _encode(v, tensors, seen) for k, v in obj.items()}
        return {"$items": [[_encode(k, tensors, seen), _encode(v, tensors, seen)] for k, v in obj.items()]}
    raise TypeError(f"training state: cannot store a {type(obj).__name__} without pickle")


def _add_tensor(t: torch.Tensor, tensors: dict, seen: dict) -> str:
    """The tensor's name in the safetensors file; a tensor met twice (tied weights) is stored once."""
    t = t.detach()
    view = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype, t.device)
    if view in seen:
        return seen[view]
    name = f"t{len(tensors)}"
    # safetensors refuses tensors that share memory: any other view of a seen storage is copied.
    shared = any(k[0] == view[0] for k in seen)
    seen[view] = name
    t = t.to("cpu")
    tensors[name] = t.clone() if shared or not t.is_contiguous() else t
    return name


def _decode(obj, tensors: dict[str, torch.Tensor]):
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        raise ValueError(f"unexpected {type(obj).__name__}")
    if len(obj) == 1:
        (key, value), = obj.items()
        if key == "$tensor":
            return tensors[value]
        if key == "$tuple":
            return tuple(_decode(v, tensors) for v in value)
        if key == "$items":
            return {_decode(k, tensors): _decode(v, tensors) for k, v in value}
        if key == "$ndarray":
            return np.asarray(value["data"], dtype=np.dtype(value["dtype"])).reshape(value["shape"])
        if key == "$npscalar":
            return np.dtype(value["dtype"]).type(value["value"])
    if any(k.startswith("$") for k in obj):
        raise ValueError(f"unknown marker {sorted(obj)}")
    return {k: _decode(v, tensors) for k, v in obj.items()}


def write_state(folder: Path, state: dict) -> None:
    """``state`` as folder/state.json + folder/tensors.safetensors."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, tensors, {})
    save_file(tensors, str(folder / TENSOR_FILE))
    (folder / TREE_FILE).write_text(json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}) + "\n")


def read_state(folder: Path) -> dict:
    """The state written by ``write_state``; UserError for a folder nestling did not write this way."""
    tree_path, tensor_path = folder / TREE_FILE, folder / TENSOR_FILE
    if not tree_path.is_file():
        legacy = [p.name for p in folder.iterdir() if p.suffix in (".pt", ".pth", ".bin", ".pkl")]
        if legacy:
            raise UserError(f"{folder / legacy[0]}: a pickled training state (older nestling, or not nestling's); "
                            "it is not loaded, since unpickling can run code: start the run again")
        raise DamagedState(f"{folder}: no {TREE_FILE}")
    try:
        head = json.loads(tree_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedState(f"{tree_path}: not valid JSON ({err})") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise UserError(f"{tree_path}: not a nestling training state")
    if head.get("version") != VERSION:
        raise UserError(f"{tree_path}: training state version {head.get('version')!r}, this nestling reads {VERSION}")
    try:
        tensors = load_file(str(tensor_path))
    except (OSError, SafetensorError) as err:
        raise DamagedState(f"{tensor_path}: cannot read ({str(err).splitlines()[0]})") from None
    try:
        return _decode(head["tree"], tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise DamagedState(f"{tree_path}: malformed state ({err})") from None
