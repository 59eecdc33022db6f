"""Weeks 1-2 code exercises: the reference passes, and typical wrong implementations get the message meant for them."""

from __future__ import annotations

import numpy as np

from course.exercises import week01, week02a, week02b


def _said(capsys) -> str:
    return capsys.readouterr().out


def test_f1_threshold_reference_passes_and_a_stub_is_not_answered(capsys):
    assert week01.q7.kind == "code"
    assert week01.q7.check(week01.best_f1_threshold)

    def stub(y_true, scores):
        raise NotImplementedError

    assert not week01.q7.check(stub)
    assert "not answered yet" in _said(capsys)


def test_f1_threshold_that_maximises_accuracy_is_named(capsys):
    def by_accuracy(y_true, scores):
        candidates = np.unique(scores)
        return candidates[np.argmax([np.mean((scores >= t) == y_true) for t in candidates])]

    assert not week01.q7.check(by_accuracy)
    assert "maximises accuracy" in _said(capsys)


def test_f1_threshold_with_the_arithmetic_mean_is_named(capsys):
    from sklearn.metrics import precision_recall_curve

    def arithmetic_mean(y_true, scores):
        precision, recall, thresholds = precision_recall_curve(y_true, scores)
        return thresholds[np.argmax((precision[:-1] + recall[:-1]) / 2)]

    assert not week01.q7.check(arithmetic_mean)
    assert "(P + R) / 2" in _said(capsys)


def test_f1_threshold_with_a_strict_comparison_or_the_score_itself_is_named(capsys):
    from sklearn.metrics import precision_recall_curve

    def f1(y_true, predicted):
        tp = np.sum(predicted & (y_true == 1))
        return 2 * tp / (predicted.sum() + y_true.sum())

    def strictly_above(y_true, scores):
        candidates = np.unique(scores)
        return candidates[np.argmax([f1(y_true, scores > t) for t in candidates])]

    assert not week01.q7.check(strictly_above)
    assert "use >=" in _said(capsys)

    def returns_best_f1(y_true, scores):
        precision, recall, _ = precision_recall_curve(y_true, scores)
        return float(np.max(2 * precision * recall / np.maximum(precision + recall, 1e-12)))

    assert not week01.q7.check(returns_best_f1)
    assert "best F1 score itself" in _said(capsys)


def test_cross_validation_by_hand_accepts_the_library_and_names_the_leak(capsys):
    from sklearn.model_selection import KFold, cross_val_score

    assert week02a.q6.kind == "code"
    assert week02a.q6.check(lambda model, X, y, k: cross_val_score(model, X, y, cv=KFold(k)).mean())

    def fit_once_on_everything(model, X, y, k):
        model.fit(X, y)
        return np.mean([model.score(X[test], y[test]) for _, test in KFold(k).split(X)])

    assert not week02a.q6.check(fit_once_on_everything)
    assert "fitted the model on all rows" in _said(capsys)


def test_cross_validation_scored_on_training_folds_or_returning_the_list_is_named(capsys):
    from sklearn.base import clone
    from sklearn.model_selection import KFold

    def scored_on_training_rows(model, X, y, k):
        return np.mean([clone(model).fit(X[tr], y[tr]).score(X[tr], y[tr]) for tr, _ in KFold(k).split(X)])

    assert not week02a.q6.check(scored_on_training_rows)
    assert "folds it was trained on" in _said(capsys)

    def list_of_scores(model, X, y, k):
        return [clone(model).fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in KFold(k).split(X)]

    assert not week02a.q6.check(list_of_scores)
    assert "return their mean" in _said(capsys)


def test_titanic_build_model_reference_beats_the_rule_and_a_stub_is_not_answered(capsys):
    assert week02b.t3.kind == "code"
    assert week02b.t3.check(week02b.build_model)

    def stub():
        raise NotImplementedError

    assert not week02b.t3.check(stub)
    assert "not answered yet" in _said(capsys)
