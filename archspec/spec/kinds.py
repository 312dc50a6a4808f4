"""The one registry of kinds: block, stem and shortcut kinds and plan primitives, archspec's own and plugins'.

archspec's own kinds register here exactly as a plugin's do (timm's `register_block` for its own blocks):
`register_block(model)`, `register_stem(model)`, `register_shortcut(name, projection, description)` and
`register_primitive(cls, torch="module:factory")`. The schema's unions, the JSON Schema, diagnostics, the
hypothesis strategies, the builder and `archspec kinds` read it; nothing restates a vocabulary.

A plugin is an installed distribution with an entry point in the group `archspec.kinds`
(`[project.entry-points."archspec.kinds"] eca = "archspec_eca:register"`): the object it names is called
with no arguments (a module is imported, and that is all) and registers its kinds through the functions
above. Only installed entry points are loaded, never a module named in a spec; they load once, when the
block and stem unions are first built (the first import of archspec's schema), before any spec is
validated. A plugin that fails (its import raises, it registers a name twice, its schema model does not
forbid unknown keys or is not frozen) is left out whole and recorded in `problems()`; the other kinds keep
working, a spec naming one of its kinds gets a one-line error naming it, and `archspec kinds` lists it.

No torch: a primitive's torch module is named by a "module:attribute" string, imported by archspec.nn
when a model is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, Field

from archspec.config.diagnostics import UNKNOWN_TAG_HINTS
from archspec.errors import ArchspecError

if TYPE_CHECKING:
    from archspec.spec.lowering import Layers

# The base class each schema kind subclasses, set by the module that defines it (spec/blocks/base.py,
# spec/stems/base.py) when it is imported, which a kind's own module does before it can register: so this
# module imports neither, and they may import it (no import cycle).
BASES: dict[str, type[BaseModel]] = {}
KindModel = TypeVar("KindModel", bound=BaseModel)

GROUP = "archspec.kinds"  # the entry-point group plugins declare
ARCHSPEC = "archspec"  # the package archspec's own kinds come from
Category = Literal["block", "stem", "shortcut", "primitive"]
CATEGORIES: tuple[Category, ...] = ("block", "stem", "shortcut", "primitive")
Projection = Callable[["Layers", int, int, tuple[str | int, ...]], None]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# Kinds of plugins archspec knows of, so that a spec naming one says which package to install.
KNOWN_PLUGINS: dict[tuple[Category, str], str] = {
    ("block", "eca_basic"): "archspec-eca (docs/examples/plugin)",
    ("block", "eca_bottleneck"): "archspec-eca (docs/examples/plugin)",
    ("primitive", "eca_gate"): "archspec-eca (docs/examples/plugin)",
}


class PluginError(ArchspecError, ValueError):
    """A kind that cannot be registered, or a plugin that does not load: the message names the plugin.

    `kind` is the (category, name) it is about, where known."""

    def __init__(self, message: str, kind: tuple[Category, str] | None = None) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Kind:
    """One registered kind: its category, name, the package it comes from, and what implements it."""

    category: Category
    name: str
    package: str  # "archspec", or the plugin's distribution name
    target: Any  # the schema model (block, stem), the projection (shortcut) or the primitive class
    description: str = ""
    torch: str = ""  # primitives: "module:attribute" of the function that makes its torch module
    strategies: str = ""  # blocks and stems: "module:attribute" of a hypothesis strategy of its own fields
    entry_point: str = ""  # the plugin's entry point that registered it ("" for archspec's own)


@dataclass(frozen=True)
class Problem:
    """A plugin that was left out, and why (one line)."""

    package: str
    entry_point: str
    message: str
    kinds: tuple[tuple[Category, str], ...] = ()  # the kinds it tried to register, where known

    def __str__(self) -> str:
        return f"plugin {self.package} (entry point {self.entry_point}): {self.message}"


@dataclass
class Registry:
    kinds: dict[Category, dict[str, Kind]] = field(default_factory=lambda: {c: {} for c in CATEGORIES})
    problems: list[Problem] = field(default_factory=list)
    package: str = ARCHSPEC  # whose registrations are being made
    _staged: list[Kind] | None = None  # a plugin's registrations, kept only if all of them succeed
    _loaded: bool = False
    _by_target: dict[Any, Kind] = field(default_factory=dict)  # a primitive's kind by its class
    _entry_point: str = ""  # the entry point being loaded
    _conflict: PluginError | None = None  # archspec's own kind took a name the loading plugin had registered

    def _store(self, kind: Kind) -> None:
        self.kinds[kind.category][kind.name] = kind
        if kind.category == "primitive":
            self._by_target[kind.target] = kind

    def add(self, kind: Kind) -> None:
        table = self.kinds[kind.category]
        staged = [k for k in self._staged or () if k.category == kind.category and k.name == kind.name]
        existing = table.get(kind.name) or (staged[0] if staged else None)
        if existing is not None:
            if existing.package != ARCHSPEC and kind.package == ARCHSPEC:
                # archspec's own kind registered after a plugin took its name: archspec's wins, the plugin loses it
                taken = PluginError(f"{kind.category} kind {kind.name!r} is archspec's own", (kind.category, kind.name))
                if kind.name in table:
                    self._by_target.pop(table.pop(kind.name).target, None)
                    lost = ((kind.category, kind.name),)
                    self.problems.append(Problem(existing.package, existing.entry_point, str(taken), lost))
                else:  # the plugin being loaded registered it: it fails when its registration returns
                    self._conflict = taken
            else:
                raise PluginError(f"{kind.category} kind {kind.name!r} is already registered by {existing.package}",
                                  (kind.category, kind.name))  # fmt: skip
        if self._staged is not None and kind.package != ARCHSPEC:
            self._staged.append(dataclasses.replace(kind, entry_point=self._entry_point))
        else:
            self._store(kind)

    def load_plugin(self, package: str, entry_point: str, load: Callable[[], Any]) -> bool:
        """Run one plugin's registration; on any failure, keep none of it and record why."""
        previous, self.package, self._staged, self._entry_point = self.package, package, [], entry_point
        try:
            target = load()
            if callable(target) and not isinstance(target, types.ModuleType):
                target()
            if self._conflict is not None:
                raise self._conflict
            staged = self._staged
        except Exception as err:  # any failure of third-party code is the plugin's, reported as one line
            tried = tuple((k.category, k.name) for k in self._staged or ())
            if isinstance(err, PluginError) and err.kind is not None:
                tried += (err.kind,)
            what = str(err) if isinstance(err, PluginError) else f"{type(err).__name__}: {err}"
            self.problems.append(Problem(package, entry_point, _first_line(what), tried))
            return False
        finally:
            self.package, self._staged, self._entry_point, self._conflict = previous, None, "", None
        for kind in staged:
            self._store(kind)
        return True

    def load_plugins(self) -> None:
        """Load every installed entry point of the group, once."""
        if self._loaded:
            return
        self._loaded = True
        for module in ("archspec.spec.shortcuts", "archspec.spec.blocks", "archspec.spec.stems"):
            importlib.import_module(module)  # archspec's own kinds first: a plugin cannot take their names
        for point in sorted(metadata.entry_points(group=GROUP), key=lambda p: (_dist_name(p), p.name)):
            self.load_plugin(_dist_name(point), point.name, point.load)

    @property
    def loading(self) -> bool:
        """Whether a plugin's registration is running."""
        return self._staged is not None

    def package_of(self, category: Category, name: str) -> str:
        kind = self.kinds[category].get(name)
        return kind.package if kind else ""


