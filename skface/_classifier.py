"""FaceCNNClassifier: a scikit-learn classifier that builds and trains a skorch CNN in ``fit``."""

import hashlib
import io
import json
import math
import time
import warnings
from copy import deepcopy
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skorch import NeuralNet
from skorch.callbacks import (Callback, EarlyStopping, LRScheduler, PassthroughScoring,
                              ProgressBar)
from skorch.helper import predefined_split
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_array
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (_check_feature_names, check_consistent_length,
                                      check_is_fitted, column_or_1d)
from tqdm.auto import tqdm

from .nn import (FaceCNN, FocalLoss, ProbabilityAverage, RotationTask, crop_view,
                 rotated_copies, view_box)
from .utils import (
    atomic_write_bytes,
    atomic_write_text,
    check_image_array,
    check_seed,
    make_torch_generator,
    native_bfloat16,
    python_value,
    resolve_device,
    resolve_precision,
    reuse_freed_memory,
    torch_seeded,
)
from .utils._io import interrupt_deferred
from .utils._labels import check_label_kinds
from .utils._random import torch_rng_preserved
from .utils._validation import float_pixel_range, integer_pixels_as_uint8

#: Version of the folder layout written by :meth:`FaceCNNClassifier.save`.
MODEL_FORMAT = 1
#: Share of the one-cycle schedule spent raising the learning rate (torch's default).
_ONECYCLE_WARMUP = 0.3
_CONFIG_NAME = "config.json"
_WEIGHTS_NAME = "weights.pt"
# a first-epoch training loss below this means no gradient to learn from (see
# FaceCNNClassifier._check_learning_signal): at random weights it is near log 2 times the focal
# factor, 0.17 for gamma=2 and 7e-4 for gamma=10
_NO_SIGNAL_LOSS = 1e-6


# --------------------------------------------------------------------------------------------
# data plumbing: images stay uint8 until a batch is made


class _ImageDataset(torch.utils.data.Dataset):
    """Images ``(N, C, H, W)`` (uint8 or float32, possibly a strided view) and integer targets.

    ``indices`` selects a subset without copying the images (the validation split of a large
    uint8 array costs only its index array). ``__getitems__`` lets the DataLoader fetch a whole
    batch with one fancy-indexing call, so images become float only batch by batch.
    """

    def __init__(self, X, y=None, indices=None, flip=False):
        if isinstance(X, np.ndarray):
            if any(stride < 0 for stride in X.strides):  # torch cannot view mirrored arrays
                X = np.ascontiguousarray(X)
            with warnings.catch_warnings():
                # a read-only array (pandas' copy-on-write, a memory map) is only ever read
                # here, by indexing: torch's warning about writing to it does not apply
                warnings.filterwarnings("ignore", message="The given NumPy array is not "
                                        "writable", category=UserWarning)
                X = torch.from_numpy(X)
        self.X = X
        self.y = None if y is None else torch.as_tensor(y, dtype=torch.long)
        self.indices = None if indices is None else torch.as_tensor(indices, dtype=torch.long)
        self.flip = flip

    def __len__(self):
        return len(self.X) if self.indices is None else len(self.indices)

    def _batch(self, idx):
        rows = idx if self.indices is None else self.indices[idx]
        xb = self.X[rows]
        if self.flip:
            xb = torch.flip(xb, dims=(-1,))
        yb = self.y[rows] if self.y is not None else torch.zeros(len(idx), dtype=torch.long)
        return xb, yb

    def __getitem__(self, i):
        xb, yb = self._batch(torch.as_tensor([i]))
        return xb[0], yb[0]

    def __getitems__(self, indices):
        return self._batch(torch.as_tensor(indices))


class _Collate:
    """Turns a fetched batch into float32 (uint8 / 255), augments it when training, then cuts a
    network's view out of it (``zoom``, ``view_size``: see :func:`skface.nn.crop_view`)."""

    def __init__(self, augment=None, rng=None, zoom=1.0, view_size=None):
        self.augment = augment
        self.rng = rng
        self.zoom = zoom
        self.view_size = view_size

    def __call__(self, data):
        if isinstance(data, tuple):  # from __getitems__
            xb, yb = data
        else:  # a list of samples (a DataLoader without batched fetch)
            xb = torch.stack([d[0] for d in data])
            yb = torch.stack([d[1] for d in data])
        if xb.dtype == torch.uint8:
            xb = xb.float().div_(255.0)
        else:
            xb = xb.float()
        if self.augment is not None:
            xb = self.augment.augment_batch(xb, self.rng)
        xb = crop_view(xb, self.zoom, self.view_size)
        return xb.contiguous(), yb


