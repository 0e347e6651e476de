"""The recommended configuration: the pipeline ``skface train`` uses by default."""

import os
from numbers import Integral

import torch
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from ._classifier import FaceCNNClassifier

#: Parameters of :class:`FaceCNNClassifier` in the recommended recipe (see
#: ``benchmarks/RESULTS.md``, "Detection quality", for the measurements behind each choice).
RECOMMENDED_CLASSIFIER_PARAMS = dict(
    # width 48 and SE attention were measured level with this network on all three seeds;
    # two convolutions per block fitted the development sources better but cost 1.6x and
    # caught fewer fakes of an unseen generator (benchmarks/RESULTS.md, "fifth round"); a
    # fifth stage did the same at 1.35x: +2.2 points of validation accuracy, -3.1 of ROC-AUC
    # on sources held out of training ("eleventh round")
    width=32,
    depth=4,
    convs_per_block=1,
    residual=False,
    dropout=0.3,
    label_smoothing=0.1,
    gamma=2.0,
    tta=True,
    # four networks, probabilities averaged, each looking at its own view of the face: the whole
    # image, its middle 3/4 and its middle half, resized to half the loaded side, and its middle
    # quarter at the loaded detail (a quarter of the side; view_size="auto" picks the sides from the
    # loaded images, so that none is up-sampled). Views make the networks' mistakes differ far more
    # than seeds alone do (benchmarks/RESULTS.md, "Multi-view ensembles"); the fourth,
    # middle-quarter network gained on the development test faces and on sources left out of
    # training ("seventeenth round"). For the 1,883 development training faces on 2 CPU cores: about
    # 6 minutes where bfloat16 is native (precision="auto" on a CPU with Intel AMX), 5 on an AMD
    # EPYC with AVX-512 BF16, and in float32 about 8 on an Intel Xeon with AVX-512 and on that AMD
    # EPYC (measured), about 13 on a slower AMD EPYC (predicted; benchmarks/RESULTS.md, "sixteenth",
    # "seventeenth", "nineteenth" and "twenty-fifth round")
    n_members=4,
    views=(1.0, 4 / 3, 2.0, 4.0),
    view_size="auto",
    # 45 epochs, AdamW weight decay 0.05 and training without early stopping were each
    # measured level with these on all three seeds (benchmarks/RESULTS.md, "fourth round")
    max_epochs=30,
    batch_size=64,
    lr=3e-3,
    weight_decay=5e-4,
    lr_schedule="onecycle",
    # stop on the protocol's validation loss, keeping the epoch with the lowest; epochs count
    # (as misses, and as candidates to keep) only once the one-cycle learning rate is below
    # half its peak (after epoch 20 of 30: one network kept its epoch 6 before, "sixteenth
    # round"). Patience 5 then stopped networks at epoch 25 while the loss was still falling,
    # and lost 1.5 points of test accuracy (benchmarks/RESULTS.md, "sixth round")
    early_stopping=True,
    n_iter_no_change=10,
)

#: Parameters of the optional training-time :class:`skface.preprocessing.Augmenter`
#: (``make_recommended_pipeline(augment=True)``, ``skface train --augment``); the recipe trains
#: without it, for the reasons given under ``augment`` in :func:`make_recommended_pipeline`.
#: Blur only: a Gaussian of 0.1-1 px on half the training images. Until the twenty-second
#: round of benchmarks/RESULTS.md this was the full augmentation of Wang et al.
#: (``Augmenter()`` with its defaults: flips, crops, colour jitter, blur and JPEG at 0.1),
#: which blur alone matched in accuracy on clean, re-saved and blurred test images while
#: ranking them, and faces from sources left out of training, better (ROC-AUC 0.838 against
#: 0.825 there over six split seeds, higher on five; both with the format step the recipe
#: had then) and training faster.
RECOMMENDED_AUGMENT_PARAMS = dict(
    flip_prob=0.0,
    crop_prob=0.0,
    jitter_prob=0.0,
    jpeg_prob=0.0,
    blur_prob=0.5,  # blur_sigma: the Augmenter's default, 0.1-1 px
)

#: JPEG quality of the optional format normalisation step
#: (``make_recommended_pipeline(normalize_format=True)``, ``skface train --normalize-format``).
RECOMMENDED_JPEG_QUALITY = 90


