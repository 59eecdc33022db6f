"""Exercises for week 4d, "Object detection": box formats, IoU, per-class NMS, COCO's thresholds, licences."""

from __future__ import annotations

import torch
import torchvision

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective

NOTEBOOK = "04d-object-detection"
BOXES = objective(NOTEBOOK, "Convert boxes between")
NMS = objective(NOTEBOOK, "Write greedy non-maximum")
MAP = objective(NOTEBOOK, "Read mean average precision")
KINDS = objective(NOTEBOOK, "Place two-stage")


# ---------------------------------------------------------------- q1: IoU across two box formats (value)
def _q1_solve() -> float:
    a = (10, 10, 50, 50)  # xyxy
    x, y, w, h = 30, 30, 40, 40  # COCO's xywh: the corner, then the size
    b = (x, y, x + w, y + h)
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


q1 = Exercise(
    "q1",
    "Box A is [10, 10, 50, 50] in torchvision's xyxy format. Box B comes from a COCO annotation file, where boxes "
    "are [x, y, width, height]: B = [30, 30, 40, 40]. What is the IoU of A and B?",
    near(_q1_solve(), rel=0.01, mistakes={
        100 / 1600: "You read B as corners [x1, y1, x2, y2]; COCO's [30, 30, 40, 40] is a 40 x 40 box at (30, 30).",
        400 / 3200: "The union counts the overlap once: area A + area B - intersection.",
        441 / 2921: "You added a pixel to every side length (the old Pascal VOC convention); torchvision's boxes "
                    "are continuous: width = x2 - x1.",
        400 / 1600: "That is the intersection over one box's area; IoU divides by the union of both.",
        1.0: "You read B as (centre x, centre y, width, height), YOLO's format; COCO's x, y is the top-left corner.",
        900 / 3200: "You converted A too, but A is already in xyxy corners: only B is [x, y, width, height].",
        100 * 400 / 2800: "Give the IoU as a fraction between 0 and 1, not a percentage.",
    }),
    "Convert B to corners first: (x, y, x + w, y + h). Then intersection = overlap width x overlap height, "
    "union = area A + area B - intersection.",
    _q1_solve,
    objective=BOXES,
)


