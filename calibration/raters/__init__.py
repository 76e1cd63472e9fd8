"""AI raters: one interface, `rate(items, policy) -> judgements`, for an LLM behind any OpenAI-compatible
endpoint, any LangChain chat model, and a scikit-learn baseline; `run_rater` runs one over a stored
golden set with caching, limits, retries, progress and resume. See docs/raters.md."""

from calibration.raters.base import Rater, RaterConfig, load_rater_config, make_rater
from calibration.raters.runner import RunSummary, run_rater

__all__ = ["Rater", "RaterConfig", "RunSummary", "load_rater_config", "make_rater", "run_rater"]
