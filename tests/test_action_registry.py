"""rasa-sdk finds every action the domain names, the way both `rasa run actions` and
actions/server.py load them (rasa_sdk's ActionExecutor.register_package).

rasa-sdk walks the package with pkgutil.walk_packages and no prefix, so a subpackage
named like a top-level module (`actions/requests/` was one: it imported the HTTP
library `requests` instead and the server exited) breaks the start of every action
server. This catches it without starting one."""
from __future__ import annotations

from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

ROOT = Path(__file__).resolve().parent.parent


def test_every_custom_action_in_the_domain_is_registered_from_the_actions_package():
    executor = ActionExecutor()
    executor.register_package("actions")
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    custom = {name for name in domain.get("actions", []) if name.startswith(("action_", "validate_"))}
    assert custom, "the domain names no custom action"
    missing = custom - set(executor.actions)
    assert not missing, f"actions the domain names but rasa-sdk did not register: {sorted(missing)}"


def test_no_subpackage_of_actions_shadows_a_top_level_module():
    import importlib.util

    for path in (ROOT / "actions").iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            spec = importlib.util.find_spec(path.name)
            assert spec is None or Path(spec.origin or "").is_relative_to(ROOT / "actions"), (
                f"actions/{path.name}/ has the name of an importable module ({spec.origin}); "
                "rasa-sdk's package walk would import that one instead")