@validate_params(
    {
        "size": [Interval(Integral, 8, None, closed="left")],
        "augment": ["boolean"],
        "normalize_format": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "device": [str, torch.device],  # as FaceCNNClassifier takes it
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def make_recommended_pipeline(size=128, *, augment=False, normalize_format=False,
                              random_state=None, n_jobs=None, memory=None, device="auto",
                              verbose=0):
    """Build the recommended real-vs-generated face detector, unfitted.

    A :class:`~sklearn.pipeline.Pipeline` of three steps that is fitted on image file paths:

    1. ``"load"``: :class:`skface.preprocessing.ImageLoader` decodes each file and resizes it
       (centre crop) to ``size`` x ``size`` RGB, kept as ``uint8``.
    2. ``"format"``: ``"passthrough"`` (the loaded pixels go to the classifier as they are),
       or with ``normalize_format=True`` a :class:`skface.preprocessing.FormatNormalizer` that
       re-encodes every image as a JPEG of quality :data:`~skface.RECOMMENDED_JPEG_QUALITY`.
    3. ``"clf"``: :class:`skface.FaceCNNClassifier` with the recipe in
       :data:`~skface.RECOMMENDED_CLASSIFIER_PARAMS`, trained without augmentation unless
       ``augment=True``: four small networks trained from different seeds, each on its own
       view of the face (the whole image, its middle 3/4 and its middle half at
       ``size // 2`` pixels, and its middle quarter at ``size // 4``), whose probabilities
       are averaged (``n_members=4``; ``pipeline.set_params(clf__n_members=1)`` trains only
       the whole-image network, in less than a third of the time).

    The recipe was chosen on the validation split of the shared development faces; the
    measurements are in ``benchmarks/RESULTS.md`` and ``benchmarks/bench_quality.py``
    reproduces the final figures.

    Parameters
    ----------
    size : int, default=128
        Side of the square images the loader produces, in pixels. Each network sees its view
        (``clf__views``) at half this side, or at the view's own side where that is smaller
        (``clf__view_size="auto"``, resolved from the images the pipeline is fitted on, so
        that ``pipeline.set_params(load__size=...)`` or a grid over it keeps the rule): the
        whole image down-scaled 2x, its middle 3/4 down-scaled
        1.5x, and its middle half and middle quarter at full detail (64, 64, 64 and 32 px at
        the default 128). The recipe was tuned at 128; training costs roughly
        ``(size / 128) ** 2`` times as much at other sizes.
    augment : bool, default=False
        Train with :class:`skface.preprocessing.Augmenter`
        (:data:`~skface.RECOMMENDED_AUGMENT_PARAMS`: a Gaussian blur of 0.1-1 px on half the
        training images, nothing else). Off in the recipe: on the development faces (four
        networks, no format step, split seeds 0-2),
        networks trained with it scored level on clean test images (accuracy 0.839 against
        0.838, ROC-AUC 0.930 against 0.932) and higher on test images blurred with a 1.5 px
        Gaussian (0.835 against 0.806, ROC-AUC 0.925 against 0.918), but lower on faces from
        sources left out of training, on each seed (accuracy 0.802 against 0.826, ROC-AUC
        0.860 against 0.882; benchmarks/RESULTS.md, "twenty-second" and "twenty-third
        round"). Turn it on when the images to judge may have been blurred or softened on
        their way to you. It costs about a fifth more training time. ``Augmenter()`` with
        its defaults gives the fuller augmentation of Wang et al. (flips, crops, colour
        jitter, blur, JPEG), which was this variant until the twenty-second round: measured
        with the format step, about as accurate as blur alone on clean, re-saved and blurred
        test images, with lower ROC-AUC on each and on unseen sources.
    normalize_format : bool, default=False
        Re-encode every loaded image as a JPEG of quality 90
        (:class:`skface.preprocessing.FormatNormalizer`) before the classifier sees it, so
        that all images carry the same compression traces. Off in the recipe since the
        twenty-third round of benchmarks/RESULTS.md: on the development faces (four networks,
        split seeds 0-5) networks trained and judged without it scored level or higher on the
        test images (accuracy 0.843 against 0.837, F1 0.834 against 0.826, ROC-AUC 0.935
        against 0.932; higher on four seeds of six), higher on faces from sources left out of
        training (accuracy 0.806 against 0.792, ROC-AUC 0.863 against 0.856), and level on
        test images re-saved as PNG, as JPEG of quality 50 or 30, blurred or shrunk (seeds
        0-2). Re-encoding does not erase the traces an image already carries; it adds one
        more layer of them. Turn it on to compare with models trained before that round, or
        when :func:`skface.datasets.audit_shortcuts` finds that the classes differ in file
        format or JPEG quality and a measurement shows that it helps on your data.
    random_state : int, RandomState instance or None, default=None
        Seed of the classifier (weights, data order, and augmentation when it is on).
    n_jobs : int, default=None
        Parallel image decoding (joblib semantics).
    memory : str, path-like or joblib.Memory, default=None
        Cache folder for decoded images (see :class:`~skface.preprocessing.ImageLoader`).
    device : str or torch.device, default="auto"
        Where the network trains and predicts.
    verbose : int, default=0
        Progress output of the loader and the classifier.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"load"``, ``"format"`` and ``"clf"``; change any part with
        ``pipeline.set_params(clf__max_epochs=..., load__memory=...)``. The ``"format"`` step
        stays in the pipeline when it passes images through, so that a grid search can try
        both: ``{"format": ["passthrough", FormatNormalizer(90)]}``.

    Examples
    --------
    >>> from skface import make_recommended_pipeline
    >>> pipe = make_recommended_pipeline(size=64, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['load', 'format', 'clf']
    >>> # pipe.fit(paths, y); pipe.predict_proba(new_paths)
    """
    from .preprocessing import Augmenter, FormatNormalizer, ImageLoader

    clf = FaceCNNClassifier(
        **RECOMMENDED_CLASSIFIER_PARAMS,
        augment=Augmenter(**RECOMMENDED_AUGMENT_PARAMS) if augment else None,
        device=device,
        random_state=random_state,
        verbose=verbose,
    )
    return Pipeline([
        ("load", ImageLoader(size=size, n_jobs=n_jobs, memory=memory, verbose=verbose)),
        ("format", FormatNormalizer(quality=RECOMMENDED_JPEG_QUALITY) if normalize_format
         else "passthrough"),
        ("clf", clf),
    ])
