"""The bundle: round trip, atomic writes, and files that must be refused without running."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmae_cli import Detector
from lstmae_cli.bundle import load_bundle, save_bundle
from lstmae_cli.errors import BundleError

from .helpers import write_pickle_bomb


def test_round_trip_keeps_everything(tiny_model, small_frame):
    detector = Detector.load(tiny_model)
    again_path = tiny_model.parent / "again.safetensors"
    detector.save(again_path)
    again = Detector.load(again_path)
    assert again.roles_.features == ["f0", "f1", "f2"]
    assert again.threshold_ == detector.threshold_
    assert again.history_ == detector.history_
    for name, tensor in detector.model_.state_dict().items():
        torch.testing.assert_close(tensor, again.model_.state_dict()[name])
    a = detector.score_frame(small_frame)["score"].to_numpy()
    b = again.score_frame(small_frame)["score"].to_numpy()
    np.testing.assert_array_equal(a, b)


def test_metadata_is_json_in_the_header(tiny_model):
    tensors, meta = load_bundle(tiny_model)
    assert meta["format"] == "lstmae-bundle" and meta["format_version"] == 1
    assert meta["columns"]["features"] == ["f0", "f1", "f2"]
    assert meta["threshold"]["method"] == "quantile"
    assert {"scaler.offset", "scaler.scale"} <= set(tensors)
    assert meta["versions"]["torch"] == torch.__version__


def test_pickle_posing_as_model_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    evil = write_pickle_bomb(tmp_path / "evil.safetensors", marker)
    with pytest.raises(BundleError, match="not an lstmae model file"):
        Detector.load(evil)
    with pytest.raises(BundleError):
        Detector.load(write_pickle_bomb(tmp_path / "evil.pt", marker, "torch.save"))
    assert not marker.exists()


def test_truncated_and_foreign_files(tmp_path, tiny_model):
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(tiny_model.read_bytes()[:200])
    with pytest.raises(BundleError):
        Detector.load(truncated)
    foreign = tmp_path / "foreign.safetensors"
    save_bundle(foreign, {"w": torch.zeros(2)}, {})
    with pytest.raises(BundleError, match="does not match"):
        Detector.load(foreign)


def test_newer_format_version_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "future.safetensors"
    save_file(
        {"w": torch.zeros(1)},
        path,
        metadata={"lstmae": '{"format": "lstmae-bundle", "format_version": 99}'},
    )
    with pytest.raises(BundleError, match="newer"):
        load_bundle(path)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import safetensors.torch

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(safetensors.torch, "save", broken)
    target = tmp_path / "m.safetensors"
    with pytest.raises(RuntimeError):
        save_bundle(target, {"w": torch.zeros(1)}, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("step", ["chmod", "replace", "close"])
def test_ctrl_c_while_finishing_a_write_leaves_no_temp_file(tmp_path, monkeypatch, step):
    """Ctrl-C can land in the rename step or right after the temp file is made (seen once
    in the Ctrl-C training test: a stray .m.ckpt.safetensors.*.tmp)."""
    import os

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    previous = tmp_path / "m.safetensors"
    save_bundle(previous, {"w": torch.zeros(1)}, {})
    monkeypatch.setattr(os, step, interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_bundle(previous, {"w": torch.ones(1)}, {})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    assert load_bundle(previous)[0]["w"].item() == 0.0  # the old file, whole


def test_ctrl_c_right_after_the_temp_file_is_created_leaves_no_temp_file(tmp_path, monkeypatch):
    """The narrowest window: the file exists, the call that made it has not returned."""
    import os

    real_open = os.open

    def created_then_interrupted(path, flags, mode=0o777):
        os.close(real_open(path, flags, mode))
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", created_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_bundle(tmp_path / "m.safetensors", {"w": torch.ones(1)}, {})
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_temp_name_already_taken_is_skipped_and_left_alone(tmp_path, monkeypatch):
    import secrets

    taken = tmp_path / ".m.safetensors.aaaa.tmp"
    taken.write_text("someone else's")
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda _: next(names))
    save_bundle(tmp_path / "m.safetensors", {"w": torch.ones(1)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken.name, "m.safetensors"]
    assert taken.read_text() == "someone else's"


def test_training_range_round_trips_and_old_bundles_still_load(tmp_path, tiny_model):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    detector = Detector.load(tiny_model)
    low, high = detector.range_
    assert low.shape == (3,) and (low < high).all()
    tensors = {k: v for k, v in load_file(tiny_model).items() if not k.startswith("range.")}
    with safe_open(str(tiny_model), framework="pt") as handle:
        metadata = handle.metadata()
    old = tmp_path / "old.safetensors"
    save_file(tensors, old, metadata=metadata)
    assert Detector.load(old).range_ is None  # no drift guard, but it scores
    tensors["range.low"] = torch.zeros(2, dtype=torch.float32)
    tensors["range.high"] = torch.ones(2, dtype=torch.float32)
    save_file(tensors, tmp_path / "odd.safetensors", metadata=metadata)
    with pytest.raises(BundleError, match="training range"):
        Detector.load(tmp_path / "odd.safetensors")


def test_checkpoint_holds_no_pickle_and_is_not_a_model(tmp_path):
    from lstmae_cli.nn.checkpoint import Checkpointing, save_checkpoint
    from lstmae_cli.nn.model import LSTMAutoencoder, ModelConfig
    from lstmae_cli.nn.train import TrainState

    model = LSTMAutoencoder(ModelConfig(2, 4))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.zeros(1, 3, 2)).sum().backward()
    optimizer.step()
    path = tmp_path / "m.ckpt.safetensors"
    save_checkpoint(Checkpointing(path, 1), TrainState(model, optimizer, torch.Generator()))
    tensors, meta = load_bundle(path)  # plain safetensors: tensors + JSON header
    assert meta["kind"] == "lstmae-checkpoint" and meta["param_groups"][0]["lr"] == 1e-3
    assert "optim.0.exp_avg" in tensors and "optim.0.step" in tensors
    assert path.read_bytes()[8:9] == b"{"  # a safetensors JSON header, not a pickle stream
    with pytest.raises(BundleError, match="training checkpoint"):
        Detector.load(path)


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    target = tmp_path / "m.safetensors"
    save_bundle(target, {"w": torch.zeros(1)}, {})
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_a_bundle_of_the_old_arch_name_loads(tmp_path, small_frame):
    """Bundles written before "seed" became "direct" load, and score as before."""
    from .helpers import FAST

    detector = Detector(**(FAST | {"arch": "seed", "epochs": 1}))
    detector.fit([("small", small_frame)])
    assert detector.params.arch == detector.model_.config.arch == "direct"
    path = tmp_path / "new.safetensors"
    detector.save(path)
    tensors, meta = load_bundle(path)
    assert meta["model"]["arch"] == meta["params"]["arch"] == "direct"
    meta["model"]["arch"] = meta["params"]["arch"] = "seed"  # as an older version wrote it
    old = tmp_path / "old.safetensors"
    save_bundle(old, tensors, meta)
    loaded = Detector.load(old)
    assert loaded.params.arch == loaded.model_.config.arch == "direct"
    np.testing.assert_array_equal(
        loaded.score_frame(small_frame)["score"], detector.score_frame(small_frame)["score"]
    )


def test_the_bundle_stores_the_train_config_and_no_run_time_settings(tmp_path, tiny_model):
    from dataclasses import fields

    from lstmae_cli.params import TrainConfig

    _, meta = load_bundle(tiny_model)
    assert list(meta["params"]) == [f.name for f in fields(TrainConfig)]
    assert "device" not in meta["params"] and "precision" not in meta["params"]
    loaded = Detector.load(tiny_model, device="cpu", precision="bf16")
    path = tmp_path / "again.safetensors"
    loaded.save(path)  # run-time settings of the loaded copy do not go into the file
    assert load_bundle(path)[1]["params"] == meta["params"]


def test_an_old_bundle_with_a_device_and_precision_loads_with_the_ones_asked(
    tmp_path, tiny_model, small_frame
):
    tensors, meta = load_bundle(tiny_model)
    meta["params"] |= {"device": "cuda", "precision": "bf16"}  # as versions before wrote them
    old = tmp_path / "old.safetensors"
    save_bundle(old, tensors, meta)
    loaded = Detector.load(old, device="cpu")
    assert (loaded.params.device, loaded.params.precision) == ("cpu", "fp32")
    expected = Detector.load(tiny_model, device="cpu").score_frame(small_frame)["score"]
    np.testing.assert_array_equal(loaded.score_frame(small_frame)["score"], expected)
    assert Detector.load(old, precision="bf16").params.precision == "bf16"


def test_detector_takes_each_option_by_name_with_the_params_defaults():
    import inspect
    from dataclasses import MISSING, fields

    from lstmae_cli.params import DetectorParams

    signature = inspect.signature(Detector.__init__).parameters
    options = {name: p for name, p in signature.items() if name != "self"}
    assert list(options) == [f.name for f in fields(DetectorParams)]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in options.values())
    for f in fields(DetectorParams):
        expected = None if f.default is MISSING else f.default  # threshold_params: a dict
        assert options[f.name].default == expected, f.name
    assert Detector().params == DetectorParams()
    chosen = Detector(seq_len=8, threshold_params={"q": 0.99}, device="auto").params
    assert (chosen.seq_len, chosen.smooth, chosen.threshold_params) == (8, 2, {"q": 0.99})
    with pytest.raises(TypeError):
        Detector(seq_length=8)


def test_the_fitted_attributes_are_the_fitted_state(tmp_path, tiny_model):
    import copy
    from dataclasses import fields

    from lstmae_cli.state import FittedState

    detector = Detector.load(tiny_model)
    names = [f.name for f in fields(FittedState)]
    for name in names:  # every field is a Detector attribute NAME_, and the same object
        assert getattr(detector, f"{name}_") is getattr(detector.fitted_, name), name
    fitted_attributes = {n for n in vars(Detector) if n.endswith("_") and not n.startswith("_")}
    assert fitted_attributes == {f"{n}_" for n in names}  # and no other
    fresh = Detector(threshold_method="fpr")
    assert fresh.model_ is None and fresh.threshold_ is None and fresh.val_scores_.size == 0
    assert fresh.threshold_method_ == "fpr" and fresh.history_ == [] and fresh.data_info_ == {}
    # a copy gets its own state: its threshold is its own, its network shared
    other = copy.copy(detector)
    other.threshold_ = 123.0
    assert detector.threshold_ != 123.0 and other.model_ is detector.model_
    # written and read back in one place: a reloaded bundle is written byte for byte again
    first, second = tmp_path / "first.safetensors", tmp_path / "second.safetensors"
    detector.save(first)
    Detector.load(first).save(second)
    assert first.read_bytes() == second.read_bytes()
