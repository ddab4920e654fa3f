"""``chatops validate``: the seed's output format, every error located, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import EXAMPLE_REPO, SEED_INTENT


def test_example_repo_validates_with_the_seeds_exact_output(cli) -> None:
    result = cli("validate", "--repo", str(EXAMPLE_REPO))
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Validating 7 intent files..."
    assert "  ✓ rollout_stack_media.yaml (doc 1/1): rollout on stack-media" in lines
    assert "  ✓ rollout_all_stacks.yaml (doc 2/3): rollout on stack-media" in lines
    assert lines[-1] == "✅ All 7 intent files are valid!"
    assert result.err == ""


def test_repo_comes_from_chatops_repo_env(cli, monkeypatch) -> None:
    monkeypatch.setenv("CHATOPS_REPO", str(EXAMPLE_REPO))
    result = cli("validate")
    assert result.code == 0
    assert result.out.startswith("Validating 7 intent files...")


def test_default_repo_is_the_current_directory(cli, monkeypatch) -> None:
    monkeypatch.chdir(EXAMPLE_REPO)
    result = cli("validate")
    assert result.code == 0, result.out


def test_one_file_with_a_typo_names_file_doc_field_line_and_suggestion(cli, gitops) -> None:
    repo = gitops({
        "rollout_stack_media.yaml": SEED_INTENT.replace("service: plex", "servce: plex"),
        "ok.yaml": "label_required: l\naction: pull\nstack: s\n",
    })
    result = cli("validate", "--repo", str(repo))
    assert result.code == 1
    assert (
        "  ✗ rollout_stack_media.yaml (doc 1/1): servce: unknown field; "
        "did you mean 'service'? (line 10, column 1)"
    ) in result.out.splitlines()
    assert "  ✓ ok.yaml (doc 1/1): pull on s" in result.out
    assert result.out.splitlines()[-1] == "❌ Validation failed: 1 error in 1 file"


def test_errors_are_counted_across_documents_and_files(cli, gitops) -> None:
    repo = gitops({
        "a.yaml": "label_required: l\naction: deploy\nstack: s\n---\nlabel_required: l\n"
                  "action: scale\nstack: s\n",
        "b.yaml": "label_required: l\naction: rollout\nstack: Bad Stack\n",
    })
    result = cli("validate", "--repo", str(repo))
    assert result.code == 1
    out = result.out
    assert "a.yaml (doc 1/2): action: expected one of: rollout, scale" in out
    assert "a.yaml (doc 2/2): service: action scale needs the service to scale" in out
    assert "a.yaml (doc 2/2): replicas: action scale needs replicas" in out
    assert "b.yaml (doc 1/1): stack: expected a stack slug" in out
    assert out.splitlines()[-1] == "❌ Validation failed: 4 errors in 2 files"


def test_missing_dependency_is_reported(cli, gitops) -> None:
    repo = gitops({"a.yaml": "label_required: l\naction: up\nstack: s\ndepends_on: [ghost]\n"})
    result = cli("validate", "--repo", str(repo))
    assert result.code == 1
    assert "a.yaml (doc 1/1): depends_on: no intent named 'ghost' exists" in result.out


def test_dependency_cycle_is_named(cli, gitops) -> None:
    repo = gitops({
        "a.yaml": "label_required: l\naction: up\nstack: s\ndepends_on: [b]\n",
        "b.yaml": "label_required: l\naction: up\nstack: s\ndepends_on: [c]\n",
        "c.yaml": "label_required: l\naction: up\nstack: s\ndepends_on: [a]\n",
    })
    result = cli("validate", "--repo", str(repo))
    assert result.code == 1
    assert "depends_on: dependency cycle: a -> b -> c -> a" in result.out


def test_two_files_with_the_same_intent_name_are_refused(cli, gitops) -> None:
    repo = gitops({
        "twice.yaml": "label_required: l\naction: up\nstack: s\n",
        "twice.yml": "label_required: l\naction: up\nstack: s\n",
    })
    result = cli("validate", "--repo", str(repo))
    assert result.code == 1
    assert "intent name 'twice' is used by more than one file" in result.out


def test_dependency_beside_a_single_named_file_counts(cli, gitops) -> None:
    repo = gitops({
        "a.yaml": "label_required: l\naction: up\nstack: s\ndepends_on: [b]\n",
        "b.yaml": "label_required: l\naction: up\nstack: s\n",
    })
    result = cli("validate", str(repo / "chatops/intents/a.yaml"))
    assert result.code == 0, result.out


def test_json_format_for_machines(cli, gitops) -> None:
    repo = gitops({
        "good.yaml": SEED_INTENT,
        "bad.yaml": "label_required: l\naction: rollout\nstack: s\nreplicas: 3\n",
    })
    result = cli("validate", "--repo", str(repo), "--format", "json")
    assert result.code == 1
    body = json.loads(result.out)
    assert body["valid"] is False
    assert body["file_count"] == 2
    assert body["error_count"] == 1
    files = {f["file"]: f for f in body["files"]}
    assert files["good.yaml"]["documents"][0]["summary"] == "rollout on stack-media"
    assert files["good.yaml"]["description"].startswith("Rollout Media Stack - Plex Update")
    (error,) = files["bad.yaml"]["errors"]
    assert error == {
        "file": "bad.yaml", "doc": 1, "docs": 1, "field": "replicas",
        "message": "only applies to action scale, not rollout", "line": 4, "column": 1,
    }


def test_missing_path_is_an_error_not_a_crash(cli, tmp_path: Path) -> None:
    result = cli("validate", str(tmp_path / "nope"))
    assert result.code == 1
    assert "nope: no such file or directory" in result.out


def test_repo_without_intents_folder_is_a_clear_error(cli, tmp_path: Path) -> None:
    result = cli("validate", "--repo", str(tmp_path))
    assert result.code == 1
    assert "chatops/intents: no such file or directory" in result.out


def test_empty_intents_folder_fails(cli, gitops) -> None:
    result = cli("validate", "--repo", str(gitops()))
    assert result.code == 1
    assert "holds no intent files" in result.out


def test_validate_accepts_several_paths(cli, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE_REPO / "chatops" / "intents", copy)
    result = cli("validate", str(copy / "scale_whoami.yaml"),
                 str(copy / "restart_transmission.yaml"))
    assert result.code == 0
    assert result.out.splitlines()[0] == "Validating 2 intent files..."
