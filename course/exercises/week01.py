"""Exercises for week 1, "The ML workflow": metrics by hand, a leak-free pipeline, reading curves."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from course.exercises import Exercise, as_number, choice, fitted_estimator, learner_call, near, pipeline_steps
from course.syllabus import objective

NOTEBOOK = "01a-the-ml-workflow"
METRICS = objective(NOTEBOOK, "Read MAE, RMSE")
PIPELINE = objective(NOTEBOOK, "Scale features inside")
FITTING = objective(NOTEBOOK, "Recognise under- and")
THRESHOLD = objective(NOTEBOOK, "Choose a decision")

# q1: five house prices (in 100 000 $) and a model's predictions for them.
Y_TRUE = [3.0, 5.0, 2.0, 8.0, 7.0]
Y_PRED = [2.5, 5.0, 4.0, 7.0, 9.0]


def _errors() -> list[float]:
    return [p - t for t, p in zip(Y_TRUE, Y_PRED)]


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _q1_solve() -> float:
    errors = [p - t for t, p in zip(Y_TRUE, Y_PRED)]
    return math.sqrt(sum(e**2 for e in errors) / len(errors))  # root of the mean of squared errors


def _q1_check(answer: Any) -> str | None:
    problem = near(_q1_solve(), rel=0.01)(answer)
    if not problem or as_number(answer) is None:
        return problem
    answer = as_number(answer)
    squares = [e**2 for e in _errors()]
    known = {
        sum(squares) / len(squares): "That is the MSE (squared units): take its square root.",
        sum(abs(e) for e in _errors()) / len(squares): "That is the MAE: RMSE squares the errors before averaging.",
        sum(squares): "That is the sum of squared errors: divide by the number of houses, then take the root.",
        math.sqrt(sum(squares)): "Average the squared errors (divide by n) before taking the root.",
        math.sqrt(sum(squares) / (len(squares) - 1)): "Divide by n (the number of houses), not n - 1: RMSE is a plain "
                                                      "mean of the squared errors, not a sample variance.",
        1e5 * math.sqrt(sum(squares) / len(squares)): "Answer in the question's unit (100 000 $), as the prices are "
                                                      "given: no need to convert to dollars.",
        _std(_errors()): "That is the standard deviation of the errors (np.std subtracts their mean): RMSE squares the "
                         "errors themselves.",
    }
    for value, why in known.items():
        if math.isclose(answer, value, rel_tol=0.01):
            return f"{answer:g} is not the RMSE. {why}"
    return problem


q1 = Exercise(
    "q1",
    f"True prices {Y_TRUE}, predicted {Y_PRED} (in 100 000 $). What is the RMSE, in the same unit?",
    _q1_check,
    "Errors first (prediction - truth), square them, average, then square-root: np.sqrt(np.mean(err**2)), "
    "or sklearn.metrics.root_mean_squared_error(y_true, y_pred).",
    _q1_solve,
    objective=METRICS,
    wrong=((1.85, "That is the MSE"), (1.52, "not n - 1"), (136015, "question's unit"), (1.265, "standard deviation"),
           ([1.36], "expected a number")),
)

# q2: a screening test, as a confusion matrix. Class 0 = malignant (as in load_breast_cancer), 1 = benign.
MALIGNANT, BENIGN = 40, 60
CAUGHT, FALSE_ALARMS = 28, 8  # malignant called malignant; benign called malignant


def _q2_solve() -> float:
    return CAUGHT / MALIGNANT  # recall of malignant: of the malignant tumours, the share the model caught


def _q2_check(answer: Any) -> str | None:
    problem = near(_q2_solve(), rel=0.01)(answer)
    if not problem or as_number(answer) is None:
        return problem
    answer = as_number(answer)
    if answer > 1:
        return "give recall as a fraction between 0 and 1, not a percentage or a count."
    known = {
        CAUGHT / (CAUGHT + FALSE_ALARMS): "That is the precision for malignant (of those flagged, the share "
                                          "that were malignant). Recall divides by all malignant tumours.",
        (BENIGN - FALSE_ALARMS) / BENIGN: "That is the recall of the benign class (sklearn's default "
                                          "pos_label=1). Ask for the malignant class: pos_label=0.",
        (CAUGHT + BENIGN - FALSE_ALARMS) / (MALIGNANT + BENIGN): "That is the accuracy: it mixes both classes "
                                                               "and hides the missed cancers.",
        (MALIGNANT - CAUGHT) / MALIGNANT: "That is the share of malignant tumours the model missed (1 - recall).",
        CAUGHT / (MALIGNANT + BENIGN): "You divided by all tumours; recall divides by the malignant ones only.",
        FALSE_ALARMS / BENIGN: "That is the false-positive rate (benign ones flagged); recall is about the "
                               "malignant ones.",
        2 * CAUGHT / (2 * CAUGHT + FALSE_ALARMS + MALIGNANT - CAUGHT): "That is the F1 score; recall alone is "
                                                                      "caught / all malignant.",
    }
    for value, why in known.items():
        if math.isclose(answer, value, rel_tol=0.01):
            return f"{answer:g} is not the recall for malignant. {why}"
    return problem


q2 = Exercise(
    "q2",
    f"A model screened {MALIGNANT} malignant (class 0) and {BENIGN} benign (class 1) tumours. It flagged "
    f"{CAUGHT} of the malignant ones as malignant, and {FALSE_ALARMS} benign ones as malignant too. "
    "What is its recall for the malignant class (a fraction 0-1)?",
    _q2_check,
    "Recall = caught / all that truly are malignant. Draw the 2x2 confusion matrix if it helps.",
    _q2_solve,
    objective=METRICS,
    wrong=((70, "percentage"), (0.28, "all tumours"), (8 / 60, "false-positive rate"), (28 / 36, "precision"),
           (0.7368, "F1"), (0.8, "accuracy")),
)


# q3: a scaled k-NN pipeline, fitted on the training split only.
def cancer_split(seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """The breast-cancer split used in week 1: 75 % train, 25 % test, stratified."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


