"""scikit-learn's generic checks that feed float data outside [0, 1], and the same properties
checked on images the transformers accept."""

import pickle

import numpy as np

# The generic checks feed floats far outside [0, 1] (e.g. standard normal values). The
# transformers listed in their tests refuse such input on purpose: float images in skface are
# [0, 1] by contract, and reading 0-255 floats as such would make them 255 times brighter (or
# clip them) without a word. The properties these checks test (pickling, order and subset
# invariance, idempotent fit, dtype) are tested in each transformer's file on valid images.
_CHECKS = (
    "check_estimators_dtypes",
    "check_pipeline_consistency",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_dict_unchanged",
    "check_fit_idempotent",
)


def out_of_range_failures(name):
    """``expected_failed_checks`` for a transformer that refuses floats outside [0, 1]."""
    reason = (f"generic check data are floats outside [0, 1]; {name} only accepts uint8 or "
              "[0, 1] images (tested on valid images in its test file)")
    return {check: reason for check in _CHECKS}


def check_properties_on_valid_images(est, n_features):
    """What the expected failures above would have checked, on uint8 and [0, 1] images:
    pickling, sample order and subsets, an idempotent fit, memory layouts, nested lists, and
    float [0, 1] input giving the features of its uint8 version."""
    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, (6, 3, 16, 16), dtype=np.uint8)
    ref = est.fit(X).transform(X)
    assert ref.dtype == np.float64 and ref.shape == (6, n_features)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X), ref)
    order = rng.permutation(6)
    np.testing.assert_array_equal(est.transform(X[order]), ref[order])
    np.testing.assert_array_equal(est.transform(X[2:4]), ref[2:4])
    np.testing.assert_array_equal(est.fit(X).transform(X), ref)
    np.testing.assert_array_equal(est.transform(np.asfortranarray(X)), ref)
    np.testing.assert_array_equal(est.transform(X.tolist()), ref)
    # float32 pixels round in the 8th digit
    np.testing.assert_allclose(est.transform(X.astype(np.float32) / 255), ref, atol=1e-6)
