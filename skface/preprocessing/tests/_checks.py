"""scikit-learn's generic checks that feed float data outside [0, 1]."""

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
