"""The service's entry: ``vru.bento`` hands the service its settings; nothing else does.

Fast checks in process (the real-HTTP tests start ``bentoml serve vru.bento:VruRisk``).
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [
    # bentoml 1.4.40 imports pathspec's deprecated 'gitwildmatch' as it loads; not ours to fix
    pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning"),
    # ... and builds its service's models with a pydantic hook deprecated in pydantic 2.11
    pytest.mark.filterwarnings("ignore:The `__get_pydantic_core_schema__` method"),
]


@pytest.fixture
def service() -> Any:
    """:mod:`serving.service` (imported here: importing BentoML warns, see above)."""
    from serving import service

    return service


def test_the_entry_serves_the_service_class_with_the_project_settings(service: Any) -> None:
    import vru.bento
    from vru.cli_serve import SERVICE, bentoml_command
    from vru.config import load_settings

    assert vru.bento.VruRisk is service.VruRisk
    assert service._settings_loader is load_settings
    assert SERVICE == "vru.bento:VruRisk"
    assert SERVICE in bentoml_command("127.0.0.1", 3000)


def test_without_the_entry_the_service_refuses_with_one_line(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.runtime import CannotStartError

    monkeypatch.setattr(service, "_settings_loader", None)
    with pytest.raises(CannotStartError, match=r"serve vru\.bento:VruRisk") as refused:
        service.VruRisk.inner()
    assert len(str(refused.value).splitlines()) == 1


def test_the_service_starts_from_what_the_loader_gives(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.runtime import CannotStartError

    asked = []

    def loader() -> object:
        asked.append(True)
        raise CannotStartError("the injected loader was asked")

    monkeypatch.setattr(service, "_settings_loader", service._settings_loader)  # restored after
    service.use_settings(loader)
    with pytest.raises(CannotStartError, match="the injected loader was asked"):
        service.VruRisk.inner()
    assert asked == [True]
