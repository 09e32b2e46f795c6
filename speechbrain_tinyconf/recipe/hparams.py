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

import re
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


def as_overrides(overrides: Overrides, where: str = "overrides") -> Dict[str, Any]:
    """Overrides given as YAML text or a mapping, as a dict (``where`` names them in the error)."""
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
    merged = {**variant, **as_overrides(overrides)} if base is not None else as_overrides(overrides)
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
    speechbrain_tinyconf.recipe.hparams.OverrideError: --lr=[1: not valid YAML (while parsing a flow sequence)
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
        return load_recipe_hparams(path, {"data_folder": tmp, "output_folder": tmp, **as_overrides(overrides)})


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


class Tagged:
    """A node that a hyperpyyaml tag would build (``!new:``, ``!apply:``, ``!name:``, ``!include:`` ...),
    kept as data: its tag and its (resolved) content. Nothing it names is imported or run."""

    def __init__(self, tag: str, value: Any):
        self.tag, self.value = tag, value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tagged) and (self.tag, self.value) == (other.tag, other.value)

    def __repr__(self) -> str:
        return f"{self.tag} {self.value!r}" if self.value not in ("", None) else self.tag


class _Ref(str):
    """The text of a ``!ref``/``!copy`` node, resolved by :func:`read_tagged_yaml`."""


class _TaggedLoader(yaml.SafeLoader):
    """Reads hyperpyyaml as data: ``!ref`` becomes :class:`_Ref`, every other tag a :class:`Tagged`."""


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("ref", "copy"):
        return _Ref(value)
    return Tagged("!" + suffix, value)


_TaggedLoader.add_multi_constructor("!", _construct_tagged)
# Floats as YAML 1.2 (ruamel, hyperpyyaml) reads them: 1e-05 is a number there, a string for PyYAML's 1.1 rules.
_TaggedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)
_REFERENCE = re.compile(r"<([^<>]*)>")


def read_tagged_yaml(text: str) -> Dict[str, Any]:
    """A hyperpyyaml text as data, with its ``!ref``s resolved and its other tags kept as :class:`Tagged`.

    Unlike hyperpyyaml's ``resolve_references`` this runs nothing (no ``!applyref:``, no
    ``!include:``), so it is safe on files from elsewhere (a run folder's ``hyperparams.yaml``).
    References resolve as hyperpyyaml resolves them: ``<key>``, ``<key[sub]>``, string
    interpolation and simple arithmetic. Raises ``yaml.YAMLError`` for invalid YAML and
    ``ValueError`` for a reference to a missing key or a circular one.

    Example
    -------
    >>> data = read_tagged_yaml("n: 80\\nc: 32\\nsize: !ref <n> // 4 * <c>\\nact: !name:torch.nn.GELU\\n")
    >>> data["size"], data["act"]
    (640, !name:torch.nn.GELU)
    """
    tree = yaml.load(text, Loader=_TaggedLoader) or {}
    if not isinstance(tree, dict):
        raise ValueError("expected a mapping at top level")
    return _resolve(tree, tree, ())


def _resolve(node: Any, tree: Dict[str, Any], chain: Tuple[str, ...]) -> Any:
    if isinstance(node, _Ref):
        return _resolve_reference(str(node), tree, chain)
    if isinstance(node, dict):
        return {k: _resolve(v, tree, chain) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, tree, chain) for v in node]
    if isinstance(node, Tagged):
        return Tagged(node.tag, _resolve(node.value, tree, chain))
    return node


def _lookup(ref: str, tree: Dict[str, Any], chain: Tuple[str, ...]) -> Any:
    if ref in chain:
        raise ValueError(f"circular reference: {' -> '.join(chain + (ref,))}")
    if "." in ref:  # <module.attribute>: an attribute of a built object, never built here
        return Tagged("!apply:getattr", ref)
    branch: Any = tree
    for part in ref.split("["):
        part = part.strip("]")
        if not isinstance(branch, dict) or part not in branch:
            raise ValueError(f"!ref <{ref}>: no such key")
        branch = branch[part]
    return _resolve(branch, tree, chain + (ref,))


def _resolve_reference(text: str, tree: Dict[str, Any], chain: Tuple[str, ...]) -> Any:
    from hyperpyyaml.core import parse_arithmetic  # ast-based, evaluates numbers and operators only

    whole = _REFERENCE.fullmatch(text.strip())
    if whole:
        return _lookup(whole.group(1), tree, chain)
    if not _REFERENCE.search(text):
        return text
    return parse_arithmetic(_REFERENCE.sub(lambda m: str(_lookup(m.group(1), tree, chain)), text))


def plain(node: Any) -> Any:
    """``node`` with every :class:`Tagged` replaced by None."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return None if isinstance(node, Tagged) else node


def first_tag(node: Any) -> Optional[Tagged]:
    """The first :class:`Tagged` inside ``node`` (None for plain data)."""
    if isinstance(node, Tagged):
        return node
    values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for value in values:
        found = first_tag(value)
        if found is not None:
            return found
    return None


def resolve_text(text: str) -> Dict[str, Any]:
    """A (hyper)pyyaml text as plain data with its ``!ref`` values resolved; tagged nodes become None.

    Nothing is instantiated or run (:func:`read_tagged_yaml`).
    """
    return plain(read_tagged_yaml(text))


def resolved_yaml(path: Union[str, Path], overrides: Overrides = None) -> str:
    """The base recipe text with the variant's and the command line's values applied."""
    base_path, merged = variant_overrides(path, overrides)
    with open(base_path, encoding="utf-8") as stream:
        return resolve_references(stream, merged).getvalue()
