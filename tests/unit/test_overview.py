"""The stacks overview's judgement: what is unwell, and where the host differs from the
repository."""

from __future__ import annotations

from chatops.application.overview import ContainerView, StackView


def view(*containers: ContainerView, wanted: dict[str, str] | None = None) -> StackView:
    return StackView("media", "media", "stacks/media/docker-compose.yml",
                     wanted=wanted or {"plex": "plex:1.40", "db": "postgres:16"},
                     containers=list(containers))


def test_unhealthy_and_stopped_containers_are_named() -> None:
    seen = view(ContainerView("media-plex-1", "plex", "plex:1.40", "running", "unhealthy"),
                ContainerView("media-db-1", "db", "postgres:16", "exited", None))
    assert seen.problems == ["media-plex-1 is unhealthy", "media-db-1 is exited"]
    assert not seen.healthy


def test_drift_names_the_service_and_both_images() -> None:
    seen = view(ContainerView("media-plex-1", "plex", "plex:1.39", "running", "healthy"))
    assert seen.drift == ["db is not running (the repository wants postgres:16)",
                          "plex runs plex:1.39; the repository wants plex:1.40"]
    fine = view(ContainerView("media-plex-1", "plex", "plex:1.40", "running", "healthy"),
                ContainerView("media-db-1", "db", "postgres:16", "running", None))
    assert fine.drift == []
    assert fine.healthy


def test_an_engine_that_does_not_answer_is_said_not_guessed() -> None:
    away = view()
    away.engine_problem = "the Docker engine did not answer: refused"
    assert away.drift == []
    assert not away.healthy
