"""The import-linter view contracts (pyproject.toml) must name every view module.

import-linter matches whole name segments only, so `orders/fulfilment/seller_views.py` has to
be listed by hand; without this test a new `*_views.py` module would escape the contract
that keeps one app's views from importing another's.
"""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = {"shopfeed.accounts", "shops", "orders", "gifts", "live"}


def _pattern(expression: str) -> re.Pattern[str]:
    parts = []
    for part in expression.split("."):
        if part == "**":
            parts.append(r"[^.]+(?:\.[^.]+)*")
        elif part == "*":
            parts.append(r"[^.]+")
        else:
            parts.append(re.escape(part))
    return re.compile(r"\.".join(parts) + r"\Z")


def _view_contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return [c for c in contracts if c["name"].endswith("never import another app's views")]


def _app_of(module: str) -> str:
    return next(app for app in APPS if module == app or module.startswith(app + "."))


def _view_modules() -> set[str]:
    found = set()
    for app in APPS:
        app_dir = ROOT.joinpath(*app.split("."))
        for path in app_dir.rglob("*views.py"):
            if "tests" in path.relative_to(ROOT).parts:
                continue
            if path.name == "views.py" or path.name.endswith("_views.py"):
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_every_app_has_a_view_contract():
    sources = {_app_of(c["source_modules"][0]) for c in _view_contracts()}
    assert sources == APPS


def test_every_view_module_is_held_by_its_apps_view_contract():
    covered = {}
    for contract in _view_contracts():
        patterns = [_pattern(e) for e in contract["source_modules"]]
        covered[_app_of(contract["source_modules"][0])] = patterns
    missing = sorted(
        module
        for module in _view_modules()
        if not any(p.match(module) for p in covered[_app_of(module)])
    )
    assert missing == [], f"add these to the view contracts in pyproject.toml: {missing}"


def test_each_view_contract_forbids_every_other_apps_views():
    contracts = _view_contracts()
    for contract in contracts:
        app = _app_of(contract["source_modules"][0])
        others = {e for c in contracts if c is not contract for e in c["source_modules"]}
        assert set(contract["forbidden_modules"]) == others, app