def _q3_solve() -> Any:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    X_train, X_test, y_train, y_test = cancer_split()
    return make_pipeline(MinMaxScaler(), KNeighborsClassifier(n_neighbors=11, weights="distance")).fit(X_train, y_train)


def _q3_check(answer: Any) -> str | None:
    problem = fitted_estimator(answer)
    if problem:
        return problem
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    steps = pipeline_steps(answer)
    if not isinstance(steps[-1], KNeighborsClassifier):
        return f"the last step should be a KNeighborsClassifier, not {type(steps[-1]).__name__}."
    if len(steps) < 2:
        return ("k-NN compares distances, so unscaled features with big values (area, ~1000) drown small ones "
                "(smoothness, ~0.1). Put a scaler before it: make_pipeline(MinMaxScaler(), ...).")
    if isinstance(steps[0], StandardScaler):
        return ("that is the notebook's pipeline (StandardScaler): this one rescales every feature to 0..1 with "
                "MinMaxScaler instead; see how k-NN does with it.")
    if not isinstance(steps[0], MinMaxScaler):
        return f"the first step should be a MinMaxScaler (every feature to 0..1), not {type(steps[0]).__name__}."
    if len(steps) > 2:
        return (f"your pipeline has {len(steps)} steps: the question asks for two, MinMaxScaler then the k-NN "
                f"(a {type(steps[1]).__name__} after the MinMaxScaler undoes its 0..1 range).")
    if tuple(steps[0].feature_range) != (0, 1):
        return (f"your MinMaxScaler maps to {tuple(steps[0].feature_range)}; the question asks for 0..1, the "
                "default: MinMaxScaler().")
    knn = steps[-1]
    if knn.n_neighbors != 11:
        return (f"your k-NN votes with {knn.n_neighbors} neighbour(s); the question asks for 11: "
                "KNeighborsClassifier(n_neighbors=11, weights=\"distance\").")
    if knn.weights != "distance":
        return "give closer neighbours a bigger vote: weights=\"distance\" (the default, \"uniform\", counts all equally)."
    seen = getattr(steps[0], "n_samples_seen_", None)
    X_train, X_test, y_train, y_test = cancer_split()
    if seen is not None and int(seen) != len(X_train):
        return (f"your scaler saw {int(seen)} rows, but the training split has {len(X_train)}: fit the whole "
                "pipeline on X_train only, so no statistic of the test set leaks into the model.")
    import numpy as np

    low, high = getattr(steps[0], "data_min_", None), getattr(steps[0], "data_max_", None)
    if low is not None and not (np.allclose(low, X_train.min(0)) and np.allclose(high, X_train.max(0))):
        return ("your scaler was fitted on other rows than the notebook's X_train: split with train_test_split(X, y, "
                "test_size=0.25, random_state=0, stratify=y), as the notebook does, and fit on X_train; with another "
                "split, some of the test rows were used for training.")
    score = answer.score(X_test, y_test)
    if score < 0.93:
        return f"accuracy {score:.3f} on the test split is low for scaled k-NN (expect about 0.95-0.98)."
    return None