REGISTRY = Registry()


def _dist_name(point: metadata.EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    return str(dist.name) if dist is not None else point.value.split(":")[0].split(".")[0]


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "(no message)"


# --- registration: archspec's own kinds and every plugin's go through these ------------------------------


def register_block(model: type[KindModel], *, strategies: str = "") -> type[KindModel]:
    """Register a block kind: a frozen `BlockBase` subclass forbidding unknown keys, with `kind: Literal["name"]`
    and a `branch` lowering. `strategies`: "module:attribute" of a hypothesis strategy drawing a mapping of
    the kind's own fields (archspec.testing draws the common block settings itself). Returns the model, so it
    can decorate the class."""
    name = _check_model(model, BASES["block"], "block", "branch")
    REGISTRY.add(Kind("block", name, _package_of(model), model, _kind_description(model), strategies=strategies))
    return model


def register_stem(model: type[KindModel], *, strategies: str = "") -> type[KindModel]:
    """Register a stem kind: a frozen `StemBase` subclass with `kind: Literal["name"]` and a `lower` returning
    its stride; `strategies` as for `register_block`."""
    name = _check_model(model, BASES["stem"], "stem", "lower")
    REGISTRY.add(Kind("stem", name, _package_of(model), model, _kind_description(model), strategies=strategies))
    return model


def register_shortcut(name: str, projection: Projection, description: str) -> None:
    """Register a shortcut kind: `projection(layers, channels, stride, loc)` appends the layers of a projecting
    shortcut to `channels` at `stride` (`loc` is the field to blame through `layers.fail`)."""
    _check_name("shortcut", name)
    if not callable(projection):
        raise PluginError(f"shortcut kind {name!r}: its projection is not callable")
    if not description.strip():
        raise PluginError(f"shortcut kind {name!r} needs a description (the JSON Schema and `archspec kinds` show it)")
    REGISTRY.add(Kind("shortcut", name, _package_of(projection), projection, description))


PRIMITIVE_RULES = ("out_shape", "window", "macs", "other_ops", "kept", "receptive", "torchinfo_mult_adds")


def register_primitive(cls: type, *, torch: str) -> type:
    """Register a plan primitive: an `archspec.arch.primitives.Primitive` subclass with a unique `op_name` and
    its rules (shape, params, MACs, kept memory, receptive field), and `torch`, the "module:attribute" of a
    function that makes its torch module from an instance. Returns the class, so it can decorate it."""
    name = getattr(cls, "op_name", "")
    if not isinstance(cls, type) or not isinstance(name, str):
        raise PluginError(f"primitive {cls!r} is not a class with an op_name")
    _check_name("primitive", name)
    missing = [rule for rule in (*PRIMITIVE_RULES, "params") if not hasattr(cls, rule)]
    if missing:
        raise PluginError(f"primitive {name!r} lacks {', '.join(missing)}: subclass archspec.arch.primitives.Primitive")
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", torch):
        raise PluginError(f"primitive {name!r}: torch must be 'module:function', got {torch!r}")
    doc = _first_line(cls.__doc__ or name)
    REGISTRY.add(Kind("primitive", name, _package_of(cls), cls, doc, torch=torch))
    return cls


def _package_of(target: Any) -> str:
    """archspec's own kinds are archspec's whenever they register; a plugin's are its distribution's; a kind
    registered at run time outside a plugin is its module's top-level package's."""
    top = str(getattr(target, "__module__", "") or "").split(".")[0]
    if top == ARCHSPEC:
        return ARCHSPEC
    return REGISTRY.package if REGISTRY.loading else top or "__main__"


def _check_name(category: Category, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(f"{category} kind name {name!r} must be lower case letters, digits and _")
    return name


def _check_model(model: Any, base: type[BaseModel], category: Category, method: str) -> str:
    if not (isinstance(model, type) and issubclass(model, base)):
        raise PluginError(f"{category} kind {model!r} is not a subclass of {base.__name__}")
    kind = model.model_fields.get("kind")
    values = get_args(kind.annotation) if kind is not None and get_origin(kind.annotation) is Literal else ()
    if len(values) != 1:
        raise PluginError(f"{category} kind {model.__name__} needs a field kind: Literal['its name']")
    name = _check_name(category, values[0])
    try:
        _check_strict(model, f"{category} kind {name!r}")
    except PluginError as err:
        raise PluginError(str(err), (category, name)) from None
    if getattr(model, method) is getattr(base, method):
        raise PluginError(f"{category} kind {name!r} has no {method}() lowering", (category, name))
    return name


def _check_strict(model: type[BaseModel], what: str, seen: set[type] | None = None) -> None:
    """Every schema model forbids unknown keys (a typo is an error, not ignored) and is frozen; every field
    says what it means (the JSON Schema and the docs read it). Nested models too."""
    seen = seen if seen is not None else set()
    if model in seen:
        return
    seen.add(model)
    config = model.model_config
    if config.get("extra") != "forbid":
        raise PluginError(f"{what}: its schema model {model.__name__} must forbid unknown keys "
                          "(model_config extra='forbid'; subclass archspec.config.model.Model)")  # fmt: skip
    if not config.get("frozen"):
        raise PluginError(f"{what}: its schema model {model.__name__} must be frozen (model_config frozen=True)")
    for field_name, info in model.model_fields.items():
        if not (info.description or "").strip():
            raise PluginError(f"{what}: field {field_name!r} of {model.__name__} needs a description")
        for nested in _models_in(info.annotation):
            _check_strict(nested, what, seen)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _kind_description(model: type[BaseModel]) -> str:
    return model.model_fields["kind"].description or ""


# --- reading the registry ---------------------------------------------------------------------------------


def load_plugins() -> None:
    """Load the installed plugins (once); every reader below calls it first."""
    REGISTRY.load_plugins()


def kinds(category: Category) -> dict[str, Kind]:
    """The registered kinds of a category, by name, archspec's own first, in registration order."""
    load_plugins()
    table = REGISTRY.kinds[category]
    return dict(sorted(table.items(), key=lambda item: item[1].package != ARCHSPEC))


def find(category: Category, name: str) -> Kind | None:
    """The kind `name` of `category`, or None (no copy, no order: for lookups in loops)."""
    load_plugins()
    return REGISTRY.kinds[category].get(name)


def names(category: Category) -> tuple[str, ...]:
    return tuple(kinds(category))


def get(category: Category, name: str) -> Kind:
    """The kind `name`; a PluginError listing the installed ones (and the plugin that would have it) if absent."""
    found = kinds(category).get(name)
    if found is None:
        raise PluginError(f"unknown {category} kind {name!r}; choose from {', '.join(names(category))}"
                          f"{unknown_hint(category, name)}")  # fmt: skip
    return found


_UNIONS: dict[Category, Any] = {}


def union(category: Literal["block", "stem"], discriminated: bool = True) -> Any:
    """The union of the registered schema models of `category` (discriminated by `kind`, for a field's type):
    the schema (archspec.spec.schema) is built from it once the plugins have loaded."""
    load_plugins()
    if REGISTRY.loading:  # a plugin reading the schema while it registers would freeze it without its kinds
        raise PluginError(
            f"the {category} kinds were read while a plugin was registering; a plugin must import "
            "only the base modules (archspec.spec.blocks.base, ...), not archspec.spec.schema"
        )
    if category not in _UNIONS:
        models = tuple(kind.target for kind in kinds(category).values())
        _UNIONS[category] = Union[models]  # noqa: UP007 (built at run time)
    members = _UNIONS[category]
    return Annotated[members, Field(discriminator="kind")] if discriminated else members


def lazy_attributes(module: str, category: Literal["block", "stem"], *, models: str, names: str, union: str,
                    field: str) -> Callable[[str], Any]:  # fmt: skip
    """A module `__getattr__` (PEP 562) giving the registry's models by name (`models`), their names (`names`)
    and their union, bare (`union`) or discriminated by `kind` for a field's type (`field`), read when first
    used: after the plugins have loaded."""

    def getattr_(name: str) -> Any:
        if name == models:
            return {kind: entry.target for kind, entry in kinds(category).items()}
        if name == names:
            return globals()["names"](category)
        if name in (union, field):
            return globals()["union"](category, discriminated=name == field)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return getattr_


def primitive_kind(cls: type) -> Kind | None:
    """The registered primitive whose class is `cls`, or None."""
    return REGISTRY._by_target.get(cls)


def problems() -> tuple[Problem, ...]:
    load_plugins()
    return tuple(REGISTRY.problems)


def unknown_hint(category: str, name: str) -> str:
    """What to add to 'unknown kind' errors: the package that has the kind, or the plugins that failed to load."""
    hints = []
    known = KNOWN_PLUGINS.get((category, name))  # type: ignore[arg-type]
    if known:
        hints.append(f"{category} kind {name!r} comes from the plugin {known}: install it")
    about = [p for p in REGISTRY.problems if (category, name) in p.kinds]
    unknown = [p for p in REGISTRY.problems if not p.kinds]  # failed before saying its kinds (an import error)
    hints += [str(problem) for problem in (about or unknown)[:2]]
    return "".join(f"; {hint}" for hint in hints)


def _tag_hint(field_name: str, given: str) -> str:
    return unknown_hint(field_name, given) if field_name in ("block", "stem") else ""


UNKNOWN_TAG_HINTS.append(_tag_hint)


def resolve(reference: str) -> Any:
    """The object a "module:attribute" reference names (a registered kind's torch factory or strategies)."""
    module, _, attribute = reference.partition(":")
    return getattr(sys.modules.get(module) or importlib.import_module(module), attribute)


__all__ = [
    "ARCHSPEC",
    "CATEGORIES",
    "GROUP",
    "REGISTRY",
    "Category",
    "Kind",
    "PluginError",
    "Problem",
    "Registry",
    "find",
    "get",
    "kinds",
    "load_plugins",
    "names",
    "primitive_kind",
    "problems",
    "register_block",
    "register_primitive",
    "register_shortcut",
    "register_stem",
    "resolve",
    "union",
    "unknown_hint",
]
