"""Exercises for week 4c, "Transfer learning": head sizes, what unfreezing costs, frozen BatchNorm, freezing, groups."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course.exercises import Exercise, LearnerError, as_number, choice, describe, learner_call, near
from course.syllabus import objective
from helpers.presets import MIB

NOTEBOOK = "04c-transfer-learning"
HEAD = objective(NOTEBOOK, "Replace the head")
GROUPS = objective(NOTEBOOK, "Unfreeze with a lower")
COST = objective(NOTEBOOK, "Measure the time")

RESNET18_PARAMS = 11_689_512  # torchvision's resnet18 with its ImageNet head (ResNet18_Weights.DEFAULT.meta)
IMAGENET_HEAD = 512 * 1000 + 1000
BACKBONE = RESNET18_PARAMS - IMAGENET_HEAD  # 11,176,512


# ---------------------------------------------------------------- q1: what a frozen backbone leaves to train
def _q1_solve() -> int:
    return 512 * 102 + 102  # a weight per feature-class pair, and a bias per class


q1 = Exercise(
    "q1",
    "You fine-tune torchvision's resnet18 on Flowers-102 (102 classes): a new head, the backbone frozen as in "
    "section 3. How many parameters does the optimizer train?",
    near(_q1_solve(), rel=1e-9, mistakes={
        512 * 102: "That counts the head's weights; each of the 102 outputs also has a bias.",
        IMAGENET_HEAD: "That is the old ImageNet head (1,000 classes): the new head has one output per flower.",
        BACKBONE + 512 * 102 + 102: "That counts the frozen backbone too: its parameters get no gradient and no step.",
        BACKBONE: "That is the frozen backbone, which the optimizer never sees: count the new head's parameters.",
        RESNET18_PARAMS: "That is the whole pretrained resnet18 with its ImageNet head: only the new head trains.",
    }),
    "Only the new head trains: nn.Linear(512, 102) has a 102 x 512 weight and 102 biases.",
    _q1_solve,
    objective=HEAD,
)


# ---------------------------------------------------------------- q2: what unfreezing adds
def _q2_solve() -> float:
    return BACKBONE * (4 + 4 + 4) / MIB  # fp32 gradient, and AdamW's two running averages, for each weight


q2 = Exercise(
    "q2",
    f"ResNet-18's backbone has {BACKBONE:,} parameters. You unfreeze it and train with AdamW, weights, gradients "
    "and optimizer state in fp32. Leaving the activations aside, how many MiB does that add to what the frozen run "
    "held?",
    near(_q2_solve(), rel=0.02, unit="MiB", mistakes={
        BACKBONE * 4 / MIB: "That counts only the gradients; AdamW also keeps two running averages per weight.",
        BACKBONE * 8 / MIB: "That counts AdamW's two running averages; the gradients come on top.",
        BACKBONE * 16 / MIB: "The weights were already in memory while frozen: count only what unfreezing adds.",
        BACKBONE * 12 / 1e6: "Close, but in MB (10**6 bytes): 1 MiB is 2**20 bytes.",
        BACKBONE * 12 / 2**30: "That is in GiB: the question asks for MiB (2**20 bytes).",
        BACKBONE * 12: "That is in bytes: divide by 2**20 for MiB.",
    }),
    "Per unfrozen fp32 weight: a 4-byte gradient, and AdamW's two 4-byte averages (exp_avg, exp_avg_sq).",
    _q2_solve,
    objective=COST,
)


# ---------------------------------------------------------------- q3: what still changes in a frozen backbone
q3 = Exercise(
    "q3",
    "Every backbone parameter has requires_grad = False, the optimizer holds only the head, and the head trains "
    "with model.train() as in section 5. What in the backbone can still change? (a) nothing, it is frozen; "
    "(b) the BatchNorm running means and variances; (c) the convolution weights, through AdamW's weight decay",
    choice("b", {
        "a": "BatchNorm's running mean and variance are buffers, not parameters: in train mode every forward "
             "updates them, frozen or not. Put the BatchNorm layers in eval() to keep them too.",
        "c": "AdamW only touches the parameters it was given, and skips any whose .grad is None, weight decay "
             "included: frozen weights do not move.",
    }),
    "requires_grad concerns parameters. What else does a BatchNorm layer keep, and when does it update it?",
    lambda: "b",
    objective=HEAD,
    wrong=(("a", "buffers, not parameters"), ("c", "skips any whose .grad is None")),
)


# ---------------------------------------------------------------- models the code checkers run on
class _SmallCNN(nn.Module):
    """A backbone called features and a head called classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
        self.classifier = nn.Linear(4, 3)