q3 = Exercise(
    "q3",
    "Build a Pipeline that rescales every feature to the range 0..1 (MinMaxScaler), then classifies with k-NN "
    "that lets 11 neighbours vote, closer ones counting more (weights=\"distance\"), and fit it on the "
    "breast-cancer X_train, y_train. Is it better or worse than the notebook's standardised 5-neighbour k-NN?",
    _q3_check,
    "from sklearn.pipeline import make_pipeline; make_pipeline(MinMaxScaler(), KNeighborsClassifier(...)) "
    "gives an estimator with .fit and .score like any model.",
    _q3_solve,
    objective=PIPELINE,
)


def _q4_solve() -> str:
    return "overfitting"


q4 = Exercise(
    "q4",
    "A degree-15 polynomial scores R² = 0.99 on its training data and R² = -2.4 on validation data. "
    "Is it 'underfitting', 'overfitting' or 'about right'?",
    choice("overfitting", {
        "underfitting": "an underfitting model scores poorly on its training data too; this one is near perfect there.",
        "about right": "a model that generalises scores about as well on new data; here the gap is huge "
                       "(a negative R² is worse than predicting the mean).",
    }),
    "Compare the two scores: a big gap between training and validation is the signature to look for.",
    _q4_solve,
    objective=FITTING,
)


def _q5_solve() -> str:
    return "precision"


q5 = Exercise(
    "q5",
    "Your spam filter must almost never send a real e-mail to the spam folder. Which metric of the spam "
    "class do you watch most: 'accuracy', 'precision', 'recall' or 'f1'?",
    choice("precision", {
        "accuracy": "with 90 % real mail, 'never spam' scores 0.90 accuracy; it cannot see the cost you care about.",
        "recall": "recall counts the spam you caught; the cost here is real mail wrongly flagged, which "
                  "recall ignores.",
        "f1": "F1 balances precision and recall; here one kind of mistake is much worse than the other.",
    }),
    "A real e-mail in the spam folder is a false positive for the spam class. Which metric has false "
    "positives in its denominator?",
    _q5_solve,
    objective=METRICS,
)


def _q6_solve() -> str:
    return "no"


q6 = Exercise(
    "q6",
    "On a learning curve, the training and validation scores meet at 0.70 and stay flat as the training "
    "set grows. Will ten times more data of the same kind help much: 'yes' or 'no'?",
    choice("no", {
        "yes": "the curves have already met: the model is as good on new data as on its own. It underfits; "
               "give it more capacity (features, a more flexible model) instead.",
    }),
    "More data closes the gap between the two curves. Is there a gap left?",
    _q6_solve,
    objective=FITTING,
)


