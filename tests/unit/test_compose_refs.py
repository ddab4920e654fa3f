"""The files a compose document names, read once for the plan's list, Compose's reading
key and the secret files."""

from __future__ import annotations

from pathlib import Path

import yaml

from chatops.compose_refs import FileRef, file_refs, path_values
from chatops.runner.project import reading_key

DOC = yaml.safe_load("""
include:
  - shared/one.yml
  - path: [shared/two.yml, {path: shared/three.yml}]
    env_file: shared/include.env
services:
  web:
    image: demo:v1
    env_file: [web.env, {path: more.env, required: false}]
    extends: {file: base.yml, service: base}
    build: {context: ./app, dockerfile: Dockerfile.prod}
  worker:
    build: ./worker
    env_file: worker.env
  odd: not-a-mapping
configs:
  app: {file: conf/app.conf}
  external: {external: true}
secrets:
  token: {file: secrets/token.txt}
""")


def test_every_file_a_compose_document_names_in_its_order() -> None:
    assert list(file_refs(DOC)) == [
        FileRef("shared/one.yml", "include"),
        FileRef("shared/two.yml", "include"),
        FileRef("shared/three.yml", "include"),
        FileRef("shared/include.env", "include env_file"),
        FileRef("web.env", "env_file", "web"),
        FileRef("more.env", "env_file", "web"),
        FileRef("base.yml", "extends", "web"),
        FileRef("./app", "build", "web"),
        FileRef("./app/Dockerfile.prod", "dockerfile", "web"),
        FileRef("worker.env", "env_file", "worker"),
        FileRef("./worker", "build", "worker"),
        FileRef("conf/app.conf", "config", "app"),
        FileRef("secrets/token.txt", "secret", "token"),
    ]


def test_what_is_not_a_compose_document_names_nothing() -> None:
    assert list(file_refs(None)) == []
    assert list(file_refs(["services"])) == []
    assert list(file_refs({"services": ["web"], "configs": "x"})) == []
    assert list(path_values(7)) == []
    assert list(path_values([1, {"path": None}, "a.env"])) == ["a.env"]


def test_an_include_env_file_is_part_of_what_composes_reading_depends_on(
        tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    env = tmp_path / "shared" / "include.env"
    env.write_text("A=1\n")
    compose = tmp_path / "stack" / "docker-compose.yml"
    compose.parent.mkdir()
    content = b"include:\n  - path: ../shared/two.yml\n    env_file: ../shared/include.env\n"
    compose.write_bytes(content)
    argv = ("docker", "compose", "config")
    before = reading_key(argv, compose, content, {})
    assert before is not None
    env.write_text("A=10\n")
    assert reading_key(argv, compose, content, {}) != before