class _TailMergingBatchSampler(torch.utils.data.Sampler):
    """Shuffled batches of ``batch_size``; a last batch of a single sample joins the one before.

    Batch-norm cannot train on one value per channel, which a 1-sample batch of 1x1 feature
    maps would be. No sample is dropped.
    """

    def __init__(self, n, batch_size, generator):
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator).tolist()
        batches = [order[i:i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        if len(batches) > 1 and len(batches[-1]) == 1 and self.batch_size > 1:
            batches[-2].extend(batches.pop())
        return iter(batches)

    def __len__(self):
        full, rest = divmod(self.n, self.batch_size)
        if rest == 1 and full > 0 and self.batch_size > 1:
            return full
        return full + (rest > 0)


def _warn_if_float_pixels(X, name):
    """Warn when float images reach above 1: most likely 8-bit pixels cast to float, which a
    model fitted on uint8 (scaled by 1/255) would read 255 times too bright. Floats are used
    as given, so this is a warning, not an error (standardised or other float data is legal)."""
    span = float_pixel_range(X)
    if span is not None:
        top = span[1]
        if top > 1.0:
            warnings.warn(
                f"{name} holds float values up to {top:.8g}; FaceCNNClassifier expects float "
                "images in [0, 1] and uses floats as given. If these are 8-bit pixels, pass "
                "them as uint8 (scaled by 1/255), for fitting and predicting alike.",
                UserWarning, stacklevel=3)
    return X


def _is_fitted_attribute(name):
    """Whether ``name`` is one of the attributes ``fit`` sets (scikit-learn's ``name_``)."""
    return name.endswith("_") and not name.startswith("_")


def _member_seed(seed, k):
    """Seed of ensemble member ``k`` (member 0 uses ``seed`` itself)."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0])


def _train_loader(dataset, batch_size, generator=None, **kwargs):
    """The training iterator skorch calls: shuffled, tail-merged batches."""
    kwargs.pop("shuffle", None)
    sampler = _TailMergingBatchSampler(len(dataset), batch_size, generator)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, **kwargs)


def _high_lr_epochs(lr_schedule, max_epochs):
    """Number of epochs at the start of a fit whose learning rate is above about half its peak.

    One-cycle: the warm-up (30 % of the steps) and the first half of the cosine annealing that
    follows, 65 % of ``max_epochs`` in all, rounded up. Cosine (per epoch, from ``lr`` to 0):
    the first half, rounded up (with an even ``max_epochs`` the epoch after it runs at exactly
    half the peak, and counts). A constant learning rate (``None``): none.
    """
    share = {"onecycle": _ONECYCLE_WARMUP + (1 - _ONECYCLE_WARMUP) / 2, "cosine": 0.5}
    return math.ceil(share.get(lr_schedule, 0.0) * int(max_epochs))


class _AnnealedEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping``, except that the first ``grace_epochs`` epochs are ignored.

    While a schedule holds the learning rate high (a one-cycle warm-up and the start of its
    annealing), the validation loss jumps from epoch to epoch and the lowest losses of a run
    usually come later, once the rate has come down (``benchmarks/RESULTS.md``, "sixth
    round"): misses in those epochs say nothing about whether training has stopped improving,
    and a low loss there is a lucky draw of a half-trained network, not the epoch to keep
    (a network of the recipe kept its epoch 6 of 30 that way, and its ensemble scored 1.5
    points lower; "sixteenth round"). Those epochs count no misses and are not candidates for
    the best epoch; when no epoch follows them, the last epoch's weights stay.

    Two more departures from skorch's: the kept epoch is the one of the lowest validation loss,
    ``threshold`` (the estimator's ``tol``) only deciding which epochs count as progress for
    the patience (with ``tol > 0`` skorch kept the last epoch that beat the previous best by
    ``tol``, not the best one, as scikit-learn's ``MLPClassifier`` does); and the epoch that
    stops training is printed like the others (skorch's log comes after this callback, and
    stopping skipped it).
    """

    def __init__(self, *args, grace_epochs=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.grace_epochs = grace_epochs

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.best_score_ = np.inf

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) <= self.grace_epochs:
            return
        score = net.history[-1, self.monitor]
        if score < self.best_score_:  # the weights to keep (valid_loss: lower is better)
            self.best_score_ = score
            self.best_epoch_ = net.history[-1, "epoch"]
            if self.load_best:
                self.best_model_weights_ = deepcopy(net.module_.state_dict())
        if self._is_score_improved(score):  # progress, for the patience: by more than tol
            self.misses_ = 0
            self.dynamic_threshold_ = self._calc_new_threshold(score)
        else:
            self.misses_ += 1
        if self.misses_ == self.patience:
            later = False
            for _, callback in getattr(net, "callbacks_", ()):  # the log and bar, this epoch
                if later:
                    callback.on_epoch_end(net, **kwargs)
                later = later or callback is self
            if net.verbose:
                self._sink(f"Stopping since {self.monitor} has not improved by more than "
                           f"{self.threshold:g} in the last {self.patience} epochs.",
                           verbose=net.verbose)
            raise KeyboardInterrupt


class _EpochEndWeights(Callback):
    """Keeps a copy of the module's weights as they were at the end of the last finished epoch.

    Ctrl-C stops skorch's loop where it is, mid-epoch; where early stopping has no best epoch
    to restore (none yet, no validation set, or the high-rate epochs of the one-cycle
    schedule), these weights are put back, so that the kept network is the epoch that
    ``best_epoch_`` names and not a half-trained step of the next one.
    """

    def on_train_begin(self, net, **kwargs):
        self.weights_ = None

    def on_epoch_end(self, net, **kwargs):
        self.weights_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


class _EpochAccuracy(Callback):
    """Records ``train_acc`` and ``valid_acc`` from the predictions the loop already made."""

    def on_epoch_begin(self, net, **kwargs):
        self._counts = {True: [0, 0], False: [0, 0]}

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
        if y_pred is None:
            return
        yb = batch[1].to(y_pred.device)
        counts = self._counts[bool(training)]
        counts[0] += int((y_pred.argmax(1) == yb).sum())
        counts[1] += len(yb)

    def on_epoch_end(self, net, **kwargs):
        for training, key in ((True, "train_acc"), (False, "valid_acc")):
            correct, total = self._counts[training]
            if total:
                net.history.record(key, correct / total)


_SAME_AS_MODULE_ = "skface: the module is module_"  # in a pickled _Net (a string pickles as itself)


class _Net(NeuralNet):
    """skorch net that feeds its module channels-last inputs when ``channels_last`` is set and
    runs the forward pass under bf16 autocast when ``bf16`` is set (attributes, set by the
    estimator), with non-blocking copies on CUDA. With ``rotation_weight > 0`` its module is a
    :class:`skface.nn.RotationTask`, and each training step adds rotated copies of half the
    batch (:func:`skface.nn.rotated_copies`) and that weight times their rotation loss."""

    bf16 = False
    channels_last = False
    rotation_weight = 0.0

    def __getstate__(self):
        # skorch pickles module_ (with the optimizer and criterion) through a path that a
        # machine without CUDA can load, but not the module instance the net was built from,
        # which is module_ itself: pickled as is, a net trained on a GPU could not be loaded
        # on a CPU. It is restored from module_ instead.
        state = super().__getstate__()
        if state.get("module") is not None and state.get("module") is self.__dict__.get(
                "module_"):
            state["module"] = _SAME_AS_MODULE_
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        # skorch leaves a torch.device where CUDA was asked for and is missing; skface passes
        # devices around as strings
        self.device = str(self.device)
        if torch.device(self.device).type != "cuda":
            # trained on a GPU, loaded on a CPU: pinned batches only made every predict warn
            # that no accelerator is found
            for key in ("iterator_train__pin_memory", "iterator_valid__pin_memory"):
                if getattr(self, key, False):
                    setattr(self, key, False)
        module = self.__dict__.get("module")
        if isinstance(module, str) and module == _SAME_AS_MODULE_:
            self.module = self.module_

    def _forward(self, method, x, **fit_params):
        """Run ``method`` of the module on batch ``x`` on the net's device, layout and
        precision; float32 output (a tensor or a tuple of tensors)."""
        device = torch.device(self.device)
        x = x.to(device, non_blocking=device.type == "cuda")
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return method(x, **fit_params)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = method(x, **fit_params)
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()

    def infer(self, x, **fit_params):
        return self._forward(self.module_, x, **fit_params)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        if self.rotation_weight > 0:
            # the copies are made where the batch is computed (on a GPU, after the transfer)
            device = torch.device(self.device)
            x, turns = rotated_copies(Xi.to(device, non_blocking=device.type == "cuda"))
            y_pred, turn_logits = self._forward(self.module_.forward_with_rotation, x,
                                                n_upright=len(Xi), **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            rotation_loss = F.cross_entropy(turn_logits, turns)
            (loss + self.rotation_weight * rotation_loss).backward()
            # train_loss stays the class loss alone, comparable with valid_loss
            self.history.record_batch("train_rotation_loss", rotation_loss.item())
        else:
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            loss.backward()
        return {"loss": loss, "y_pred": y_pred}


# --------------------------------------------------------------------------------------------


class FaceCNNClassifier(ClassifierMixin, BaseEstimator):
    """A small convolutional network with optional attention, as a scikit-learn classifier.

    The estimator builds a :class:`skface.nn.FaceCNN` and a skorch net in :meth:`fit`, trains it
    with AdamW, optional focal loss and early stopping on validation loss, and restores the
    weights of the best validation epoch.

    Parameters
    ----------
    attention : {None, "se", "cbam", "nonlocal"}, default=None
        Attention block inserted after the stages named by ``attention_stages``.
    attention_stages : sequence of int, default=None
        Zero-based stages followed by an attention block. ``None`` puts SE and CBAM after every
        stage and the non-local block on the last (lowest-resolution) stage. Unused when
        ``attention`` is None, so that a grid over ``attention`` (None among the values) can
        keep one set of stages.
    reduction : int, default=16
        Reduction ratio of the SE and CBAM bottlenecks.
    gamma : float, default=0.0
        Focal-loss focusing parameter; 0 is (weighted) cross-entropy. Values from 0 to 5 are
        usual; a much larger one weighs every image near zero, so that the network learns next
        to nothing, and fit warns when the first epoch's loss shows it.
    class_weight : {None, "balanced"} or dict, default=None
        Per-class loss weights (``alpha_t`` of the focal loss). ``"balanced"`` uses
        ``n_samples / (n_classes * bincount(y))`` on the training part.
    balance : {None, "oversample", "undersample"}, default=None
        Resample the training part, once per fit, so that every class is equally represented
        (:func:`skface.datasets.balance_indices`, the function behind ``skface build
        --balance``). ``"oversample"`` repeats randomly drawn images of the smaller classes
        until each class matches the largest; ``"undersample"`` trains on a random subset of
        each larger class the size of the smallest, leaving the other images out of training
        (``train_class_counts_`` records what was used). The validation part, ``X_val`` or the
        held-out ``validation_fraction``, is resampled the same way, so that early stopping
        watches a loss in which the classes weigh the same. Only indices are repeated, never
        the images. None trains on the data as given. With ``class_weight="balanced"`` as
        well, the weights are computed after resampling (all 1 for two classes).
    label_smoothing : float, default=0.0
        Label smoothing in ``[0, 1)``.
    width : int, default=32
        Channels of the first stage; stage ``i`` has ``width * 2**i`` (at most 512).
    depth : int, default=4
        Number of stages (each but the last halves the resolution).
    convs_per_block : int, default=1
        3x3 convolutions per stage.
    residual : bool, default=False
        Use residual blocks.
    dropout : float, default=0.3
        Dropout before the linear head.
    head_grid : int, default=1
        Average-pool each network's last feature map to ``head_grid x head_grid`` cells
        before the linear head (see :class:`skface.nn.FaceCNN`). 1 is global average pooling;
        larger values let the head weigh a feature by where it sits in the face, which only
        means something for aligned faces. Not in the recommended configuration: on the
        development faces ``head_grid=4`` scored higher on test images from the training
        sources and lower on sources left out of training (``benchmarks/RESULTS.md``,
        "twentieth round").
    space_to_depth : int, default=1
        Fold each ``s x s`` pixel block into channels before the first stage, so that a
        ``s`` times larger image costs about as much as the smaller one while keeping every
        pixel (see :class:`skface.nn.FaceCNN`). Image sides must be multiples of it.
    views : sequence of float >= 1, default=None
        Multi-view ensembles: network ``k`` looks at the centred ``1 / views[k]`` of each image
        (cycling through ``views`` when it is shorter than ``n_members``; when it is longer, the
        views past the first ``n_members`` are not used), resized to
        ``view_size``. With ``ImageLoader(size=128)``, ``views=(1, 4/3, 2)`` and
        ``view_size=64``, one network sees the whole face at 64 px and the others its middle
        at 1.3 and 2 times that detail, for the cost of three 64 px networks. Networks that
        look at different views make more different mistakes than networks that differ only
        by seed, so their average gains more. None: every network sees the whole image.
        In training, ``augment`` transforms the whole image and each network then cuts its
        view out of the result.
    view_size : int, sequence of int, "auto" or None, default=None
        Side of the square each view is resized to; None keeps the crop's own size. A
        sequence gives each view its own side, one entry per entry of ``views`` (one entry
        when ``views`` is None): with ``ImageLoader(size=128)``, ``views=(1, 4/3, 2, 4)`` and
        ``view_size=(64, 64, 64, 32)`` add a fourth network that sees the middle quarter at
        the full 128 px detail, at about a third of the cost of a 64 px one. ``"auto"`` (the
        recommended configuration) picks those sides from the images ``fit`` gets: half the
        images' shorter side, or the view's own side where that is smaller, so that no view
        is up-sampled (64, 64, 64 and 32 for 128 px images and those views; 32, 32, 32 and
        16 for 64 px images).
    image_shape : tuple of int, default=None
        ``(C, H, W)`` or ``(H, W)`` to unflatten 2-D input. Without it, a 2-D ``X`` of shape
        ``(n, F)`` is read as one-channel ``1 x F`` images.
    augment : object, default=None
        Training-time augmentation, e.g. :class:`skface.preprocessing.Augmenter`: an object
        with ``augment_batch(X, rng)`` mapping a float batch in ``[0, 1]`` to one of the same
        shape. Applied to training batches only, never at predict time.
    tta : bool, default=False
        Average the predicted probabilities of each image and its horizontal mirror.
    rotation_weight : float >= 0, default=0.0
        Weight of a self-supervised task trained beside the classification
        (:class:`skface.nn.RotationTask`): every training batch also holds copies of half
        its images, each turned by 90, 180 or 270 degrees, and a second linear head on the
        network's pooled features learns which turn it was. This weight times that head's
        cross-entropy is added to the loss. The class loss sees the upright images only, and
        the head is dropped after training, so prediction and saved models are unchanged.
        It costs about half as much again per epoch; 0 switches it off. The views the networks
        see must be square. On the development faces (the recommended ensemble, weight 0.5)
        it raised test accuracy on the training sources on four split seeds of five and
        lowered it on sources left out of training on five of six, so the recommended
        configuration leaves it off (``benchmarks/RESULTS.md``, "twenty-fourth round").
    n_members : int, default=1
        Number of networks to train, each from its own seed (weights, data order,
        augmentation) on the same data; their predicted probabilities are averaged (a deep
        ensemble). Training time grows linearly with it.
    max_epochs : int, default=30
    batch_size : int, default=64
        Images per training step. A last batch of one image joins the one before it, since
        batch normalisation needs two values per channel; ``batch_size=1`` trains only while the
        last feature map is larger than 1 x 1.
    lr : float, default=1e-3
        Peak learning rate of AdamW.
    weight_decay : float, default=1e-4
        AdamW weight decay.
    lr_schedule : {"onecycle", "cosine"} or None, default="onecycle"
        One-cycle (per batch) or cosine (per epoch) schedule over ``max_epochs``; None keeps
        ``lr`` constant.
    early_stopping : bool, default=True
        Stop when the validation loss has not improved for ``n_iter_no_change`` epochs and
        restore the best epoch's weights. The validation data are ``X_val, y_val`` when given
        to :meth:`fit`, otherwise a stratified ``validation_fraction`` of ``X``.
        While the learning-rate schedule holds the rate at half its peak or more (the first
        65 % of ``max_epochs`` with one-cycle, the first half with cosine), epochs count no
        misses and are not candidates for the best epoch.
    validation_fraction : float, default=0.15
        Share of ``X`` held out when early stopping without ``X_val``. The rows are drawn at
        random (stratified): when ``X`` may hold copies of one picture, pass ``X_val`` split by
        duplicate group (:func:`skface.datasets.train_val_test_split` with ``groups``), or a
        copy of a training image can sit in the held-out part.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    tol : float, default=0.0
        Minimum decrease of the validation loss that counts as an improvement for the
        patience (``n_iter_no_change``); the kept epoch is still the one of the lowest loss.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``... On CUDA the
        net runs with pinned, non-blocking copies.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What the network computes in, in training and prediction. ``"bfloat16"``: bfloat16
        autocast on channels-last tensors (weights, optimiser and loss stay float32).
        ``"auto"``: bfloat16 where the device computes it natively, on CUDA and on CPUs with
        Intel AMX units (Xeon 4th generation and later; 2-3x faster training on 2 cores
        there) or AVX-512 BF16 instructions (AMD EPYC from Zen 4 on; 1.65x on 2 cores of
        one), float32 elsewhere (see :func:`skface.utils.native_bfloat16`). Results differ
        from float32 in the last digits, so a model can score slightly differently on
        machines of the two kinds. ``"float32"`` computes in full precision, except that on
        CUDA PyTorch's default lets cuDNN run convolutions in TF32 (an H200 gave probabilities
        within 2e-4 of the CPU's; ``torch.backends.cudnn.allow_tf32 = False`` turns it off).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, data order, augmentation and the validation split.
        The global RNG state is left as it was (an int seed leaves numpy's untouched; None
        draws one number from it, as in scikit-learn). A seed repeats a fit exactly on the
        CPU, and did on an H200 in the test suite, but cuDNN does not promise
        bitwise-identical results for every kernel and card. torch's global generator is one
        per process, so fits and predictions in threads of one process take turns (use
        processes, joblib's default, to run them side by side).
    verbose : int, default=0
        1 prints one line per epoch and shows a tqdm progress bar while predicting on more
        than one batch of images; 2 also shows a progress bar per training epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        ``C * H * W`` of the training images.
    feature_names_in_ : ndarray of str
        The column names (``n_features_in_`` of them) of a data frame of flattened images given
        to ``fit``; only then defined.
    image_shape_ : tuple of int
        ``(C, H, W)`` of the training images.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the :class:`skface.nn.FaceCNN`, or with
        several members a :class:`skface.nn.ProbabilityAverage` of them.
    history_ : list of dict
        One dict per epoch with ``epoch`` (1-based), ``train_loss``, ``valid_loss``,
        ``train_accuracy``, ``valid_accuracy`` (None without validation) and ``dur`` (seconds),
        of the first network (``members_`` has every network's). ``train_loss`` is the class
        loss alone; with ``rotation_weight > 0`` a ``train_rotation_loss`` column holds the
        rotation head's cross-entropy (0 when always right; about 1.0 for a head that only
        learnt how often each turn occurs, since about two thirds of its images are upright,
        and 1.39 for a uniform guess).
    best_epoch_ : int
        The epoch whose weights were kept (1-based), of the first network.
    n_epochs_ : int
        Epochs actually run by the first network.
    members_ : list of dict
        One dict per trained network: ``seed``, ``n_epochs``, ``best_epoch``, ``interrupted``,
        ``fit_time``, ``history`` and ``module`` (the :class:`skface.nn.FaceCNN` arguments it
        was built with; absent from models saved before it was recorded).
    n_params_ : int
        Number of trainable parameters (all networks together).
    train_class_counts_ : ndarray of shape (n_classes,)
        Training images per class that the networks learned from, after ``balance`` (a
        repeated image counts each time). None on a model :meth:`load`-ed from a folder
        saved before this attribute existed.
    interrupted_ : bool
        True when training was stopped by Ctrl-C (``fit`` then raised ``KeyboardInterrupt``
        after keeping what finished; see :meth:`fit`): the best weights so far of the first
        network, and with ``n_members > 1`` the networks that finished before (fewer than
        ``n_members`` then).
    fit_time_ : float
        Wall time of the training loops in seconds (all networks together).
    precision_ : {"float32", "bfloat16"}
        What the network computes in on this machine (``precision`` resolved for the device
        it was trained on, or loaded to).

    Examples
    --------
    >>> import numpy as np
    >>> from skface import FaceCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(40, 3, 16, 16), dtype=np.uint8)
    >>> y = np.repeat([0, 1], 20)
    >>> clf = FaceCNNClassifier(width=4, depth=2, max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    # predict() is the class of highest predict_proba(): skface.metrics.evaluate then takes
    # both from one pass over the images
    _predict_is_proba_argmax = True

    _parameter_constraints = {
        "attention": [StrOptions({"se", "cbam", "nonlocal"}), None],
        "attention_stages": ["array-like", None],
        "reduction": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "balance": [StrOptions({"oversample", "undersample"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "convs_per_block": [Interval(Integral, 1, None, closed="left")],
        "residual": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "head_grid": [Interval(Integral, 1, None, closed="left")],
        "space_to_depth": [Interval(Integral, 1, None, closed="left")],
        "views": ["array-like", None],
        "view_size": [Interval(Integral, 1, None, closed="left"), "array-like",
                      StrOptions({"auto"}), None],
        "image_shape": [tuple, list, None],
        "augment": [HasMethods(["augment_batch"]), None],
        "tta": ["boolean"],
        "rotation_weight": [Interval(Real, 0, None, closed="left")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"onecycle", "cosine"}), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        attention=None,
        attention_stages=None,
        reduction=16,
        gamma=0.0,
        class_weight=None,
        balance=None,
        label_smoothing=0.0,
        width=32,
        depth=4,
        convs_per_block=1,
        residual=False,
        dropout=0.3,
        head_grid=1,
        space_to_depth=1,
        views=None,
        view_size=None,
        image_shape=None,
        augment=None,
        tta=False,
        rotation_weight=0.0,
        n_members=1,
        max_epochs=30,
        batch_size=64,
        lr=1e-3,
        weight_decay=1e-4,
        lr_schedule="onecycle",
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=5,
        tol=0.0,
        device="auto",
        precision="auto",
        random_state=None,
        verbose=0,
    ):
        self.attention = attention
        self.attention_stages = attention_stages
        self.reduction = reduction
        self.gamma = gamma
        self.class_weight = class_weight
        self.balance = balance
        self.label_smoothing = label_smoothing
        self.width = width
        self.depth = depth
        self.convs_per_block = convs_per_block
        self.residual = residual
        self.dropout = dropout
        self.head_grid = head_grid
        self.space_to_depth = space_to_depth
        self.views = views
        self.view_size = view_size
        self.image_shape = image_shape
        self.augment = augment
        self.tta = tta
        self.rotation_weight = rotation_weight
        self.n_members = n_members
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------- validation helpers

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.classifier_tags.poor_score = False
        return tags

    def _check_X(self, X, *, fitted, name="X"):
        # a data frame of flattened pixels: its column names are kept at fit and checked
        # after (columns in another order had been scored without a word)
        _check_feature_names(self, X, reset=not fitted)
        if not fitted:
            X = check_image_array(X, image_shape=self.image_shape, name=name)
        else:
            X = check_array(integer_pixels_as_uint8(X, name), allow_nd=True,
                            dtype=[np.float32, np.uint8], input_name=name)
            if X.ndim == 2 and X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"{name} has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
            X = check_image_array(X, image_shape=self.image_shape_,
                                  reset_shape=self.image_shape_, name=name)
        return _warn_if_float_pixels(X, name)

    def _encode(self, y, name="y"):
        y = column_or_1d(y, warn=True)
        check_label_kinds(y, name)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"{name} contains labels not seen during fit: {unseen.tolist()}; "
                f"the estimator knows {self.classes_.tolist()}."
            )
        return np.searchsorted(self.classes_, y)

    def _zooms(self):
        """The zoom of every view (``[1.0]`` without views), checked."""
        if self.views is None:
            return [1.0]
        try:
            zooms = [float(z) for z in np.asarray(self.views, dtype=object).ravel()]
        except (TypeError, ValueError):
            raise ValueError(f"views must be a sequence of numbers >= 1, got {self.views!r}.")
        if not zooms:
            raise ValueError("views is empty; pass None or at least one zoom factor >= 1.")
        bad = [z for z in zooms if not (math.isfinite(z) and z >= 1.0)]
        if bad:
            raise ValueError(f"views must hold finite zoom factors >= 1; got {bad}.")
        return zooms

    def _view_sizes(self):
        """The side of every view (one per entry of :meth:`_zooms`; None keeps the crop's
        size), checked. ``"auto"`` is resolved from the fitted ``image_shape_``."""
        zooms = self._zooms()
        n_views = len(zooms)
        if isinstance(self.view_size, str):  # "auto": at most 2x down-scaled, never up-sampled
            h, w = self.image_shape_[1:]
            return [max(1, min(min(h, w) // 2, *view_box(h, w, z)[2:])) for z in zooms]
        if isinstance(self.view_size, (bool, np.bool_)):  # True had trained 1-pixel views
            raise ValueError(f"view_size must be a positive int, a list of them, 'auto' or "
                             f"None; got {self.view_size!r}.")
        if self.view_size is None or isinstance(self.view_size, Integral):
            return [None if self.view_size is None else int(self.view_size)] * n_views
        sizes = np.asarray(self.view_size, dtype=object).ravel().tolist()
        if len(sizes) != n_views:
            raise ValueError(
                f"view_size holds {len(sizes)} sides for {n_views} "
                f"view{'s' if n_views != 1 else ''} (views={self.views!r}); give one side per "
                "view, or a single int for all.")
        bad = [v for v in sizes if isinstance(v, bool) or not isinstance(v, Integral) or v < 1]
        if bad:
            raise ValueError(f"view_size must hold positive ints; got {bad}.")
        return [int(v) for v in sizes]

    def _module_kwargs(self, member=0):
        zooms = self._zooms()
        view = member % len(zooms)
        stages = None if self.attention_stages is None else list(self.attention_stages)
        return dict(
            in_channels=int(self.image_shape_[0]),
            n_classes=len(self.classes_),
            width=int(self.width),
            depth=int(self.depth),
            convs_per_block=int(self.convs_per_block),
            residual=bool(self.residual),
            attention=self.attention,
            attention_stages=stages,
            reduction=int(self.reduction),
            dropout=float(self.dropout),
            space_to_depth=int(self.space_to_depth),
            head_grid=int(self.head_grid),
            zoom=zooms[view],
            view_size=self._view_sizes()[view],
        )

    def _class_weights(self, y_enc):
        if self.class_weight is None:
            return None
        n_classes = len(self.classes_)
        if self.class_weight == "balanced":
            present = np.unique(y_enc)
            if present.size < n_classes:
                raise ValueError(
                    "class_weight='balanced' needs every class in the training part; missing "
                    f"{self.classes_[np.setdiff1d(np.arange(n_classes), present)].tolist()}."
                )
            return compute_class_weight("balanced", classes=np.arange(n_classes), y=y_enc)
        unknown = [k for k in self.class_weight if k not in set(self.classes_.tolist())]
        if unknown:
            raise ValueError(
                f"class_weight has keys {unknown} that are not classes {self.classes_.tolist()}."
            )
        try:
            weights = np.array([float(self.class_weight.get(c, 1.0))
                                for c in self.classes_.tolist()])
        except (TypeError, ValueError):
            raise ValueError(f"class_weight values must be numbers; got "
                             f"{self.class_weight!r}.") from None
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"class_weight values must be finite and >= 0, got {weights}.")
        if not weights.any():
            raise ValueError(f"class_weight weighs every class 0 ({self.class_weight!r}): the "
                             "loss would ignore every image.")
        return weights

    def _balanced(self, y_enc, indices, seed, part):
        """Indices of the ``balance`` resample of the rows ``indices`` (all when None) of a
        part whose encoded labels are ``y_enc``; seeded as ``skface build`` seeds its parts."""
        from .datasets import balance_indices

        rows = np.arange(len(y_enc)) if indices is None else np.asarray(indices)
        counts = np.bincount(y_enc[rows], minlength=len(self.classes_))
        if np.count_nonzero(counts) < len(self.classes_):
            hint = ("" if part == "training" else
                    " Pass X_val and y_val holding every class, raise validation_fraction, or "
                    "set balance=None.")
            raise ValueError(
                f"balance={self.balance!r} needs every class in the {part} part; missing "
                f"{self.classes_[counts == 0].tolist()}.{hint}"
            )
        picked = rows[balance_indices(y_enc[rows], balance=self.balance, random_state=seed)]
        if self.verbose:
            after = np.bincount(y_enc[picked], minlength=len(self.classes_))
            print(f"balance={self.balance}: {part} part "
                  + ", ".join(f"{c!s} {a} -> {b}" for c, a, b
                              in zip(self.classes_.tolist(), counts, after)), flush=True)
        return picked

    def _validation_split(self, y_enc, seed):
        n = len(y_enc)
        n_classes = len(self.classes_)
        n_val = max(n_classes, math.ceil(self.validation_fraction * n))
        if n - n_val < n_classes:
            raise ValueError(
                f"Too few samples ({n}) to hold out a validation split of "
                f"validation_fraction={self.validation_fraction}; pass X_val and y_val to fit "
                "or set early_stopping=False."
            )
        # a class with a single sample trains: in the validation part the network would never
        # see it. The other samples are split stratified.
        counts = np.bincount(y_enc, minlength=n_classes)
        single = counts[y_enc] < 2
        rest = np.flatnonzero(~single)
        n_rest_classes = int(np.count_nonzero(counts >= 2))
        if n_val > len(rest) - n_rest_classes:
            raise ValueError(
                f"Too few samples ({n}, {int(single.sum())} of them the only one of their "
                f"class) to hold out a validation split of validation_fraction="
                f"{self.validation_fraction} with every class in training; pass X_val and "
                "y_val to fit or set early_stopping=False."
            )
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        train_rest, val_rest = next(splitter.split(np.zeros(len(rest)), y_enc[rest]))
        train_idx = np.concatenate([rest[train_rest], np.flatnonzero(single)])
        val_idx = rest[val_rest]
        # a class under about 1 / n_val of the samples got no held-out row (3 of 100: all 15
        # held out were of the other class), and early stopping watched a one-class loss
        absent = [c for c in np.flatnonzero(counts >= 2) if not np.any(y_enc[val_idx] == c)]
        if absent:
            rng = np.random.default_rng(seed)
            moved = [rng.choice(train_idx[y_enc[train_idx] == c]) for c in absent]
            train_idx = np.setdiff1d(train_idx, moved)
            val_idx = np.concatenate([val_idx, moved])
        return np.sort(train_idx), np.sort(val_idx)

    @staticmethod
    def _channel_stats(X, indices=None):
        """Per-channel mean and std (uint8 in [0, 1] units), chunk by chunk, without a float copy
        of the whole array."""
        rows = np.arange(len(X)) if indices is None else np.asarray(indices)
        c = X.shape[1]
        total = np.zeros(c)
        total_sq = np.zeros(c)
        count = 0
        if X.dtype == np.uint8:  # exact, from per-channel histograms of small chunks
            values = np.arange(256) / 255.0
            for start in range(0, len(rows), 64):
                chunk = X[rows[start:start + 64]]
                for ch in range(c):
                    hist = np.bincount(chunk[:, ch].ravel(), minlength=256)
                    total[ch] += hist @ values
                    total_sq[ch] += hist @ values**2
                count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
        else:
            for start in range(0, len(rows), 64):
                chunk = X[rows[start:start + 64]].astype(np.float64)
                total += chunk.sum(axis=(0, 2, 3))
                total_sq += (chunk**2).sum(axis=(0, 2, 3))
                count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        std[std < 1e-6] = 1.0
        return mean, std

    def _make_net(self, module, device, criterion_kwargs, callbacks=(), train_split=None,
                  collate=None, generator=None, valid_collate=None, bf16=False):
        pin = device.startswith("cuda")
        # channels-last is the memory layout cuDNN and oneDNN want; on a CPU without bfloat16
        # units it alone made a float32 fit of the recipe's network 1.1x faster
        # (benchmarks/RESULTS.md, "fifteenth round")
        channels_last = torch.device(device).type in ("cpu", "cuda")
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        net = _Net(
            module=module,
            criterion=FocalLoss,
            optimizer=torch.optim.AdamW,
            lr=float(self.lr),
            optimizer__weight_decay=float(self.weight_decay),
            max_epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            train_split=train_split,
            iterator_train=_train_loader,
            iterator_train__collate_fn=collate or _Collate(),
            iterator_train__generator=generator,
            iterator_train__pin_memory=pin,
            iterator_valid__collate_fn=valid_collate or _Collate(),
            iterator_valid__pin_memory=pin,
            callbacks=list(callbacks),
            predict_nonlinearity=None,
            device=device,
            verbose=int(self.verbose),
            **{f"criterion__{k}": v for k, v in criterion_kwargs.items()},
        )
        net.bf16 = bool(bf16)
        net.channels_last = channels_last
        return net

    def _predicting_net(self, module, device, precision):
        """A skorch net around trained ``module`` on ``device``, computing in ``precision``
        (resolved), for prediction only."""
        net = self._make_net(module, device, {"gamma": float(self.gamma)},
                             bf16=precision == "bfloat16")
        net.initialize()
        return net

    # ---------------------------------------------------------------- fit

    def fit(self, X, y, X_val=None, y_val=None):
        """Train the network.

        Parameters
        ----------
        X : array-like
            Images ``(N, C, H, W)``, ``(N, H, W, C)`` or ``(N, H, W)``, uint8 (scaled by 1/255;
            other integer types and nested lists of ints are 8-bit pixels too) or float (used
            as given; images are expected in ``[0, 1]``, and values above 1, most likely
            8-bit pixels cast to float, draw a ``UserWarning``), or 2-D flattened
            images (see ``image_shape``). A 4-D array is read channels-last when its last axis
            has 1, 3 or 4 entries and its second does not; give other channel counts
            channels-first.
        y : array-like of shape (N,)
            Labels of any type (e.g. 0/1 or "real"/"fake"); at least two classes.
        X_val, y_val : array-like, optional
            A fixed validation set (e.g. the protocol's validation split) for early stopping
            and the validation columns of ``history_``. Without it, early stopping holds out a
            stratified ``validation_fraction`` of ``X``.

        Returns
        -------
        self : FaceCNNClassifier

        Notes
        -----
        A fit that raises leaves the estimator as it was before the call: a fitted estimator
        keeps its previous model, classes and shapes, never the new classes beside the old
        network.

        Ctrl-C stops training and raises ``KeyboardInterrupt``, so that a script, a
        :class:`~sklearn.pipeline.Pipeline` or a :class:`~sklearn.model_selection.GridSearchCV`
        stops too. The estimator first keeps what finished: the best epoch so far of the first
        network (the last finished epoch where early stopping has none yet), and with
        ``n_members > 1`` the networks that finished before it; ``interrupted_`` is then True
        and the model predicts, saves and loads as usual. Ctrl-C before the first epoch ends
        keeps nothing: the estimator stays as it was.
        """
        before = {k: v for k, v in vars(self).items() if _is_fitted_attribute(k)}
        try:
            self._fit(X, y, X_val, y_val)
        except BaseException:
            for k in [k for k in vars(self) if _is_fitted_attribute(k)]:
                delattr(self, k)
            vars(self).update(before)
            raise
        if self.interrupted_:  # the model keeps what finished; the caller stops all the same
            raise KeyboardInterrupt(self._interruption_message())
        return self

    def _fit(self, X, y, X_val, y_val):
        self._validate_params()
        X = self._check_X(X, fitted=False)
        if y is None:
            raise ValueError("FaceCNNClassifier requires y to be passed, but the target y is None.")
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_label_kinds(y)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"FaceCNNClassifier needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {self.classes_.tolist()}."
            )
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        block = int(self.space_to_depth)
        zooms, sides = self._zooms(), self._view_sizes()
        # only the views a network looks at: with fewer networks than views the rest are unused
        for k in range(min(int(self.n_members), len(zooms))):
            zoom, side = zooms[k], sides[k]
            _, _, vh, vw = view_box(*self.image_shape_[1:], zoom)
            if side is not None:
                vh = vw = side
            if vh % block or vw % block:
                raise ValueError(
                    f"space_to_depth={block} needs a network input whose height and width are "
                    f"multiples of {block}; the images are {self.image_shape_[1]}x"
                    f"{self.image_shape_[2]} and the network sees {vh}x{vw}.")
            if self.rotation_weight > 0 and vh != vw:
                raise ValueError(
                    f"rotation_weight > 0 turns training images by 90 degrees, which needs "
                    f"square network inputs; the images are {self.image_shape_[1]}x"
                    f"{self.image_shape_[2]} and the network sees {vh}x{vw}. Set view_size, "
                    "load square images, or use rotation_weight=0.")
            last = [vh // block, vw // block]
            for _ in range(int(self.depth) - 1):  # each stage but the last halves (ceil_mode)
                last = [-(-side // 2) for side in last]
            if min(last) < self.head_grid:  # adaptive pooling would copy cells, not average them
                warnings.warn(
                    f"head_grid={self.head_grid} asks for more cells than the last feature map "
                    f"has: the network sees {vh}x{vw}, so its last feature map is "
                    f"{last[0]}x{last[1]}; the head then repeats cells and gains nothing. Use "
                    f"head_grid <= {min(last)}.", UserWarning, stacklevel=3)
        seed = check_seed(self.random_state)
        device = resolve_device(self.device)
        precision = resolve_precision(self.precision, device)
        _warn_if_emulated(precision, device)

        if (X_val is None) != (y_val is None):
            raise ValueError("Pass both X_val and y_val, or neither.")
        # the training and validation parts are index arrays into X, never copies of it
        train_idx = val_idx = None
        if X_val is not None:
            X_val = self._check_X(X_val, fitted=True, name="X_val")
            y_val_enc = self._encode(y_val, name="y_val")
            check_consistent_length(X_val, y_val_enc)
            if len(np.unique(y_val_enc)) < 2:  # as train_val_test_split warns for its split
                only = python_value(self.classes_[y_val_enc[0]])
                warnings.warn(
                    f"y_val holds one class only ({only!r}): its accuracy says nothing about "
                    "the other, and early stopping watches a one-class loss.", UserWarning,
                    stacklevel=3)
            elif len(np.unique(y_val_enc)) < len(self.classes_):
                lacking = [python_value(c) for k, c in enumerate(self.classes_)
                           if not np.any(y_val_enc == k)]
                warnings.warn(
                    f"y_val holds no sample of class(es) {lacking}: early stopping watches a "
                    "loss without them.", UserWarning, stacklevel=3)
        elif self.early_stopping:
            train_idx, val_idx = _copies_train(X, y_enc, *self._validation_split(y_enc, seed))
            X_val, y_val_enc = X, y_enc
        if self.balance is not None:
            train_idx = self._balanced(y_enc, train_idx, seed + 1, "training")
            if X_val is not None:
                val_idx = self._balanced(y_val_enc, val_idx, seed + 2, "validation")
        y_train = y_enc if train_idx is None else y_enc[train_idx]
        self.train_class_counts_ = np.bincount(y_train, minlength=len(self.classes_))
        weights = self._class_weights(y_train)

        mean, std = self._channel_stats(X, train_idx)
        criterion_kwargs = {
            "gamma": float(self.gamma),
            "weight": None if weights is None else torch.as_tensor(weights, dtype=torch.float32),
            "label_smoothing": float(self.label_smoothing),
        }
        train_ds = _ImageDataset(X, y_enc, indices=train_idx)
        valid_ds = None if X_val is None else _ImageDataset(X_val, y_val_enc, indices=val_idx)
        members = []
        n_members = int(self.n_members)
        if self.verbose:
            print(f"training {n_members} network{'s' if n_members > 1 else ''} on {device} "
                  f"in {precision}", flush=True)
        with reuse_freed_memory(enabled=torch.device(device).type == "cpu"):
            for k in range(n_members):
                member_seed = seed if k == 0 else _member_seed(seed, k)
                try:
                    net, record = self._fit_member(train_ds, valid_ds, mean, std,
                                                   criterion_kwargs, device, precision,
                                                   member_seed, k)
                except KeyboardInterrupt:  # outside skorch's loop, e.g. between two networks
                    if not members:
                        raise
                    break
                if record["interrupted"] and members:
                    break  # an ensemble keeps the networks that finished, not this one
                if record["n_epochs"] == 0:
                    raise KeyboardInterrupt("training was interrupted before its first epoch "
                                            "ended; nothing was kept")
                members.append((net, record))
                if record["interrupted"]:
                    break
                if self.verbose and n_members > 1:
                    print(f"member {k + 1}/{n_members}: {record['n_epochs']} "
                          f"epochs, kept epoch {record['best_epoch']}", flush=True)
        self._finish_fit(members, device, precision)
        return self

    def _fit_member(self, train_ds, valid_ds, mean, std, criterion_kwargs, device, precision,
                    seed, member=0):
        """Train network ``member`` from ``seed``; return the skorch net and a run summary."""
        kwargs = self._module_kwargs(member)
        built_with = dict(kwargs)
        # The network trains on its view, cut out of each (augmented) batch by the collate
        # function, and gets the view back once trained, so that it predicts from whole
        # images. Augmentation runs on the whole image first: a re-crop, blur or JPEG
        # re-encode happens to a photo, not to a part of it (and it scored better, see
        # benchmarks/RESULTS.md, "Augment, then cut the view").
        zoom, view_size = kwargs.pop("zoom"), kwargs.pop("view_size")
        rotation = float(self.rotation_weight) > 0
        with torch_seeded(seed):
            module = FaceCNN(**kwargs)
            if rotation:  # the classifier trains inside the rotation task, and leaves it after
                module = RotationTask(module)
            backbone = module.backbone if rotation else module
            backbone.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            backbone.input_std.copy_(torch.as_tensor(std, dtype=torch.float32))

            epoch_end = _EpochEndWeights()
            callbacks = [("epoch_end_weights", epoch_end), ("accuracy", _EpochAccuracy())]
            if rotation:
                callbacks.append(("rotation_loss", PassthroughScoring(
                    name="train_rotation_loss", on_train=True)))
            n_batches = len(_TailMergingBatchSampler(len(train_ds), int(self.batch_size), None))
            if self.lr_schedule == "onecycle":
                callbacks.append(("lr_scheduler", LRScheduler(
                    policy=torch.optim.lr_scheduler.OneCycleLR, max_lr=float(self.lr),
                    total_steps=int(self.max_epochs) * n_batches, pct_start=_ONECYCLE_WARMUP,
                    step_every="batch")))
            elif self.lr_schedule == "cosine":
                callbacks.append(("lr_scheduler", LRScheduler(
                    policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                    T_max=int(self.max_epochs), step_every="epoch")))
            stopper = None
            if valid_ds is not None and self.early_stopping:
                stopper = _AnnealedEarlyStopping(
                    monitor="valid_loss", patience=int(self.n_iter_no_change),
                    threshold=float(self.tol), threshold_mode="abs", load_best=True,
                    grace_epochs=_high_lr_epochs(self.lr_schedule, self.max_epochs))
                callbacks.append(("early_stopping", stopper))
            if self.verbose and int(self.verbose) >= 2:
                callbacks.append(("progress", ProgressBar()))
            train_split = None if valid_ds is None else predefined_split(valid_ds)
            collate = _Collate(self.augment, np.random.default_rng(seed), zoom, view_size)
            net = self._make_net(module, device, criterion_kwargs, callbacks, train_split,
                                 collate, make_torch_generator(seed),
                                 valid_collate=_Collate(zoom=zoom, view_size=view_size),
                                 bf16=precision == "bfloat16")
            net.rotation_weight = float(self.rotation_weight)
            start = time.perf_counter()
            try:
                net.fit(train_ds, y=None)
                if (net.history and "train_loss" not in net.history[-1]
                        and epoch_end.weights_ is not None
                        and (stopper is None or stopper.best_model_weights_ is None)):
                    # Ctrl-C mid-epoch and no best epoch restored: back to the last finished one
                    net.module_.load_state_dict(epoch_end.weights_)
            except ValueError as exc:
                if "more than 1 value per channel" not in str(exc):
                    raise
                h, w = self.image_shape_[1:]
                raise ValueError(
                    f"batch_size={self.batch_size} trains on one image at a time, and for "
                    f"{h} x {w} px images (or their views) the network's last feature map is "
                    "1 x 1, which leaves batch normalisation one value per channel; use "
                    "batch_size >= 2, larger images or a smaller depth."
                ) from exc
            finally:
                if rotation:
                    net.module_, net.rotation_weight = net.module_.backbone, 0.0
                net.module_.zoom, net.module_.view_size = float(zoom), view_size
            fit_time = time.perf_counter() - start

        history = []
        for row in net.history:
            if "train_loss" not in row:  # an epoch cut short by Ctrl-C
                continue
            history.append({
                "epoch": int(row["epoch"]),
                "train_loss": float(row["train_loss"]),
                "valid_loss": float(row["valid_loss"]) if "valid_loss" in row else None,
                "train_accuracy": row.get("train_acc"),
                "valid_accuracy": row.get("valid_acc"),
                **({"train_rotation_loss": float(row["train_rotation_loss"])}
                   if "train_rotation_loss" in row else {}),
                "dur": float(row.get("dur", float("nan"))),
            })
        early_stopped = stopper is not None and stopper.misses_ >= stopper.patience
        n_epochs = len(history)
        if stopper is not None and getattr(stopper, "best_epoch_", None):
            best_epoch = int(stopper.best_epoch_)
        else:
            best_epoch = n_epochs
        self._check_divergence(net, history, best_epoch, member)
        if member == 0:
            self._check_learning_signal(history)
        # keep nothing that pins the training data or is not picklable
        net.train_split = None
        net.iterator_train__collate_fn = net.iterator_valid__collate_fn = _Collate()
        net.iterator_train__generator = None
        if stopper is not None:
            stopper.best_model_weights_ = None
        epoch_end.weights_ = None
        record = {
            "seed": int(seed),
            "n_epochs": n_epochs,
            "best_epoch": best_epoch,
            "interrupted": not early_stopped and n_epochs < int(self.max_epochs),
            "fit_time": fit_time,
            "history": history,
            "module": built_with,
        }
        return net, record

    def _check_divergence(self, net, history, best_epoch, member):
        """Refuse a network whose kept weights are not finite (training diverged: it would
        predict NaN, and one class for everything); warn when the loss went non-finite in
        some epoch but early stopping kept an earlier, finite one."""
        bad = next((row["epoch"] for row in history
                    if not math.isfinite(row["train_loss"])
                    or (row["valid_loss"] is not None and not math.isfinite(row["valid_loss"]))),
                   None)
        finite = all(bool(torch.isfinite(t).all()) for t in net.module_.state_dict().values()
                     if t.is_floating_point())
        which = f"network {member + 1} of {int(self.n_members)}: " if self.n_members > 1 else ""
        if not finite:
            raise ValueError(
                f"Training diverged ({which}"
                + (f"the loss became non-finite in epoch {bad}, " if bad else "")
                + "the weights hold NaN or infinity): lower lr (now "
                f"{self.lr:g}), and check that float images lie in [0, 1].")
        if bad is not None:
            warnings.warn(
                f"{which}the loss became non-finite in epoch {bad}; the weights of epoch "
                f"{best_epoch}, before it, are kept. A lower lr would likely train further.",
                UserWarning, stacklevel=4)

    def _check_learning_signal(self, history):
        """Warn when the training loss was vanishingly small from the first epoch: a network
        starting from random weights has a loss near log 2 (times the focal factor), so the loss
        gives it next to no gradient (e.g. ``gamma=50`` weighs every image by about 0.5**50)
        and it learns next to nothing, while fit looked like a success."""
        first = history[0]["train_loss"] if history else float("nan")
        if not (math.isfinite(first) and first < _NO_SIGNAL_LOSS):
            return
        cause = (f"with gamma={float(self.gamma):g}, the focal loss gives every image a weight "
                 f"near zero; use a gamma between 0 and 5 (2 is the usual value)"
                 if float(self.gamma) > 5 else
                 "check class_weight and the labels")
        warnings.warn(
            f"The training loss was {first:.3g} in the first epoch, before the network had "
            f"learned anything: the network got almost no gradient and learned next to nothing "
            f"({cause}).", UserWarning, stacklevel=4)

    def _finish_fit(self, members, device, precision):
        first = members[0][1]
        self.members_ = [record for _, record in members]
        self.history_ = first["history"]
        self.n_epochs_ = first["n_epochs"]
        self.best_epoch_ = first["best_epoch"]
        self.fit_time_ = float(sum(record["fit_time"] for record in self.members_))
        self.precision_ = precision
        self.interrupted_ = (any(record["interrupted"] for record in self.members_)
                             or len(members) < int(self.n_members))
        if len(members) == 1:
            # a new net around the trained module, as for an ensemble: the training net's
            # optimizer moments and callbacks (the schedule holds the optimizer too) would
            # make a pickled model several times the size of its weights
            self.net_ = self._predicting_net(members[0][0].module_, device, precision)
        else:
            self.net_ = self._predicting_net(
                ProbabilityAverage([net.module_ for net, _ in members]), device, precision)
        self.n_params_ = _count_params(self.net_.module_)

    def _interruption_message(self):
        """What an interrupted fit kept, for its ``KeyboardInterrupt``."""
        first = self.members_[0]
        if first["interrupted"]:
            kept = (f"training was interrupted in epoch {first['n_epochs'] + 1} of "
                    f"{int(self.max_epochs)}; the estimator keeps the weights of epoch "
                    f"{first['best_epoch']}")
            if int(self.n_members) > 1:
                kept += f" of its first network, the only one of {int(self.n_members)} trained"
        else:
            kept = (f"training was interrupted; the estimator keeps the {len(self.members_)} of "
                    f"{int(self.n_members)} networks that finished")
        return kept + (" and predicts with them" if len(self.members_) > 1 else
                       " and predicts with it")

    # ---------------------------------------------------------------- predict

    def _logproba(self, X):
        check_is_fitted(self)
        return self._net_logproba(self.net_, self._check_X(X, fitted=True))

    def _net_logproba(self, net, X):
        """Log-probabilities of skorch ``net`` on checked images ``X`` (with ``tta``, the mean
        over the image and its mirror)."""
        views = [False, True] if self.tta else [False]
        probas = []
        # a DataLoader draws its base seed from the global generator: keep that untouched
        on_cpu = torch.device(net.device).type == "cpu"
        show = bool(self.verbose) and len(X) > int(self.batch_size)
        with torch_rng_preserved(), reuse_freed_memory(enabled=on_cpu), \
                tqdm(total=len(X) * len(views), desc="predict", unit="img",
                     disable=not show) as bar:
            for flip in views:
                ds = _ImageDataset(X, flip=flip)
                # each batch is copied into one output tensor: a list of per-batch tensors
                # kept until torch.cat pinned freed batch-sized blocks, and the process grew
                # by about 3x a large uint8 input (benchmarks/RESULTS.md, "Peak memory")
                logits, done = None, 0
                for out in net.forward_iter(ds, training=False):
                    if logits is None:
                        logits = torch.empty((len(ds), out.shape[1]), dtype=torch.float32)
                    logits[done:done + len(out)] = out.detach()
                    done += len(out)
                    bar.update(len(out))
                if logits is None:
                    logits = torch.empty((0, len(self.classes_)), dtype=torch.float32)
                probas.append(F.softmax(logits.double(), dim=1))
        proba = torch.stack(probas).mean(0)
        return torch.log(proba.clamp_min(1e-300)).numpy()

    def predict_proba(self, X):
        """Class probabilities, ``(n_samples, n_classes)``, columns ordered as ``classes_``.

        These are softmax outputs of the network (focal loss changes the training, not this
        mapping); with ``tta=True`` the mean over the image and its mirror, and with several
        networks (``n_members``) the mean over them.

        Parameters
        ----------
        X : array-like of images
            Shaped as in :meth:`fit`: ``(n, C, H, W)``, ``(n, H, W, C)``, ``(n, H, W)`` or
            flattened ``(n, C * H * W)``; ``uint8`` or floats in [0, 1], with the image shape
            seen in fit.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return np.exp(self._logproba(X))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of images
            Shaped as in :meth:`fit`: ``(n, C, H, W)``, ``(n, H, W, C)``, ``(n, H, W)`` or
            flattened ``(n, C * H * W)``; ``uint8`` or floats in [0, 1], with the image shape
            seen in fit.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return self._logproba(X)

    def member_proba(self, X):
        """Class probabilities of each network of the ensemble on its own.

        :meth:`predict_proba` is their mean over the networks. Use it to see what each view
        (``views``) or seed contributes, or to score sub-ensembles without training again.

        Parameters
        ----------
        X : array-like
            Images, as for :meth:`predict_proba`.

        Returns
        -------
        proba : ndarray of shape (n_members, n_samples, n_classes)
            ``proba[k]`` is network ``k``'s :meth:`predict_proba` (with ``tta``, its mean
            over the image and its mirror); ``n_members`` is ``len(members_)``, which is 1
            for a single network.
        """
        check_is_fitted(self)
        X = self._check_X(X, fitted=True)
        module = self.net_.module_
        members = module.members if isinstance(module, ProbabilityAverage) else [module]
        return np.stack([
            np.exp(self._net_logproba(
                self._predicting_net(member, self.net_.device, self.precision_), X))
            for member in members])

    def decision_function(self, X):
        """Confidence scores.

        Parameters
        ----------
        X : array-like of images
            Shaped as in :meth:`fit`: ``(n, C, H, W)``, ``(n, H, W, C)``, ``(n, H, W)`` or
            flattened ``(n, C * H * W)``; ``uint8`` or floats in [0, 1], with the image shape
            seen in fit.

        Returns
        -------
        scores : ndarray
            For two classes, shape ``(n_samples,)``: the log-odds of ``classes_[1]``
            (positive means ``classes_[1]``). Otherwise ``(n_samples, n_classes)`` log
            probabilities.
        """
        logp = self._logproba(X)
        if logp.shape[1] == 2:
            return logp[:, 1] - logp[:, 0]
        return logp

    def predict(self, X):
        """Predicted class labels: the class of highest :meth:`predict_proba` (at a tie, the
        first of ``classes_``).

        Parameters
        ----------
        X : array-like of images
            Shaped as in :meth:`fit`: ``(n, C, H, W)``, ``(n, H, W, C)``, ``(n, H, W)`` or
            flattened ``(n, C * H * W)``; ``uint8`` or floats in [0, 1], with the image shape
            seen in fit.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        logp = self._logproba(X)
        return self.classes_[np.argmax(logp, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on ``(X, y)``; labels unseen during fit raise ``ValueError``.

        Parameters
        ----------
        X : array-like of images
            Shaped as in :meth:`fit`: ``(n, C, H, W)``, ``(n, H, W, C)``, ``(n, H, W)`` or
            flattened ``(n, C * H * W)``; ``uint8`` or floats in [0, 1], with the image shape
            seen in fit.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples in the mean.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        self._encode(y)
        return super().score(X, y, sample_weight=sample_weight)

    # ---------------------------------------------------------------- persistence

    def save(self, path):
        """Save the fitted model to a folder: ``config.json`` and ``weights.pt``.

        The folder holds no pickled objects, so :meth:`load` cannot run code from it.
        ``config.json`` records the SHA-256 of ``weights.pt``, so :meth:`load` refuses a pair
        that does not belong together (a save that failed half-way, a copied file).

        Parameters
        ----------
        path : str or Path
            Folder to create (parents too). Existing model files in it are replaced.

        Returns
        -------
        path : Path
            The model folder, for :meth:`load`.
        """
        check_is_fitted(self)
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"Cannot save the model to {path}: it is a file, not a folder.")
        for k, record in enumerate(self.members_):
            # the folder describes the networks by the parameters; set_params after fit can
            # make them disagree (load then failed, or rebuilt other views, silently)
            built = record.get("module")
            now = self._module_kwargs(k)
            changed = [] if built is None else sorted(
                key for key in built if key in now and built[key] != now[key])
            if changed:
                raise ValueError(
                    f"Cannot save: parameters changed since fit ({', '.join(changed)}: network "
                    f"{k} was built with {', '.join(f'{c}={built[c]!r}' for c in changed)}); "
                    "set them back, or fit again.")
        from . import __version__

        params = self.get_params(deep=False)
        if isinstance(params["class_weight"], dict):  # JSON keys are text; classes need not be
            params["class_weight"] = {_PAIRS: [[python_value(k), v]
                                               for k, v in params["class_weight"].items()]}
        augment = params.pop("augment")
        params["device"] = str(params["device"])
        if isinstance(params["random_state"], Integral) \
                and not isinstance(params["random_state"], (bool, np.bool_)):
            params["random_state"] = int(params["random_state"])  # np.int64(7) was dropped
        elif params["random_state"] is not None:  # a RandomState instance has no JSON form
            params["random_state"] = None
        if params["views"] is not None:
            params["views"] = self._zooms()
        if params["view_size"] is not None and not isinstance(params["view_size"],
                                                              (Integral, str)):
            params["view_size"] = self._view_sizes()
        if params["attention_stages"] is not None:
            params["attention_stages"] = [int(s) for s in params["attention_stages"]]
        if params["image_shape"] is not None:
            params["image_shape"] = [int(s) for s in params["image_shape"]]
        config = {
            "format": MODEL_FORMAT,
            "skface_version": __version__,
            "estimator": type(self).__name__,
            "params": params,
            "augment": _augmenter_config(augment),
            "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str if self.classes_.dtype != object else "object",
            "image_shape": list(self.image_shape_),
            "n_features_in": self.n_features_in_,
            "feature_names_in": (None if getattr(self, "feature_names_in_", None) is None
                                 else [str(c) for c in self.feature_names_in_]),
            "module": self._module_kwargs(),
            "member_modules": [self._module_kwargs(k) for k in range(len(self.members_))],
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "n_epochs": self.n_epochs_,
            "interrupted": self.interrupted_,
            "fit_time": self.fit_time_,
            "train_class_counts": (None if self.train_class_counts_ is None
                                   else self.train_class_counts_.tolist()),
            "members": self.members_,
        }
        state = {k: v.detach().cpu() for k, v in self.net_.module_.state_dict().items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        weights = buffer.getvalue()
        # the config names its weights, so that new weights beside an old config (the config's
        # write failed: a full disk) are refused by load instead of predicting with the wrong
        # classes; both files are made in memory first, and Ctrl-C waits for the pair
        config["weights_sha256"] = hashlib.sha256(weights).hexdigest()
        # a non-finite loss in the history is written as null: NaN is no JSON number
        text = json.dumps(_finite_or_none(config), indent=2, default=_json_default,
                          allow_nan=False)
        path.mkdir(parents=True, exist_ok=True)
        with interrupt_deferred():
            atomic_write_bytes(path / _WEIGHTS_NAME, weights)
            atomic_write_text(path / _CONFIG_NAME, text)
        return path

    @classmethod
    def load(cls, path, device="auto"):
        """Load a model written by :meth:`save`, without unpickling anything.

        Parameters
        ----------
        path : str or Path
            The model folder.
        device : str, default="auto"
            Where to run the loaded net.

        Returns
        -------
        estimator : FaceCNNClassifier
            A fitted estimator.
        """
        resolved = resolve_device(device)  # a bad device name fails before anything is read
        path = Path(path)
        config_path, weights_path = path / _CONFIG_NAME, path / _WEIGHTS_NAME
        if not config_path.is_file() or not weights_path.is_file():
            raise ValueError(
                f"{path} is not a skface model folder: expected {_CONFIG_NAME} and "
                f"{_WEIGHTS_NAME} in it."
            )
        try:
            config = json.loads(config_path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{config_path} is not valid JSON: {exc}") from None
        if not isinstance(config, dict) or config.get("estimator") != cls.__name__:
            raise ValueError(f"{config_path} does not describe a {cls.__name__}.")
        if config.get("format") != MODEL_FORMAT:
            raise ValueError(
                f"{path} uses model format {config.get('format')!r} (written by skface "
                f"{config.get('skface_version')}); this skface reads format {MODEL_FORMAT}."
            )
        try:
            params = dict(config["params"])
            params["augment"] = _augmenter_from_config(config.get("augment"))
            params["device"] = device
            cw = params.get("class_weight")
            if isinstance(cw, dict) and set(cw) == {_PAIRS}:
                params["class_weight"] = {k: v for k, v in cw[_PAIRS]}
            est = cls(**params)
            est._validate_params()
            dtype = (object if config["classes_dtype"] == "object"
                     else np.dtype(config["classes_dtype"]))
            est.classes_ = np.asarray(config["classes"], dtype=dtype)
            if len(est.classes_) < 2 or list(np.unique(est.classes_)) != list(est.classes_):
                raise ValueError(f"classes {config['classes']!r} are not sorted distinct labels")
            est.image_shape_ = tuple(int(v) for v in config["image_shape"])
            est.n_features_in_ = int(config["n_features_in"])
            names = config.get("feature_names_in")
            if names is not None:
                if len(names) != est.n_features_in_:
                    raise ValueError(f"{len(names)} feature names for n_features_in "
                                     f"{est.n_features_in_}")
                est.feature_names_in_ = np.asarray(names, dtype=object)
            if len(est.image_shape_) != 3 or est.n_features_in_ != int(
                    np.prod(est.image_shape_)):
                raise ValueError(f"image_shape {list(est.image_shape_)} and n_features_in "
                                 f"{est.n_features_in_} disagree")
            est.history_ = config["history"]
            est.best_epoch_ = int(config["best_epoch"])
            est.n_epochs_ = int(config["n_epochs"])
            est.interrupted_ = bool(config["interrupted"])
            est.fit_time_ = float(config["fit_time"])
            # models saved before `balance` existed do not record their class counts
            counts = config.get("train_class_counts")
            est.train_class_counts_ = None if counts is None else np.asarray(counts, dtype=int)
            # models saved before ensembles existed hold one network and no "members" entry
            est.members_ = config.get("members") or [{
                "seed": params.get("random_state"), "n_epochs": est.n_epochs_,
                "best_epoch": est.best_epoch_, "interrupted": est.interrupted_,
                "fit_time": est.fit_time_, "history": est.history_}]
            # models saved before multi-view ensembles have one "module" for every network
            kwargs = config.get("member_modules") or [config["module"]] * len(est.members_)
            if len(kwargs) != len(est.members_):
                raise ValueError(f"{len(kwargs)} network descriptions for "
                                 f"{len(est.members_)} networks")
            for k, kw in enumerate(kwargs):  # the parameters must describe the saved networks
                expected = est._module_kwargs(k)
                wrong = sorted(key for key in kw if key in expected and kw[key] != expected[key])
                if wrong:
                    raise ValueError(f"the parameters disagree with network {k} on {wrong}")
            if len(est.members_) == 1:
                module = FaceCNN(**kwargs[0])
            else:
                module = ProbabilityAverage([FaceCNN(**kw) for kw in kwargs])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{config_path} is incomplete or corrupted: {exc!r}") from None
        raw = weights_path.read_bytes()  # read once: loaded, then checked against the config
        try:
            state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
            module.load_state_dict(state)
        except Exception as exc:  # torch raises many types for damaged files
            why = "the file is empty" if not raw else str(exc) or type(exc).__name__
            raise ValueError(f"{weights_path} could not be loaded: {why}") from None
        # weights that load but are not the ones this config was saved with
        want = config.get("weights_sha256")
        if want is not None and hashlib.sha256(raw).hexdigest() != want:
            raise ValueError(f"{weights_path} is not the weights {config_path} was saved with "
                             "(a save that did not finish, or a file copied from another "
                             "model); save the model again.")
        bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise ValueError(f"{weights_path} holds non-finite values (NaN or infinity) in "
                             f"{bad[:3]}{' and more' if len(bad) > 3 else ''}.")
        est.precision_ = resolve_precision(est.precision, resolved)
        _warn_if_emulated(est.precision_, resolved)
        est.net_ = est._predicting_net(module, resolved, est.precision_)
        est.n_params_ = _count_params(module)
        return est


def _warn_if_emulated(precision, device):
    """Warn that bfloat16 on a CPU without bfloat16 units is emulated, slower than float32
    (``"cpu:0"`` as well as ``"cpu"``; at load as well as at fit)."""
    if (precision == "bfloat16" and torch.device(device).type == "cpu"
            and not native_bfloat16(device)):
        warnings.warn(
            "precision='bfloat16' on a CPU where torch finds no native bfloat16 units "
            "(Intel AMX or AVX-512 BF16; torch 2.2 cannot detect them): without them "
            "PyTorch emulates bfloat16, which is slower than float32; precision='auto' "
            "picks float32 here.",
            UserWarning, stacklevel=3)


def _copies_train(X, y, train_idx, val_idx):
    """Move the held-out rows that repeat a training row (the same pixels: a copy, or a repeat
    that oversampling added) into training, so that early stopping watches images the network
    has not trained on; a ``UserWarning`` says how many. Where that would leave the held-out
    part without a class it holds, they stay, and the warning says so."""
    def digest(i):
        return hashlib.blake2b(np.ascontiguousarray(X[i]).tobytes(), digest_size=16).digest()

    seen = {digest(i) for i in train_idx}
    copies = np.array([digest(i) in seen for i in val_idx], dtype=bool)
    if not copies.any():
        return train_idx, val_idx
    keep_classes = len(np.unique(y[val_idx[~copies]])) == len(np.unique(y[val_idx]))
    warnings.warn(f"{int(copies.sum())} of the {len(val_idx)} rows held out for early stopping "
                  "repeat training rows (the same pixels); "
                  + ("they train instead" if keep_classes else
                     "they stay held out, since without them a class would be missing there")
                  + ". Pass X_val, split by duplicate group, to choose the validation images "
                  "yourself.", UserWarning, stacklevel=4)
    if not keep_classes:
        return train_idx, val_idx
    return np.sort(np.concatenate([train_idx, val_idx[copies]])), val_idx[~copies]


def _count_params(module):
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


#: How ``save`` writes a ``class_weight`` dict: ``[[class, weight], ...]`` keeps int and bool
#: class labels, which JSON object keys would turn into text.
_PAIRS = "__skface_pairs__"


def _finite_or_none(obj):
    """``obj`` with every NaN or infinite float (nested in dicts and lists) as None."""
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _augmenter_config(augment):
    """How ``save`` records ``augment``: a skface augmenter by class name and parameters (a
    RandomState among them as None, like the classifier's own); any other augmenter by its
    name only (``"params": None``), since the folder holds no code: it matters for training
    alone, and :meth:`FaceCNNClassifier.load` warns that it is left out."""
    if augment is None:
        return None
    from . import preprocessing

    name = type(augment).__name__
    ours = getattr(preprocessing, name, None) is type(augment)
    if not ours or not hasattr(augment, "get_params"):
        return {"class": name, "params": None}
    seeds = (np.random.RandomState, np.random.Generator)
    params = {k: (None if isinstance(v, seeds) else v)
              for k, v in augment.get_params(deep=False).items()}
    return {"class": name, "params": params}


def _augmenter_from_config(spec):
    """Rebuild an augmenter from its saved name and parameters (skface classes only)."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ValueError(f"'augment' is {spec!r}, not null or an object")
    from . import preprocessing

    name = spec.get("class")
    if spec.get("params", {}) is None:  # not a skface augmenter: saved by name only
        warnings.warn(
            f"The model was trained with the augmenter {name!r}, which is not part of skface "
            "and was not saved with it; the loaded model has augment=None (it predicts the "
            "same; set augment before fitting it again).", UserWarning, stacklevel=3)
        return None
    cls = getattr(preprocessing, str(name), None)
    if name not in getattr(preprocessing, "__all__", ()) or not isinstance(cls, type) \
            or not hasattr(cls, "augment_batch"):
        raise ValueError(f"unknown augmenter class {name!r} in the model config.")
    return cls(**spec.get("params", {}))