# q7 (code): the threshold that maximises F1, from a model's scores. Positive = class 1, predicted when
# score >= threshold (the convention of sklearn's precision_recall_curve).
def best_f1_threshold(y_true: Any, scores: Any) -> float:
    """The score threshold (predict 1 when score >= threshold) with the highest F1 for class 1."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    p, r = precision[:-1], recall[:-1]  # the last point (recall 0, precision 1) has no threshold
    f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
    return float(thresholds[np.argmax(f1)])


def _counts(y_true: Any, scores: Any, thresholds: Any, strict: bool = False) -> tuple[Any, Any, Any, Any]:
    """True/false positives, false negatives and true negatives at each threshold (vectorised)."""
    import numpy as np

    y, scores = np.asarray(y_true).astype(bool), np.asarray(scores, dtype=float)
    t = np.atleast_1d(np.asarray(thresholds, dtype=float))[:, None]
    predicted = scores[None, :] > t if strict else scores[None, :] >= t
    tp, fp = (predicted & y).sum(1), (predicted & ~y).sum(1)
    return tp, fp, y.sum() - tp, (~y).sum() - fp


def _ratio(a: Any, b: Any) -> Any:
    import numpy as np

    return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)


def _f1_at(y_true: Any, scores: Any, threshold: float, strict: bool = False) -> float:
    tp, fp, fn, _ = _counts(y_true, scores, threshold, strict)
    return float(_ratio(2 * tp, 2 * tp + fp + fn)[0])


def _accuracy(tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
    return (tp + tn) / (tp + fp + fn + tn)


def _mean_of_precision_and_recall(tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
    return (_ratio(tp, tp + fp) + _ratio(tp, tp + fn)) / 2


def _best_by(y_true: Any, scores: Any, score_fn: Callable[..., Any]) -> float:
    import numpy as np

    candidates = np.unique(scores)
    return float(candidates[int(np.argmax(score_fn(*_counts(y_true, scores, candidates))))])


def _best_f1_by_hand(y_true: Any, scores: Any) -> float:
    """Another correct style: try every distinct score as the threshold, F1 counted by hand in a loop."""
    best_t, best_f1 = None, -1.0
    for t in sorted(set(float(s) for s in scores)):
        tp = sum(1 for y, s in zip(y_true, scores, strict=True) if s >= t and y == 1)
        fp = sum(1 for y, s in zip(y_true, scores, strict=True) if s >= t and y == 0)
        fn = sum(1 for y, s in zip(y_true, scores, strict=True) if s < t and y == 1)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    return best_t


def _best_by_accuracy(y_true: Any, scores: Any) -> float:
    return _best_by(y_true, scores, _accuracy)


def _best_by_mean(y_true: Any, scores: Any) -> float:
    return _best_by(y_true, scores, _mean_of_precision_and_recall)


def _q7_cases() -> list[tuple[str, Any, Any]]:
    import numpy as np

    rng = np.random.default_rng(16)  # a seed where accuracy, (P + R) / 2 and F1 pick three different thresholds
    rare_y = (rng.random(300) < 0.03).astype(int)
    rare_y[:3] = 1
    rare_scores = np.clip(0.2 + 0.3 * rare_y + rng.normal(0, 0.12, 300), 0, 1).round(3)
    return [
        ("ten hand-made scores, four positives",
         np.array([0, 0, 1, 0, 1, 1, 0, 1, 0, 0]), np.array([0.1, 0.3, 0.35, 0.4, 0.45, 0.6, 0.65, 0.8, 0.2, 0.05])),
        ("300 examples with about 3 % positives", rare_y, rare_scores),
        ("tied scores", np.array([0, 1, 1, 0, 1, 0]), np.array([0.2, 0.7, 0.7, 0.7, 0.9, 0.2])),
    ]


def _f1_curve(y_true: Any, scores: Any, pos_label: int = 1) -> tuple[Any, Any, Any, Any]:
    """precision, recall, F1 (one per threshold) and the thresholds, as precision_recall_curve gives them."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y_true, scores, pos_label=pos_label)
    p, r = precision[:-1], recall[:-1]
    return p, r, np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0), thresholds


def _best_by_precision(y_true: Any, scores: Any) -> float:
    import numpy as np

    precision, _, _, thresholds = _f1_curve(y_true, scores)
    return float(thresholds[np.argmax(precision)])


def _best_by_recall(y_true: Any, scores: Any) -> float:
    import numpy as np

    _, recall, _, thresholds = _f1_curve(y_true, scores)
    return float(thresholds[np.argmax(recall)])


def _best_f1_of_class_0(y_true: Any, scores: Any) -> float:
    return _best_by(y_true, scores, lambda tp, fp, fn, tn: _ratio(2 * tn, 2 * tn + fn + fp))


def _index_of_best(y_true: Any, scores: Any) -> int:
    import numpy as np

    return int(np.argmax(_f1_curve(y_true, scores)[2]))


def _best_f1_itself(y_true: Any, scores: Any) -> float:
    return float(_f1_curve(y_true, scores)[2].max())


def _best_on_a_grid(y_true: Any, scores: Any) -> float:
    import numpy as np

    grid = np.linspace(0, 1, 101)
    tp, fp, fn, _ = _counts(y_true, scores, grid)
    return float(grid[int(np.argmax(_ratio(2 * tp, 2 * tp + fp + fn)))])


