"""The stale-firmware advice for a board never proposes converting over the shipped sources."""

from __future__ import annotations

from pathlib import Path

from tinyml_pipeline.tools.validation.rebuild_hint import rebuild_commands
from tinyml_pipeline.tools.workspace import resolve


def test_a_board_in_an_own_workspace_is_told_to_convert_flash_and_validate(tmp_path):
    workspace = resolve(tmp_path)
    text = rebuild_commands({"digits": tmp_path / "models" / "digits"}, tmp_path / "models",
                            workspace, None, "/dev/ttyACM0")
    assert f"convert {tmp_path / 'models' / 'digits' / 'model.tflite'}; " in text
    assert "firmware flash --env nano33ble --port /dev/ttyACM0" in text
    assert text.endswith(f"validate --model digits --port /dev/ttyACM0 --models-dir "
                         f"{tmp_path / 'models'}")


def test_a_board_on_the_shipped_sources_is_sent_to_tinyml_init(monkeypatch, tmp_path):
    from tinyml_pipeline.tools.validation import rebuild_hint

    workspace = resolve(tmp_path)
    monkeypatch.setattr(rebuild_hint, "firmware_dir", lambda: Path(tmp_path / "firmware"))
    text = rebuild_commands({"digits": tmp_path / "models" / "digits"}, tmp_path / "models",
                            workspace, None, "/dev/ttyACM0")
    assert "tinyml init DIR" in text and "convert" not in text.split(":")[0]
