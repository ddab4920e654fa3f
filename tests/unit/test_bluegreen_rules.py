"""The pure rules of a blue-green step: which gates see one slot, which judge the stable
address, and when two copies of a service would collide."""

from __future__ import annotations

import pytest

from chatops.health import kind_of
from chatops.health.http import HttpCheck
from chatops.health.kuma import KumaCheck
from chatops.health.tcp import TcpCheck
from chatops.intents.traffic import Traffic
from chatops.planning.steps import Gate
from chatops.runner.slots import aimed, through_proxy, two_copies_problems
from chatops.store.summaries import traffic_summary

TRAFFIC = Traffic.model_validate({"listen": "127.0.0.1:8080",
                                  "ports": {"blue": 18081, "green": 18082}})


def gate(check: HttpCheck | TcpCheck | KumaCheck) -> Gate:
    kind = kind_of(check)
    return Gate(kind.key, kind.describe(check), check.within, check)


def test_gates_on_the_stable_address_are_aimed_at_the_slot() -> None:
    http = gate(HttpCheck(http="http://127.0.0.1:8080/health?x=1"))
    tcp = gate(TcpCheck(tcp="127.0.0.1:8080"))
    elsewhere = gate(HttpCheck(http="http://127.0.0.1:9999/other"))

    assert aimed(http, TRAFFIC, "green").check.http == "http://127.0.0.1:18082/health?x=1"
    assert "127.0.0.1:18082" in aimed(http, TRAFFIC, "green").description
    assert aimed(tcp, TRAFFIC, "blue").check.tcp == "127.0.0.1:18081"
    assert aimed(elsewhere, TRAFFIC, "blue") is elsewhere


def test_a_listen_on_every_address_matches_loopback_gates() -> None:
    traffic = TRAFFIC.model_copy(update={"listen": "0.0.0.0:8080"})
    http = gate(HttpCheck(http="http://localhost:8080/"))
    assert aimed(http, traffic, "blue").check.http == "http://127.0.0.1:18081/"


def test_uptime_kuma_judges_only_through_the_proxy() -> None:
    kuma = gate(KumaCheck(kuma=3))
    http = gate(HttpCheck(http="http://127.0.0.1:8080/health"))
    elsewhere = gate(HttpCheck(http="http://127.0.0.1:9999/other"))

    assert aimed(kuma, TRAFFIC, "blue") is None
    assert through_proxy((kuma, http, elsewhere), TRAFFIC) == (kuma, http)


def test_two_copies_that_would_collide_are_named_by_field() -> None:
    render = {"services": {"web": {
        "container_name": "web",
        "volumes": [{"type": "volume", "source": "data", "target": "/data"},
                    {"type": "bind", "source": "/srv/www", "target": "/www"}],
        "ports": [{"published": "8443", "target": 443}, {"published": "18082", "target": 80}],
    }}}

    problems = two_copies_problems("web", render, {"0.0.0.0:8443", ":9000"})

    assert problems == [
        "container_name: 'web' can name only one container; remove it so that both slots "
        "can run",
        "volumes: the named volume 'data' would be used by both slots at once",
        "ports: port 8443 is published by the live slot already; publish "
        "${CHATOPS_SLOT_PORT} instead",
    ]
    assert two_copies_problems("web", {"services": {"web": {}}}, set()) == []


def test_the_traffic_summary_says_what_happened() -> None:
    assert traffic_summary(None) == ""
    assert traffic_summary({"before": "blue", "target": "green", "after": "blue",
                            "switched": False}) == \
        "blue kept serving; green never received traffic"
    line = traffic_summary({
        "before": "blue", "after": "green", "switched": True,
        "switched_at": "2026-11-27T08:47:37.357+00:00", "healthy_to_switched_ms": 1.4,
        "drain_seconds": 0.25, "drain_left": 0, "failed_requests": 0,
        "standby": {"slot": "blue", "until": "2026-11-27T08:57:37+00:00"}})
    assert line == ("blue → green at 08:47:37.357 (1.4 ms after it passed its gates); "
                    "drained in 0.25s; 0 failed request(s) by the proxy; standby blue "
                    "until 08:57 UTC")


def test_every_driver_the_contract_names_is_implemented() -> None:
    from chatops.intents.traffic import DRIVER_NAMES
    from chatops.traffic import registered

    assert set(registered()) == set(DRIVER_NAMES)


def test_a_gate_kind_must_say_how_it_aims_at_a_slot() -> None:
    from chatops.health import REGISTRY, GateKind
    from chatops.health.http import HttpCheck, describe, run

    with pytest.raises(TypeError, match="aim"):
        GateKind(key="probe", model=HttpCheck, describe=describe, run=run)  # type: ignore[call-arg]
    assert all(callable(k.aim) and callable(k.sees_stable) for k in REGISTRY.values())