class _TwoLayerHead(nn.Module):
    """A backbone whose first layer's name starts like the head's (fc_in, then fc), a two-layer head (fc) with a
    BatchNorm in it (buffers, which are not parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc_in = nn.Linear(6, 8)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Sequential(nn.Linear(8, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))


class _Nested(nn.Module):
    """The head two levels down: head.proj, beside head.norm, which belongs to the backbone here."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Module()
        self.head.norm = nn.LayerNorm(4)
        self.head.proj = nn.Linear(4, 7)


def _resnet() -> nn.Module:
    from helpers.images import narrow_resnet18

    return narrow_resnet18(num_classes=3, divide=16)


def _models() -> list[tuple[str, Any, str]]:
    """(label, a function that builds the model fresh and seeded, head name): every head name differs."""

    def seeded(build, frozen=False):
        def make():
            torch.manual_seed(0)
            model = build()
            if frozen:  # as a model comes out of an earlier freeze: everything frozen, the head included
                model.requires_grad_(False)
            return model
        return make

    return [("torchvision's resnet18 (narrow), head 'fc'", seeded(_resnet), "fc"),
            ("a small CNN whose head is 'classifier'", seeded(_SmallCNN), "classifier"),
            ("a net with a layer 'fc_in' and a two-layer head 'fc', every parameter frozen beforehand",
             seeded(_TwoLayerHead, frozen=True), "fc"),
            ("a net whose head is 'head.proj' (its sibling 'head.norm' is backbone)", seeded(_Nested), "head.proj")]


def _head_names(model: nn.Module, head: str) -> set[str]:
    return {f"{head}.{name}" for name, _ in model.get_submodule(head).named_parameters()}


# ---------------------------------------------------------------- q4: freeze the backbone (code)
def freeze_backbone(model: nn.Module, head: str = "fc") -> int:
    """Freeze every parameter of ``model`` except those of the submodule ``head``; return how many numbers train."""
    for p in model.parameters():
        p.requires_grad = False
    for p in model.get_submodule(head).parameters():
        p.requires_grad = True
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _freeze_methods(model, head="fc"):
    model.requires_grad_(False)
    model.get_submodule(head).requires_grad_(True)
    return sum(p.numel() for p in model.get_submodule(head).parameters())


def _freeze_by_name(model, head="fc"):
    count = 0
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(head + ".")
        count += p.numel() if p.requires_grad else 0
    return count


def _freeze_all(model, head="fc"):
    for p in model.parameters():
        p.requires_grad = False
    return 0


def _freeze_prefix(model, head="fc"):
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(head)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _freeze_count_tensors(model, head="fc"):
    freeze_backbone(model, head)
    return sum(1 for p in model.parameters() if p.requires_grad)


def _freeze_count_all(model, head="fc"):
    freeze_backbone(model, head)
    return sum(p.numel() for p in model.parameters())


def _freeze_backbone_only(model, head="fc"):
    head_ids = {id(p) for p in model.get_submodule(head).parameters()}
    for p in model.parameters():
        if id(p) not in head_ids:
            p.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _freeze_hard_coded(model, head="fc"):
    return freeze_backbone(model, "fc")


def _freeze_count_state_dict(model, head="fc"):
    freeze_backbone(model, head)
    return sum(t.numel() for t in model.get_submodule(head).state_dict().values())


def _freeze_reset_head(model, head="fc"):
    freeze_backbone(model, head)
    for module in model.get_submodule(head).modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _freeze_tensor_count(model, head="fc"):
    """Another style: module methods, and the count as a 0-d tensor."""
    model.requires_grad_(False)
    trainable = model.get_submodule(head).requires_grad_(True)
    return torch.stack([torch.tensor(p.numel()) for p in trainable.parameters()]).sum()


