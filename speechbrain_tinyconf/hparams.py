"""Variant hparams files: a few model lines on top of one shared recipe YAML.

A variant (e.g. ``hparams/shared_lowrank_5M.yaml``) is plain YAML naming its
base with ``recipe: <file>`` and overriding the base's top-level keys (model
sizes, the sharing plan, output folder). Command-line overrides win over both.
A file without ``recipe:`` is loaded as an ordinary hyperpyyaml file.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import yaml
from hyperpyyaml import load_hyperpyyaml, resolve_references

Overrides = Union[None, str, Mapping[str, Any]]


class _TagTolerantLoader(yaml.SafeLoader):
    """Reads hyperpyyaml files as plain data (tagged nodes become None)."""


_TagTolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def read_plain_yaml(text: str) -> Any:
    """Parses (hyper)pyyaml text as plain data; tagged nodes (``!new:``, ``!ref`` ...) become None."""
    return yaml.load(text, Loader=_TagTolerantLoader)


def _as_dict(overrides: Overrides, where: str) -> Dict[str, Any]:
    if not overrides:
        return {}
    if isinstance(overrides, str):
        overrides = yaml.safe_load(overrides) or {}
    if not isinstance(overrides, Mapping):
        raise ValueError(f"{where}: expected a mapping of overrides, got {overrides!r}")
    return dict(overrides)


def variant_overrides(path: Union[str, Path], overrides: Overrides = None) -> Tuple[Path, Dict[str, Any]]:
    """``(base recipe path, merged overrides)`` for a variant file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"hparams file not found: {path}")
    try:
        variant = read_plain_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: invalid YAML ({err})") from err
    if not isinstance(variant, dict):
        raise ValueError(f"{path}: expected a mapping at top level")
    base = variant.pop("recipe", None)
    base_path = path if base is None else (path.parent / base).resolve()
    if not base_path.is_file():
        raise FileNotFoundError(f"{path}: recipe: {base} does not exist ({base_path})")
    merged = {**variant, **_as_dict(overrides, "overrides")} if base is not None else _as_dict(overrides, "overrides")
    return base_path, merged


class OverrideError(ValueError):
    """A command-line override that the recipe cannot take (unknown key, wrong type, invalid YAML)."""


_KINDS = ((bool, "true or false"), (int, "an integer"), (float, "a number"), (str, "a string"),
          (list, "a list"), (dict, "a mapping"))


def _kind(value: Any) -> Optional[str]:
    for kind, name in _KINDS:
        if isinstance(value, kind):
            return name
    return None


def parse_overrides(text: str) -> Dict[str, Any]:
    """The ``key: value`` lines ``speechbrain.parse_arguments`` makes of ``--key value``, as a mapping.

    Each line is parsed on its own, so that invalid YAML names its key.

    Example
    -------
    >>> parse_overrides("lr: 0.001\\nsharing: {unique_blocks: 4}")
    {'lr': 0.001, 'sharing': {'unique_blocks': 4}}
    >>> parse_overrides("lr: [1")
    Traceback (most recent call last):
    ...
    speechbrain_tinyconf.hparams.OverrideError: --lr=[1: not valid YAML (while parsing a flow sequence)
    """
    given: Dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            given.update(yaml.safe_load(line) or {})
        except yaml.YAMLError as err:
            key, _, value = line.partition(":")
            first = str(err).strip().splitlines()[0]
            raise OverrideError(f"--{key.strip()}={value.strip()}: not valid YAML ({first})") from None
    return given


def check_overrides(path: Union[str, Path], overrides: Overrides) -> None:
    """Raises :class:`OverrideError` naming the first override the recipe cannot take.

    ``overrides`` is what ``speechbrain.parse_arguments`` returns (``key: value`` lines) or a
    mapping. Checked against the recipe's own values: the key must exist, and the value must
    have the same kind (an integer where the recipe has an integer, a number where it has a
    float, ...). Keys whose recipe value is built by a tag (``!new:``, ``!ref``) or null take
    anything.
    """
    if not overrides:
        return
    given = parse_overrides(overrides) if isinstance(overrides, str) else dict(overrides)
    base_path, _ = variant_overrides(path)
    recipe = read_plain_yaml(base_path.read_text(encoding="utf-8")) or {}
    if Path(path).resolve() != base_path.resolve():
        recipe.update(read_plain_yaml(Path(path).read_text(encoding="utf-8")) or {})
    for key, value in given.items():
        if key not in recipe:
            raise OverrideError(f"--{key}={value}: unknown hyperparameter (not a key of {path} or {base_path.name})")
        expected = recipe[key]
        if expected is None or value is None:
            continue
        want, have = _kind(expected), _kind(value)
        ok = have == want or (want == "a number" and have == "an integer")
        if not ok:
            raise OverrideError(f"--{key}={value}: expected {want} (the recipe has {key}: {expected!r})")


def load_recipe_hparams(path: Union[str, Path], overrides: Overrides = None) -> Dict[str, Any]:
    """Instantiates a variant (or plain hyperpyyaml) hparams file with overrides."""
    base_path, merged = variant_overrides(path, overrides)
    with open(base_path, encoding="utf-8") as stream:
        return load_hyperpyyaml(stream, merged)


def load_detached(path: Union[str, Path], overrides: Overrides = None) -> Dict[str, Any]:
    """``load_recipe_hparams`` for inspecting a model: no folder is left behind.

    The recipe creates its output (checkpointer) folder when instantiated; here data and
    output folders point to a temporary folder that is removed afterwards (``overrides`` win).
    """
    with tempfile.TemporaryDirectory(prefix="tinyconf_") as tmp:
        return load_recipe_hparams(path, {"data_folder": tmp, "output_folder": tmp, **_as_dict(overrides, "overrides")})


def recipe_yaml(path: Union[str, Path], overrides: Overrides = None) -> str:
    """The base recipe text with the variant's and the command line's values applied, references kept.

    What train.py saves as a run's ``hyperparams.yaml``: it loads like the original
    (``!ref <d_model>`` still points at ``d_model``), so each value is written once.
    """
    import io

    from hyperpyyaml.core import recursive_update
    from ruamel.yaml import YAML

    base_path, merged = variant_overrides(path, overrides)
    rt = YAML()
    rt.width = 4096
    with open(base_path, encoding="utf-8") as stream:
        tree = rt.load(stream)
    if merged:
        recursive_update(tree, merged, must_match=False)
    out = io.StringIO()
    rt.dump(tree, out)
    return out.getvalue()


def resolve_text(text: str) -> Dict[str, Any]:
    """A (hyper)pyyaml text as plain data with its ``!ref`` values resolved (nothing instantiated)."""
    from hyperpyyaml import resolve_references

    return read_plain_yaml(resolve_references(text).getvalue()) or {}


def resolved_yaml(path: Union[str, Path], overrides: Overrides = None) -> str:
    """The base recipe text with the variant's and the command line's values applied."""
    base_path, merged = variant_overrides(path, overrides)
    with open(base_path, encoding="utf-8") as stream:
        return resolve_references(stream, merged).getvalue()
