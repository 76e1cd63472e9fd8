"""Agreement statistics with confidence intervals, checked against the literature.

Every coefficient is a plain function with one signature::

    coefficient(ratings, *, categories=None, weights=None) -> Estimate

(`krippendorff_alpha` also takes ``level``). `ratings` is a long frame (``item_id, rater_id,
label``), an items x raters matrix, or `Ratings` from `as_ratings`. See docs/agreement.md for the
conventions (shared/AGREEMENT.md), formulas, references and where the peer packages differ.

`agreement_report` gives the whole ``calibrate agreement`` JSON contract.
"""

from calibration.agreement._data import Ratings, as_ratings, label_value, load_ratings, read_ratings_csv
from calibration.agreement._results import Estimate
from calibration.agreement.bootstrap import BootstrapResult, Statistic, bootstrap_ci
from calibration.agreement.breakdown import fleiss_category_kappa, rater_agreement, specific_agreement
from calibration.agreement.coefficients import (
    brennan_prediger,
    cohen_kappa,
    conger_kappa,
    fleiss_kappa,
    gwet_ac,
    percent_agreement,
    scott_pi,
)
from calibration.agreement.diagnostics import (
    agreement_diagnostics,
    bias_index,
    kappa_paradox,
    prevalence_index,
)
from calibration.agreement.krippendorff import (
    LEVELS,
    coincidences,
    krippendorff_alpha,
    krippendorff_statistic,
)
from calibration.agreement.report import METRICS, agreement_report
from calibration.agreement.weights import WEIGHT_NAMES, UndefinedWeightsError, weight_matrix

__all__ = [
    "LEVELS",
    "METRICS",
    "WEIGHT_NAMES",
    "BootstrapResult",
    "Estimate",
    "Ratings",
    "Statistic",
    "UndefinedWeightsError",
    "agreement_diagnostics",
    "agreement_report",
    "as_ratings",
    "bias_index",
    "bootstrap_ci",
    "brennan_prediger",
    "cohen_kappa",
    "coincidences",
    "conger_kappa",
    "fleiss_category_kappa",
    "fleiss_kappa",
    "gwet_ac",
    "kappa_paradox",
    "krippendorff_alpha",
    "krippendorff_statistic",
    "label_value",
    "load_ratings",
    "percent_agreement",
    "prevalence_index",
    "rater_agreement",
    "read_ratings_csv",
    "scott_pi",
    "specific_agreement",
    "weight_matrix",
]