def _q4_check(answer: Any) -> str | None:
    if not callable(answer):
        return f"pass your function itself (its name, without calling it), not a {type(answer).__name__}."
    for label, build, head in _models():
        model, reference = build(), build()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        expected = freeze_backbone(reference, head)
        try:
            got = learner_call(answer, model, head)
        except LearnerError as err:
            if "attribute" in str(err) or "has no" in str(err):
                return (f"on {label}: {err}. Find the head by the name you are given: model.get_submodule(head) "
                        "works for 'fc', 'classifier' and 'head.proj' alike.")
            raise
        if any(not torch.equal(before[k], v) for k, v in model.state_dict().items()):
            return f"on {label}: your function changed the weights; freezing only sets requires_grad."
        head_names = _head_names(reference, head)
        wrong = [n for n, p in model.named_parameters() if p.requires_grad != (n in head_names)]
        if wrong:
            still = [n for n in wrong if n not in head_names]
            if still:
                starts = [n for n in still if n.startswith(head)]
                if starts:
                    return (f"on {label}: {starts[0]} is trainable, but it is not in the head: its name only starts "
                            f"with the same letters. Match '{head}.' with the dot, or use model.get_submodule(head).")
                return f"on {label}: {still[0]} is still trainable; it belongs to the backbone."
            if all(n in wrong for n in head_names):
                return (f"on {label}: the head is frozen too: set requires_grad = True on the head's parameters "
                        "(the model may arrive with them frozen).")
            return f"on {label}: {wrong[0]} is part of the head ({head}) and must stay trainable."
        value = as_number(got)
        if value is None:
            return f"on {label}: return the count as a number, not {describe(got)}."
        if value == expected:
            continue
        n_tensors = sum(1 for p in model.parameters() if p.requires_grad)
        if value == n_tensors:
            return (f"on {label}: you returned {value:g}, the number of parameter tensors; count the numbers in "
                    f"them with p.numel() ({expected:,}).")
        if value == sum(p.numel() for p in model.parameters()):
            return (f"on {label}: you counted every parameter ({value:,.0f}); count only those that still "
                    f"require gradients ({expected:,}).")
        if value == sum(t.numel() for t in model.get_submodule(head).state_dict().values()):
            return (f"on {label}: you counted the head's buffers too (state_dict() holds BatchNorm's running "
                    f"mean and variance, which never train): count the parameters with p.numel() ({expected:,}).")
        return f"on {label}: the flags are right, but you returned {value:g} trainable parameters, not {expected:,}."
    return None


q4 = Exercise(
    "q4",
    "Write freeze_backbone(model, head='fc'): set requires_grad to False on every parameter of model except those "
    "of the submodule whose name is head ('fc' in torchvision's ResNets, 'classifier' in others, maybe "
    "'head.proj'), which must end trainable; return the number of trainable numbers (not tensors).",
    _q4_check,
    "model.get_submodule(head) finds the head by its name, dots included. Freeze everything first, then set "
    "requires_grad = True on the head's parameters; count with sum(p.numel() for p in model.parameters() "
    "if p.requires_grad).",
    lambda: freeze_backbone,
    objective=HEAD,
    kind="code",
    wrong=((_freeze_all, "the head is frozen too"),
           (_freeze_prefix, "only starts with the same letters"),
           (_freeze_count_tensors, "number of parameter tensors"),
           (_freeze_count_all, "you counted every parameter"),
           (_freeze_backbone_only, "the head is frozen too"),
           (_freeze_hard_coded, "model.get_submodule(head)"),
           (_freeze_count_state_dict, "buffers too"),
           (_freeze_reset_head, "changed the weights")),
    right=(_freeze_methods, _freeze_by_name, _freeze_tensor_count),
)


