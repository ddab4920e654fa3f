"""A pull request's compose file as its preview runs it: nothing of production's (names,
ports, networks, volumes, env files, secrets) and the preview block's own values; what
cannot be made safe is refused, naming the file and field."""

from __future__ import annotations

import pytest
import yaml

from chatops.errors import PreviewRefusedError
from chatops.intents.preview import Preview
from chatops.previews.compose import LABEL, project_name, render
from chatops.previews.listing import comment_section, free_port
from chatops.store.previews import PreviewRow

COMPOSE = """\
name: shop
services:
  web:
    image: registry.local/web:2
    container_name: shop-web
    ports: ["8080:8080"]
    env_file: [app.env]
    environment: [MODE=prod, KEEP]
    networks: [front]
    depends_on: [db, cache]
    secrets: [db_password]
  db:
    image: postgres:16
    volumes: [data:/var/lib/postgresql/data]
  cache:
    image: redis:7
networks:
  front: {external: true}
volumes:
  data: {}
secrets:
  db_password: {file: ./db_password.sops}
"""


def preview(**fields: object) -> Preview:
    return Preview.model_validate({"port": 8080, "secrets": {"db_password": "not-real"},
                                   **fields})


def test_the_preview_keeps_nothing_of_productions() -> None:
    done = render(COMPOSE, file="stacks/shop/docker-compose.yml",
                  preview=preview(leave_out=["cache"], env={"MODE": "preview"},
                                  memory="128m", cpus=0.25),
                  service="web", number=12, port=18003)
    data = yaml.safe_load(done.text)
    assert "name" not in data
    assert "networks" not in data
    web = data["services"]["web"]
    assert set(data["services"]) == {"web", "db"}  # cache left out
    assert "container_name" not in web
    assert "env_file" not in web
    assert "networks" not in web
    assert web["ports"] == ["127.0.0.1:18003:8080"]
    assert web["depends_on"] == ["db"]
    assert web["environment"] == {"MODE": "preview", "KEEP": None}
    assert web["deploy"]["resources"]["limits"] == {"cpus": "0.25", "memory": "128m"}
    assert web["labels"][LABEL] == "12"
    assert data["volumes"]["data"]["labels"][LABEL] == "12"
    assert data["secrets"] == {"db_password": {"file": "./.chatops-preview/secrets/"
                                                       "db_password"}}
    assert done.files == {".chatops-preview/secrets/db_password": "not-real"}
    assert project_name("shop", 12) == "shop-pr-12"


def test_host_networking_tells_the_service_its_port() -> None:
    text = "services:\n  web:\n    image: demo:1\n    network_mode: host\n"
    data = yaml.safe_load(render(text, file="c.yml", preview=Preview.model_validate(
        {"port": 8080, "network": "host", "port_env": "PORT"}), service="web", number=3,
        port=18000).text)
    assert data["services"]["web"]["network_mode"] == "host"
    assert data["services"]["web"]["environment"]["PORT"] == "18000"
    assert "ports" not in data["services"]["web"]


@pytest.mark.parametrize(("extra", "field"), [
    ("volumes:\n  data: {external: true}\n", "volumes.data"),
    ("include: [other.yml]\n", "include"),
])
def test_what_would_reach_production_is_refused(extra: str, field: str) -> None:
    text = "services:\n  web:\n    image: demo:1\n" + extra
    with pytest.raises(PreviewRefusedError) as caught:
        render(text, file="stacks/a/c.yml", preview=preview(secrets={}), service="web",
               number=1, port=18000)
    assert caught.value.field == field
    assert caught.value.message.startswith("stacks/a/c.yml: ")


def test_a_secret_without_the_previews_own_value_is_refused() -> None:
    with pytest.raises(PreviewRefusedError, match=r"preview\.secrets\.db_password"):
        render(COMPOSE, file="c.yml", preview=preview(secrets={}), service="web",
               number=1, port=18000)


def test_a_build_only_service_or_an_unknown_left_out_service_is_refused() -> None:
    with pytest.raises(PreviewRefusedError, match="names none"):
        render("services:\n  web:\n    build: .\n", file="c.yml", preview=preview(),
               service="web", number=1, port=1)
    with pytest.raises(PreviewRefusedError, match="no service nope"):
        render(COMPOSE, file="c.yml", preview=preview(leave_out=["nope"]), service="web",
               number=1, port=1)


def test_the_preview_block_is_checked() -> None:
    with pytest.raises(ValueError, match="port_env"):
        Preview.model_validate({"port": 80, "network": "host"})
    with pytest.raises(ValueError, match="at most 7d"):
        Preview.model_validate({"port": 80, "ttl": "60d"})
    with pytest.raises(ValueError, match="at least 10s"):
        Preview.model_validate({"port": 80, "ttl": "5s"})
    with pytest.raises(ValueError, match="256m"):
        Preview.model_validate({"port": 80, "memory": "lots"})


def test_the_comment_lists_previews_and_refusals_and_ports_are_taken_in_order() -> None:
    row = PreviewRow(3, "web", "rollout_web", "web-pr-3", "a" * 40, 18000,
                     ("web.pr-3.p.test", "pr-3.p.test"), "up", "", "t", "t", "2026-12-05")
    text = comment_section([row], {"api": "the compose policy refuses it"},
                           lambda host: f"http://{host}")
    assert "| web | http://pr-3.p.test | ✅ up | `aaaaaaaaaaaa` | 2026-12-05 |" in text
    assert "- ⛔ `api`: the compose policy refuses it" in text
    assert comment_section([], {}, str) == ""
    assert free_port(range(1, 1), set()) is None
    found = free_port(range(20000, 60000), {20000})
    assert found is not None
    assert found > 20000
