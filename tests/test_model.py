"""rlemask_models.module / metrics / config: offline networks, smp losses, local weights, the
torchmetrics scores, the generated command line and YAML configs; the CLI without the 'models' extra."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from rlemask.errors import RlemaskError

pytestmark = pytest.mark.models

TINY = "tu-test_efficientnet"


@pytest.fixture(scope="module")
def torch():
    module = pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")
    module.set_num_threads(1)
    return module


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    import torch.hub

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    try:
        import huggingface_hub

        monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    except ImportError:  # pragma: no cover
        pass


def _same(a, b) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- networks and losses


@pytest.mark.parametrize(("arch", "in_channels"), [("Unet", 3), ("FPN", 5), ("UnetPlusPlus", 1)])
def test_module_forward_backward_any_arch(torch, no_network, arch, in_channels):
    from rlemask_models.module import SegmentationModule

    torch.manual_seed(0)
    module = SegmentationModule(arch=arch, encoder=TINY, in_channels=in_channels, size=(64, 64))
    image = torch.rand(2, in_channels, 64, 64)
    logits = module(image)
    assert logits.shape == (2, 3, 64, 64)
    loss = module.loss(logits, (torch.rand(2, 3, 64, 64) > 0.7).float())
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    assert module.hparams.arch == arch and module.hparams.classes == ["large_bowel", "small_bowel", "stomach"]


def test_presence_head_gates_each_class_and_trains_on_presence(torch, no_network):
    """presence > 0: smp's classification head; its probability multiplies the class's pixel
    probabilities, and its BCE against "the class mask is not empty" (weighted) joins the loss."""
    import torch.nn.functional as F

    from rlemask_models.module import SegmentationModule

    torch.manual_seed(0)
    plain = SegmentationModule(encoder=TINY, size=(64, 64))
    assert plain.network.classification_head is None
    module = SegmentationModule(encoder=TINY, size=(64, 64), presence=0.25)
    image = torch.rand(2, 3, 64, 64)
    masks, present = module.network(image)
    assert present.shape == (2, 3)
    probs = torch.sigmoid(module(image))
    assert torch.allclose(probs, torch.sigmoid(masks) * torch.sigmoid(present)[..., None, None], atol=1e-6)
    target = torch.zeros(2, 3, 64, 64)
    target[0, 1, :4, :4] = 1  # image 0 has class 1 only, image 1 nothing
    module.log = lambda *a, **k: None
    loss = module.training_step({"image": image, "mask": target}, 0)
    labels = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    expected = module.loss(module(image), target) + 0.25 * F.binary_cross_entropy_with_logits(present, labels)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert module.network.classification_head[3].weight.grad.abs().sum() > 0


def test_decoder_width_sets_the_unet_decoder_channels(torch, no_network):
    from rlemask_models.module import SegmentationModule

    module = SegmentationModule(encoder=TINY, size=(64, 64), decoder_width=4)
    assert [block.conv2[0].out_channels for block in module.network.decoder.blocks] == [64, 32, 16, 8, 4]
    assert module(torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)
    default = SegmentationModule(encoder=TINY, size=(64, 64))
    assert [block.conv2[0].out_channels for block in default.network.decoder.blocks] == [256, 128, 64, 32, 16]


def test_channels_last_changes_the_memory_format_not_the_network(torch, no_network):
    """channels_last=True: NHWC weights and inputs, the same function as the NCHW module
    (same seed, same weights), the option saved with the hyperparameters."""
    from rlemask_models.module import SegmentationModule

    torch.manual_seed(0)
    plain = SegmentationModule(encoder=TINY, size=(64, 64))
    torch.manual_seed(0)
    nhwc = SegmentationModule(encoder=TINY, size=(64, 64), channels_last=True)
    assert nhwc.hparams.channels_last is True and plain.hparams.channels_last is False
    conv = nhwc.network.encoder.model.conv_stem.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert plain.network.encoder.model.conv_stem.weight.is_contiguous()
    assert _same(plain.state_dict(), nhwc.state_dict())
    plain.eval(), nhwc.eval()
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(plain(image), nhwc(image), atol=1e-5)
    nhwc.log = lambda *a, **k: None
    loss = nhwc.training_step({"image": image, "mask": (torch.rand(2, 3, 64, 64) > 0.8).float()}, 0)
    loss.backward()
    assert nhwc.network.encoder.model.conv_stem.weight.grad.abs().sum() > 0


def test_cpu_demo_preset_uses_bf16_only_where_the_cpu_has_it(monkeypatch):
    """The CPU preset trains channels-last with a presence head; bf16-mixed for 12 epochs only on
    a CPU with native bfloat16 (AMX tiles or AVX-512 BF16; the probes are torch's; a CPU without
    either, or a torch without the probes, keeps 32-bit and 7 epochs)."""
    torch = pytest.importorskip("torch")
    from rlemask_models import demo

    def cpu(amx, avx):
        for name, value in (("_is_amx_tile_supported", amx), ("_is_avx512_bf16_supported", avx)):
            if value is None:
                monkeypatch.delattr(torch.cpu, name, raising=False)
            else:
                monkeypatch.setattr(torch.cpu, name, (lambda v=value: v) if value != "boom" else _boom, raising=False)

    def _boom():
        raise RuntimeError("no cpuinfo")

    for amx, avx in ((True, False), (False, True), (None, True), ("boom", True)):
        cpu(amx, avx)
        assert demo.cpu_bf16() is True, (amx, avx)
    fast = demo.preset(False)
    assert (fast["precision"], fast["channels_last"], fast["epochs"], fast["presence"]) == ("bf16-mixed", True, 12, 0.5)
    assert (fast["context"], fast["tune"]) == (1, False) and demo.preset(True)["tune"] is True
    for amx, avx in ((False, False), (None, False), (False, None), (None, None), ("boom", False), (False, "boom")):
        cpu(amx, avx)
        assert demo.cpu_bf16() is False, (amx, avx)
    slow = demo.preset(False)
    assert "precision" not in slow and (slow["channels_last"], slow["epochs"], slow["presence"]) == (True, 7, 0.5)
    assert "precision" not in demo.preset(True) and demo.preset(True)["encoder"] == "efficientnet-b7"


def test_unknown_arch_or_encoder_is_one_clear_error(torch):
    from rlemask_models.module import build_network

    with pytest.raises(RlemaskError, match="cannot build arch='Nope' with encoder="):
        build_network("Nope", TINY)
    with pytest.raises(RlemaskError, match="encoder='no-such-encoder'"):
        build_network("Unet", "no-such-encoder")


def test_losses_come_from_smp_with_weights(torch):
    from segmentation_models_pytorch import losses

    from rlemask_models.module import build_loss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 16, 16, generator=g)
    target = (torch.rand(2, 3, 16, 16, generator=g) > 0.6).float()
    bce = losses.SoftBCEWithLogitsLoss()(logits, target)
    dice = losses.DiceLoss("multilabel", from_logits=True)(logits, target)
    assert torch.allclose(build_loss("bce+dice")(logits, target), bce + dice)
    assert torch.allclose(build_loss("0.7*bce + 0.3*dice")(logits, target), 0.7 * bce + 0.3 * dice)
    for spec in ("tversky", "focal", "lovasz"):
        assert torch.isfinite(build_loss(spec)(logits, target))
    with pytest.raises(RlemaskError, match="unknown term 'dcie'; expected a sum of bce, dice"):
        build_loss("bce+dcie")
    with pytest.raises(RlemaskError, match="weight 'x' of 'bce' is not a number"):
        build_loss("x*bce")


def test_weights_from_local_files_only(torch, tmp_path, no_network):
    from rlemask_models.module import build_network, load_weights

    torch.manual_seed(1)
    source = build_network("Unet", TINY)
    torch.save({"module." + k: v for k, v in source.state_dict().items()}, tmp_path / "full.pt")
    assert _same(build_network("Unet", TINY, weights=str(tmp_path / "full.pt")).state_dict(), source.state_dict())
    # an encoder file (timm keys, with a classifier head) loads the encoder and keeps the decoder
    encoder = {k.removeprefix("model."): v for k, v in source.encoder.state_dict().items()}
    torch.save({**encoder, "classifier.weight": torch.zeros(2, 2)}, tmp_path / "encoder.pt")
    torch.manual_seed(2)
    other = build_network("Unet", TINY)
    decoder = {k: v.clone() for k, v in other.decoder.state_dict().items()}
    assert load_weights(other, tmp_path / "encoder.pt") == "encoder"
    assert _same(other.encoder.state_dict(), source.encoder.state_dict())
    assert _same(other.decoder.state_dict(), decoder)
    with pytest.raises(RlemaskError, match=r"does not fit the network: .*missing key|does not fit the network: .*mis-shaped"):
        build_network("Unet", TINY, in_channels=5, weights=str(tmp_path / "full.pt"))
    with pytest.raises(RlemaskError, match="not found"):
        build_network("Unet", TINY, weights=str(tmp_path / "nowhere.pt"))


# --------------------------------------------------------------------------- metrics


def _masks(seed: int, n: int = 6):
    rng = np.random.default_rng(seed)
    ids = [f"case{1 + i // 3}_day0_slice_{i % 3 + 1:04d}" for i in range(n)]
    shapes = [(12, 10) if i < 3 else (9, 14) for i in range(n)]
    truth = [(rng.random((3, *s)) > 0.7).astype(np.uint8) for s in shapes]
    for t in truth[::2]:
        t[1] = 0  # rows without the organ: their dice is 1 or 0, the baseline counts them
    pred = [(rng.random((3, *s)) > 0.6).astype(np.uint8) for s in shapes]
    pred[0][1] = 0
    return ids, truth, pred


def test_scores_match_rlemask_and_the_competition_score(torch):
    import pandas as pd

    import rlemask
    from rlemask.metrics import uwmgi_score
    from rlemask_models.metrics import SegmentationScores

    ids, truth, pred = _masks(0)
    metric = SegmentationScores()
    metric.update(pred[:4], truth[:4], ids[:4])
    metric.update(pred[4:], truth[4:], ids[4:])
    got = metric.compute()
    dice = np.array([rlemask.dice(truth=t, pred=p) for t, p in zip(truth, pred)])
    present = np.array([t.reshape(3, -1).any(1) for t in truth])
    assert got["dice"] == pytest.approx(dice.mean())
    assert got["dice_present"] == pytest.approx(dice[present].mean())
    assert got["baseline_empty_dice"] == pytest.approx((~present).mean())
    assert got["dice_small_bowel"] == pytest.approx(dice[:, 1].mean())

    def frame(masks):
        out = pd.DataFrame({"id": ids, "height": [m.shape[1] for m in masks], "width": [m.shape[2] for m in masks]})
        for k, c in enumerate(("large_bowel", "small_bowel", "stomach")):
            out[c] = [rlemask.encode(m[k]) for m in masks]
        return out

    report = uwmgi_score(frame(truth), frame(pred))
    assert got["score"] == pytest.approx(report.score)
    assert got["hausdorff"] == pytest.approx(report.hausdorff)
    assert got["images"] == 6


def test_scores_ignore_order_and_padded_duplicates(torch):
    """What DDP does to the states (another split, DistributedSampler's repeated images) changes nothing."""
    from rlemask_models.metrics import SegmentationScores

    ids, truth, pred = _masks(1)
    one = SegmentationScores()
    one.update(pred, truth, ids)
    ranks = SegmentationScores()
    order = [5, 2, 0, 4, 1, 3, 5, 2]  # shuffled, two images twice
    ranks.update([pred[i] for i in order], [truth[i] for i in order], [ids[i] for i in order])
    assert ranks.compute() == one.compute()
    with pytest.raises(RlemaskError, match="pred shape=.*truth shape="):
        one.update([pred[0][:2]], [truth[0]], ids[:1])


# --------------------------------------------------------------------------- configuration


def _parser():
    from rlemask.cli import build_parser

    return build_parser()


def test_every_config_field_is_a_flag_and_yaml_round_trips(tmp_path, capsys):
    import dataclasses

    from rlemask.cli import main
    from rlemask_models import config

    flags = _parser()._subparsers._group_actions[0].choices["train"]._option_string_actions
    for f in dataclasses.fields(config.TrainConfig):
        assert f"--{f.name.replace('_', '-')}" in flags, f.name
    for name in ("--data", "--out", "--folds", "--fold", "--epochs", "--encoder", "--size", "--batch-size",
                 "--workers", "--quiet", "--resume", "--config", "--print-config"):
        assert name in flags
    argv = ["train", "--data", "d", "--size", "320x384", "--empty", "0.25", "--no-augment", "--clip-grad", "1.5",
            "--loss", "0.5*bce+0.5*lovasz", "--deterministic", "--patience", "3", "--print-config"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    (tmp_path / "c.yaml").write_text(text)
    first = config.load_yaml(config.TrainConfig, tmp_path / "c.yaml")
    cfg = config.make(config.TrainConfig, first)
    assert (cfg.size, cfg.empty, cfg.augment, cfg.clip_grad, cfg.deterministic) == ((320, 384), 0.25, False, 1.5, True)
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--print-config"]) == 0
    assert capsys.readouterr().out == text
    # flags given win over the file
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--epochs", "4", "--print-config"]) == 0
    assert "epochs: 4" in capsys.readouterr().out


def test_misspelt_keys_name_the_closest_valid_one(tmp_path, capsys):
    from rlemask.cli import main

    (tmp_path / "bad.yaml").write_text("data: d\nbatchsize: 4\n")
    assert main(["train", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "unknown config key 'batchsize'; did you mean 'batch_size'?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", "d", "--epoch", "3"])
    assert exc.value.code == 2
    assert "unknown option --epoch; did you mean --epochs?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "--checkpoint", "a.ckpt", "--tta", "hflip", "--treshold", "0.4"])
    assert "did you mean --threshold?" in capsys.readouterr().err
    (tmp_path / "list.yaml").write_text("- 1\n")
    assert main(["train", "--config", str(tmp_path / "list.yaml")]) == 2
    assert "holds a list; expected a mapping" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--size", "60"], "size=(60, 60): the networks need multiples of 32; use size=(64, 64)"),
    (["--fold", "5"], "fold=5 must be < folds=5"),
    (["--empty", "1.5"], "a fraction must be in (0, 1]"),
    (["--resize", "crop"], "resize='crop'; expected one of resize, pad"),
    (["--min-area", "-1"], "min_area=-1 must be an int >= 0"),
    (["--presence", "-0.5"], "presence=-0.5 must be a finite number >= 0"),
    (["--ema", "1"], "ema=1.0 must be in (0, 1)"),
    (["--decoder-width", "0"], "decoder_width=0 must be an int >= 1"),
])
def test_bad_values_are_one_line_and_exit_2(capsys, argv, fragment):
    from rlemask.cli import main

    try:
        code = main(["train", "--data", "d", *argv])
    except SystemExit as exc:  # argparse's own type check
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