# ---------------------------------------------------------------- q5: discriminative learning rates (code)
def param_groups(model: nn.Module, head: str, head_lr: float, backbone_lr: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the submodule ``head`` at ``head_lr``, every other parameter at ``backbone_lr``."""
    head_params = list(model.get_submodule(head).parameters())
    head_ids = {id(p) for p in head_params}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    return [{"params": backbone, "lr": backbone_lr}, {"params": head_params, "lr": head_lr}]


def _groups_by_name(model, head, head_lr, backbone_lr):
    groups = {True: [], False: []}
    for name, p in model.named_parameters():
        groups[name.startswith(head + ".")].append(p)
    return [{"params": groups[True], "lr": head_lr}, {"params": groups[False], "lr": backbone_lr}]


def _groups_swapped(model, head, head_lr, backbone_lr):
    return param_groups(model, head, backbone_lr, head_lr)


def _groups_twice(model, head, head_lr, backbone_lr):
    return [{"params": model.parameters(), "lr": backbone_lr},
            {"params": model.get_submodule(head).parameters(), "lr": head_lr}]


def _groups_head_only(model, head, head_lr, backbone_lr):
    return [{"params": model.get_submodule(head).parameters(), "lr": head_lr}]


def _groups_prefix(model, head, head_lr, backbone_lr):
    inside = [p for n, p in model.named_parameters() if n.startswith(head)]
    outside = [p for n, p in model.named_parameters() if not n.startswith(head)]
    return [{"params": outside, "lr": backbone_lr}, {"params": inside, "lr": head_lr}]


def _groups_hard_coded_head(model, head, head_lr, backbone_lr):
    return param_groups(model, "fc", head_lr, backbone_lr)


def _groups_hard_coded_rates(model, head, head_lr, backbone_lr):
    return param_groups(model, head, 1e-3, 1e-4)


def _groups_fixed_ratio(model, head, head_lr, backbone_lr):
    return param_groups(model, head, head_lr, head_lr / 10)


def _groups_freeze_backbone(model, head, head_lr, backbone_lr):
    groups = param_groups(model, head, head_lr, backbone_lr)
    for p in groups[0]["params"]:
        p.requires_grad = False
    return groups


def _groups_with_decay(model, head, head_lr, backbone_lr):
    """Another style: three groups, no weight decay on the backbone's biases and norms, as a tuple."""
    head_ids = {id(p) for p in model.get_submodule(head).parameters()}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    return ({"params": [p for p in backbone if p.ndim > 1], "lr": backbone_lr, "weight_decay": 0.01},
            {"params": [p for p in backbone if p.ndim <= 1], "lr": backbone_lr, "weight_decay": 0.0},
            {"params": model.get_submodule(head).parameters(), "lr": head_lr})


def _groups_one_per_head_tensor(model, head, head_lr, backbone_lr):
    """Another style: the backbone in one group, each head tensor in a group of its own (a tensor, not a list)."""
    head_params = list(model.get_submodule(head).parameters())
    backbone = [p for p in model.parameters() if all(p is not h for h in head_params)]
    return [{"params": backbone, "lr": backbone_lr}, *({"params": p, "lr": head_lr} for p in head_params)]


def _groups_only_trainable(model, head, head_lr, backbone_lr):
    head_ids = {id(p) for p in model.get_submodule(head).parameters()}
    return [{"params": [p for p in model.parameters() if id(p) not in head_ids and p.requires_grad], "lr": backbone_lr},
            {"params": [p for p in model.get_submodule(head).parameters() if p.requires_grad], "lr": head_lr}]


def _groups_missing_lr(model, head, head_lr, backbone_lr):
    groups = param_groups(model, head, head_lr, backbone_lr)
    del groups[0]["lr"]
    return groups


def _q5_check(answer: Any) -> str | None:
    if not callable(answer):
        return f"pass your function itself (its name, without calling it), not a {type(answer).__name__}."
    rates = [(1e-3, 1e-4), (3e-4, 3e-6), (0.05, 0.01), (2e-3, 2e-5)]
    for (label, build, head), (head_lr, backbone_lr) in zip(_models(), rates):
        model = build()  # as it comes: the third arrives frozen, and still needs its groups for when it thaws
        trainable_before = {name for name, p in model.named_parameters() if p.requires_grad}
        case = f"{label}, head_lr={head_lr:g}, backbone_lr={backbone_lr:g}"
        try:
            groups = learner_call(answer, model, head, head_lr, backbone_lr)
        except LearnerError as err:
            if "attribute" in str(err) or "has no" in str(err):
                return (f"on {case}: {err}. Find the head by the name you are given: model.get_submodule(head) "
                        "works for 'fc', 'classifier' and 'head.proj' alike.")
            raise
        frozen = [name for name, p in model.named_parameters() if not p.requires_grad and name in trainable_before]
        if frozen:
            return (f"on {case}: your function froze {frozen[0]} (requires_grad = False), so it would never "
                    "train: the groups only set learning rates, leave requires_grad as it is.")
        if isinstance(groups, dict) or not isinstance(groups, list | tuple):
            return f"on {case}: return a list of dicts, one a group, not {type(groups).__name__}."
        if not all(isinstance(g, dict) and "params" in g for g in groups):
            return f"on {case}: each group is a dict with a 'params' list (and here an 'lr')."
        groups = [{**g, "params": [g["params"]] if isinstance(g["params"], torch.Tensor) else list(g["params"])}
                  for g in groups]  # generators and single tensors are fine, as for torch.optim: read them once
        try:
            torch.optim.AdamW([dict(g) for g in groups], lr=1.0)  # copies: AdamW fills in a missing lr
        except ValueError as err:
            if "more than one" in str(err):
                return (f"on {case}: the head's parameters are in both groups (model.parameters() includes the "
                        "head): the backbone group must leave them out.")
            return f"on {case}: AdamW refuses these groups: {err}"
        lr_of = {id(p): g.get("lr") for g in groups for p in g["params"]}
        head_names = _head_names(model, head)
        for name, p in model.named_parameters():
            if id(p) not in lr_of:
                if not p.requires_grad:
                    return (f"on {case}: {name} is in no group because it is frozen right now; it still needs "
                            "one, or it can never train once unfrozen: do not filter on requires_grad.")
                return f"on {case}: {name} is in no group, so it would never train; every parameter needs a group."
            want = head_lr if name in head_names else backbone_lr
            have = lr_of[id(p)]
            if have is None:
                return f"on {case}: the group of {name} has no 'lr'; give each group its own."
            if as_number(have) == want:
                continue
            if as_number(have) is None:
                return f"on {case}: the group of {name} has lr {describe(have)}: give each rate as a number."
            if name not in head_names and name.startswith(head) and as_number(have) == head_lr:
                return (f"on {case}: {name} got the head's rate, but it is not in the head: its name only starts "
                        f"with the same letters. Match '{head}.' with the dot, or use model.get_submodule(head).")
            if as_number(have) == (backbone_lr if want == head_lr else head_lr):
                return (f"on {case}: the rates are swapped: the new head takes the large steps ({head_lr:g}), "
                        f"the pretrained backbone the small ones ({backbone_lr:g}).")
            if as_number(have) not in (head_lr, backbone_lr):
                return (f"on {case}: {name} has lr {describe(have)}, neither rate asked for: use the head_lr and "
                        "backbone_lr arguments, not numbers (or a ratio) written into the function.")
            return f"on {case}: {name} has lr {describe(have)}, expected {want:g}."
    return None


q5 = Exercise(
    "q5",
    "Write param_groups(model, head, head_lr, backbone_lr): the parameter groups of an optimizer in which the "
    "submodule named head trains at head_lr and every other parameter of model at backbone_lr. Each parameter in "
    "exactly one group; pass the result to torch.optim.AdamW.",
    _q5_check,
    "Collect model.get_submodule(head).parameters() and remember their id(); the backbone is every parameter "
    "whose id is not among them. Return [{'params': backbone, 'lr': backbone_lr}, {'params': head_params, "
    "'lr': head_lr}].",
    lambda: param_groups,
    objective=GROUPS,
    kind="code",
    wrong=((_groups_swapped, "the rates are swapped"),
           (_groups_twice, "in both groups"),
           (_groups_head_only, "in no group"),
           (_groups_prefix, "only starts with the same letters"),
           (_groups_hard_coded_head, "model.get_submodule(head)"),
           (_groups_hard_coded_rates, "neither rate asked for"),
           (_groups_fixed_ratio, "neither rate asked for"),
           (_groups_freeze_backbone, "leave requires_grad as it is"),
           (_groups_missing_lr, "has no 'lr'"),
           (_groups_only_trainable, "do not filter on requires_grad")),
    right=(_groups_by_name, _groups_with_decay, _groups_one_per_head_tensor),
)
