"""rlemask_models.model: offline U-Net building, local weights, one training step; the CLI's
message when the 'models' extra is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

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


# --------------------------------------------------------------------------- building


@pytest.mark.parametrize("in_channels", [1, 3, 5])
def test_tiny_model_forward_backward(torch, no_network, in_channels):
    from rlemask_models.model import build_model

    torch.manual_seed(0)
    model = build_model(TINY, in_channels=in_channels, classes=3)
    x = torch.randn(2, in_channels, 64, 64)
    y = model(x)
    assert y.shape == (2, 3, 64, 64)
    y.mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    assert model.training  # built in training mode


def test_b7_builds_without_weights_and_runs_at_64(torch, no_network):
    from rlemask_models.model import build_model

    torch.manual_seed(0)
    model = build_model("efficientnet-b7", in_channels=3, classes=3, weights=None).eval()
    n_params = sum(p.numel() for p in model.parameters())
    assert 60_000_000 < n_params < 75_000_000  # UNet-EfficientNetB7: 67 M
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 3, 64, 64)
    assert torch.isfinite(out).all()
    # the classifier's conv head is never called by the U-Net: frozen, so DDP does not wait for it
    assert not any(p.requires_grad for p in model.encoder._conv_head.parameters())
    assert all(p.requires_grad for p in model.decoder.parameters())


def test_same_seed_same_weights(torch):
    from rlemask_models.model import build_model

    torch.manual_seed(3)
    a = build_model(TINY).state_dict()
    torch.manual_seed(3)
    b = build_model(TINY).state_dict()
    torch.manual_seed(4)
    c = build_model(TINY).state_dict()
    assert _same(a, b)
    assert not _same(a, c)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"encoder": "no-such-encoder"}, "encoder='no-such-encoder'"),
        ({"encoder": "tu-no_such_timm_model"}, "encoder='tu-no_such_timm_model'"),
        ({"encoder": TINY, "in_channels": 0}, "in_channels=0 must be an int >= 1"),
        ({"encoder": TINY, "classes": True}, "classes=True must be an int >= 1"),
    ],
)
def test_build_model_rejects_bad_arguments(torch, kwargs, fragment):
    from rlemask_models.model import build_model

    with pytest.raises(RlemaskError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        build_model(**kwargs)


# --------------------------------------------------------------------------- weights files


def test_weights_full_state_dict_checkpoint_and_ddp_prefix(torch, tmp_path, no_network):
    from rlemask_models.model import build_model, load_weights

    torch.manual_seed(1)
    trained = build_model(TINY)
    state = trained.state_dict()
    torch.save(state, tmp_path / "plain.pt")
    torch.save({"model": state, "epoch": 3, "config": {"encoder": TINY}}, tmp_path / "ckpt.pt")
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "ddp.pt")
    for name in ("plain.pt", "ckpt.pt", "ddp.pt"):
        torch.manual_seed(2)
        model = build_model(TINY, weights=tmp_path / name)
        assert _same(model.state_dict(), state), name
    torch.manual_seed(2)
    fresh = build_model(TINY)
    assert not _same(fresh.state_dict(), state)
    assert load_weights(fresh, tmp_path / "plain.pt") == "model"


def test_weights_encoder_only_keeps_decoder(torch, tmp_path):
    from rlemask_models.model import build_model, load_weights

    torch.manual_seed(1)
    source = build_model(TINY)
    enc = source.encoder.state_dict()
    # a timm checkpoint: no smp "model." prefix, plus a classifier the U-Net lacks
    timm_style = {k[len("model.") :]: v for k, v in enc.items()}
    timm_style["classifier.weight"] = torch.zeros(10, 4)
    timm_style["classifier.bias"] = torch.zeros(10)
    torch.save(enc, tmp_path / "encoder.pt")
    torch.save(timm_style, tmp_path / "timm.pt")
    for name in ("encoder.pt", "timm.pt"):
        torch.manual_seed(2)
        reference_decoder = build_model(TINY).decoder.state_dict()
        torch.manual_seed(2)
        model = build_model(TINY)
        assert load_weights(model, tmp_path / name) == "encoder"
        assert _same(model.encoder.state_dict(), enc), name
        assert _same(model.decoder.state_dict(), reference_decoder), name


def test_weights_that_do_not_fit_name_the_keys(torch, tmp_path):
    from rlemask_models.model import build_model

    torch.manual_seed(0)
    state = build_model(TINY).state_dict()
    del state["segmentation_head.0.bias"]
    state["decoder.extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(RlemaskError) as info:
        build_model(TINY, weights=tmp_path / "broken.pt")
    text = str(info.value)
    assert "1 missing key(s) ['segmentation_head.0.bias']" in text
    assert "1 unexpected key(s) ['decoder.extra.weight']" in text
    assert "broken.pt" in text

    # a model for 1 input channel loaded into a 3-channel one: shapes named
    torch.save(build_model(TINY, in_channels=1).state_dict(), tmp_path / "one.pt")
    with pytest.raises(RlemaskError, match=r"mis-shaped key\(s\) \[encoder.model.conv_stem.weight: file \(\d+, 1, 3, 3\)"):
        build_model(TINY, in_channels=3, weights=tmp_path / "one.pt")

    # an encoder file of another encoder
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "resnet.pt")
    with pytest.raises(RlemaskError, match=r"does not fit the encoder .* missing key\(s\)"):
        build_model(TINY, weights=tmp_path / "resnet.pt")


def test_weights_file_errors(torch, tmp_path):
    from rlemask_models.model import build_model, read_checkpoint

    with pytest.raises(RlemaskError, match="weights file .*nothing.pt' not found"):
        build_model(TINY, weights=tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(RlemaskError, match="cannot be read by torch.load"):
        build_model(TINY, weights=tmp_path / "junk.pt")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "nostate.pt")
    with pytest.raises(RlemaskError, match=r"holds a dict with keys \['epoch', 'lr'\]; expected a state dict"):
        build_model(TINY, weights=tmp_path / "nostate.pt")
    with pytest.raises(RlemaskError, match="expected a training checkpoint with 'model' and 'config'"):
        read_checkpoint(tmp_path / "nostate.pt")


# --------------------------------------------------------------------------- one step


def test_training_step_lowers_the_loss(torch):
    from rlemask_models.model import build_model
    from rlemask_models.train import bce_dice_loss, train_step

    torch.manual_seed(0)
    model = build_model(TINY)
    x = torch.randn(4, 3, 64, 64)
    y = torch.zeros(4, 3, 64, 64)
    y[:, 0, 10:30, 10:40] = 1
    y[:, 2, 40:60, 20:50] = 1
    batch = {"image": x + 2 * y.sum(1, keepdim=True), "mask": y}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.eval()
    with torch.no_grad():
        before = float(bce_dice_loss(model(batch["image"]), y))
    model.train()
    losses = [train_step(model, batch, opt) for _ in range(8)]
    model.eval()
    with torch.no_grad():
        after = float(bce_dice_loss(model(batch["image"]), y))
    assert losses[-1] < losses[0]
    assert after < before


def test_bce_dice_loss_matches_its_formula(torch):
    import torch.nn.functional as F

    from rlemask_models.train import bce_dice_loss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=g)
    target = (torch.rand(2, 3, 8, 8, generator=g) > 0.6).float()
    p = torch.sigmoid(logits)
    dice = (2 * (p * target).sum((0, 2, 3)) + 1) / (p.sum((0, 2, 3)) + target.sum((0, 2, 3)) + 1)
    expected = 0.3 * F.binary_cross_entropy_with_logits(logits, target) + 0.7 * (1 - dice.mean())
    assert torch.allclose(bce_dice_loss(logits, target, bce_weight=0.3), expected)
    # confident and right: close to 0; confident and wrong: large
    perfect = torch.where(target > 0, 20.0, -20.0)
    assert float(bce_dice_loss(perfect, target)) < 1e-3
    assert float(bce_dice_loss(-perfect, target)) > 5


# --------------------------------------------------------------------------- CLI without the extra


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "nowhere"],
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
        "import sys, rlemask.cli; p = rlemask.cli.build_parser(); "
        "names = p._subparsers._group_actions[0].choices; "
        "print(sorted(n for n in ('train', 'evaluate', 'predict', 'demo') if n in names)); "
        "print('torch' in sys.modules, 'segmentation_models_pytorch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["['demo', 'evaluate', 'predict', 'train']", "False False"]