# --------------------------------------------------------------------------- CLI without the extra


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "nowhere"],
        ["cv", "--data", "nowhere"],
        ["evaluate", "--checkpoint", "c.pt", "--data", "nowhere"],
        ["predict", "--checkpoint", "c.pt", "--data", "nowhere", "-o", "s.csv"],
        ["demo", "--out", "nowhere"],
    ],
)
def test_missing_models_extra_says_how_to_install(monkeypatch, capsys, argv):
    from rlemask.cli import main

    # None in sys.modules makes "import segmentation_models_pytorch" raise ImportError
    monkeypatch.setitem(sys.modules, "segmentation_models_pytorch", None)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"rlemask {argv[0]}: needs the 'models' extra: pip install 'rlemask[models]'" in err
    # the message names the first module that failed: torch itself where it is absent
    missing = "segmentation_models_pytorch" if importlib.util.find_spec("torch") else "'torch'"
    assert missing in err


def test_cli_parser_does_not_import_torch():
    code = (
        "import sys, rlemask.cli, rlemask_models.commands; p = rlemask.cli.build_parser(); "
        "names = p._subparsers._group_actions[0].choices; "
        "print(sorted(n for n in ('train', 'cv', 'evaluate', 'predict', 'demo') if n in names)); "
        "print('torch' in sys.modules, 'segmentation_models_pytorch' in sys.modules or 'lightning' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["['cv', 'demo', 'evaluate', 'predict', 'train']", "False False"]
