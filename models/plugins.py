"""Models from outside the repository, resolved in one place (the CLI, the runner, the bench grid and its Dask
workers all call ``resolve_model``).

- ``--model package.module:ClassName`` (also in ``bench --models``): the module is imported (the current
  folder is searched last, after the installed packages), and the class must be a ``Model`` subclass with a
  plain ``name`` and its ``profiles``. It is registered under that name, which the run id and the result rows
  use. Dask workers receive the spec string and resolve it themselves, so the module must be importable there.
- Installed packages advertise models as entry points of the group ``langgan_bench.models``
  (``my_gan = my_package.gan:MyGAN``; the entry point's name is the class's ``name``). They are loaded at the
  first lookup of a name that is not built in, or the first listing; one that cannot be loaded is listed as
  such and refused with its reason when asked for, and never stops the built-in models from working.

A bad spec or class is a one-line UserError: a module that does not import, no such attribute, not a Model
subclass, an unsafe name, or a name that clashes with a built-in (or another plugin's) model.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from langgan_bench.core.errors import UserError
from langgan_bench.core.files import is_safe_name
from langgan_bench.models import MODELS

if TYPE_CHECKING:
    from langgan_bench.models.training.base import Model

ENTRY_POINT_GROUP = "langgan_bench.models"
#: name -> where a model that is not built in came from, e.g. "plugin: my_package.gan:MyGAN"
SOURCES: dict[str, str] = {}

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    """The installed packages' model entry points (tests replace this function)."""
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def resolve_model(spec: str) -> type[Model]:
    """The model class ``spec`` names: a registered name (built-in or entry point), or
    ``package.module:ClassName``, which is imported, checked and registered under the class's ``name``."""
    if ":" not in spec:
        return MODELS.get(spec)
    module_name, _, attr = spec.partition(":")
    where = f"model {spec!r}"
    if not (_DOTTED.fullmatch(module_name) and _DOTTED.fullmatch(attr)):
        raise UserError(f"{where}: expected package.module:ClassName")
    _search_current_folder()
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # whatever the module raises while it is imported
        raise UserError(f"{where}: cannot import {module_name} ({_why(e)})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"{where}: module {module_name} has no attribute {attr!r}") from None
    return _register(_checked(obj, where), where, f"plugin: {spec}")


def model_source(name: str) -> str:
    """Where the registered model ``name`` comes from: "built-in" or "plugin: ..."."""
    return SOURCES.get(name, "built-in")


def _checked(obj: Any, where: str) -> type[Model]:
    from langgan_bench.models.training.base import Model  # (here: listing the built-ins imports no torch)

    if not (isinstance(obj, type) and issubclass(obj, Model)):
        raise UserError(f"{where} is not a subclass of langgan_bench.models.training.base.Model")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise UserError(f"{where} is abstract (it does not implement {missing})")
    name = getattr(obj, "name", None)
    if not (isinstance(name, str) and is_safe_name(name) and "," not in name):
        raise UserError(
            f"{where} has no usable `name` ({name!r}): give the class a plain name such as my_gan "
            "(letters, digits and _ . + = -; it becomes part of run ids and folder names)"
        )
    profiles = getattr(obj, "profiles", None)
    if not (isinstance(profiles, dict) and profiles):
        raise UserError(f"{where} has no `profiles` (a dict of profile name -> config, e.g. 'tiny')")
    return obj


def _register(cls: type[Model], where: str, source: str) -> type[Model]:
    name = cls.name
    if name in MODELS:  # built-in, or loaded before (entry points are loaded by this lookup)
        if MODELS.get(name) is cls:
            return cls
        other = f"model from {SOURCES[name]}" if name in SOURCES else "built-in model"
        raise UserError(
            f"{where}: its name {name!r} clashes with the {other} of that name; give the class another name"
        )
    MODELS.add(name, cls)
    SOURCES[name] = source
    return cls


def _load_entry_points() -> dict[str, str]:
    """Register every installed model entry point; return name -> why for those that cannot be used."""
    broken: dict[str, str] = {}
    try:
        found = sorted(entry_points(), key=lambda ep: (ep.name, ep.value))
    except Exception as e:  # unreadable package metadata must not stop the built-in models
        return {"": f"the installed packages' model entry points cannot be read ({_why(e)})"}
    for ep in found:
        dist = getattr(getattr(ep, "dist", None), "name", None)
        origin = f"{ep.value}, entry point of {dist}" if dist else ep.value
        where = f"model {ep.name!r} (plugin: {origin})"
        try:
            try:
                obj = ep.load()
            except Exception as e:  # whatever the plugin's module raises while it is imported
                raise UserError(f"{where} cannot be loaded ({_why(e)})") from None
            cls = _checked(obj, where)
            if cls.name != ep.name:
                raise UserError(f"{where}: the entry point's name differs from the class's name {cls.name!r}")
            _register(cls, where, f"plugin: {origin}")
        except UserError as e:
            broken.setdefault(ep.name, str(e))
    return broken


def _search_current_folder() -> None:
    """``langgan-bench`` run as a console script does not search the current folder; a spec of a module beside
    the user's results should still import. Appended, so it never shadows an installed package."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


MODELS.lazy(_load_entry_points)
