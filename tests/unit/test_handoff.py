"""The pieces of a self-upgrade that need no engine: which container chatops runs in, the
helper's ``docker run``, and the handoff record's moves (each party's compare-and-set)."""

from __future__ import annotations

from pathlib import Path

from chatops.runner.handoff import helper_argv, own_container_id
from chatops.store.handoffs import Handoff
from chatops.store.sqlite import RunStore

CID = "3f" * 32
MOUNTINFO = f"""\
712 690 0:52 / / rw,relatime master:310 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/AB
744 712 8:1 /var/lib/docker/containers/{CID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1
745 712 8:1 /var/lib/docker/containers/{CID}/hostname /etc/hostname rw - ext4 /dev/sda1
"""


def test_the_container_is_read_from_the_engine_s_own_mounts(tmp_path: Path) -> None:
    inside = tmp_path / "inside"
    inside.write_text(MOUNTINFO)
    outside = tmp_path / "outside"
    outside.write_text("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n")
    assert own_container_id(inside) == CID
    assert own_container_id(outside) is None
    assert own_container_id(tmp_path / "missing") is None


def test_the_helper_borrows_the_old_container_s_mounts_and_groups() -> None:
    argv = helper_argv("20261204-070000-abcdef", CID, "sha256:old", Path("/state"),
                       [999, 10001, 999])
    assert argv[:2] == ("docker", "run")
    assert argv[argv.index("--volumes-from"):][:2] == ("--volumes-from", CID)
    assert argv.count("--group-add") == 2  # each group once
    assert argv[-5:] == ("--entrypoint", "chatops", "sha256:old", "handoff",
                         "20261204-070000-abcdef")
    assert "--network" in argv
    assert argv[argv.index("--network") + 1] == "none"


def test_each_party_moves_the_handoff_once(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "chatops.sqlite3")
    try:
        store.hand_off(Handoff(run_id="r1", intent="upgrade", project="chatops",
                               service="chatops", image_ref="chatops:2", old_image="sha256:a",
                               new_image="sha256:b", up=("docker", "compose", "up"), cwd="/",
                               deadline=0.0))
        assert store.handing_off("r1")
        assert not store.handing_off("r2")
        assert store.move_handoff("r1", ("handing_off",), "recreated", container="c2")
        assert not store.move_handoff("r1", ("handing_off",), "recreated")  # taken already
        assert store.move_handoff("r1", ("recreated",), "healthy")
        assert store.move_handoff("r1", ("healthy",), "upgraded", reason="upgraded")
        found = store.handoff("r1")
        assert found is not None
        assert (found.state, found.container, found.reason, found.up) == (
            "upgraded", "c2", "upgraded", ("docker", "compose", "up"))
        assert store.move_handoff("r1", ("upgraded",), "finished")
        assert store.open_handoffs() == []
        assert not store.handing_off("r1")
    finally:
        store.close()
