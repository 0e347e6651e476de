"""Labels: which of two is the fake one (public as ``skface.metrics.resolve_pos_label``), and
label arrays that can be sorted into classes."""

import numbers

import numpy as np

from ._io import python_value
from ._validation import as_1d, missing_positions


def resolve_pos_label(classes, pos_label=None):
    """Return ``(pos_label, neg_label)`` for a binary problem, fake being the positive class.

    Parameters
    ----------
    classes : array-like of shape (2,)
        The estimator's ``classes_``.
    pos_label : object, optional
        The label of the fake class when it cannot be inferred (see the module docstring).

    Returns
    -------
    pos_label, neg_label : object
        Plain Python values (numpy scalars are converted).

    Raises
    ------
    ValueError
        When there are not exactly two classes, ``pos_label`` is not one of them, or the fake class
        cannot be inferred.
    """
    classes = [python_value(c) for c in np.asarray(classes, dtype=object).ravel()]
    if len(classes) != 2:
        raise ValueError(
            f"skface needs two classes (real vs. fake); got {len(classes)} classes: "
            f"{classes!r}."
        )
    if pos_label is not None:
        pos_label = python_value(pos_label)
        if pos_label not in classes:
            raise ValueError(f"pos_label={pos_label!r} is not one of the classes {classes!r}.")
        k = classes.index(pos_label)  # the class itself: pos_label=1.0 names the class 1
        return classes[k], classes[1 - k]
    if all(isinstance(c, numbers.Real) for c in classes) and set(classes) == {0, 1}:
        pos = classes[0] if classes[0] == 1 else classes[1]
        return pos, classes[1 - classes.index(pos)]
    strings = all(isinstance(c, str) for c in classes)
    if strings and {c.lower() for c in classes} == {"real", "fake"}:
        pos = classes[0] if classes[0].lower() == "fake" else classes[1]
        return pos, classes[1 - classes.index(pos)]
    raise ValueError(
        f"Cannot tell which class is 'fake' among {classes!r}: skface infers it only for 0/1 "
        f"labels (1 = fake) or 'real'/'fake' labels. Pass pos_label=<the fake label>."
    )


def one_label_per_sample(y, name="y", dtype=None):
    """``y`` as a 1-D array (of ``dtype``), read by :func:`as_1d`: an iterator once, a column
    ``(n, 1)`` as one label per sample, other shapes refused."""
    return as_1d(y, name, "hold one label per sample (1-D)", dtype=dtype)


def check_label_kinds(y, name="y"):
    """Refuse missing labels (None, NaN) and a mix of text and number labels in ``y``.

    NumPy cannot sort such labels into classes, and its ``'<' not supported between
    instances of 'int' and 'str'`` names neither the array nor the labels.
    """
    values = np.asarray(y, dtype=object).ravel().tolist()
    missing = missing_positions(values)
    if missing:
        raise ValueError(f"{name} has missing labels (None or NaN) at position(s) "
                         f"{missing[:5]}.")
    text = [v for v in values if isinstance(v, str)]
    if text and len(text) != len(values):
        number = next(v for v in values if not isinstance(v, str))
        raise ValueError(f"{name} mixes text and number labels (e.g. {text[0]!r} and "
                         f"{number!r}); use one kind, such as 'real'/'fake' or 0/1.")
