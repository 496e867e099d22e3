"""The one way a vendor's config and catalog are loaded: ``intentcast-vendor check`` and
``intentcast-vendor run`` both call :func:`load_vendor`, so ``run`` starts only on what
``check`` passes, and refuses the rest with the same lines."""

from __future__ import annotations

from pathlib import Path

import schemas

from ._catalog import Catalog, Rules, load_catalog
from ._config import ConfigError, VendorConfig, load_config

__all__ = ["load_vendor"]


def load_vendor(path: Path) -> tuple[VendorConfig, Catalog]:
    """The config at ``path`` and its catalog, with every row checked.

    Raises :class:`ConfigError` whose ``problems`` has a line for everything that stops the
    vendor from serving, all of them at once: categories outside the taxonomy, a catalog that
    cannot be read, and each bad row. Only a config that cannot be parsed at all stops the
    catalog from being checked too."""
    cfg = load_config(path)
    problems: list[str] = []
    for n, category in enumerate(cfg.categories):
        try:
            schemas.check_category(category)
        except ValueError as exc:
            problems.append(f"{path}: categories[{n}]: {exc}")
    catalog: Catalog | None = None
    where = cfg.catalog.path
    if cfg.catalog.kind != "plugin" and where is not None and not where.is_file():
        found = "a folder" if where.is_dir() else "no such file"
        problems.append(
            f"{path}: catalog.path: expected a {cfg.catalog.kind} catalog file, got {where} "
            f"({found}); a relative path is taken from the config's folder"
        )
    else:
        rules = Rules(tuple(cfg.categories), cfg.pricing.currency, str(path))
        try:
            catalog = load_catalog(cfg.catalog, rules)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(*problems)
    assert catalog is not None
    return cfg, catalog
