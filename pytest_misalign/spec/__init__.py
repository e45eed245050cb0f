"""Suite files -> typed specs: the first stage of the pipeline (spec -> data -> tasks -> backend ->
scoring -> stats -> checks -> report).

`parse_suite_file` reads and validates one suite file (`suite.py`; tasks in `task.py`, data in
`data.py`, checks and their parameters in `checks.py`, confinement of data paths in `paths.py`) into
the dataclasses of `model.py`. Only structure is checked here; whether the data fits the templates
is checked when the data is loaded (`tasks/`), still before any model loads.
"""

from __future__ import annotations

from .model import (
    ANSWER_TYPES,
    GENERATION_METRICS,
    METRICS,
    CheckSpec,
    DataSpec,
    GenerateSpec,
    RegressionSpec,
    SuiteSpec,
    TaskSpec,
    TemplateSpec,
    VarySpec,
    unique_check_names,
)
from .suite import parse_suite_file

__all__ = [
    "ANSWER_TYPES", "GENERATION_METRICS", "METRICS", "CheckSpec", "DataSpec", "GenerateSpec", "RegressionSpec",
    "SuiteSpec", "TaskSpec", "TemplateSpec", "VarySpec", "parse_suite_file", "unique_check_names",
]
