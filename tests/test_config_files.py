"""The YAML files Rasa reads expand their ${VAR}s. Rasa resolves `${VAR}` only in plain
(unquoted) scalars, so a quoted "${ACTION_SERVER_TOKEN}" reaches the server as the
literal text and every action call is refused; this reads each file as Rasa does."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from rasa.shared.utils.io import read_config_file

ROOT = Path(__file__).resolve().parent.parent
FILES = ["endpoints.yml", "credentials.yml", "deploy/endpoints.production.yml", "deploy/credentials.production.yml"]


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("name", FILES)
def test_every_variable_is_expanded_as_rasa_reads_the_file(name, monkeypatch):
    text = (ROOT / name).read_text()
    names = set(re.findall(r"\$\{([A-Z0-9_]+)\}", "\n".join(l.split("#")[0] for l in text.splitlines())))
    for variable in names:
        monkeypatch.setenv(variable, f"value-of-{variable.lower()}")
    config = read_config_file(str(ROOT / name)) or {}
    found = list(_strings(config))
    assert not [s for s in found if "${" in s], f"{name}: unexpanded (quoted?) variables"
    for variable in names:
        assert any(f"value-of-{variable.lower()}" in s for s in found), f"{name}: {variable} not read"