# ---------------------------------------------------------------- q2: the IoU of every pair (code)
def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``a`` (N x 4) with every box of ``b`` (M x 4), both xyxy: an N x M tensor."""
    top_left = torch.max(a[:, None, :2], b[None, :, :2])  # N x M x 2: the intersection's corners
    bottom_right = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)  # boxes apart: width or height 0, never negative
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _iou_loop(a, b):
    out = torch.zeros(len(a), len(b), dtype=torch.float64)
    for i, (ax1, ay1, ax2, ay2) in enumerate(a.tolist()):
        for j, (bx1, by1, bx2, by2) in enumerate(b.tolist()):
            inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
            out[i, j] = inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)
    return out


def _iou_library(a, b):
    return torchvision.ops.box_iou(a, b)


def _iou_no_clamp(a, b):
    wh = torch.min(a[:, None, 2:], b[None, :, 2:]) - torch.max(a[:, None, :2], b[None, :, :2])
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _iou_plus_one(a, b):
    wh = (torch.min(a[:, None, 2:], b[None, :, 2:]) - torch.max(a[:, None, :2], b[None, :, :2]) + 1).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _iou_sum_union(a, b):
    wh = (torch.min(a[:, None, 2:], b[None, :, 2:]) - torch.max(a[:, None, :2], b[None, :, :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :])


def _iou_clamp_product(a, b):
    wh = torch.min(a[:, None, 2:], b[None, :, 2:]) - torch.max(a[:, None, :2], b[None, :, :2])
    inter = (wh[..., 0] * wh[..., 1]).clamp(min=0)  # too late: two negative sides already made a positive area
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _iou_transposed(a, b):
    return box_iou(b, a)


def _iou_floor_division(a, b):
    wh = (torch.min(a[:, None, 2:], b[None, :, 2:]) - torch.max(a[:, None, :2], b[None, :, :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter // (area_a[:, None] + area_b[None, :] - inter)


def _iou_numpy(a, b):
    return box_iou(a, b).numpy()


def _iou_float64_unbind(a, b):
    """Another style: the coordinates unbound by name, in float64."""
    ax1, ay1, ax2, ay2 = a.double()[:, None, :].unbind(-1)
    bx1, by1, bx2, by2 = b.double()[None, :, :].unbind(-1)
    inter = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0) * \
        (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)


def _as_xyxy(boxes):
    return torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1)


def _iou_read_as_xywh(a, b):
    return box_iou(_as_xyxy(a), _as_xyxy(b))


def _iou_read_as_centres(a, b):
    def corners(boxes):
        return torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], dim=1)
    return box_iou(corners(a), corners(b))


def _iou_corners_swapped(a, b):
    top_left = torch.min(a[:, None, :2], b[None, :, :2])  # the enclosing box, not the overlap
    bottom_right = torch.max(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _random_boxes(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32, extent: float = 100.0):
    corner = torch.rand(n, 2, generator=generator, dtype=torch.float64) * extent
    size = torch.rand(n, 2, generator=generator, dtype=torch.float64) * extent / 2 + 1
    return torch.cat([corner, corner + size], dim=1).to(dtype)


def _iou_cases() -> list[Case]:
    g = torch.Generator().manual_seed(27)
    apart = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 30.0, 40.0, 50.0], [5.0, 5.0, 25.0, 15.0]])
    others = torch.tensor([[50.0, 60.0, 70.0, 90.0], [8.0, 2.0, 30.0, 12.0]])
    nested = torch.tensor([[0.0, 0.0, 100.0, 100.0], [25.0, 25.0, 75.0, 75.0]])
    pixels = torch.tensor([[0, 0, 4, 4], [2, 2, 6, 6], [4, 0, 8, 4]], dtype=torch.int64)
    return [
        Case("3 x 2 float32 boxes, some far apart (no overlap in x and in y)", (apart, others)),
        Case("5 x 4 random float64 boxes", (_random_boxes(5, g, torch.float64), _random_boxes(4, g, torch.float64))),
        Case("a box with a box inside it (2 x 2)", (nested, nested.flip(0))),
        Case("integer pixel coordinates (int64), 3 x 3, two boxes touching along an edge", (pixels, pixels)),
        Case("1 x 7 random boxes in a 1000-pixel image", (_random_boxes(1, g, extent=1000.0),
                                                         _random_boxes(7, g, extent=1000.0))),
        Case("2 boxes against an empty set (2 x 0)", (apart[:2], torch.zeros(0, 4))),
    ]


q2 = Exercise(
    "q2",
    "Write box_iou(a, b): a is an N x 4 tensor of boxes, b an M x 4 one, both in xyxy corners (x1, y1, x2, y2). "
    "Return the N x M tensor whose [i, j] entry is the IoU of a[i] and b[j], without a Python loop over boxes. "
    "It must work for any N and M (zero included), float32, float64 and integer pixel coordinates.",
    same_as(box_iou, _iou_cases, mistakes=[
        (_iou_no_clamp, "boxes that do not overlap must have an intersection of 0: clamp the overlap's width and "
                        "height at 0 before multiplying (two negative sides make a positive area)."),
        (_iou_plus_one, "you added 1 to widths and heights (the old Pascal VOC pixel convention): torchvision's "
                        "boxes are continuous, width = x2 - x1."),
        (_iou_sum_union, "the union counts the overlap once: area_a + area_b - intersection."),
        (_iou_read_as_xywh, "you read the boxes as (x, y, width, height): these are corners (x1, y1, x2, y2)."),
        (_iou_corners_swapped, "the overlap starts at the larger of the two top-left corners (max) and ends at "
                               "the smaller of the two bottom-right corners (min); you took the enclosing box."),
        (_iou_read_as_centres, "you read the boxes as (centre x, centre y, width, height): these are corners "
                               "(x1, y1, x2, y2)."),
        (_iou_clamp_product, "you clamped the intersection's area, but boxes apart in both x and y have two "
                             "negative sides whose product is positive: clamp the width and the height at 0 first."),
        (_iou_transposed, "your result is M x N: row i must be a[i] against every box of b (N x M)."),
        (_iou_floor_division, "// is floor division, which rounds every IoU down to 0 or 1: divide with /."),
    ], alternatives=[_iou_loop, _iou_library, _iou_float64_unbind]),
    "Broadcast: a[:, None, :2] against b[None, :, :2] gives N x M x 2. The overlap's top-left is the max of the "
    "top-lefts, its bottom-right the min of the bottom-rights; clamp its width and height at 0.",
    lambda: box_iou,
    objective=BOXES,
    wrong=((_iou_numpy, "return a torch tensor, not a ndarray"),),
)


# ---------------------------------------------------------------- q3: NMS per class (code)
def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """Greedy NMS within each class: indices of the boxes kept, from the highest score down (int64)."""
    iou = torchvision.ops.box_iou(boxes, boxes)
    keep: list[int] = []
    for i in scores.argsort(descending=True).tolist():
        if all(labels[i] != labels[j] or iou[i, j] <= iou_threshold for j in keep):
            keep.append(i)
    return torch.tensor(keep, dtype=torch.int64)


def _nms_library(boxes, scores, labels, iou_threshold):
    return torchvision.ops.batched_nms(boxes, scores, labels, iou_threshold)


def _nms_offset_trick(boxes, scores, labels, iou_threshold):
    """What torchvision does inside: move each class's boxes far from the others', then one plain NMS."""
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.int64)
    shifted = boxes + (labels.to(boxes) * (boxes.max() + 1))[:, None]
    return torchvision.ops.nms(shifted, scores, iou_threshold)


def _nms_across_classes(boxes, scores, labels, iou_threshold):
    return batched_nms(boxes, scores, torch.zeros_like(labels), iou_threshold)


def _nms_unsorted(boxes, scores, labels, iou_threshold):
    iou = torchvision.ops.box_iou(boxes, boxes)
    keep: list[int] = []
    for i in range(len(boxes)):  # the order given, not the best first
        if all(labels[i] != labels[j] or iou[i, j] <= iou_threshold for j in keep):
            keep.append(i)
    return torch.tensor(keep, dtype=torch.int64)


def _nms_at_or_above(boxes, scores, labels, iou_threshold):
    iou = torchvision.ops.box_iou(boxes, boxes)
    keep: list[int] = []
    for i in scores.argsort(descending=True).tolist():
        if all(labels[i] != labels[j] or iou[i, j] < iou_threshold for j in keep):
            keep.append(i)
    return torch.tensor(keep, dtype=torch.int64)


def _nms_suppressed_still_suppress(boxes, scores, labels, iou_threshold):
    iou = torchvision.ops.box_iou(boxes, boxes)
    order = scores.argsort(descending=True).tolist()
    keep = [i for k, i in enumerate(order)
            if all(labels[i] != labels[j] or iou[i, j] <= iou_threshold for j in order[:k])]
    return torch.tensor(keep, dtype=torch.int64)


def _nms_index_order(boxes, scores, labels, iou_threshold):
    return batched_nms(boxes, scores, labels, iou_threshold).sort().values


def _nms_class_by_class(boxes, scores, labels, iou_threshold):
    kept = [torch.zeros(0, dtype=torch.int64)]
    for label in labels.unique():  # each class's survivors, one class after the other
        index = torch.where(labels == label)[0]
        kept.append(index[torchvision.ops.nms(boxes[index], scores[index], iou_threshold)])
    return torch.cat(kept)


def _nms_per_class_sorted(boxes, scores, labels, iou_threshold):
    """Another style: plain NMS class by class, then every survivor sorted by score."""
    kept = _nms_class_by_class(boxes, scores, labels, iou_threshold)
    return kept[scores[kept].argsort(descending=True)]


def _nms_fixed_offset(offset: float):
    def nms(boxes, scores, labels, iou_threshold):
        return torchvision.ops.nms(boxes + offset * labels.to(boxes)[:, None], scores, iou_threshold)
    return nms


def _nms_ascending(boxes, scores, labels, iou_threshold):
    iou = torchvision.ops.box_iou(boxes, boxes)
    keep: list[int] = []
    for i in scores.argsort().tolist():  # the lowest score first
        if all(labels[i] != labels[j] or iou[i, j] <= iou_threshold for j in keep):
            keep.append(i)
    return torch.tensor(keep, dtype=torch.int64)


def _nms_default_dtype(boxes, scores, labels, iou_threshold):
    return torch.tensor(batched_nms(boxes, scores, labels, iou_threshold).tolist())  # [] becomes float32


def _nms_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    # a chain: A overlaps B, B overlaps C, A hardly touches C. Greedy keeps A and C.
    chain = torch.tensor([[0.0, 0.0, 10.0, 10.0], [4.0, 0.0, 14.0, 10.0], [9.0, 0.0, 19.0, 10.0]])
    # IoU exactly 0.5 (overlap 2 of a union of 4): at the threshold a box stays
    edge = torch.tensor([[0.0, 0.0, 3.0, 1.0], [1.0, 0.0, 4.0, 1.0], [10.0, 10.0, 12.0, 12.0]], dtype=torch.float64)
    crowd = torch.cat([_random_boxes(12, g, extent=40.0), _random_boxes(8, g, extent=40.0) + 30])
    return [
        Case("three overlapping boxes of one class, the middle one scored highest, threshold 0.3",
             (chain, torch.tensor([0.8, 0.9, 0.7]), torch.zeros(3, dtype=torch.int64), 0.3)),
        Case("a chain A-B-C of one class, A scored highest, threshold 0.3",
             (chain, torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.int64), 0.3)),
        Case("two boxes of one class far apart, the second scored higher, threshold 0.5",
             (torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]]), torch.tensor([0.4, 0.8]),
              torch.tensor([5, 5]), 0.5)),
        Case("two boxes of two classes on the same spot, threshold 0.5",
             (chain[:1].repeat(2, 1), torch.tensor([0.6, 0.95]), torch.tensor([1, 2]), 0.5)),
        Case("three boxes of three classes in a 4000-pixel image, 100 and 1000 pixels apart, threshold 0.5",
             (torch.tensor([[1000.0, 1000.0, 1200.0, 1200.0], [0.0, 0.0, 200.0, 200.0], [800.0, 800.0, 1000.0, 1000.0]]),
              torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 1, 2]), 0.5)),
        Case("float64 boxes whose IoU is exactly the threshold 0.5",
             (edge, torch.tensor([0.9, 0.8, 0.3], dtype=torch.float64), torch.tensor([3, 3, 3]), 0.5)),
        Case("20 random boxes of 3 classes, scores in random order, threshold 0.4",
             (crowd, torch.rand(20, generator=g), torch.randint(0, 3, (20,), generator=g), 0.4)),
        Case("the same 20 boxes, one class, threshold 0.7",
             (crowd, torch.rand(20, generator=g), torch.zeros(20, dtype=torch.int64), 0.7)),
        Case("no boxes at all", (torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)),
    ]


q3 = Exercise(
    "q3",
    "A detector runs NMS once per class, so that a person's box never removes the bicycle under it. Write "
    "batched_nms(boxes, scores, labels, iou_threshold): boxes N x 4 (xyxy), scores N, labels N integers. Return "
    "the int64 indices of the boxes kept, highest score first, as torchvision.ops.batched_nms does: visit the "
    "boxes from the best score down; keep a box unless its IoU with a box already kept *of the same class* is "
    "greater than iou_threshold.",
    same_as(batched_nms, _nms_cases, mistakes=[
        (_nms_across_classes, "you suppressed boxes of different classes: compare a box only with kept boxes "
                              "of its own label."),
        (_nms_class_by_class, "you returned the survivors class after class: sort all the kept indices by score, "
                              "from the highest down, whatever their class."),
        (_nms_index_order, "return the kept indices from the highest score down, not sorted by index."),
        (_nms_fixed_offset(1000.0), "you moved each class by a fixed offset (label x a constant), and boxes of "
                                    "different classes still meet after the shift: offset by (the largest coordinate "
                                    "+ 1) x label, or compare labels."),
        (_nms_fixed_offset(100.0), "you moved each class by a fixed offset (label x a constant), and boxes of "
                                   "different classes still meet after the shift: offset by (the largest coordinate "
                                   "+ 1) x label, or compare labels."),
        (_nms_ascending, "you visited the boxes from the lowest score up: greedy NMS starts from the highest "
                         "(argsort(descending=True))."),
        (_nms_default_dtype, "with no box kept, torch.tensor([]) is float32: pass dtype=torch.int64."),
        (_nms_unsorted, "you visited the boxes in the order given: greedy NMS starts from the highest score."),
        (_nms_at_or_above, "a box is removed only when its IoU is greater than the threshold; at exactly the "
                           "threshold it stays (use >, as torchvision does)."),
        (_nms_suppressed_still_suppress, "a box that was itself suppressed must not suppress others: compare "
                                         "each box with the boxes you kept, not with every better-scored box."),
    ], alternatives=[_nms_library, _nms_offset_trick, _nms_per_class_sorted]),
    "Sort the indices by score, descending. Keep a list `keep`; for each index i, append it unless some j in keep "
    "has labels[j] == labels[i] and IoU(i, j) > iou_threshold. Return torch.tensor(keep, dtype=torch.int64).",
    lambda: batched_nms,
    objective=NMS,
)


# ---------------------------------------------------------------- q4: COCO's ten thresholds (value)
def _q4_solve() -> int:
    thresholds = [0.5 + 0.05 * k for k in range(10)]
    return sum(0.72 >= t for t in thresholds)


q4 = Exercise(
    "q4",
    "COCO's mAP averages the average precision over ten IoU thresholds: 0.50, 0.55, ..., 0.95. A prediction "
    "overlaps its pedestrian with IoU 0.72 and no other prediction competes for it. At how many of the ten "
    "thresholds does it count as a true positive?",
    near(_q4_solve(), rel=1e-9, mistakes={
        4: "0.70 counts too: a match needs IoU >= the threshold, and 0.72 >= 0.70.",
        6: "0.75 is above 0.72: at that threshold the box is a false positive (and the pedestrian a miss).",
        1: "mAP@[.5:.95] uses ten thresholds, not only 0.5 (that one is mAP@0.5, PASCAL VOC's metric).",
        10: "at 0.75 and above an IoU of 0.72 is not enough: the box is a false positive there.",
        0.5: "Count the thresholds (a whole number from 0 to 10), not the share of them.",
    }),
    "List the thresholds 0.50, 0.55, ... and count those at or below 0.72.",
    _q4_solve,
    objective=MAP,
)


# ---------------------------------------------------------------- q5: NMS in a crowd (choice)
_Q5_WRONG = {"lower": "lowering it removes more boxes: a box goes when its IoU with a kept box is above the "
                      "threshold, so to keep a pair at IoU 0.6 the threshold must be above 0.6."}

q5 = Exercise(
    "q5",
    "In a crowded street two pedestrians overlap so much that their true boxes have IoU 0.6. The detector finds "
    "both, but NMS with iou_threshold=0.5 removes the lower-scored one. To keep both, do you 'raise' or "
    "'lower' the threshold?",
    choice("raise", _Q5_WRONG),
    "NMS removes a box when its IoU with a kept box is greater than the threshold.",
    lambda: "raise",
    objective=NMS,
)


# ---------------------------------------------------------------- q6: what AGPL-3.0 allows (choice)
_Q6_WRONG = {
    "webapp": "AGPL-3.0's section 13 is about exactly this: people who use the program over a network must be "
              "offered its complete source. That is what the A (Affero) adds to the GPL.",
    "product": "distributing a program that includes AGPL-3.0 code means releasing the whole under AGPL-3.0, or "
               "buying Ultralytics' Enterprise licence.",
}

q6 = Exercise(
    "q6",
    "Ultralytics YOLO is licensed under AGPL-3.0. Which of these may you do without offering your own code to "
    "anyone: 'private' (train and run it on your own machine for your own use), 'webapp' (a web demo that "
    "strangers use, code kept closed) or 'product' (a closed-source app you sell)?",
    choice("private", _Q6_WRONG),
    "AGPL-3.0's obligations start when others receive the program or use it over a network.",
    lambda: "private",
    objective=KINDS,
)
