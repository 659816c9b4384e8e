"""Loss expressions: what the trainers' `--loss` and spl-experiment's entries accept.

A loss is an expression: `L1`, `L2`, `SPL`, `GPL`, `CPL`, `ContextualLoss`, `FSeSimLoss`,
`PerceptualLoss`, `StyleLoss` (a bare name takes the defaults, a call sets keyword
arguments to constants), combined with `+`, `-` and multiplication by numbers, e.g.
`SPL + 0.1 * ContextualLoss(weights="vgg19_weights.h5")`. Only that grammar is accepted:
the expression is parsed (`ast`), never executed. The VGG-based losses need
`weights="imagenet"` (Keras downloads them) or a local weights file.

The two names the trainers had before expressions, `spl` and `l1` (lower case), keep
their meaning exactly, the same Keras objects: `spl_tf.SPL()` and pix2pix's L1
(`keras.losses.MeanAbsoluteError`, the mean over pixels), so a run made with them resumes
unchanged. An expression is the weighted sum of its terms per image, averaged over the
batch (so `SPL` gives the values of `spl`).

Parsing needs no TensorFlow (the configs check `--loss` with it before `--help` or any
import); `keras_loss` builds the Keras loss.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

from spl_tf.utils.errors import InputError

# The trainers' names before expressions: exactly the losses they were.
NAMED = ("spl", "l1")
FUNCTIONS = ("L1", "L2")
CLASSES = ("SPL", "GPL", "CPL", "ContextualLoss", "FSeSimLoss", "PerceptualLoss", "StyleLoss")


@dataclasses.dataclass(frozen=True)
class Term:
    """`weight` x the loss `name` made with `kwargs`."""

    weight: float
    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()


def parse(expression: str, flag: str = "--loss") -> tuple[Term, ...]:
    """The terms of `expression`; InputError `flag=expression: why` if it is not one
    of the grammar (see the module). The named losses are not built."""
    if expression.strip() in NAMED:
        name = {"spl": "SPL", "l1": "L1"}[expression.strip()]
        return (Term(1.0, name),)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise InputError(f"{flag}={expression!r}: not an expression ({error.msg})") from None
    value = _evaluate(tree.body, f"{flag}={expression!r}")
    if not isinstance(value, tuple):
        raise InputError(f"{flag}={expression!r}: names no loss")
    return value


def _evaluate(node: ast.AST, where: str) -> tuple[Term, ...] | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _scale(-1.0, _evaluate(node.operand, where))
    if isinstance(node, ast.Name):
        return (_term(node.id, {}, where),)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
        try:
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            raise InputError(f"{where}: arguments of {node.func.id} must be "
                             "keyword=constant") from None
        return (_term(node.func.id, kwargs, where),)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        left, right = _evaluate(node.left, where), _evaluate(node.right, where)
        if isinstance(node.op, ast.Mult):
            if isinstance(left, float):
                return _scale(left, right)
            if isinstance(right, float):
                return _scale(right, left)
            raise InputError(f"{where}: losses can only be multiplied by numbers")
        if isinstance(left, tuple) and isinstance(right, tuple):
            sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
            return left + _scale(sign, right)
    raise InputError(f"{where}: cannot read {ast.unparse(node)!r}; use loss names "
                     f"({', '.join(FUNCTIONS + CLASSES)}), keyword=constant arguments, "
                     "+, - and * by numbers")


def _scale(factor: float, value: tuple[Term, ...] | float) -> tuple[Term, ...] | float:
    if isinstance(value, float):
        return factor * value
    return tuple(dataclasses.replace(term, weight=factor * term.weight) for term in value)


def _term(name: str, kwargs: dict[str, Any], where: str) -> Term:
    if name in FUNCTIONS and kwargs:
        raise InputError(f"{where}: {name} takes no arguments")
    if name not in FUNCTIONS + CLASSES:
        raise InputError(f"{where}: unknown loss {name!r}; known: "
                         f"{', '.join(FUNCTIONS + CLASSES)}")
    return Term(1.0, name, tuple(kwargs.items()))


def keras_loss(expression: str, flag: str = "--loss") -> Any:
    """The Keras loss of `expression` (`keras.losses.Loss`): `spl` and `l1` as the
    trainers always had them, any other expression a `LossExpression`. InputError if
    a loss refuses its arguments."""
    import keras

    import spl_tf

    name = expression.strip()
    if name == "spl":
        return spl_tf.SPL()
    if name == "l1":
        return keras.losses.MeanAbsoluteError()  # pix2pix's L1: the mean over pixels
    return register()(expression, flag=flag)


_CLASS = None


def register() -> type:
    """`LossExpression`, defined (and registered with Keras, so that a model saved with
    one loads) on first use: Keras is imported only then."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _define_loss_class()
    return _CLASS


def _define_loss_class() -> type:
    import keras
    from keras import ops

    import spl_tf

    def l1(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred), axis=(1, 2, 3))

    def l2(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))

    functions = {"L1": l1, "L2": l2}

    @keras.saving.register_keras_serializable(package="applications")
    class LossExpression(keras.losses.Loss):
        """The weighted sum, per image, of the losses an expression names (averaged over
        the batch); saved as its expression."""

        def __init__(self, expression: str, flag: str = "--loss", name: str = "loss_expression",
                     reduction: str = "sum_over_batch_size", dtype: Any = None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            self.expression = expression
            self.terms = []
            for term in parse(expression, flag):
                if term.name in functions:
                    self.terms.append((term.weight, functions[term.name]))
                    continue
                try:
                    loss = getattr(spl_tf, term.name)(reduction=None, **dict(term.kwargs))
                except (TypeError, ValueError, OSError) as error:
                    raise InputError(f"{flag}={expression!r}: {term.name}: {error}") from None
                self.terms.append((term.weight, loss))

        def call(self, y_true, y_pred):
            return sum(weight * loss(y_true, y_pred) for weight, loss in self.terms)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "expression": self.expression}

    return LossExpression


def check(expression: str, flag: str = "--loss") -> None:
    """InputError unless `expression` is one of the grammar (nothing built)."""
    parse(expression, flag)
