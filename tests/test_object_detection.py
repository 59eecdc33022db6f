"""Week 4d: the notebook's own IoU, NMS, data set and mAP evaluation agree with torchvision and torchmetrics.

The notebook's definitions are imported with ``notebook_code.definitions`` and run on small inputs; that the tiny
detector's mAP rises is checked by the runner against the syllabus thresholds. The exercises' checkers are
tested generically in test_exercise_answers.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from course import notebook_code
from helpers import detection, ready


def _random_boxes(n: int, seed: int, dtype: torch.dtype = torch.float32, extent: float = 100.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    corner = torch.rand(n, 2, generator=g, dtype=torch.float64) * extent
    return torch.cat([corner, corner + torch.rand(n, 2, generator=g, dtype=torch.float64) * extent / 2 + 1], 1).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_notebooks_iou_matches_torchvision_box_iou_on_random_pairs(dtype):
    nb = notebook_code.definitions("04d", "iou")
    a, b = _random_boxes(300, seed=1, dtype=dtype), _random_boxes(300, seed=2, dtype=dtype)
    mine = torch.tensor([nb.iou(x.tolist(), y.tolist()) for x, y in zip(a, b)], dtype=dtype)
    library = torchvision.ops.box_iou(a, b).diagonal()
    assert (library == 0).any() and (library > 0.3).any(), "the random pairs include boxes apart and overlapping"
    torch.testing.assert_close(mine, library)


def test_the_notebooks_iou_is_one_for_the_same_box_and_zero_for_boxes_apart_or_touching():
    nb = notebook_code.definitions("04d", "iou")
    assert nb.iou((0, 0, 10, 20), (0, 0, 10, 20)) == 1
    assert nb.iou((0, 0, 10, 10), (30, 40, 50, 60)) == 0  # apart in x and in y: no negative "overlap" area
    assert nb.iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0  # sharing an edge


@pytest.mark.parametrize("n, threshold, dtype", [(0, 0.5, torch.float32), (1, 0.5, torch.float32),
                                                 (60, 0.3, torch.float64), (200, 0.5, torch.float32),
                                                 (200, 0.7, torch.float64)])
def test_the_notebooks_nms_keeps_what_torchvision_nms_keeps_in_the_same_order(n, threshold, dtype):
    nb = notebook_code.definitions("04d", "nms")
    boxes = _random_boxes(n, seed=n, dtype=dtype, extent=150.0)
    scores = torch.rand(n, generator=torch.Generator().manual_seed(7), dtype=dtype)
    kept = nb.nms(boxes, scores, threshold)
    assert kept.dtype == torch.int64
    assert torch.equal(kept, torchvision.ops.nms(boxes, scores, threshold))


def test_the_notebooks_nms_keeps_a_box_whose_iou_is_exactly_the_threshold():
    nb = notebook_code.definitions("04d", "nms")
    boxes = torch.tensor([[0.0, 0.0, 3.0, 1.0], [1.0, 0.0, 4.0, 1.0]])  # IoU 2 / 4 = 0.5 exactly
    scores = torch.tensor([0.9, 0.8])
    assert nb.nms(boxes, scores, 0.5).tolist() == torchvision.ops.nms(boxes, scores, 0.5).tolist() == [0, 1]


def test_the_squares_stand_in_is_read_by_the_notebooks_dataset_with_one_box_per_square(tmp_path):
    root = detection.build_squares(tmp_path, n=6, size=64, seed=3)
    assert sorted(p.name for p in root.iterdir()) == ["PNGImages", "PedMasks"]  # Penn-Fudan's layout
    nb = notebook_code.definitions("04d", "PennFudan")
    data = nb.PennFudan(root)
    assert len(data) == 6
    for i in range(len(data)):
        image, target = data[i]
        mask = torch.from_numpy(np.array(Image.open(root / "PedMasks" / f"{data.names[i]}_mask.png")))
        ids = mask.unique()[1:]
        assert image.shape == (3, 64, 64) and image.dtype == torch.uint8
        assert len(target["boxes"]) == len(target["labels"]) == len(ids) >= 1
        assert target["labels"].tolist() == [1] * len(ids)  # one class, 1; 0 is the background
        for box, k in zip(target["boxes"].tolist(), ids.tolist()):
            x1, y1, x2, y2 = (int(v) for v in box)
            ys, xs = torch.nonzero(mask == k, as_tuple=True)
            assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)  # continuous: ends 1 later
            assert x2 - x1 == y2 - y1 and len(xs) == (x2 - x1) ** 2, "a whole square, not hidden by another"
            inside = image[:, ys, xs]
            assert (inside == inside[:, :1]).all(), "each square is one flat colour"


def test_the_training_flip_mirrors_the_boxes_with_the_image(tmp_path):
    from torchvision.transforms import v2 as T

    root = detection.build_squares(tmp_path, n=1, size=64, seed=5)
    nb = notebook_code.definitions("04d", "PennFudan")
    image, target = nb.PennFudan(root)[0]
    flipped, flipped_target = nb.PennFudan(root, T.Compose([T.RandomHorizontalFlip(1.0), T.ToPureTensor()]))[0]
    assert torch.equal(flipped, image.flip(-1))
    x1, y1, x2, y2 = target["boxes"].unbind(1)
    torch.testing.assert_close(flipped_target["boxes"], torch.stack([64 - x2, y1, 64 - x1, y2], 1))


@pytest.mark.slow  # imports torchmetrics (which imports transformers and scipy): seconds
def test_the_notebooks_evaluate_keeps_only_our_class_and_scores_perfect_boxes_one():
    nb = notebook_code.definitions("04d", "evaluate", DEV=torch.device("cpu"))
    truth = {"boxes": torch.tensor([[10.0, 10.0, 40.0, 90.0], [50.0, 20.0, 80.0, 95.0]]), "labels": torch.tensor([1, 1])}

    class Perfect(torch.nn.Module):
        """Returns the true boxes as class 3, and a confident wrong box of another class (7)."""

        def forward(self, images):
            wrong = torch.tensor([[0.0, 0.0, 5.0, 5.0]])
            return [{"boxes": torch.cat([truth["boxes"], wrong]), "labels": torch.tensor([3, 3, 7]),
                     "scores": torch.tensor([0.9, 0.8, 0.99])} for _ in images]

    result, predictions = nb.evaluate(Perfect(), [([torch.zeros(3, 100, 100)], [truth])], keep_class=3)
    assert result["map"].item() == pytest.approx(1.0)
    assert predictions[0]["labels"].tolist() == [1, 1]  # class 3 kept and renamed 1; class 7 dropped
    result, _ = nb.evaluate(Perfect(), [([torch.zeros(3, 100, 100)], [truth])], keep_class=7)
    assert result["map"].item() == pytest.approx(0.0)


def test_the_tiny_faster_rcnn_returns_four_losses_in_training_and_boxes_in_eval(tmp_path):
    root = detection.build_squares(tmp_path, n=2, size=96, seed=1)
    nb = notebook_code.definitions("04d", "PennFudan")
    images, targets = zip(*[nb.PennFudan(root)[i] for i in range(2)])
    images = [i.float() / 255 for i in images]
    targets = [{"boxes": t["boxes"].as_subclass(torch.Tensor), "labels": t["labels"]} for t in targets]
    torch.manual_seed(0)
    model = detection.tiny_faster_rcnn(num_classes=2)
    assert isinstance(model, torchvision.models.detection.FasterRCNN)  # the class the full profile uses
    losses = model(images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2 and set(out[0]) == {"boxes", "labels", "scores"}


def test_show_draws_images_without_any_box_quietly():
    import matplotlib

    matplotlib.use("Agg")
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "scores": torch.zeros(0)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = detection.show([torch.rand(3, 32, 32)], [empty], [empty], titles=["nothing to draw"])
    assert len(fig.axes) == 1


def test_offline_the_full_profile_stops_naming_penn_fudan(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(ready.CannotRunFull, match="PennFudanPed"):
        detection.penn_fudan("full")
    assert not ready.is_cached("torchvision:PennFudanPed")
    assert not ready.is_cached("torchvision:FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1")
