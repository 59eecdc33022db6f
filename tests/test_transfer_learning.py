"""Week 4c: the Pets stand-in reads through torchvision's own loader, the smoke network is a real (narrow) resnet18
that was really pre-trained, and what the notebook teaches about freezing and parameter groups is what PyTorch does.

That the notebook trains and records its metrics (pretrained ahead of from scratch, an exact reload) is checked by
the runner against the syllabus thresholds; its exercises by test_exercise_answers.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset
from torchvision.datasets import OxfordIIITPet
from torchvision.models import ResNet, resnet18

from course import notebook_code
from course.exercises import week04c
from helpers import images, ready


def test_the_smoke_pets_are_read_by_torchvisions_oxford_pets_class_with_balanced_classes():
    trainval, test = images.pets("smoke", "trainval"), images.pets("smoke", "test")
    assert isinstance(trainval, OxfordIIITPet)
    assert trainval.classes == [c.title() for c in images.SMOKE_PET_CLASSES]
    assert len(trainval) == len(test) == 200
    image, label = trainval[0]
    assert image.mode == "RGB" and image.size == (64, 64) and label == 0
    counts = torch.bincount(torch.tensor([test[i][1] for i in range(len(test))]))
    assert counts.tolist() == [40] * 5
    assert not set(images.SMOKE_PET_CLASSES) & set(images.SMOKE_PRETRAIN_CLASSES), "fine-tuning shapes are new ones"


def test_the_narrow_resnet18_is_torchvisions_resnet18_with_the_same_names_and_narrower_layers():
    narrow, real = images.narrow_resnet18(num_classes=5, divide=8), resnet18(num_classes=5)
    assert isinstance(narrow, ResNet)
    assert narrow.state_dict().keys() == real.state_dict().keys()
    assert narrow.fc.in_features == 512 // 8 and narrow.layer1[0].conv1.out_channels == 64 // 8
    assert narrow(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


@pytest.mark.slow
def test_the_smoke_pretrained_weights_load_strictly_recognise_their_shapes_and_leave_the_random_stream(
        tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # a fresh cache: the pre-training really runs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    path = images.smoke_pretrained_resnet18()
    assert torch.equal(torch.rand(3), expected), "building the weights must not move the notebook's seeded stream"
    model = images.narrow_resnet18(num_classes=len(images.SMOKE_PRETRAIN_CLASSES))
    model.load_state_dict(torch.load(path, weights_only=True))  # strict: every name and shape matches
    x, y = images._shape_tensors(images.SMOKE_PRETRAIN_CLASSES, per_class=20, seed=99)  # shapes it never saw
    with torch.no_grad():
        accuracy = (model.eval()(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.6, f"pre-trained on 8 shapes, it should recognise new drawings of them (chance 0.125): {accuracy}"


def test_a_frozen_backbone_gets_no_gradient_and_no_step_but_its_batchnorm_statistics_still_move():
    torch.manual_seed(0)
    model = images.narrow_resnet18(num_classes=3, divide=16)
    trainable = week04c.freeze_backbone(model, "fc")
    assert trainable == model.fc.weight.numel() + model.fc.bias.numel()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    assert model.conv1.weight.grad is None and model.fc.weight.grad is not None
    after = model.state_dict()
    assert torch.equal(after["layer1.0.conv1.weight"], before["layer1.0.conv1.weight"])
    assert not torch.equal(after["fc.weight"], before["fc.weight"])
    assert not torch.equal(after["bn1.running_mean"], before["bn1.running_mean"]), "exercise q3's answer (b)"


def test_parameter_groups_give_the_backbone_steps_as_many_times_smaller_as_its_learning_rate():
    torch.manual_seed(0)
    model = images.narrow_resnet18(num_classes=3, divide=16)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam(week04c.param_groups(model, "fc", head_lr=1e-2, backbone_lr=1e-3))
    F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()  # Adam's first step moves every weight with a gradient by about its learning rate
    moved = {n: (p.detach() - before[n]).abs().max().item() for n, p in model.named_parameters()}
    assert moved["fc.weight"] == pytest.approx(1e-2, rel=0.01)
    assert moved["layer4.1.conv2.weight"] == pytest.approx(1e-3, rel=0.01)


def test_the_notebooks_train_loader_gives_every_network_the_same_batches_in_the_same_order():
    data = TensorDataset(torch.arange(40).float().view(40, 1), torch.arange(40))
    nb = notebook_code.definitions("04c", "train_loader", train_set=data, BATCH_SIZE=8, SEED=3, loading={})
    first, second = ([y.tolist() for _, y in nb.train_loader()] for _ in range(2))
    assert first == second and sorted(sum(first, [])) == list(range(40)) and first[0] != list(range(8))


def test_the_notebooks_downloads_are_missing_on_an_empty_machine_and_complete_once_their_files_exist(
        tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # where torchvision puts weights
    pets, weights = "torchvision:OxfordIIITPet", "torchvision:ResNet18_Weights.IMAGENET1K_V1"
    assert not ready.is_cached(pets) and not ready.is_cached(weights)
    base = tmp_path / "data" / "torchvision" / "oxford-iiit-pet"
    (base / "annotations").mkdir(parents=True)
    (base / "images").mkdir()
    for split, image_id in (("trainval", "Abyssinian_1"), ("test", "beagle_2")):
        (base / "annotations" / f"{split}.txt").write_text(f"{image_id} 1 1 1\n")
        (base / "images" / f"{image_id}.jpg").write_bytes(b"jpeg")
    from torchvision.models import ResNet18_Weights

    checkpoint = tmp_path / "hub" / "checkpoints" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    checkpoint.parent.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, checkpoint)
    assert ready.is_cached(pets) and ready.is_cached(weights)


def test_offline_the_full_pets_loader_stops_with_one_message_naming_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(ready.CannotRunFull, match="OxfordIIITPet"):
        images.pets("full", "trainval")


def test_the_full_profile_stops_in_its_first_cell_on_a_machine_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ready.CannotRunFull, match="needs a GPU"):
        notebook_code.opening("04c", 1, PROFILE="full")