_Q7_MISTAKES = (  # named when the learner's thresholds are the mistake's on every hidden case
    (_best_f1_itself, "You returned the best F1 score itself: return the threshold that reaches it."),
    (_index_of_best, "You returned the index of the best threshold: return thresholds[index], the score itself."),
    (_best_by_accuracy, "That threshold maximises accuracy: with few positives, accuracy rewards calling almost "
                        "everything negative. Maximise F1 = 2PR / (P + R)."),
    (_best_by_mean, "You maximised the plain average (P + R) / 2: it lets a high recall make up for a low precision. "
                    "F1 is the harmonic mean, 2PR / (P + R), pulled down by the smaller."),
    (_best_by_precision, "That threshold maximises precision alone; F1 = 2PR / (P + R) balances it with recall."),
    (_best_by_recall, "That threshold maximises recall alone (it calls everything positive); maximise "
                      "F1 = 2PR / (P + R)."),
    (_best_f1_of_class_0, "That threshold maximises the F1 of class 0: the question asks for the F1 of class 1 "
                          "(the positives)."),
    (_best_on_a_grid, "a grid of round thresholds (0.01 apart) misses the best one: try every distinct score as "
                      "the threshold (precision_recall_curve does)."),
    (lambda y_true, scores: 0.5, "0.5 is the default threshold, not the best one: search over the scores."),
)


def _q7_check(answer: Any) -> str | None:
    import numpy as np

    if not callable(answer):
        return f"pass your function itself (its name, without calling it), not a {type(answer).__name__}."
    cases, outputs = _q7_cases(), []
    for label, y, scores in cases:
        y_in, scores_in = y.copy(), scores.copy()
        got = as_number(learner_call(answer, y_in, scores_in))
        if not (np.array_equal(y_in, y) and np.array_equal(scores_in, scores)):
            return (f"on {label}: your function changed y_true or scores in place (a sort?); the caller still needs "
                    "them: work on copies (np.sort, sorted) instead.")
        if got is None:
            return f"on {label}: return one threshold (a number)."
        outputs.append(got)
    for (label, y, scores), got in zip(cases, outputs, strict=True):
        best_t = best_f1_threshold(y, scores)
        best, mine = _f1_at(y, scores, best_t), _f1_at(y, scores, got)
        if math.isclose(mine, best, abs_tol=1e-9):
            continue
        where = f"on {label}: your threshold {got:.4g} gives F1 {mine:.3f}; the best threshold ({best_t:.4g}) gives {best:.3f}."
        for wrong, why in _Q7_MISTAKES:
            if all(math.isclose(out, wrong(y_c, s_c), abs_tol=1e-9) for (_, y_c, s_c), out in zip(cases, outputs,
                                                                                                   strict=True)):
                return f"{where} {why}"
        if math.isclose(_f1_at(y, scores, got, strict=True), best, abs_tol=1e-9):
            return (f"{where} You predicted positive for score > threshold: use >= (a score equal to the "
                    "threshold counts as positive, as in precision_recall_curve).")
        return where
    return None


def _sorts_in_place(y_true: Any, scores: Any) -> float:
    threshold = best_f1_threshold(y_true, scores)
    scores.sort()
    return threshold


def _best_f1_with_midpoints(y_true: Any, scores: Any) -> float:
    """Right, in another style: thresholds halfway between distinct scores give the same predictions."""
    import numpy as np
    from sklearn.metrics import f1_score

    distinct = np.unique(scores)
    candidates = np.concatenate([[distinct[0]], (distinct[:-1] + distinct[1:]) / 2])
    f1 = [f1_score(y_true, (scores >= t).astype(int), zero_division=0) for t in candidates]
    return np.float64(candidates[int(np.argmax(f1))])


q7 = Exercise(
    "q7",
    "Write best_f1_threshold(y_true, scores): the threshold t (predict 1 when score >= t) that gives the "
    "highest F1 for class 1. It runs on hidden cases, rare positives included.",
    _q7_check,
    "precision, recall, thresholds = precision_recall_curve(y_true, scores); thresholds[i] goes with "
    "precision[i] and recall[i] (the arrays are one longer). F1 = 2PR / (P + R); np.argmax finds the best.",
    lambda: best_f1_threshold,
    kind="code",
    objective=THRESHOLD,
    wrong=(*((wrong, why.split(":")[0].split(",")[0]) for wrong, why in _Q7_MISTAKES), (_sorts_in_place, "in place")),
    right=(_best_f1_by_hand, _best_f1_with_midpoints),
)
